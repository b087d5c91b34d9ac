# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled fast path of fastnn's validation layer (``fastnn._fastpath``).

The same predicates as ``fast_mlp_arrays`` and ``fast_logreg_arrays`` in
``fastnn/_validation.py`` (which define them and stand in when this module is not built):
are the arguments of a hot call (``train_step``, ``propagate``) exact ndarrays of one
float dtype, native byte order, C-contiguous, aligned and writable, with consistent
shapes?  Then they go to the kernel as they are; otherwise ``None`` sends the call down
the general path, which converts or explains.  In Python these checks cost ~2-3 us per
call, more than the whole training step of the course's network; here ~0.1 us.

The same checks guard the calls into the numba backend's C entry points
(``numba_mlp_descend``, ``numba_logreg_propagate``): its small-size kernels compiled as
C functions of raw pointers, called here without numba's dispatcher.
"""

cimport numpy as cnp
from cython.parallel cimport prange

cnp.import_array()

cdef int _READ = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
cdef int _READY = _READ | cnp.NPY_ARRAY_WRITEABLE


cdef inline bint _plain(object a, int typenum, int ndim=2, bint writable=True) noexcept:
    """``a`` is an exact ndarray of ``typenum`` and ``ndim`` dimensions, native, C-contiguous,
    aligned, and writable unless ``writable`` is False."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int flags = _READY if writable else _READ
    return (
        cnp.PyArray_TYPE(arr) == typenum
        and cnp.PyArray_NDIM(arr) == ndim
        and cnp.PyArray_ISNOTSWAPPED(arr)
        and (cnp.PyArray_FLAGS(arr) & flags) == flags
    )


cdef inline int _float_type(object X) noexcept:
    if type(X) is not cnp.ndarray:
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>X)
    return t if t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT else -1


cdef bint _mlp_ready(int t, X, Y, W1, b1, W2, b2, bint inputs_writable=True) noexcept:
    """The six arrays of a step are plain arrays of ``t`` (see ``_plain``) of agreeing shapes
    (``X`` and ``Y`` need not be writable unless ``inputs_writable``)."""
    if not (_plain(X, t, 2, inputs_writable) and _plain(Y, t, 2, inputs_writable)
            and _plain(W1, t) and _plain(b1, t) and _plain(W2, t) and _plain(b2, t)):
        return False
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    cdef cnp.npy_intp* y = cnp.PyArray_DIMS(<cnp.ndarray>Y)
    cdef cnp.npy_intp* w1 = cnp.PyArray_DIMS(<cnp.ndarray>W1)
    cdef cnp.npy_intp* c1 = cnp.PyArray_DIMS(<cnp.ndarray>b1)
    cdef cnp.npy_intp* w2 = cnp.PyArray_DIMS(<cnp.ndarray>W2)
    cdef cnp.npy_intp* c2 = cnp.PyArray_DIMS(<cnp.ndarray>b2)
    cdef cnp.npy_intp n_x = x[0], m = x[1], n_h = w1[0], n_y = w2[0]
    return (
        n_x >= 1 and m >= 1 and n_h >= 1 and n_y >= 1
        and y[0] == n_y and y[1] == m
        and w1[1] == n_x
        and c1[0] == n_h and c1[1] == 1
        and w2[1] == n_h
        and c2[0] == n_y and c2[1] == 1
    )


def mlp_arrays(parameters, X, Y):
    """``(X, Y, W1, b1, W2, b2)`` when they need no conversion and their shapes agree, else None.

    Labels of another dtype (uint8, bool, ...) are left to the Python fast path (None).
    """
    if type(parameters) is not dict or len(<dict>parameters) != 4:
        return None
    cdef int t = _float_type(X)
    if t < 0:
        return None
    W1 = (<dict>parameters).get("W1")
    b1 = (<dict>parameters).get("b1")
    W2 = (<dict>parameters).get("W2")
    b2 = (<dict>parameters).get("b2")
    if _mlp_ready(t, X, Y, W1, b1, W2, b2):
        return (X, Y, W1, b1, W2, b2)
    return None


cdef bint _logreg_ready(int t, w, X, Y, bint writable=True) noexcept:
    """``w``, ``X``, ``Y`` are plain arrays of ``t`` (writable unless not ``writable``) of
    agreeing shapes."""
    if not (_plain(X, t, 2, writable) and _plain(w, t, 2, writable) and _plain(Y, t, 2, writable)):
        return False
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    cdef cnp.npy_intp* v = cnp.PyArray_DIMS(<cnp.ndarray>w)
    cdef cnp.npy_intp* y = cnp.PyArray_DIMS(<cnp.ndarray>Y)
    return x[0] >= 1 and x[1] >= 1 and v[0] == x[0] and v[1] == 1 and y[0] == 1 and y[1] == x[1]


def logreg_arrays(w, X, Y):
    """``(w, X, Y)`` when they need no conversion and their shapes agree, else None."""
    cdef int t = _float_type(X)
    if t >= 0 and _logreg_ready(t, w, X, Y):
        return (w, X, Y)
    return None


# --- calls into numba's C entry points ----------------------------------------------------
# fastnn._backends.numba compiles its one-thread kernels also as ``numba.cfunc`` C functions
# of raw pointers; called from here they skip numba's dispatcher (see "C entry points"
# there).  They run only on arrays checked here to be exactly what the C function reads
# (the inputs may be read-only); anything else gets None and takes the dispatcher's path.
# A C function returns 1 + the kernel's result, 0 when the kernel raised (numba prints the
# exception as unraisable): then None too, and the dispatcher's call raises it again.

ctypedef long long (*_mlp_step_t)(void*, void*, void*, void*, void*, void*, long long, long long,
                                  long long, long long, double, double*, long long) noexcept nogil
ctypedef long long (*_logreg_step_t)(void*, void*, void*, void*, long long, long long, void*,
                                     double*) noexcept nogil


cdef inline void* _data(object a) noexcept:
    return cnp.PyArray_DATA(<cnp.ndarray>a)


# a descent's arguments as numba's C functions take them
cdef struct _Step:
    void* X
    void* Y
    void* W1
    void* b1
    void* W2
    void* b2
    double* costs
    long long n_x, n_h, n_y, m, n


cdef bint _step(_Step* s, int typenum, X, Y, W1, b1, W2, b2, costs) noexcept:
    """Fill ``s`` when the arrays are plain arrays of ``typenum`` with agreeing shapes (the
    parameters writable) and ``costs`` a plain float64 vector of at least one step."""
    if not _mlp_ready(typenum, X, Y, W1, b1, W2, b2, False) or not _plain(costs, cnp.NPY_DOUBLE, 1):
        return False
    s.n = cnp.PyArray_DIMS(<cnp.ndarray>costs)[0]
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    s.n_x, s.m = x[0], x[1]
    s.n_h, s.n_y = cnp.PyArray_DIMS(<cnp.ndarray>W1)[0], cnp.PyArray_DIMS(<cnp.ndarray>W2)[0]
    s.X, s.Y, s.W1, s.b1, s.W2, s.b2 = _data(X), _data(Y), _data(W1), _data(b1), _data(W2), _data(b2)
    s.costs = <double*>_data(costs)
    return s.n >= 1


def numba_mlp_descend(size_t address, int typenum, X, Y, W1, b1, W2, b2, double learning_rate, costs):
    """Run the C function at ``address`` (numba's ``_c_mlp_descend``, compiled for arrays of
    ``typenum``): ``len(costs)`` steps, the protocol's ``n_done * 4 + status``.  None when
    the arrays are not plain arrays of ``typenum`` with agreeing shapes (the parameters
    writable) and ``costs`` a plain float64 vector, or when the kernel raised."""
    cdef _Step s
    if address == 0 or not _step(&s, typenum, X, Y, W1, b1, W2, b2, costs):
        return None
    cdef long long r = _run_steps(address, &s, learning_rate)
    return r - 1 if r > 0 else None


cdef long long _run_steps(size_t address, _Step* s, double learning_rate) noexcept:
    """The C function at ``address`` (numba's ``_c_mlp_descend``) on ``s``, without the GIL."""
    with nogil:
        return (<_mlp_step_t>address)(s.X, s.Y, s.W1, s.b1, s.W2, s.b2, s.n_x, s.n_h, s.n_y, s.m,
                                      learning_rate, s.costs, s.n)


cdef enum:
    N_ACTIVATIONS = 3  # fastnn._backends.ACTIVATIONS
    BAD_LABEL = 2      # fastnn._backends.BAD_LABEL


cdef class NumbaMlpDescent:
    """numba's ``mlp_descend`` (the backend protocol's signature), small steps first.

    A call whose arrays are plain (as ``numba_mlp_descend`` checks them), whose step is
    below ``team_from`` units of work (``m n_h (2 n_x + 2 n_y + 16)``: one thread, no team)
    and whose C entry (dtype, activation, check) is registered runs that entry from here;
    every other call goes to ``general``, the Python function that decides, compiles the
    entries and registers them.  A planar step spent ~1.5 us in that function's Python.
    """
    cdef readonly object general
    cdef readonly double team_from
    cdef size_t entries[2][N_ACTIVATIONS][2]

    def __cinit__(self, general, double team_from):
        self.general = general
        self.team_from = team_from

    cdef size_t* _slot(self, int typenum, long activation, bint check) noexcept:
        """Where the entry of ``typenum``, ``activation``, ``check`` is kept; NULL for none."""
        if (typenum != cnp.NPY_DOUBLE and typenum != cnp.NPY_FLOAT) or not 0 <= activation < N_ACTIVATIONS:
            return NULL
        return &self.entries[typenum == cnp.NPY_FLOAT][activation][check]

    def register(self, int typenum, long activation, bint check, size_t address):
        """Run steps of ``typenum``, ``activation`` and ``check`` on the C function at
        ``address`` (numba's ``_c_mlp_descend`` compiled for them; 0 unregisters)."""
        cdef size_t* slot = self._slot(typenum, activation, check)
        if slot != NULL:
            slot[0] = address

    def entry(self, int typenum, long activation, bint check):
        """The address registered for ``typenum``, ``activation`` and ``check`` (0: none)."""
        cdef size_t* slot = self._slot(typenum, activation, check)
        return 0 if slot == NULL else slot[0]

    def __call__(self, X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads=1):
        cdef _Step s
        cdef int t = _float_type(X)
        cdef size_t* slot = NULL
        cdef long long r
        # (the range test first: an int too large for a C long would not convert)
        if t >= 0 and type(activation) is int and type(learning_rate) is float and -1 <= activation <= N_ACTIVATIONS:
            slot = self._slot(t, activation, check)
            if slot != NULL and slot[0] and _step(&s, t, X, Y, W1, b1, W2, b2, costs) and (
                    <double>s.m * s.n_h * (2 * s.n_x + 2 * s.n_y + 16) < self.team_from):
                r = _run_steps(slot[0], &s, learning_rate)
                if r > 0:
                    return (r - 1) & 3, (r - 1) >> 2
        return self.general(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads)


def numba_logreg_propagate(size_t address, int typenum, w, b, X, Y):
    """Run the C function at ``address`` (numba's ``_c_logreg_propagate`` for ``typenum``):
    ``(status, dw, db, cost)`` as the protocol's ``logreg_propagate``.  None when the arrays
    are not plain arrays of ``typenum`` with agreeing shapes and ``b`` a plain 1-vector, or
    when the kernel raised."""
    return _run_pass(address, typenum, w, b, X, Y)


cdef object _run_pass(size_t address, int typenum, w, b, X, Y):
    """``numba_logreg_propagate``'s work, for it and ``NumbaLogregPropagate``."""
    if address == 0 or not _logreg_ready(typenum, w, X, Y, False) or not _plain(b, typenum, 1, False):
        return None
    if cnp.PyArray_DIMS(<cnp.ndarray>b)[0] != 1:
        return None
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    cdef cnp.npy_intp dims[2]
    dims[0] = x[0]
    dims[1] = 1
    cdef cnp.ndarray dw = cnp.PyArray_EMPTY(2, dims, typenum, 0)
    cdef long long n_x = x[0], m = x[1], r
    cdef void* pw = _data(w)
    cdef void* pb = _data(b)
    cdef void* px = _data(X)
    cdef void* py = _data(Y)
    cdef void* pd = _data(dw)
    cdef double out[2]
    with nogil:
        r = (<_logreg_step_t>address)(pw, pb, px, py, n_x, m, pd, out)
    return (r - 1, dw, out[0], out[1]) if r > 0 else None


cdef class NumbaLogregPropagate:
    """numba's ``logreg_propagate`` (the backend protocol's signature), one-thread passes
    first.

    A call on one thread or with ``X`` below ``threads_from`` bytes, on plain arrays (as
    ``numba_logreg_propagate`` checks them) whose dtype's C entry is registered, with labels
    all 0 or 1, runs that entry from here; every other call goes to ``general``, the Python
    function that decides, compiles the entry and registers it.  A (2, 400) pass spent
    ~0.2 us in that function's Python.
    """
    cdef readonly object general
    cdef readonly double threads_from
    cdef size_t entries[2]

    def __cinit__(self, general, double threads_from):
        self.general = general
        self.threads_from = threads_from

    cdef size_t* _slot(self, int typenum) noexcept:
        if typenum != cnp.NPY_DOUBLE and typenum != cnp.NPY_FLOAT:
            return NULL
        return &self.entries[typenum == cnp.NPY_FLOAT]

    def register(self, int typenum, size_t address):
        """Run passes on arrays of ``typenum`` on the C function at ``address`` (numba's
        ``_c_logreg_propagate`` compiled for them; 0 unregisters)."""
        cdef size_t* slot = self._slot(typenum)
        if slot != NULL:
            slot[0] = address

    def entry(self, int typenum):
        """The address registered for ``typenum`` (0: none)."""
        cdef size_t* slot = self._slot(typenum)
        return 0 if slot == NULL else slot[0]

    def __call__(self, w, b, X, Y, n_threads=1):
        cdef int t = _float_type(X)
        cdef size_t* slot = self._slot(t) if t >= 0 else NULL
        if slot != NULL and slot[0] and (
                (type(n_threads) is int and n_threads == 1)
                or <double>cnp.PyArray_NBYTES(<cnp.ndarray>X) < self.threads_from):
            result = _run_pass(slot[0], t, w, b, X, Y)
            if result is not None and (<tuple>result)[0] != BAD_LABEL:
                return result
        return self.general(w, b, X, Y, n_threads)


# --- numba's step on an OpenMP team -------------------------------------------------------
# Mid-size steps of the numba backend run here on the OpenMP team: numba's own parallel
# region (parfor) costs more than it saves below ~2M multiply-adds a step, where one region
# of this team pays already (see MLP_TEAM_FROM in fastnn/_backends/numba.py).  Each step:
# the team calls numba's C entry of a range of examples once per thread (each writes its
# loss and its partial gradient sums to its part of ``ws``), then numba's C entry of the
# step's end adds the parts in thread order and updates the parameters.  The chunks do not
# depend on how many threads run them: on one thread (no free core) the result is the same.

ctypedef double (*_mlp_chunk_t)(void*, void*, void*, void*, void*, void*, long long, long long,
                                long long, long long, void*, long long, long long) noexcept nogil
ctypedef long long (*_mlp_end_t)(void*, void*, void*, void*, void*, void*, long long, long long,
                                 long long, long long, void*, long long, double*, double,
                                 long long, double*) noexcept nogil

cdef extern from "vecmath.h":
    int fastnn_cores_free(int team) nogil

cdef enum:
    MAX_TEAM = 64


def numba_mlp_descend_team(size_t chunk, size_t end, int typenum, X, Y, W1, b1, W2, b2,
                           double learning_rate, costs, ws, int nt):
    """``len(costs)`` steps of numba's C entries ``chunk`` (``_c_mlp_chunk``) and ``end``
    (``_c_mlp_apply``) for arrays of ``typenum`` on ``nt`` threads: the protocol's
    ``n_done * 4 + status``.  None when the arrays are not plain arrays of ``typenum`` of
    agreeing shapes, ``costs`` a plain float64 vector, ``ws`` a plain vector of
    ``typenum`` (the workspace, sized by the caller), or ``nt`` out of [1, 64]."""
    cdef _Step s
    if chunk == 0 or end == 0 or not _step(&s, typenum, X, Y, W1, b1, W2, b2, costs):
        return None
    if not _plain(ws, typenum, 1) or not 1 <= nt <= MAX_TEAM:
        return None
    cdef void* pws = _data(ws)
    cdef double parts[MAX_TEAM]
    cdef double cost = 0.0
    cdef long long r = 1, it = 0, t
    cdef int workers = nt if nt > 1 and fastnn_cores_free(nt) else 1
    with nogil:
        while it < s.n:
            for t in prange(nt, num_threads=workers, schedule="static"):
                parts[t] = (<_mlp_chunk_t>chunk)(s.X, s.Y, s.W1, s.b1, s.W2, s.b2, s.n_x, s.n_h, s.n_y,
                                                 s.m, pws, nt, t)
            r = (<_mlp_end_t>end)(s.X, s.Y, s.W1, s.b1, s.W2, s.b2, s.n_x, s.n_h, s.n_y, s.m, pws, nt,
                                  parts, learning_rate, it == 0, &cost)
            if r != 1:  # 1 + OK
                break
            s.costs[it] = cost
            it += 1
    return it * 4 + (r - 1) if r > 0 else None
