# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled kernels of fastnn's ``cython`` backend (the extension ``fastnn._cykernels``).

The kernel protocol (names, arguments, shapes, statuses) is in :mod:`fastnn._backends`;
the Python side validated everything before these run, so every array is C-contiguous,
aligned, native, of one dtype (float32 or float64), with consistent shapes.

Modelled on scikit-learn's ``sklearn/_loss/_loss.pyx.tp``: the per-element math is a
handful of scalar ``cdef inline ... noexcept nogil`` functions (the loss and its gradient
together, from the logit), and the kernels are plain counted loops written out around
them, on contiguous rows, so gcc vectorizes them -- the transcendentals become libmvec
calls (``_ZGVeN8v_exp``: 8 doubles per call) through ``vecmath.h``.

Course layout: one column per example, so every row of ``X (n_x, m)``, ``Z1 (n_h, m)``,
... runs over the examples and is contiguous; the inner loops run along it.

Hot kernels (``mlp_descend``, ``logreg_descend``, ``logreg_propagate``, ``dot``) take
plain ndarray objects and read their data pointers through the NumPy C API: acquiring a
typed memoryview costs ~0.1 us per argument, more than the whole computation at the
course's sizes.  A training step is one pass over the examples in blocks: forward,
loss, backward on a block while it sits in cache, accumulating the gradients; then the
(checked) parameter update.  Large products go to the BLAS (``scipy.linalg.cython_blas``).
"""

cimport cython
cimport numpy as cnp
from cython.parallel cimport prange
from libc.limits cimport INT_MAX
from libc.stdint cimport int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

cnp.import_array()

cdef extern from "<stdlib.h>" nogil:
    void* aligned_alloc(size_t alignment, size_t size)

cdef extern from "vecmath.h" nogil:
    # the scalar functions, declared `omp declare simd` there: loops calling them vectorize
    double exp(double)
    double log1p(double)
    double log(double)
    float expf(float)
    float log1pf(float)
    float logf(float)
    double fnn_tanh(double)
    float fnn_tanhf(float)
    double fabs(double)
    float fabsf(float)
    double copysign(double, double)
    float copysignf(float, float)
    double DBL_MAX
    float FLT_MAX
    float FLT_EPSILON
    double DBL_EPSILON
    # the build record
    const char* FASTNN_CFLAGS
    const char* FASTNN_SIMD
    const char* FASTNN_COMPILER
    const char* FASTNN_CYTHON_VERSION
    int FASTNN_OPENMP
    int FASTNN_DEBUG
    int FASTNN_LIBMVEC
    int fastnn_max_threads()
    int fastnn_cores_free(int team)
    ctypedef struct fastnn_stack_t:
        pass

ctypedef fused floating:
    float
    double

# kernel statuses and activations: the values of fastnn._backends
cdef enum:
    OK = 0
    NONFINITE = 1
    BAD_LABEL = 2
cdef enum:
    TANH = 0
    RELU = 1
    SIGMOID = 2

# --- tuning constants (measured on a 2-core AVX-512 host: see ``tuning()``) -------------
# examples per block: the block's work rows (hidden layer) stay in L1 and its columns of X
# in L2, so the backward pass reads X from cache
cdef Py_ssize_t BLOCK_BYTES = 24 * 1024
cdef Py_ssize_t XBLOCK_BYTES = 1024 * 1024
cdef Py_ssize_t MIN_BLOCK = 16
cdef Py_ssize_t MAX_BLOCK = 512
# a step is split between threads when its work (multiply-adds, transcendentals) reaches this
cdef double THREAD_WORK = 1.5e5
# the first layer's two products go to the BLAS when n_h and n_x both reach this
cdef Py_ssize_t BLAS_MIN_DIM = 48
# the first layer's products by register tiles (microkernels.h) from this many features
cdef Py_ssize_t MLP_TILES_MIN_NX = 8
# inputs X of at least this many bytes are streamed in two passes (STREAM mode), as long as
# the hidden layer of all examples, (m, H), stays this small
cdef double STREAM_MIN_BYTES = 4 * 1024 * 1024
cdef Py_ssize_t STREAM_MAX_ZT_BYTES = 512 * 1024
# bytes of X per chunk of rows in the two-pass mode's forward tiles (_forward_columns)
cdef Py_ssize_t FORWARD_CHUNK_BYTES = 256 * 1024
cdef Py_ssize_t LOGREG_TILES_MIN_NX = 16
# logistic regression's two-pass backward reads rows of X up to this many bytes one at a
# time (one sequential stream per thread: fnn_row_dots), longer ones four at a time
# (_add_outer: four streams, more lines in flight from DRAM)
cdef Py_ssize_t ONE_ROW_DOTS_MAX_ROW = 4096
# dot: elements per thread below which one thread does it all
cdef Py_ssize_t DOT_THREAD_MIN = 1 << 17
# threads only while another core is idle (vecmath.h: fastnn_cores_free)
cdef bint LOAD_CHECK = True
# at most this many chunks (their partial sums live in small fixed arrays)
cdef enum:
    MAX_CHUNKS = 64


# =========================================================================================
# Scalar math: one element at a time, inlined into the loops below
# =========================================================================================
# Constants inside ``floating`` arithmetic are written ``<floating>1``: Cython writes a bare
# ``1`` as the C double ``1.0``, and C then computes a float32 expression in double (the
# sigmoid's division as two 8-lane vdivpd and conversions instead of one 16-lane vdivps).
# Check: no vcvtps2pd / vdivpd in the ``__pyx_fuse_0`` (float) functions of ``objdump -d``
# but the float64 sums of ``_output_grad`` and ``_sum_log1p``.

cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline bint _isfinite(floating x) noexcept nogil:
    """False for NaN and +-inf (a plain comparison: vectorizes, unlike a library call)."""
    if floating is float:
        return fabsf(x) <= FLT_MAX
    else:
        return fabs(x) <= DBL_MAX


cdef inline floating _tanh(floating x) noexcept nogil:
    """tanh(x) = sign(x) * t,  t = -e / (e + 2),  e = expm1(-2|x|) in (-1, 0].

    ``fnn_tanh`` / ``fnn_tanhf`` (vecmath.h): that formula with an inlined polynomial
    expm1, vectorized in the caller's loop (no libmvec call).
    """
    if floating is float:
        return fnn_tanhf(x)
    else:
        return fnn_tanh(x)


cdef inline floating _sigmoid_e(floating z, floating e) noexcept nogil:
    """sigmoid(z) given e = exp(-|z|): 1/(1+e) for z >= 0, e/(1+e) for z < 0 (stable)."""
    cdef floating s = <floating>1 / (<floating>1 + e)
    return s if z >= 0 else e * s


cdef inline floating _sigmoid(floating z) noexcept nogil:
    return _sigmoid_e(z, _exp(-_abs(z)))


cdef inline floating _activation(floating z, int activation) noexcept nogil:
    """g(z) for the hidden layer: tanh, relu (NaN propagates, as np.maximum) or sigmoid."""
    if activation == TANH:
        return _tanh(z)
    elif activation == RELU:
        return 0 if z < 0 else z
    return _sigmoid(z)


cdef inline floating _activation_grad(floating a, int activation) noexcept nogil:
    """g'(z) written in terms of a = g(z): 1 - a^2, [a > 0], a (1 - a)."""
    if activation == TANH:
        return <floating>1 - a * a
    elif activation == RELU:
        return 1 if a > 0 else 0
    return a * (<floating>1 - a)


cdef inline floating _logistic_grad(floating z, floating y, floating* e) noexcept nogil:
    """Gradient of the log-loss at the logit z for a label y in {0, 1}, and e = exp(-|z|).

        loss = softplus(z) - y z = max(s, 0) + log1p(e)      with s = (1 - 2y) z
        dz   = sigmoid(z) - y,   sigmoid(z) = 1/(1+e) (z >= 0), e/(1+e) (z < 0)

    ``softplus(s) = max(s, 0) + log1p(e^-|s|)`` and ``|s| = |z|``: one exp serves the loss and
    the gradient, and neither overflows for any finite z.  The caller sums the max(s, 0) and
    the log1p(e) parts (``_sum_log1p``).
    """
    e[0] = _exp(-_abs(z))
    return _sigmoid_e(z, e[0]) - y


cdef inline floating _hinge(floating z, floating y) noexcept nogil:
    """max(s, 0), s = (1 - 2y) z: the part of the log-loss that is not log1p(e)."""
    cdef floating s = (<floating>1 - <floating>2 * y) * z
    return s if s > 0 else 0


cdef double _sum_log1p(const floating* e, Py_ssize_t n) noexcept nogil:
    """sum_j log1p(e_j) for e_j in [0, 1], as log1p(S) with 1 + S = prod_j (1 + e_j).

    S is accumulated as S <- S + e (1 + S): only positive terms, so its relative error stays
    below ~2n 2^-53, and log1p keeps it.  Eight lanes (one vector), chunks of at most 512
    terms (1 + S < 2^512); one scalar log1p per chunk instead of one vector log1p per eight
    terms (libmvec's log1p costs three exp).
    """
    cdef double P[8]
    cdef double S, total = 0
    cdef Py_ssize_t j0 = 0, j, l, n8, end
    while j0 < n:
        end = min(n, j0 + 512)
        n8 = j0 + (end - j0) // 8 * 8
        for l in range(8):
            P[l] = 0
        j = j0
        while j < n8:
            for l in range(8):
                P[l] = P[l] + e[j + l] * (1 + P[l])
            j += 8
        S = 0
        for l in range(8):
            S = S + P[l] * (1 + S)
        for j in range(n8, end):
            S = S + e[j] * (1 + S)
        total += log1p(S)
        j0 = end
    return total


# =========================================================================================
# Loops over rows of examples (each row contiguous; ``ld_*`` is a row's stride)
# =========================================================================================

cdef inline Py_ssize_t _count_bad_labels(const floating* Y, Py_ssize_t n) noexcept nogil:
    """How many labels are not exactly 0 or 1 (NaN included): y (1 - y) != 0."""
    cdef Py_ssize_t j, bad = 0
    for j in range(n):
        bad += (Y[j] * (<floating>1 - Y[j]) != 0)
    return bad


cdef void _matmul(const floating* W, Py_ssize_t n_out, Py_ssize_t n_in,
                  const floating* In, Py_ssize_t ld_in, Py_ssize_t n,
                  floating* Out, Py_ssize_t ld_out) noexcept nogil:
    """Out[o, :n] = sum_i W[o, i] In[i, :n]     W (n_out, n_in); rows of In, Out: examples.

    Up to four input rows per pass over an output row (one load and store of it per four
    FMAs); the first pass assigns.
    """
    cdef Py_ssize_t o, i, j, r
    cdef floating w0, w1, w2, w3
    cdef floating* out
    cdef const floating* x0
    cdef const floating* x1
    cdef const floating* x2
    cdef const floating* x3
    i = 0
    while i < n_in:
        r = min(4, n_in - i)
        x0 = In + i * ld_in
        x1 = x0 + ld_in
        x2 = x1 + ld_in
        x3 = x2 + ld_in
        for o in range(n_out):
            out = Out + o * ld_out
            w0 = W[o * n_in + i]
            if r == 1:
                if i == 0:
                    for j in range(n):
                        out[j] = w0 * x0[j]
                else:
                    for j in range(n):
                        out[j] += w0 * x0[j]
                continue
            w1 = W[o * n_in + i + 1]
            if r == 2:
                if i == 0:
                    for j in range(n):
                        out[j] = w0 * x0[j] + w1 * x1[j]
                else:
                    for j in range(n):
                        out[j] += w0 * x0[j] + w1 * x1[j]
                continue
            w2 = W[o * n_in + i + 2]
            if r == 3:
                if i == 0:
                    for j in range(n):
                        out[j] = w0 * x0[j] + w1 * x1[j] + w2 * x2[j]
                else:
                    for j in range(n):
                        out[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j]
                continue
            w3 = W[o * n_in + i + 3]
            if i == 0:
                for j in range(n):
                    out[j] = w0 * x0[j] + w1 * x1[j] + w2 * x2[j] + w3 * x3[j]
            else:
                for j in range(n):
                    out[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j] + w3 * x3[j]
        i += r


cdef void _add_outer(const floating* D, Py_ssize_t ld_d, Py_ssize_t n_out,
                     const floating* In, Py_ssize_t ld_in, Py_ssize_t n_in, Py_ssize_t n,
                     floating* G) noexcept nogil:
    """G[o, i] += sum_j D[o, j] In[i, j]   for j < n    (G (n_out, n_in): dW = dZ In.T).

    Four dot products per pass, sharing one operand: four independent accumulators keep
    the FMA pipeline full (one would wait on its own latency).
    """
    cdef Py_ssize_t o, i, j
    cdef floating s0, s1, s2, s3
    cdef const floating* a
    cdef const floating* b0
    cdef const floating* b1
    cdef const floating* b2
    cdef const floating* b3
    if n_out >= 4:
        for i in range(n_in):
            a = In + i * ld_in
            o = 0
            while o + 4 <= n_out:
                b0 = D + o * ld_d
                b1 = b0 + ld_d
                b2 = b1 + ld_d
                b3 = b2 + ld_d
                s0 = 0
                s1 = 0
                s2 = 0
                s3 = 0
                for j in range(n):
                    s0 += b0[j] * a[j]
                    s1 += b1[j] * a[j]
                    s2 += b2[j] * a[j]
                    s3 += b3[j] * a[j]
                G[o * n_in + i] += s0
                G[(o + 1) * n_in + i] += s1
                G[(o + 2) * n_in + i] += s2
                G[(o + 3) * n_in + i] += s3
                o += 4
            while o < n_out:
                b0 = D + o * ld_d
                s0 = 0
                for j in range(n):
                    s0 += b0[j] * a[j]
                G[o * n_in + i] += s0
                o += 1
    else:
        for o in range(n_out):
            a = D + o * ld_d
            i = 0
            while i + 4 <= n_in:
                b0 = In + i * ld_in
                b1 = b0 + ld_in
                b2 = b1 + ld_in
                b3 = b2 + ld_in
                s0 = 0
                s1 = 0
                s2 = 0
                s3 = 0
                for j in range(n):
                    s0 += a[j] * b0[j]
                    s1 += a[j] * b1[j]
                    s2 += a[j] * b2[j]
                    s3 += a[j] * b3[j]
                G[o * n_in + i] += s0
                G[o * n_in + i + 1] += s1
                G[o * n_in + i + 2] += s2
                G[o * n_in + i + 3] += s3
                i += 4
            while i < n_in:
                b0 = In + i * ld_in
                s0 = 0
                for j in range(n):
                    s0 += a[j] * b0[j]
                G[o * n_in + i] += s0
                i += 1


cdef void _activate(floating* Z, Py_ssize_t ld, const floating* b, Py_ssize_t n_h,
                    Py_ssize_t n, int activation) noexcept nogil:
    """Z[h, :n] <- g(Z[h, :n] + b[h]), in place: the hidden layer's bias and activation.

    One loop per activation (the choice is made outside the loop, so each one vectorizes).
    """
    cdef Py_ssize_t h, j
    cdef floating bias
    cdef floating* z
    for h in range(n_h):
        z = Z + h * ld
        bias = b[h]
        if activation == TANH:
            for j in range(n):
                z[j] = _tanh(z[j] + bias)
        elif activation == RELU:
            for j in range(n):
                z[j] = _activation(z[j] + bias, RELU)
        else:
            for j in range(n):
                z[j] = _sigmoid(z[j] + bias)


cdef double _output_grad(floating* Z, Py_ssize_t ld, const floating* b, const floating* Y,
                         Py_ssize_t ld_y, Py_ssize_t n_y, Py_ssize_t n, double* db,
                         floating* E) noexcept nogil:
    """Z[o, :n] <- dZ = sigmoid(Z + b[o]) - Y (in place); db[o] += sum(dZ); returns sum(loss).

    The sum of losses is accumulated in float64 (float32 included), as is db; ``E`` is a
    scratch row of n elements (the exp(-|z|) of a row, for ``_sum_log1p``).
    """
    cdef Py_ssize_t o, j
    cdef double loss = 0, sdz, hinge
    cdef floating bias, z, dz, e
    cdef floating* zr
    cdef const floating* y
    for o in range(n_y):
        zr = Z + o * ld
        y = Y + o * ld_y
        bias = b[o]
        sdz = 0
        hinge = 0
        for j in range(n):
            z = zr[j] + bias
            dz = _logistic_grad(z, y[j], &e)
            hinge += _hinge(z, y[j])
            E[j] = e
            zr[j] = dz
            sdz += dz
        db[o] += sdz
        loss += hinge + _sum_log1p(E, n)
    return loss


cdef void _hidden_grad(floating* A, Py_ssize_t ld, const floating* W2, Py_ssize_t n_y,
                       Py_ssize_t n_h, const floating* D2, Py_ssize_t ld_d, Py_ssize_t n,
                       int activation, floating* T, double* db1) noexcept nogil:
    """A[h, :n] <- dZ1 = (W2.T dZ2)[h] * g'(A1[h]) (in place); db1[h] += sum(dZ1[h]).

    ``T`` is a scratch row of n elements (used when n_y > 1).
    """
    cdef Py_ssize_t h, o, j
    cdef floating w, s, v
    cdef floating* a
    cdef const floating* d
    for h in range(n_h):
        a = A + h * ld
        s = 0
        if n_y == 1:
            w = W2[h]
            if activation == TANH:
                for j in range(n):
                    v = (w * D2[j]) * (<floating>1 - a[j] * a[j])
                    a[j] = v
                    s += v
            elif activation == RELU:
                for j in range(n):
                    v = (w * D2[j]) * (1 if a[j] > 0 else 0)
                    a[j] = v
                    s += v
            else:
                for j in range(n):
                    v = (w * D2[j]) * (a[j] * (<floating>1 - a[j]))
                    a[j] = v
                    s += v
        else:
            w = W2[h]
            for j in range(n):
                T[j] = w * D2[j]
            for o in range(1, n_y):
                w = W2[o * n_h + h]
                d = D2 + o * ld_d
                for j in range(n):
                    T[j] += w * d[j]
            for j in range(n):
                v = T[j] * _activation_grad(a[j], activation)
                a[j] = v
                s += v
        db1[h] += s


# =========================================================================================
# Workspaces
# =========================================================================================

cdef inline Py_ssize_t _round_up(Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    return (n + k - 1) // k * k


cdef void* _alloc(fastnn_stack_t* stack, size_t nbytes) noexcept nogil:
    """A 64-byte aligned workspace: the caller's stack buffer when it fits, else the heap
    (NULL when out of memory)."""
    if nbytes <= sizeof(fastnn_stack_t):
        return stack
    return aligned_alloc(64, <size_t>_round_up(nbytes, 64))


cdef void _release(fastnn_stack_t* stack, void* p) noexcept nogil:
    if p != <void*>stack:
        free(p)


cdef Py_ssize_t _block_size(Py_ssize_t rows, Py_ssize_t n_x, Py_ssize_t m,
                            Py_ssize_t itemsize) noexcept nogil:
    """Examples per block: the block's ``rows`` work rows fit in BLOCK_BYTES (L1) and its
    ``n_x`` rows of X in XBLOCK_BYTES (L2); a multiple of 8 (whole vectors), or all of m."""
    cdef Py_ssize_t B = BLOCK_BYTES // (max(rows, 1) * itemsize)
    if n_x > 0:
        B = min(B, XBLOCK_BYTES // (n_x * itemsize))
    B = max(MIN_BLOCK, min(MAX_BLOCK, B)) // 16 * 16
    return m if m <= B else B


cdef Py_ssize_t _n_chunks(double work, Py_ssize_t m, int n_threads) noexcept nogil:
    """How many chunks (one per thread) a pass over m examples is split into: one below
    THREAD_WORK.  A function of the sizes and n_threads only, so that the results are
    reproducible for a given n_threads whatever the machine's load."""
    if n_threads <= 1 or work < THREAD_WORK or not FASTNN_OPENMP:
        return 1
    return max(1, min(<Py_ssize_t>n_threads, m // (2 * MIN_BLOCK), MAX_CHUNKS))


cdef inline int _workers(Py_ssize_t n_chunks) noexcept nogil:
    """How many threads run the n_chunks chunks: all of them while another core is idle,
    else one (the chunks, hence the results, are the same either way: bitwise)."""
    if n_chunks > 1 and (not LOAD_CHECK or fastnn_cores_free(<int>n_chunks)):
        return <int>n_chunks
    return 1


cdef inline void _add_to(floating* acc, const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        acc[i] += x[i]


cdef inline void _add_to_d(double* acc, const double* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        acc[i] += x[i]


cdef Py_ssize_t _scale_count_bad(floating* G, const floating* P, Py_ssize_t n, floating m,
                                 floating lr) noexcept nogil:
    """G <- G / m (the gradient from its sum); how many of P - lr G are not finite."""
    cdef Py_ssize_t i, bad = 0
    cdef floating gi
    for i in range(n):
        gi = G[i] / m
        G[i] = gi
        bad += not _isfinite(P[i] - lr * gi)
    return bad


cdef Py_ssize_t _scale_sums(floating* G, const double* S, const floating* P, Py_ssize_t n,
                            double m, floating lr) noexcept nogil:
    """G <- S / m from float64 sums (bias gradients); how many of P - lr G are not finite."""
    cdef Py_ssize_t i, bad = 0
    cdef floating gi
    for i in range(n):
        gi = <floating>(S[i] / m)
        G[i] = gi
        bad += not _isfinite(P[i] - lr * gi)
    return bad


cdef inline void _sgd(floating* P, const floating* G, Py_ssize_t n, floating lr) noexcept nogil:
    """P <- P - lr G."""
    cdef Py_ssize_t i
    for i in range(n):
        P[i] = P[i] - lr * G[i]


# =========================================================================================
# BLAS: the large products of the first layer (row-major arrays seen as column-major)
# =========================================================================================

# NumPy's own OpenBLAS (CBLAS, ILP64) when the Python side found it (set_cblas, from
# fastnn._backends._numpy_blas): one BLAS thread pool in the process.  SciPy's otherwise.
ctypedef void (*cblas_dgemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                               int64_t, const double*, int64_t, double, double*, int64_t) noexcept nogil
ctypedef void (*cblas_sgemm_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                               int64_t, const float*, int64_t, float, float*, int64_t) noexcept nogil
ctypedef double (*cblas_ddot_t)(int64_t, const double*, int64_t, const double*, int64_t) noexcept nogil
cdef cblas_dgemm_t _cblas_dgemm = NULL
cdef cblas_sgemm_t _cblas_sgemm = NULL
cdef cblas_ddot_t _cblas_ddot = NULL
cdef enum:
    CBLAS_ROW_MAJOR = 101
    CBLAS_NO_TRANS = 111
    CBLAS_TRANS = 112


def set_cblas(size_t dgemm_address, size_t sgemm_address, size_t ddot_address=0):
    """Route the large products to the CBLAS ``cblas_dgemm``/``cblas_sgemm`` (64-bit
    integer arguments) at these addresses; ``(0, 0)``: back to SciPy's BLAS.  With
    ``ddot_address``, a float64 ``dot`` long enough for threads runs that ``cblas_ddot``
    (the BLAS threads itself: one pool in the process); 0: the extension's own loop."""
    global _cblas_dgemm, _cblas_sgemm, _cblas_ddot
    if (dgemm_address == 0) != (sgemm_address == 0):
        raise ValueError("set_cblas: give both addresses or neither")
    _cblas_dgemm = <cblas_dgemm_t>dgemm_address
    _cblas_sgemm = <cblas_sgemm_t>sgemm_address
    _cblas_ddot = <cblas_ddot_t>ddot_address


def blas_in_use():
    """"numpy" (NumPy's OpenBLAS, set by set_cblas) or "scipy"."""
    return "numpy" if _cblas_dgemm != NULL else "scipy"


def blas_dot_in_use():
    """Whether a long float64 ``dot`` runs NumPy's ``cblas_ddot`` (set by set_cblas)."""
    return _cblas_ddot != NULL


cdef void _gemm_wx(const floating* W, const floating* X, floating* Out, Py_ssize_t n_out,
                   Py_ssize_t n_in, Py_ssize_t m) noexcept nogil:
    """Out (n_out, m) = W (n_out, n_in) X (n_in, m).

    CBLAS row-major gemm('N', 'N'); SciPy's (column-major): Out.T (m, n_out) = X.T (m, n_in)
    W.T (n_in, n_out), gemm('N', 'N').
    """
    cdef int im = <int>m, io = <int>n_out, ii = <int>n_in
    cdef char N = b'N'
    cdef double one = 1, zero = 0
    cdef float onef = 1, zerof = 0
    if floating is double:
        if _cblas_dgemm != NULL:
            _cblas_dgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, n_out, m, n_in, 1.0,
                         <double*>W, n_in, <double*>X, m, 0.0, <double*>Out, m)
        else:
            dgemm(&N, &N, &im, &io, &ii, &one, <double*>X, &im, <double*>W, &ii, &zero, Out, &im)
    else:
        if _cblas_sgemm != NULL:
            _cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, n_out, m, n_in, 1.0,
                         <float*>W, n_in, <float*>X, m, 0.0, <float*>Out, m)
        else:
            sgemm(&N, &N, &im, &io, &ii, &onef, <float*>X, &im, <float*>W, &ii, &zerof, Out, &im)


cdef void _gemm_dxt(const floating* D, const floating* X, floating* G, Py_ssize_t n_out,
                    Py_ssize_t n_in, Py_ssize_t m) noexcept nogil:
    """G (n_out, n_in) = D (n_out, m) X.T, X (n_in, m).

    CBLAS row-major gemm('N', 'T'); SciPy's (column-major): G.T (n_in, n_out) = X (n_in, m)
    D.T (m, n_out), gemm('T', 'N') on the stored X.T and D.T.
    """
    cdef int im = <int>m, io = <int>n_out, ii = <int>n_in
    cdef char N = b'N', T = b'T'
    cdef double one = 1, zero = 0
    cdef float onef = 1, zerof = 0
    if floating is double:
        if _cblas_dgemm != NULL:
            _cblas_dgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, n_out, n_in, m, 1.0,
                         <double*>D, m, <double*>X, m, 0.0, <double*>G, n_in)
        else:
            dgemm(&T, &N, &ii, &io, &im, &one, <double*>X, &im, <double*>D, &im, &zero, G, &ii)
    else:
        if _cblas_sgemm != NULL:
            _cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, n_out, n_in, m, 1.0,
                         <float*>D, m, <float*>X, m, 0.0, <float*>G, n_in)
        else:
            sgemm(&T, &N, &ii, &io, &im, &onef, <float*>X, &im, <float*>D, &im, &zerof, G, &ii)


cdef bint _use_blas(Py_ssize_t n_out, Py_ssize_t n_in, Py_ssize_t m) noexcept nogil:
    return (n_out >= BLAS_MIN_DIM and n_in >= BLAS_MIN_DIM
            and max(max(n_out, n_in), m) < INT_MAX and n_in * m < INT_MAX)


# =========================================================================================
# The first layer's products on a block of examples: micro-kernels (microkernels.h)
# =========================================================================================

cdef extern from "microkernels.h" nogil:
    void fnn_forward_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t nb,
                            const double* WT, Py_ssize_t H, double* Z, Py_ssize_t ldz,
                            int add)
    void fnn_forward_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t nb,
                           const float* WT, Py_ssize_t H, float* Z, Py_ssize_t ldz, int add)
    void fnn_backward_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t nb,
                             const double* DT, Py_ssize_t H, double* GT)
    void fnn_backward_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t nb,
                            const float* DT, Py_ssize_t H, float* GT)
    void fnn_lr_forward_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x,
                               const double* w, double* z)
    void fnn_lr_forward_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x,
                              const float* w, float* z)
    void fnn_lr_backward_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x,
                                const double* dz, double* G)
    void fnn_lr_backward_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x,
                               const float* dz, float* G)
    void fnn_row_dots_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t n,
                             const double* dz, double* g)
    void fnn_row_dots_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t n,
                            const float* dz, float* g)
    void fnn_forward_stream_double(const double* X, Py_ssize_t ldx, Py_ssize_t n_x,
                                   Py_ssize_t nb, const double* WT, Py_ssize_t H, double* ZT)
    void fnn_forward_stream_float(const float* X, Py_ssize_t ldx, Py_ssize_t n_x,
                                  Py_ssize_t nb, const float* WT, Py_ssize_t H, float* ZT)
    void fnn_interleave_pairs_double(const double* Z, Py_ssize_t ldz, Py_ssize_t nb, double* DP)
    void fnn_interleave_pairs_float(const float* Z, Py_ssize_t ldz, Py_ssize_t nb, float* DP)
    void fnn_transpose_double(const double* A, Py_ssize_t lda, Py_ssize_t H, Py_ssize_t nb,
                              double* AT)
    void fnn_transpose_float(const float* A, Py_ssize_t lda, Py_ssize_t H, Py_ssize_t nb,
                             float* AT)


cdef inline Py_ssize_t _lanes(floating* p) noexcept nogil:
    """Elements per 64-byte vector of the micro-kernels: 8 doubles or 16 floats."""
    if floating is double:
        return 8
    else:
        return 16


cdef inline void _forward_tiles(const floating* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t nb,
                                const floating* WT, Py_ssize_t H, floating* Z,
                                Py_ssize_t ldz, bint add=False) noexcept nogil:
    """Z (H, nb) = W1 X[:, :nb], W1 given transposed and padded (WT (n_x, H)); with
    ``add``, Z += (the sums over these n_x rows)."""
    if floating is double:
        fnn_forward_double(X, ldx, n_x, nb, WT, H, Z, ldz, add)
    else:
        fnn_forward_float(X, ldx, n_x, nb, WT, H, Z, ldz, add)


cdef inline void _backward_tiles(const floating* X, Py_ssize_t ldx, Py_ssize_t n_x,
                                 Py_ssize_t nb, const floating* DT, Py_ssize_t H,
                                 floating* GT) noexcept nogil:
    """GT (n_x, H) += X[:, :nb] DT: dW1.T += X dZ1.T, dZ1 given transposed (DT (nb, H))."""
    if floating is double:
        fnn_backward_double(X, ldx, n_x, nb, DT, H, GT)
    else:
        fnn_backward_float(X, ldx, n_x, nb, DT, H, GT)


cdef inline void _row_dots(const floating* X, Py_ssize_t ldx, Py_ssize_t n_x, Py_ssize_t n,
                           const floating* dz, floating* g) noexcept nogil:
    """g[k] = X[k, :n] dz[:n].T for each of the n_x rows, one row at a time."""
    if floating is double:
        fnn_row_dots_double(X, ldx, n_x, n, dz, g)
    else:
        fnn_row_dots_float(X, ldx, n_x, n, dz, g)


cdef inline void _forward_stream(const floating* X, Py_ssize_t ldx, Py_ssize_t n_x,
                                 Py_ssize_t nb, const floating* WT, Py_ssize_t H,
                                 floating* ZT) noexcept nogil:
    """ZT (nb, H) += X[:, :nb].T W1.T, X streamed row by row (the two-pass mode)."""
    if floating is double:
        fnn_forward_stream_double(X, ldx, n_x, nb, WT, H, ZT)
    else:
        fnn_forward_stream_float(X, ldx, n_x, nb, WT, H, ZT)


cdef inline void _transpose8(const floating* A, Py_ssize_t lda, Py_ssize_t rows,
                             Py_ssize_t cols, floating* AT) noexcept nogil:
    """AT (cols, rows) = A (rows, cols).T, rows and cols multiples of 8 (8 x 8 tiles)."""
    if floating is double:
        fnn_transpose_double(A, lda, rows, cols, AT)
    else:
        fnn_transpose_float(A, lda, rows, cols, AT)


cdef inline void _interleave_pairs(const floating* Z, Py_ssize_t ldz, Py_ssize_t nb,
                                   floating* DP) noexcept nogil:
    """DP = dZ1 (VL / 2 rows of Z) as interleaved pairs of examples, for the pairs' backward."""
    if floating is double:
        fnn_interleave_pairs_double(Z, ldz, nb, DP)
    else:
        fnn_interleave_pairs_float(Z, ldz, nb, DP)


cdef void _transpose_pad(const floating* A, Py_ssize_t ld, Py_ssize_t rows, Py_ssize_t cols,
                         floating* AT, Py_ssize_t rows_pad, Py_ssize_t cols_pad) noexcept nogil:
    """AT (cols_pad, rows_pad) = A[:rows, :cols].T, zero outside (A has row stride ld)."""
    cdef Py_ssize_t i, j
    for j in range(cols_pad):
        for i in range(rows_pad):
            AT[j * rows_pad + i] = A[i * ld + j] if (i < rows and j < cols) else 0


# =========================================================================================
# The two-layer network: one pass over the examples = forward, cost, backward
# =========================================================================================

cdef enum:
    ROWS = 0    # small n_x: every product as loops over rows of examples
    TILES = 1   # the first layer's products by register tiles (microkernels.h)
    BLAS = 2    # large layers: the first layer's products by the BLAS
    STREAM = 3  # inputs much larger than the L2 cache: two passes streaming X row by row

cdef struct Layout:
    # byte offsets of the pieces of one chunk's workspace, each on a 64-byte boundary:
    # the gradient sums first (zeroed before each pass), then the block's work rows
    Py_ssize_t dW1, dW2, db1, db2, sums, gb, A1, D2, E, T, DT, size


cdef Layout _mlp_layout(Py_ssize_t n_x, Py_ssize_t n_h, Py_ssize_t n_y, Py_ssize_t B,
                        Py_ssize_t H, int mode, Py_ssize_t isz) noexcept nogil:
    """One chunk's workspace: dW1 (n_h, n_x) -- transposed (n_x, H) in TILES mode --, dW2,
    float64 sums of db1, db2, the scaled bias gradients, then the block's rows: A1 (H, B)
    (none in BLAS mode: the whole hidden layer is elsewhere), dZ2 (n_y, B), a scratch row
    (n_y > 1), dZ1 transposed (B, H) (TILES)."""
    cdef Layout L
    L.dW1 = 0
    L.dW2 = L.dW1 + _round_up((n_x * H if mode >= TILES and mode != BLAS else n_h * n_x) * isz, 64)
    L.db1 = L.dW2 + _round_up(n_y * n_h * isz, 64)
    L.db2 = L.db1 + _round_up(n_h * 8, 64)
    L.sums = L.db2 + _round_up(n_y * 8, 64)
    L.gb = L.sums
    L.A1 = L.gb + _round_up((n_h + n_y) * isz, 64)
    L.D2 = L.A1 + (0 if mode == BLAS or mode == STREAM else _round_up(H * B * isz, 64))
    L.E = L.D2 + _round_up(n_y * B * isz, 64)
    L.T = L.E + _round_up(B * isz, 64)
    L.DT = L.T + (_round_up(B * isz, 64) if n_y > 1 else 0)
    L.size = L.DT + (_round_up(B * H * isz, 64) if mode == TILES else 0)
    return L


cdef struct Net:
    # the sizes, the blocking, the mode; ``mp`` is m rounded up to 8 (STREAM's Z1 rows)
    Py_ssize_t m, n_x, n_h, n_y, H, B, mp
    int activation, mode


cdef double _mlp_block(const floating* X, const floating* Xtail, const floating* Y,
                       const floating* W1, const floating* W1T, const floating* b1,
                       const floating* W2, const floating* b2, const Net* net,
                       Py_ssize_t j0, Py_ssize_t bl, floating* Z1, char* ws,
                       const Layout* L) noexcept nogil:
    """Forward, loss and backward on the block of examples j0 .. j0+bl; returns its loss sum.

        Z1 = W1 X[:, blk]             (n_h, bl)   (BLAS mode: computed before, in Z1)
        A1 = g(Z1 + b1)
        Z2 = W2 A1 + b2               (n_y, bl)
        dZ2 = sigmoid(Z2) - Y[:, blk];  loss = sum(softplus((1 - 2Y) Z2))
        dW2 += dZ2 A1.T               db2 += sum(dZ2)
        dZ1 = W2.T dZ2 * g'(A1)       (in place of A1)
        dW1 += dZ1 X[:, blk].T        db1 += sum(dZ1)      (BLAS mode: after the pass)
    X's block is read twice, the second time from cache.  Sums go to the chunk's ``ws``.
    BLAS and STREAM modes: the products with X are done before and after, on all m.
    """
    cdef Py_ssize_t m = net.m, n_x = net.n_x, n_h = net.n_h, n_y = net.n_y, H = net.H
    cdef Py_ssize_t B = net.B, VL = _lanes(<floating*>NULL), full = 0, ld_a1, nb, h, j
    cdef floating* D2 = <floating*>(ws + L.D2)
    cdef floating* DT = <floating*>(ws + L.DT)
    cdef floating* A1
    cdef double loss
    if net.mode == BLAS or net.mode == STREAM:
        A1 = Z1 + j0
        ld_a1 = m if net.mode == BLAS else net.mp
    else:
        A1 = <floating*>(ws + L.A1)
        ld_a1 = B
        if net.mode == ROWS:
            _matmul(W1, n_h, n_x, X + j0, m, bl, A1, ld_a1)
        else:
            full = bl - bl % VL
            if full:
                _forward_tiles(X + j0, m, n_x, full, W1T, H, A1, ld_a1)
            if full < bl:   # the last examples of X, zero-padded to a whole vector
                _forward_tiles(Xtail, VL, n_x, VL, W1T, H, A1 + full, ld_a1)
    _activate(A1, ld_a1, b1, n_h, bl, net.activation)
    _matmul(W2, n_y, n_h, A1, ld_a1, bl, D2, B)
    loss = _output_grad(D2, B, b2, Y + j0, m, n_y, bl, <double*>(ws + L.db2),
                        <floating*>(ws + L.E))
    _add_outer(D2, B, n_y, A1, ld_a1, n_h, bl, <floating*>(ws + L.dW2))
    _hidden_grad(A1, ld_a1, W2, n_y, n_h, D2, B, bl, net.activation, <floating*>(ws + L.T),
                 <double*>(ws + L.db1))
    if net.mode == ROWS:
        _add_outer(A1, ld_a1, n_h, X + j0, m, n_x, bl, <floating*>(ws + L.dW1))
    elif net.mode == TILES:
        nb = _round_up(bl, VL)
        if nb > bl:     # the padding examples of the tail: exactly zero in dZ1
            for h in range(H):
                for j in range(bl, nb):
                    A1[h * ld_a1 + j] = 0
        _transpose8(A1, ld_a1, H, nb, DT)
        if full:
            _backward_tiles(X + j0, m, n_x, full, DT, H, <floating*>(ws + L.dW1))
        if full < bl:
            _backward_tiles(Xtail, VL, n_x, VL, DT + full * H, H, <floating*>(ws + L.dW1))
    return loss


cdef double _mlp_pass(const floating* X, const floating* Xtail, const floating* Y,
                      const floating* W1, const floating* W1T, const floating* b1,
                      const floating* W2, const floating* b2, const Net* net,
                      Py_ssize_t j_start, Py_ssize_t j_end, floating* Z1, char* ws,
                      const Layout* L) noexcept nogil:
    """The examples j_start .. j_end, block by block; returns the sum of their losses."""
    cdef Py_ssize_t j0 = j_start, bl
    cdef double loss = 0
    while j0 < j_end:
        bl = min(net.B, j_end - j0)
        loss += _mlp_block(X, Xtail, Y, W1, W1T, b1, W2, b2, net, j0, bl, Z1, ws, L)
        j0 += bl
    return loss


cdef inline Py_ssize_t _chunk_start(Py_ssize_t c, Py_ssize_t n_chunks, Py_ssize_t m,
                                    Py_ssize_t VL) noexcept nogil:
    """First example of chunk c: the ceil(m / VL) vectors of m (the last one may be partial,
    and costs a whole one) split evenly, each chunk starting at a multiple of VL."""
    if c >= n_chunks:
        return m
    return c * ((m + VL - 1) // VL) // n_chunks * VL


cdef inline Py_ssize_t _split(Py_ssize_t c, Py_ssize_t n_chunks, Py_ssize_t n) noexcept nogil:
    return n if c >= n_chunks else c * n // n_chunks


cdef void _forward_columns(const floating* X, Py_ssize_t m, Py_ssize_t n_x, Py_ssize_t j0,
                           Py_ssize_t j1, const floating* WT, Py_ssize_t H, floating* Z,
                           Py_ssize_t ldz, floating* scratch) noexcept nogil:
    """Z[:, j0:j1] = W1 X[:, j0:j1] (Z (H, ldz)), j0 a multiple of VL and m >= VL: whole
    vectors by the register tiles, the rows of X in chunks of about FORWARD_CHUNK_BYTES
    (the tiles of a chunk share its rows in L2 and TLB; each chunk adds its partial sums);
    a last partial vector (j1 = m) as the vector ending at m, computed into ``scratch``
    (H, VL) and its new columns copied."""
    cdef Py_ssize_t VL = _lanes(<floating*>NULL), full = (j1 - j0) // VL * VL, h, j, k0, n
    cdef Py_ssize_t isz = sizeof(floating)
    cdef Py_ssize_t chunk = max(8, FORWARD_CHUNK_BYTES // (max(full, VL) * isz))
    k0 = 0
    while k0 < n_x:
        n = min(chunk, n_x - k0)
        if full:
            _forward_tiles(X + k0 * m + j0, m, n, full, WT + k0 * H, H, Z + j0, ldz, k0 > 0)
        if j0 + full < j1:
            _forward_tiles(X + k0 * m + m - VL, m, n, VL, WT + k0 * H, H, scratch, VL, k0 > 0)
        k0 += n
    if j0 + full < j1:
        for h in range(H):
            for j in range(j0 + full, j1):
                Z[h * ldz + j] = scratch[h * VL + j - (m - VL)]


cdef double _mlp_stream_pass(const floating* X, const floating* Y, const floating* W1T,
                             const floating* b1, const floating* W2, const floating* b2,
                             const Net* net, Py_ssize_t n_chunks, char* ws, const Layout* L,
                             floating* Z1) noexcept nogil:
    """The two-pass mode: forward over all examples, the small layers, backward.

        ZT = X.T W1.T      (m, H)   X streamed row by row; each thread a range of features
        Z1 = ZT.T          (H, mp)  (float32 pairs mode, m >= VL: Z1 = W1 X directly, by the
                                    register tiles, each thread a range of examples)
        then A1, Z2, dZ2, dW2, dZ1 block by block (in Z1)
        DT = dZ1.T         (mp, H)  (the pairs mode: dZ1 as interleaved pairs of examples)
        GT = X DT          (n_x, H) = dW1.T, each thread its own range of features
    ``Z1`` holds Z1 (H, mp), then n_chunks partial ZT (mp, H); returns the loss sum.
    """
    cdef Py_ssize_t m = net.m, mp = net.mp, H = net.H, n_x = net.n_x, c, i, j0, bl
    cdef Py_ssize_t zsize = mp * H, VL = _lanes(<floating*>NULL)
    cdef floating* ZT = Z1 + zsize
    cdef floating* GT = <floating*>(ws + L.dW1)
    cdef double loss = 0
    if 2 * H == VL and m >= VL:
        # the pairs' forward costs a shuffle per FMA; the tiles (X's loads strided) measured
        # faster in float32 -- and slower in float64 (X twice as large), so not used there
        if n_chunks == 1:
            _forward_columns(X, m, n_x, 0, m, W1T, H, Z1, mp, ZT)
        else:
            for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
                _forward_columns(X, m, n_x, _chunk_start(c, n_chunks, m, VL),
                                 _chunk_start(c + 1, n_chunks, m, VL), W1T, H, Z1, mp,
                                 ZT + c * zsize)
    else:
        memset(ZT, 0, n_chunks * zsize * sizeof(floating))
        if n_chunks == 1:
            _forward_stream(X, m, n_x, m, W1T, H, ZT)
        else:
            for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
                _forward_stream(X + _split(c, n_chunks, n_x) * m, m,
                                _split(c + 1, n_chunks, n_x) - _split(c, n_chunks, n_x), m,
                                W1T + _split(c, n_chunks, n_x) * H, H, ZT + c * zsize)
            for c in range(1, n_chunks):
                _add_to(ZT, ZT + c * zsize, zsize)
        _transpose8(ZT, H, mp, H, Z1)
    j0 = 0
    while j0 < m:
        bl = min(net.B, m - j0)
        loss += _mlp_block(X, NULL, Y, NULL, NULL, b1, W2, b2, net, j0, bl, Z1, ws, L)
        j0 += bl
    if 2 * H == VL:
        _interleave_pairs(Z1, mp, mp, ZT)
    else:
        _transpose8(Z1, mp, H, mp, ZT)
    if n_chunks == 1:
        _backward_tiles(X, m, n_x, m, ZT, H, GT)
    else:
        for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
            _backward_tiles(X + _split(c, n_chunks, n_x) * m, m,
                            _split(c + 1, n_chunks, n_x) - _split(c, n_chunks, n_x), m,
                            ZT, H, GT + _split(c, n_chunks, n_x) * H)
    return loss


cdef int _mlp_step(const floating* X, const floating* Xtail, const floating* Y,
                   floating* W1, floating* W1T, floating* b1, floating* W2, floating* b2,
                   const Net* net, floating lr, bint check, double* cost, Py_ssize_t n_chunks,
                   char* ws, const Layout* L, floating* Z1) noexcept nogil:
    """One training step: gradients and cost over all m examples, then the update.

    The examples are split into ``n_chunks`` ranges (one per thread), each with its own
    workspace of ``L.size`` bytes; chunk 0's sums receive the others'.  BLAS mode:
    Z1 = W1 X before the pass, dW1 = dZ1 X.T after it.  TILES mode updates W1T, the
    transposed copy of W1 that the caller writes back.  With ``check``, nothing is written
    unless the cost and every updated parameter are finite (returns NONFINITE).
    """
    cdef Py_ssize_t m = net.m, n_x = net.n_x, n_h = net.n_h, n_y = net.n_y, c, bad, n_w1
    cdef Py_ssize_t VL = _lanes(<floating*>NULL)
    cdef double loss = 0
    cdef double part[MAX_CHUNKS]
    cdef char* w
    cdef floating* dW1 = <floating*>(ws + L.dW1)
    cdef floating* dW2 = <floating*>(ws + L.dW2)
    cdef floating* gb1 = <floating*>(ws + L.gb)
    cdef floating* gb2 = gb1 + n_h
    cdef floating* P1 = W1T if net.mode == TILES or net.mode == STREAM else W1
    n_w1 = n_x * net.H if net.mode == TILES or net.mode == STREAM else n_h * n_x
    for c in range(1 if net.mode == STREAM else n_chunks):
        memset(ws + c * L.size, 0, L.sums)
    if net.mode == BLAS:
        _gemm_wx(W1, X, Z1, n_h, n_x, m)
    if net.mode == STREAM:
        loss = _mlp_stream_pass(X, Y, W1T, b1, W2, b2, net, n_chunks, ws, L, Z1)
    elif n_chunks == 1:
        loss = _mlp_pass(X, Xtail, Y, W1, W1T, b1, W2, b2, net, 0, m, Z1, ws, L)
    else:
        for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
            part[c] = _mlp_pass(X, Xtail, Y, W1, W1T, b1, W2, b2, net,
                                _chunk_start(c, n_chunks, m, VL),
                                _chunk_start(c + 1, n_chunks, m, VL), Z1, ws + c * L.size, L)
        for c in range(n_chunks):
            loss += part[c]
        for c in range(1, n_chunks):
            w = ws + c * L.size
            if net.mode != BLAS:
                _add_to(dW1, <floating*>(w + L.dW1), n_w1)
            _add_to(dW2, <floating*>(w + L.dW2), n_y * n_h)
            _add_to_d(<double*>(ws + L.db1), <double*>(w + L.db1), n_h)
            _add_to_d(<double*>(ws + L.db2), <double*>(w + L.db2), n_y)
    if net.mode == BLAS:
        _gemm_dxt(Z1, X, dW1, n_h, n_x, m)
    cost[0] = loss / m
    bad = _scale_count_bad(dW1, P1, n_w1, <floating>m, lr)
    bad += _scale_count_bad(dW2, W2, n_y * n_h, <floating>m, lr)
    bad += _scale_sums(gb1, <double*>(ws + L.db1), b1, n_h, m, lr)
    bad += _scale_sums(gb2, <double*>(ws + L.db2), b2, n_y, m, lr)
    if check and (bad or not (fabs(cost[0]) <= DBL_MAX)):
        return NONFINITE
    _sgd(P1, dW1, n_w1, lr)
    _sgd(b1, gb1, n_h, lr)
    _sgd(W2, dW2, n_y * n_h, lr)
    _sgd(b2, gb2, n_y, lr)
    return OK


cdef int _mlp_descend(const floating* X, const floating* Y, floating* W1, floating* b1,
                      floating* W2, floating* b2, const Net* net, floating lr, bint check,
                      double* costs, Py_ssize_t n_iter, Py_ssize_t n_chunks, char* ws,
                      const Layout* L, char* extra, Py_ssize_t* n_done) noexcept nogil:
    """``n_iter`` training steps; stops at the first one whose status is not OK.

    ``extra``: BLAS mode, Z1 (n_h, m); TILES mode, W1T (n_x, H) then the tail of X padded
    to a whole vector (n_x, VL), both filled here; STREAM mode, W1T then Z1 (H, mp) and the
    partial ZT (mp, H) of each thread.
    """
    cdef Py_ssize_t it, k, h, j, m = net.m, n_x = net.n_x, n_h = net.n_h, H = net.H
    cdef Py_ssize_t VL = _lanes(<floating*>NULL), tail = m % VL
    cdef double cost
    cdef int status = OK
    cdef floating* Z1 = NULL
    cdef floating* W1T = NULL
    cdef floating* Xtail = NULL
    n_done[0] = 0
    if _count_bad_labels(Y, net.n_y * m):
        return BAD_LABEL
    if net.mode == BLAS:
        Z1 = <floating*>extra
    elif net.mode == STREAM:
        W1T = <floating*>extra
        Z1 = W1T + _round_up(n_x * H, 16)
        _transpose_pad(W1, n_x, n_h, n_x, W1T, H, n_x)
    elif net.mode == TILES:
        W1T = <floating*>extra
        Xtail = W1T + _round_up(n_x * H, 16)
        _transpose_pad(W1, n_x, n_h, n_x, W1T, H, n_x)
        for k in range(n_x):
            for j in range(VL):
                Xtail[k * VL + j] = X[k * m + m - tail + j] if j < tail else 0
    for it in range(n_iter):
        status = _mlp_step(X, Xtail, Y, W1, W1T, b1, W2, b2, net, lr, check, &cost, n_chunks,
                           ws, L, Z1)
        if status != OK:
            break
        costs[it] = cost
        n_done[0] = it + 1
    if (net.mode == TILES or net.mode == STREAM) and n_done[0] > 0:     # W1 <- W1T
        for h in range(n_h):
            for k in range(n_x):
                W1[h * n_x + k] = W1T[k * H + h]
    return status


# =========================================================================================
# Logistic regression: the same pass with one output and no hidden layer
# =========================================================================================

cdef double _logreg_pass(const floating* X, const floating* Xtail, const floating* Y,
                         Py_ssize_t m, const floating* w, const floating* b, Py_ssize_t n_x,
                         Py_ssize_t j_start, Py_ssize_t j_end, Py_ssize_t B, bint tiles,
                         floating* Z, floating* dw, double* db) noexcept nogil:
    """Over the examples j_start..j_end, block by block (X's block read twice from cache):

        Z = w.T X[:, blk] + b      dZ = sigmoid(Z) - Y[:, blk]    loss += softplus((1-2Y) Z)
        dw += X[:, blk] dZ.T       db += sum(dZ)

    ``Z`` is a scratch row of B elements; returns the sum of the losses.  With ``tiles``
    (many features), the products are the micro-kernels' on blocks of B = 4 VL examples,
    ``dw`` holds per-lane partial sums (n_x, VL) and ``Xtail`` the last examples padded.
    """
    cdef Py_ssize_t bl, j, j0 = j_start, VL = _lanes(<floating*>NULL)
    cdef const floating* Xb
    cdef Py_ssize_t ld
    cdef double loss = 0
    while j0 < j_end:
        bl = min(B, j_end - j0)
        if not tiles:
            _matmul(w, 1, n_x, X + j0, m, bl, Z, B)
            loss += _output_grad(Z, B, b, Y + j0, m, 1, bl, db, Z + B)
            _add_outer(Z, B, 1, X + j0, m, n_x, bl, dw)
        else:
            if bl == B:
                Xb = X + j0
                ld = m
            else:
                Xb = Xtail
                ld = B
            if floating is double:
                fnn_lr_forward_double(Xb, ld, n_x, w, Z)
            else:
                fnn_lr_forward_float(Xb, ld, n_x, w, Z)
            loss += _output_grad(Z, B, b, Y + j0, m, 1, bl, db, Z + B)
            for j in range(bl, B):
                Z[j] = 0
            if floating is double:
                fnn_lr_backward_double(Xb, ld, n_x, Z, dw)
            else:
                fnn_lr_backward_float(Xb, ld, n_x, Z, dw)
        j0 += bl
    return loss


cdef struct LogregLayout:
    Py_ssize_t dw, db, sums, Z, size


cdef LogregLayout _logreg_layout(Py_ssize_t n_x, Py_ssize_t B, Py_ssize_t VL, bint tiles,
                                 Py_ssize_t isz) noexcept nogil:
    """One chunk's workspace: dw sums (n_x, or (n_x, VL) lane partials), db, a row of B."""
    cdef LogregLayout L
    L.dw = 0
    L.db = _round_up(n_x * (VL if tiles else 1) * isz, 64)
    L.sums = L.db + 64
    L.Z = L.sums
    L.size = L.Z + _round_up(2 * B * isz, 64)     # Z, then the scratch row of _output_grad
    return L


cdef struct LogregNet:
    Py_ssize_t m, n_x, B, VL
    bint tiles, stream


cdef void _stream_logits(const floating* X, const floating* w, const LogregNet* net,
                         Py_ssize_t n_chunks, char* ws, const LogregLayout* L) noexcept nogil:
    """Z (m,) = w.T X (no bias) into chunk 0's row ``ws + L.Z``, X streamed row by row: each
    chunk (thread) the rows of a range of features, its partial row summed in chunk order."""
    cdef Py_ssize_t m = net.m, n_x = net.n_x, c
    cdef floating* Z = <floating*>(ws + L.Z)
    if n_chunks == 1:
        _matmul(w, 1, n_x, X, m, m, Z, m)
        return
    for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
        memset(ws + c * L.size + L.Z, 0, m * sizeof(floating))
        _matmul(w + _split(c, n_chunks, n_x), 1,
                _split(c + 1, n_chunks, n_x) - _split(c, n_chunks, n_x),
                X + _split(c, n_chunks, n_x) * m, m, m, <floating*>(ws + c * L.size + L.Z), m)
    for c in range(1, n_chunks):
        _add_to(Z, <floating*>(ws + c * L.size + L.Z), m)


cdef void _descent_rows(const floating* X, Py_ssize_t m, Py_ssize_t k0, Py_ssize_t k1,
                        const floating* dz, const floating* w, floating lr, floating* dw,
                        floating* w_new, floating* Z, bint logits) noexcept nogil:
    """One step of gradient descent on the rows k0..k1 of X, each read once (four at a time):

        dw[k] = X[k] dz.T / m      w_new[k] = w[k] - lr dw[k]
        Z (m,) = sum_k w_new[k] X[k]     (with ``logits``: the next step's partial logits,
                                          while the rows are still in L1)
    """
    cdef Py_ssize_t k = k0, j
    cdef floating s0, s1, s2, s3, v0, v1, v2, v3, d, fm = <floating>m
    cdef const floating* x0
    cdef const floating* x1
    cdef const floating* x2
    cdef const floating* x3
    if logits:
        memset(Z, 0, m * sizeof(floating))
    while k + 4 <= k1:
        x0 = X + k * m
        x1 = x0 + m
        x2 = x1 + m
        x3 = x2 + m
        s0 = 0
        s1 = 0
        s2 = 0
        s3 = 0
        for j in range(m):
            d = dz[j]
            s0 += x0[j] * d
            s1 += x1[j] * d
            s2 += x2[j] * d
            s3 += x3[j] * d
        dw[k] = s0 / fm
        dw[k + 1] = s1 / fm
        dw[k + 2] = s2 / fm
        dw[k + 3] = s3 / fm
        v0 = w[k] - lr * dw[k]
        v1 = w[k + 1] - lr * dw[k + 1]
        v2 = w[k + 2] - lr * dw[k + 2]
        v3 = w[k + 3] - lr * dw[k + 3]
        w_new[k] = v0
        w_new[k + 1] = v1
        w_new[k + 2] = v2
        w_new[k + 3] = v3
        if logits:
            for j in range(m):
                Z[j] += v0 * x0[j] + v1 * x1[j] + v2 * x2[j] + v3 * x3[j]
        k += 4
    while k < k1:
        x0 = X + k * m
        s0 = 0
        for j in range(m):
            s0 += x0[j] * dz[j]
        dw[k] = s0 / fm
        v0 = w[k] - lr * dw[k]
        w_new[k] = v0
        if logits:
            for j in range(m):
                Z[j] += v0 * x0[j]
        k += 1


cdef int _logreg_descend_stream(const floating* X, const floating* Y, floating* w, floating* b,
                                const LogregNet* net, double learning_rate, double* costs,
                                Py_ssize_t n_iter, floating* dw_out, floating* db_out,
                                bint check, Py_ssize_t n_chunks, char* ws,
                                const LogregLayout* L, floating* gw,
                                Py_ssize_t* n_done) noexcept nogil:
    """``_logreg_descend`` reading X once per step (inputs much larger than the L2 cache):
    the pass computing step i's dw (row by row) also computes, from the updated row of w,
    step i + 1's logits -- one pass over X per step instead of two.  ``gw`` is followed by
    two scratch rows (64-byte aligned): the new w (n_x) and dZ (m).
    """
    cdef Py_ssize_t it, c, k, bad, m = net.m, n_x = net.n_x
    cdef floating* w_new = <floating*>(<char*>gw + _round_up(n_x * sizeof(floating), 64))
    cdef floating* dz = <floating*>(<char*>w_new + _round_up(n_x * sizeof(floating), 64))
    cdef floating* Z = <floating*>(ws + L.Z)
    cdef floating lr = <floating>learning_rate
    cdef floating new_b
    cdef double loss, cost, gb, db
    cdef bint logits
    _stream_logits(X, w, net, n_chunks, ws, L)
    for it in range(n_iter):
        memcpy(dz, Z, m * sizeof(floating))
        db = 0
        loss = _output_grad(dz, m, b, Y, m, 1, m, &db, Z + m)
        cost = loss / m
        gb = db / m
        new_b = b[0] - <floating>(learning_rate * gb)
        logits = it + 1 < n_iter
        if n_chunks == 1:
            _descent_rows(X, m, 0, n_x, dz, w, lr, gw, w_new, Z, logits)
        else:
            for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
                _descent_rows(X, m, _split(c, n_chunks, n_x), _split(c + 1, n_chunks, n_x), dz,
                              w, lr, gw, w_new, <floating*>(ws + c * L.size + L.Z), logits)
            if logits:
                for c in range(1, n_chunks):
                    _add_to(Z, <floating*>(ws + c * L.size + L.Z), m)
        if check:
            bad = 0
            for k in range(n_x):
                bad += not _isfinite(w_new[k])
            if bad or not (fabs(cost + new_b) <= DBL_MAX):
                return NONFINITE
        costs[it] = cost
        memcpy(dw_out, gw, n_x * sizeof(floating))
        db_out[0] = <floating>gb
        memcpy(w, w_new, n_x * sizeof(floating))
        b[0] = new_b
        n_done[0] = it + 1
    return OK


cdef double _logreg_stream(const floating* X, const floating* Y, const floating* w,
                           const floating* b, const LogregNet* net, Py_ssize_t n_chunks,
                           char* ws, const LogregLayout* L, floating* dw,
                           double* db) noexcept nogil:
    """The two-pass mode (inputs much larger than the L2 cache), X streamed row by row:

        Z = w.T X           each thread the rows of a range of features, partial Z summed
        dZ, loss, db        on the whole row of m examples
        dw = X dZ.T         each thread its own range of features of dw
    """
    cdef Py_ssize_t m = net.m, n_x = net.n_x, c
    cdef floating* Z = <floating*>(ws + L.Z)
    cdef double loss
    db[0] = 0
    _stream_logits(X, w, net, n_chunks, ws, L)
    loss = _output_grad(Z, m, b, Y, m, 1, m, db, Z + m)
    if m * <Py_ssize_t>sizeof(floating) <= ONE_ROW_DOTS_MAX_ROW:
        for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
            _row_dots(X + _split(c, n_chunks, n_x) * m, m,
                      _split(c + 1, n_chunks, n_x) - _split(c, n_chunks, n_x), m, Z,
                      dw + _split(c, n_chunks, n_x))
        return loss
    memset(dw, 0, n_x * sizeof(floating))
    if n_chunks == 1:
        _add_outer(Z, m, 1, X, m, n_x, m, dw)
    else:
        for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
            _add_outer(Z, m, 1, X + _split(c, n_chunks, n_x) * m, m,
                       _split(c + 1, n_chunks, n_x) - _split(c, n_chunks, n_x), m,
                       dw + _split(c, n_chunks, n_x))
    return loss


cdef double _logreg_gradients(const floating* X, const floating* Xtail, const floating* Y,
                              const floating* w, const floating* b, const LogregNet* net,
                              Py_ssize_t n_chunks, char* ws, const LogregLayout* L,
                              floating* dw, double* db) noexcept nogil:
    """Sums over all examples: dw = X dZ.T (into ``dw``), db = sum(dZ); returns the loss sum.

    ``n_chunks`` ranges of examples, one per thread, each with its own workspace.
    """
    cdef Py_ssize_t c, k, l, m = net.m, n_x = net.n_x, VL = net.VL
    cdef double loss = 0
    cdef double part[MAX_CHUNKS]
    cdef char* wc
    cdef floating s
    cdef floating* g
    for c in range(n_chunks):
        memset(ws + c * L.size, 0, L.sums)
    if net.stream:
        return _logreg_stream(X, Y, w, b, net, n_chunks, ws, L, dw, db)
    if n_chunks == 1 and not net.tiles:
        memset(dw, 0, n_x * sizeof(floating))
        db[0] = 0
        return _logreg_pass(X, Xtail, Y, m, w, b, n_x, 0, m, net.B, False,
                            <floating*>(ws + L.Z), dw, db)
    if n_chunks == 1:
        loss = _logreg_pass(X, Xtail, Y, m, w, b, n_x, 0, m, net.B, True,
                            <floating*>(ws + L.Z), <floating*>(ws + L.dw), <double*>(ws + L.db))
    else:
        for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
            wc = ws + c * L.size
            part[c] = _logreg_pass(X, Xtail, Y, m, w, b, n_x,
                                 _chunk_start(c, n_chunks, m, net.B),
                                 _chunk_start(c + 1, n_chunks, m, net.B), net.B, net.tiles,
                                 <floating*>(wc + L.Z), <floating*>(wc + L.dw),
                                 <double*>(wc + L.db))
        for c in range(n_chunks):
            loss += part[c]
    db[0] = 0
    if net.tiles:   # dw = the lane partials summed, over lanes and chunks
        for k in range(n_x):
            s = 0
            for c in range(n_chunks):
                g = <floating*>(ws + c * L.size + L.dw) + k * VL
                for l in range(VL):
                    s += g[l]
            dw[k] = s
    else:
        memset(dw, 0, n_x * sizeof(floating))
        for c in range(n_chunks):
            _add_to(dw, <floating*>(ws + c * L.size + L.dw), n_x)
    for c in range(n_chunks):
        db[0] += (<double*>(ws + c * L.size + L.db))[0]
    return loss


cdef void _logreg_tail(const floating* X, Py_ssize_t m, Py_ssize_t n_x, Py_ssize_t B,
                       floating* Xtail) noexcept nogil:
    """Xtail (n_x, B) = the last m % B examples of X, zero-padded to B."""
    cdef Py_ssize_t k, j, tail = m % B
    for k in range(n_x):
        for j in range(B):
            Xtail[k * B + j] = X[k * m + m - tail + j] if j < tail else 0


cdef int _logreg_descend(const floating* X, const floating* Xtail, const floating* Y,
                         floating* w, floating* b, const LogregNet* net, double learning_rate,
                         double* costs, Py_ssize_t n_iter, floating* dw_out, floating* db_out,
                         bint check, Py_ssize_t n_chunks, char* ws, const LogregLayout* L,
                         floating* gw, Py_ssize_t* n_done) noexcept nogil:
    """``n_iter`` steps of gradient descent on w, b; ``gw`` is an n_x scratch row."""
    cdef Py_ssize_t it, bad, m = net.m, n_x = net.n_x
    cdef double loss, cost, gb, db
    cdef floating lr = <floating>learning_rate
    cdef floating new_b
    n_done[0] = 0
    if _count_bad_labels(Y, m):
        return BAD_LABEL
    if net.stream:
        return _logreg_descend_stream(X, Y, w, b, net, learning_rate, costs, n_iter, dw_out,
                                      db_out, check, n_chunks, ws, L, gw, n_done)
    for it in range(n_iter):
        loss = _logreg_gradients(X, Xtail, Y, w, b, net, n_chunks, ws, L, gw, &db)
        cost = loss / m
        gb = db / m
        bad = _scale_count_bad(gw, w, n_x, <floating>m, lr)
        new_b = b[0] - <floating>(learning_rate * gb)
        if check and (bad or not (fabs(cost + new_b) <= DBL_MAX)):
            return NONFINITE
        costs[it] = cost
        memcpy(dw_out, gw, n_x * sizeof(floating))
        db_out[0] = <floating>gb
        _sgd(w, gw, n_x, lr)
        b[0] = new_b
        n_done[0] = it + 1
    return OK


# =========================================================================================
# Python entry points (the kernel protocol).  Arguments are checked in O(1) -- dtype,
# layout, shapes -- so a direct call with a wrong array raises instead of reading out of
# bounds; the values themselves were validated by fastnn's Python layer.
# =========================================================================================

cdef int _expect(cnp.ndarray a, str name, int typenum, Py_ssize_t d0, Py_ssize_t d1,
                 bint writable) except -1:
    """``a`` is a C-contiguous aligned native array of ``typenum``, shape (d0,) or (d0, d1)."""
    cdef int ndim = 1 if d1 < 0 else 2
    if (cnp.PyArray_TYPE(a) != typenum or cnp.PyArray_NDIM(a) != ndim
            or not cnp.PyArray_ISCARRAY_RO(a)
            or (writable and not cnp.PyArray_ISWRITEABLE(a))
            or a.shape[0] != d0 or (ndim == 2 and a.shape[1] != d1)):
        want = f"({d0},)" if d1 < 0 else f"({d0}, {d1})"
        raise ValueError(
            f"fastnn cython kernel: {name} must be a C-contiguous aligned "
            f"{'writable ' if writable else ''}{cnp.PyArray_DescrFromType(typenum)} array "
            f"of shape {want}; got {a.dtype} {(<object>a).shape} "
            f"(flags C={a.flags.c_contiguous}, aligned={a.flags.aligned}, "
            f"writeable={a.flags.writeable}, native={a.dtype.isnative})"
        )
    return 0


cdef int _float_type(cnp.ndarray a, str name) except -1:
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        raise TypeError(f"fastnn cython kernel: {name} must be float32 or float64, got {a.dtype}")
    return t


def sigmoid(cnp.ndarray z not None):
    """Element-wise logistic function of a 1-D array, stable for every finite z: a new array.

        sigmoid(z) = 1 / (1 + e^-z)  (z >= 0),   e^z / (1 + e^z)  (z < 0)
    """
    cdef int t = _float_type(z, "z")
    cdef cnp.npy_intp i, n = cnp.PyArray_SIZE(z)
    _expect(z, "z", t, n, -1, False)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &n, t, 0)
    cdef double* zd = <double*>cnp.PyArray_DATA(z)
    cdef double* od = <double*>cnp.PyArray_DATA(out)
    cdef float* zf = <float*>cnp.PyArray_DATA(z)
    cdef float* of = <float*>cnp.PyArray_DATA(out)
    with nogil:
        if t == cnp.NPY_DOUBLE:
            for i in range(n):
                od[i] = _sigmoid(zd[i])
        else:
            for i in range(n):
                of[i] = _sigmoid(zf[i])
    return out


cdef double _dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """sum_i a[i] b[i], accumulated in float64."""
    cdef Py_ssize_t i
    cdef double s = 0
    for i in range(n):
        s += <double>a[i] * <double>b[i]
    return s


def dot(cnp.ndarray a not None, cnp.ndarray b not None, int n_threads=1):
    """Inner product sum_i a[i] b[i] of two 1-D arrays of equal length (float64 sum).

    Long enough for threads, a float64 product runs NumPy's cblas_ddot when set_cblas gave
    it: its own threads, so that result follows the BLAS's thread count, not n_threads."""
    cdef int t = _float_type(a, "a")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a), c, n_chunks = 1
    _expect(a, "a", t, n, -1, False)
    _expect(b, "b", t, n, -1, False)
    cdef double s = 0
    cdef double part[MAX_CHUNKS]
    cdef char* pa = <char*>cnp.PyArray_DATA(a)
    cdef char* pb = <char*>cnp.PyArray_DATA(b)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    if FASTNN_OPENMP and n_threads > 1 and n >= 2 * DOT_THREAD_MIN:
        n_chunks = max(1, min(<Py_ssize_t>n_threads, n // DOT_THREAD_MIN, MAX_CHUNKS))
    with nogil:
        if n_chunks > 1 and t == cnp.NPY_DOUBLE and _cblas_ddot != NULL:
            s = _cblas_ddot(n, <double*>pa, 1, <double*>pb, 1)  # NumPy's pool threads it
        elif n_chunks == 1:
            if t == cnp.NPY_DOUBLE:
                s = _dot(<double*>pa, <double*>pb, n)
            else:
                s = _dot(<float*>pa, <float*>pb, n)
        else:
            for c in prange(n_chunks, num_threads=_workers(n_chunks), schedule="static"):
                if t == cnp.NPY_DOUBLE:
                    part[c] = _dot(<double*>(pa + c * n // n_chunks * isz),
                              <double*>(pb + c * n // n_chunks * isz),
                              (c + 1) * n // n_chunks - c * n // n_chunks)
                else:
                    part[c] = _dot(<float*>(pa + c * n // n_chunks * isz),
                                   <float*>(pb + c * n // n_chunks * isz),
                                   (c + 1) * n // n_chunks - c * n // n_chunks)
            for c in range(n_chunks):
                s += part[c]
    return s


def logreg_forward(cnp.ndarray w not None, cnp.ndarray b not None, cnp.ndarray X not None):
    """A = sigmoid(w.T X + b), shape (1, m); w (n_x, 1), b (1,), X (n_x, m)."""
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], j0, bl, B = 512
    _expect(X, "X", t, n_x, m, False)
    _expect(w, "w", t, n_x, 1, False)
    _expect(b, "b", t, 1, -1, False)
    cdef cnp.npy_intp dims[2]
    dims[0] = 1
    dims[1] = m
    cdef cnp.ndarray A = cnp.PyArray_EMPTY(2, dims, t, 0)
    cdef void* pA = cnp.PyArray_DATA(A)
    cdef void* pX = cnp.PyArray_DATA(X)
    cdef void* pw = cnp.PyArray_DATA(w)
    cdef void* pb = cnp.PyArray_DATA(b)
    with nogil:
        j0 = 0
        while j0 < m:
            bl = min(B, m - j0)
            if t == cnp.NPY_DOUBLE:
                _matmul(<double*>pw, 1, n_x, <double*>pX + j0, m, bl, <double*>pA + j0, m)
                _activate(<double*>pA + j0, m, <double*>pb, 1, bl, SIGMOID)
            else:
                _matmul(<float*>pw, 1, n_x, <float*>pX + j0, m, bl, <float*>pA + j0, m)
                _activate(<float*>pA + j0, m, <float*>pb, 1, bl, SIGMOID)
            j0 += bl
    return A


def logreg_propagate(cnp.ndarray w not None, cnp.ndarray b not None, cnp.ndarray X not None,
                     cnp.ndarray Y not None, int n_threads=1):
    """One forward and backward pass: ``(status, dw, db, cost)``.

        Z = w.T X + b     dZ = sigmoid(Z) - Y                       (1, m)
        dw = X dZ.T / m   (n_x, 1)     db = sum(dZ) / m     cost = sum(softplus(Z) - Y Z) / m

    status: BAD_LABEL (and dw None) when a label is not 0 or 1; NONFINITE when the cost,
    db or an element of dw is not finite; else OK.
    """
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1]
    _expect(X, "X", t, n_x, m, False)
    _expect(Y, "Y", t, 1, m, False)
    _expect(w, "w", t, n_x, 1, False)
    _expect(b, "b", t, 1, -1, False)
    cdef void* pY = cnp.PyArray_DATA(Y)
    cdef Py_ssize_t bad
    with nogil:
        if t == cnp.NPY_DOUBLE:
            bad = _count_bad_labels(<double*>pY, m)
        else:
            bad = _count_bad_labels(<float*>pY, m)
    if bad:
        return BAD_LABEL, None, 0.0, 0.0
    cdef cnp.npy_intp dims[2]
    dims[0] = n_x
    dims[1] = 1
    cdef cnp.ndarray dw = cnp.PyArray_EMPTY(2, dims, t, 0)
    cdef double loss, db
    cdef _LogregCall call
    _logreg_setup(&call, X, w, b, Y, n_threads)
    with nogil:
        if t == cnp.NPY_DOUBLE:
            loss = _logreg_gradients(<double*>call.X, <double*>call.Xtail, <double*>call.Y,
                                     <double*>call.w, <double*>call.b, &call.net,
                                     call.n_chunks, call.ws, &call.L,
                                     <double*>cnp.PyArray_DATA(dw), &db)
            bad = _scale_count_bad(<double*>cnp.PyArray_DATA(dw), <double*>cnp.PyArray_DATA(dw),
                                   n_x, <double>m, 0)
        else:
            loss = _logreg_gradients(<float*>call.X, <float*>call.Xtail, <float*>call.Y,
                                     <float*>call.w, <float*>call.b, &call.net,
                                     call.n_chunks, call.ws, &call.L,
                                     <float*>cnp.PyArray_DATA(dw), &db)
            bad = _scale_count_bad(<float*>cnp.PyArray_DATA(dw), <float*>cnp.PyArray_DATA(dw),
                                   n_x, <float>m, 0)
    _release(&call.stack, call.ws)
    cdef double cost = loss / m
    db = db / m
    cdef int status = NONFINITE if bad or not (fabs(cost + db) <= DBL_MAX) else OK
    return status, dw, db, cost


cdef struct _LogregCall:
    # one logistic-regression call: the arrays' data, its workspace (on the caller's stack
    # when small), the tail of X padded for the tiles, a scratch row for the gradient
    void* X
    void* Y
    void* w
    void* b
    void* Xtail
    void* gw
    char* ws
    Py_ssize_t n_chunks
    LogregNet net
    LogregLayout L
    fastnn_stack_t stack


cdef int _logreg_setup(_LogregCall* call, cnp.ndarray X, cnp.ndarray w, cnp.ndarray b,
                       cnp.ndarray Y, int n_threads) except -1:
    """Choose the blocking and threads, allocate the workspace, fill the padded tail of X."""
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], isz = cnp.PyArray_ITEMSIZE(X)
    cdef Py_ssize_t VL = 64 // isz, B, off_tail, off_gw, n_chunks
    cdef bint stream = <double>n_x * m * isz >= STREAM_MIN_BYTES and m * isz <= STREAM_MAX_ZT_BYTES // 8
    cdef bint tiles = not stream and n_x >= LOGREG_TILES_MIN_NX and m >= 4 * VL
    if stream:
        B = m
    elif tiles:
        B = 4 * VL
    else:
        B = _block_size(1, n_x, m, isz)
    n_chunks = _n_chunks(2.0 * n_x * m + 20.0 * m, m, n_threads)
    call.net.m = m
    call.net.n_x = n_x
    call.net.B = B
    call.net.VL = VL
    call.net.tiles = tiles
    call.net.stream = stream
    call.n_chunks = n_chunks
    call.L = _logreg_layout(n_x, B, VL, tiles, isz)
    off_tail = n_chunks * call.L.size
    off_gw = off_tail + (_round_up(n_x * B * isz, 64) if tiles and m % B else 0)
    # gw (n_x); in STREAM mode also the descent's new w (n_x) and dZ (m)
    call.ws = <char*>_alloc(&call.stack, off_gw + _round_up(n_x * isz, 64)
                            + ((_round_up(n_x * isz, 64) + _round_up(m * isz, 64)) if stream else 0))
    if call.ws == NULL:
        raise MemoryError()
    call.X = cnp.PyArray_DATA(X)
    call.Y = cnp.PyArray_DATA(Y)
    call.w = cnp.PyArray_DATA(w)
    call.b = cnp.PyArray_DATA(b)
    call.Xtail = call.ws + off_tail
    call.gw = call.ws + off_gw
    if tiles and m % B:
        with nogil:
            if isz == 8:
                _logreg_tail(<double*>call.X, m, n_x, B, <double*>call.Xtail)
            else:
                _logreg_tail(<float*>call.X, m, n_x, B, <float*>call.Xtail)
    return 0


def logreg_descend(cnp.ndarray w not None, cnp.ndarray b not None, cnp.ndarray X not None,
                   cnp.ndarray Y not None, double learning_rate, cnp.ndarray costs not None,
                   cnp.ndarray dw not None, cnp.ndarray db not None, bint check, int n_threads=1):
    """``len(costs)`` steps of gradient descent on w, b in place: ``(status, n_done)``.

    Step i:  (dw, db, cost) as in ``logreg_propagate``;  costs[i] = cost;
             w <- w - learning_rate dw;  b <- b - learning_rate db
    ``dw``, ``db`` receive the gradients of the last step done.  With ``check`` a step whose
    cost or updated parameters are not finite is not applied and the loop stops (NONFINITE).
    """
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1]
    cdef Py_ssize_t n_iter = cnp.PyArray_SIZE(costs), n_done = 0
    _expect(X, "X", t, n_x, m, False)
    _expect(Y, "Y", t, 1, m, False)
    _expect(w, "w", t, n_x, 1, True)
    _expect(b, "b", t, 1, -1, True)
    _expect(dw, "dw", t, n_x, 1, True)
    _expect(db, "db", t, 1, -1, True)
    _expect(costs, "costs", cnp.NPY_DOUBLE, n_iter, -1, True)
    cdef _LogregCall call
    _logreg_setup(&call, X, w, b, Y, n_threads)
    cdef void* pdw = cnp.PyArray_DATA(dw)
    cdef void* pdb = cnp.PyArray_DATA(db)
    cdef double* pc = <double*>cnp.PyArray_DATA(costs)
    cdef int status
    with nogil:
        if t == cnp.NPY_DOUBLE:
            status = _logreg_descend(<double*>call.X, <double*>call.Xtail, <double*>call.Y,
                                     <double*>call.w, <double*>call.b, &call.net,
                                     learning_rate, pc, n_iter, <double*>pdw, <double*>pdb,
                                     check, call.n_chunks, call.ws, &call.L,
                                     <double*>call.gw, &n_done)
        else:
            status = _logreg_descend(<float*>call.X, <float*>call.Xtail, <float*>call.Y,
                                     <float*>call.w, <float*>call.b, &call.net,
                                     learning_rate, pc, n_iter, <float*>pdw, <float*>pdb,
                                     check, call.n_chunks, call.ws, &call.L,
                                     <float*>call.gw, &n_done)
    _release(&call.stack, call.ws)
    return status, n_done


def mlp_descend(cnp.ndarray X not None, cnp.ndarray Y not None, cnp.ndarray W1 not None,
                cnp.ndarray b1 not None, cnp.ndarray W2 not None, cnp.ndarray b2 not None,
                double learning_rate, int activation, cnp.ndarray costs not None, bint check,
                int n_threads=1):
    """``len(costs)`` fused training steps of the 2-layer network, in place: ``(status, n_done)``.

    Step i, with g the hidden activation (0 tanh, 1 relu, 2 sigmoid):
        Z1 = W1 X + b1,  A1 = g(Z1),  Z2 = W2 A1 + b2          (n_h, m), (n_y, m)
        costs[i] = sum(softplus(Z2) - Y Z2) / m                 (from the logits)
        dZ2 = sigmoid(Z2) - Y    dW2 = dZ2 A1.T / m    db2 = sum(dZ2, axis=1) / m
        dZ1 = W2.T dZ2 * g'(A1)  dW1 = dZ1 X.T / m     db1 = sum(dZ1, axis=1) / m
        P <- P - learning_rate dP   for P in W1, b1, W2, b2
    Shapes: X (n_x, m), Y (n_y, m), W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).
    status: BAD_LABEL (nothing done) when a label is not 0 or 1; with ``check``, NONFINITE
    when a step's cost or updated parameters are not finite (that step is not applied).
    """
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], n_h = W1.shape[0], n_y = W2.shape[0]
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(X), VL = 64 // isz
    cdef Py_ssize_t n_iter = cnp.PyArray_SIZE(costs), n_done = 0
    _expect(X, "X", t, n_x, m, False)
    _expect(Y, "Y", t, n_y, m, False)
    _expect(W1, "W1", t, n_h, n_x, True)
    _expect(b1, "b1", t, n_h, 1, True)
    _expect(W2, "W2", t, n_y, n_h, True)
    _expect(b2, "b2", t, n_y, 1, True)
    _expect(costs, "costs", cnp.NPY_DOUBLE, n_iter, -1, True)
    if activation < 0 or activation > 2:
        raise ValueError(f"activation must be 0, 1 or 2, got {activation}")
    cdef Net net
    net.m, net.n_x, net.n_h, net.n_y, net.activation = m, n_x, n_h, n_y, activation
    net.H = _round_up(n_h, VL)
    net.mp = _round_up(m, 8)
    if _use_blas(n_h, n_x, m):
        net.mode = BLAS
    elif n_x >= MLP_TILES_MIN_NX and <double>n_x * m * isz >= STREAM_MIN_BYTES \
            and net.mp * net.H * isz <= STREAM_MAX_ZT_BYTES:
        net.mode = STREAM
        if VL == 16 and n_h <= 8:   # float32: two examples per vector (microkernels.h)
            net.H = 8
    elif n_x >= MLP_TILES_MIN_NX:
        net.mode = TILES
    else:
        net.mode = ROWS
    if net.mode == ROWS or net.mode == BLAS:
        net.H = n_h
    cdef double work = <double>m * n_h * (2 * n_x + 2 * n_y + 16)
    cdef Py_ssize_t n_chunks = 1 if net.mode == BLAS else _n_chunks(work, m, n_threads)
    net.B = _block_size(net.H + 2 * n_y, n_x if net.mode == TILES or net.mode == ROWS else 0,
                        (m + n_chunks - 1) // n_chunks, isz)
    if net.mode == TILES:
        net.B = _round_up(net.B, VL)
    cdef Py_ssize_t n_ws = 1 if net.mode == STREAM else n_chunks
    cdef Layout L = _mlp_layout(n_x, n_h, n_y, net.B, net.H, net.mode, isz)
    cdef Py_ssize_t extra = n_ws * L.size, size = extra
    if net.mode == BLAS:
        size += _round_up(n_h * m * isz, 64)
    elif net.mode == TILES:
        size += _round_up(_round_up(n_x * net.H, 16) * isz + n_x * VL * isz, 64)
    elif net.mode == STREAM:
        size += _round_up((_round_up(n_x * net.H, 16) + (1 + n_chunks) * net.mp * net.H) * isz, 64)
    cdef fastnn_stack_t stack
    cdef char* ws = <char*>_alloc(&stack, size)
    if ws == NULL:
        raise MemoryError()
    cdef void* pX = cnp.PyArray_DATA(X)
    cdef void* pY = cnp.PyArray_DATA(Y)
    cdef void* pW1 = cnp.PyArray_DATA(W1)
    cdef void* pb1 = cnp.PyArray_DATA(b1)
    cdef void* pW2 = cnp.PyArray_DATA(W2)
    cdef void* pb2 = cnp.PyArray_DATA(b2)
    cdef double* pc = <double*>cnp.PyArray_DATA(costs)
    cdef int status
    with nogil:
        if t == cnp.NPY_DOUBLE:
            status = _mlp_descend(<double*>pX, <double*>pY, <double*>pW1, <double*>pb1,
                                  <double*>pW2, <double*>pb2, &net, learning_rate, check,
                                  pc, n_iter, n_chunks, ws, &L, ws + extra, &n_done)
        else:
            status = _mlp_descend(<float*>pX, <float*>pY, <float*>pW1, <float*>pb1,
                                  <float*>pW2, <float*>pb2, &net, <float>learning_rate, check,
                                  pc, n_iter, n_chunks, ws, &L, ws + extra, &n_done)
    _release(&stack, ws)
    return status, n_done


# --- the unfused pieces of the 2-layer network (the course's step-by-step functions) --------

cdef void _bias_activate(floating* Z, floating* A, const floating* b, Py_ssize_t n_rows,
                         Py_ssize_t m, int activation) noexcept nogil:
    """Z[h] += b[h] (in place), A[h] = g(Z[h]) for every row h of m examples."""
    cdef Py_ssize_t h, j
    cdef floating bias
    cdef floating* z
    cdef floating* a
    for h in range(n_rows):
        z = Z + h * m
        a = A + h * m
        bias = b[h]
        for j in range(m):
            z[j] = z[j] + bias
        if activation == TANH:
            for j in range(m):
                a[j] = _tanh(z[j])
        elif activation == RELU:
            for j in range(m):
                a[j] = _activation(z[j], RELU)
        else:
            for j in range(m):
                a[j] = _sigmoid(z[j])


cdef void _product(const floating* W, Py_ssize_t n_out, Py_ssize_t n_in, const floating* In,
                   Py_ssize_t m, floating* Out) noexcept nogil:
    """Out (n_out, m) = W (n_out, n_in) In (n_in, m): the BLAS when large, else by blocks."""
    cdef Py_ssize_t j0 = 0, bl, B
    if _use_blas(n_out, n_in, m):
        _gemm_wx(W, In, Out, n_out, n_in, m)
        return
    B = _block_size(n_out, 0, m, sizeof(floating))
    while j0 < m:
        bl = min(B, m - j0)
        _matmul(W, n_out, n_in, In + j0, m, bl, Out + j0, m)
        j0 += bl


def mlp_forward(cnp.ndarray X not None, cnp.ndarray W1 not None, cnp.ndarray b1 not None,
                cnp.ndarray W2 not None, cnp.ndarray b2 not None, int activation, int n_threads=1):
    """``(Z1, A1, Z2, A2)``: Z1 = W1 X + b1, A1 = g(Z1), Z2 = W2 A1 + b2, A2 = sigmoid(Z2)."""
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], n_h = W1.shape[0], n_y = W2.shape[0]
    _expect(X, "X", t, n_x, m, False)
    _expect(W1, "W1", t, n_h, n_x, False)
    _expect(b1, "b1", t, n_h, 1, False)
    _expect(W2, "W2", t, n_y, n_h, False)
    _expect(b2, "b2", t, n_y, 1, False)
    if activation < 0 or activation > 2:
        raise ValueError(f"activation must be 0, 1 or 2, got {activation}")
    cdef cnp.npy_intp dims[2]
    dims[0] = n_h
    dims[1] = m
    cdef cnp.ndarray Z1 = cnp.PyArray_EMPTY(2, dims, t, 0)
    cdef cnp.ndarray A1 = cnp.PyArray_EMPTY(2, dims, t, 0)
    dims[0] = n_y
    cdef cnp.ndarray Z2 = cnp.PyArray_EMPTY(2, dims, t, 0)
    cdef cnp.ndarray A2 = cnp.PyArray_EMPTY(2, dims, t, 0)
    cdef void* pX = cnp.PyArray_DATA(X)
    cdef void* pW1 = cnp.PyArray_DATA(W1)
    cdef void* pb1 = cnp.PyArray_DATA(b1)
    cdef void* pW2 = cnp.PyArray_DATA(W2)
    cdef void* pb2 = cnp.PyArray_DATA(b2)
    cdef void* pZ1 = cnp.PyArray_DATA(Z1)
    cdef void* pA1 = cnp.PyArray_DATA(A1)
    cdef void* pZ2 = cnp.PyArray_DATA(Z2)
    cdef void* pA2 = cnp.PyArray_DATA(A2)
    with nogil:
        if t == cnp.NPY_DOUBLE:
            _product(<double*>pW1, n_h, n_x, <double*>pX, m, <double*>pZ1)
            _bias_activate(<double*>pZ1, <double*>pA1, <double*>pb1, n_h, m, activation)
            _product(<double*>pW2, n_y, n_h, <double*>pA1, m, <double*>pZ2)
            _bias_activate(<double*>pZ2, <double*>pA2, <double*>pb2, n_y, m, SIGMOID)
        else:
            _product(<float*>pW1, n_h, n_x, <float*>pX, m, <float*>pZ1)
            _bias_activate(<float*>pZ1, <float*>pA1, <float*>pb1, n_h, m, activation)
            _product(<float*>pW2, n_y, n_h, <float*>pA1, m, <float*>pZ2)
            _bias_activate(<float*>pZ2, <float*>pA2, <float*>pb2, n_y, m, SIGMOID)
    return Z1, A1, Z2, A2


cdef double _cross_entropy(const floating* A2, const floating* Y, Py_ssize_t n,
                           floating eps) noexcept nogil:
    """sum(y log(p) + (1 - y) log(1 - p)), p = clip(a, eps, 1 - eps), in float64."""
    cdef Py_ssize_t j
    cdef double s = 0
    cdef floating p
    for j in range(n):
        p = min(max(A2[j], eps), <floating>1 - eps)
        s += Y[j] * _log(p) + (<floating>1 - Y[j]) * _log(<floating>1 - p)
    return s


def mlp_cost(cnp.ndarray A2 not None, cnp.ndarray Y not None):
    """-(1/m) sum(Y log(P) + (1 - Y) log(1 - P)), P = clip(A2, eps, 1 - eps): a float."""
    cdef int t = _float_type(A2, "A2")
    cdef Py_ssize_t n_y = A2.shape[0], m = A2.shape[1]
    _expect(A2, "A2", t, n_y, m, False)
    _expect(Y, "Y", t, n_y, m, False)
    cdef void* pA = cnp.PyArray_DATA(A2)
    cdef void* pY = cnp.PyArray_DATA(Y)
    cdef double s
    with nogil:
        if t == cnp.NPY_DOUBLE:
            s = _cross_entropy(<double*>pA, <double*>pY, n_y * m, DBL_EPSILON)
        else:
            s = _cross_entropy(<float*>pA, <float*>pY, n_y * m, FLT_EPSILON)
    return -s / m


cdef void _mlp_backward(const floating* X, const floating* Y, const floating* W2,
                        const floating* A1, const floating* A2, Py_ssize_t n_x, Py_ssize_t n_h,
                        Py_ssize_t n_y, Py_ssize_t m, int activation, floating* dZ2,
                        floating* dZ1, floating* T, floating* dW1, double* db1_sums,
                        floating* dW2, floating* db2) noexcept nogil:
    """The backward pass on whole rows; dZ2 (n_y, m), dZ1 (n_h, m), T (m) are scratch."""
    cdef Py_ssize_t i, o
    cdef double s
    for i in range(n_y * m):
        dZ2[i] = A2[i] - Y[i]
    memset(dW2, 0, n_y * n_h * sizeof(floating))
    _add_outer(dZ2, m, n_y, A1, m, n_h, m, dW2)
    for o in range(n_y):
        s = 0
        for i in range(m):
            s += dZ2[o * m + i]
        db2[o] = <floating>(s / m)
    memcpy(dZ1, A1, n_h * m * sizeof(floating))
    _hidden_grad(dZ1, m, W2, n_y, n_h, dZ2, m, m, activation, T, db1_sums)
    if _use_blas(n_h, n_x, m):
        _gemm_dxt(dZ1, X, dW1, n_h, n_x, m)
    else:
        memset(dW1, 0, n_h * n_x * sizeof(floating))
        _add_outer(dZ1, m, n_h, X, m, n_x, m, dW1)
    for i in range(n_h * n_x):
        dW1[i] = dW1[i] / m
    for i in range(n_y * n_h):
        dW2[i] = dW2[i] / m


def mlp_backward(cnp.ndarray X not None, cnp.ndarray Y not None, cnp.ndarray W2 not None,
                 cnp.ndarray A1 not None, cnp.ndarray A2 not None, int activation,
                 int n_threads=1):
    """``(dW1, db1, dW2, db2)`` from the forward pass's A1, A2:

        dZ2 = A2 - Y     dW2 = dZ2 A1.T / m    db2 = sum(dZ2, axis=1) / m
        dZ1 = W2.T dZ2 * g'(A1)   dW1 = dZ1 X.T / m    db1 = sum(dZ1, axis=1) / m
    """
    cdef int t = _float_type(X, "X")
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], n_h = A1.shape[0], n_y = W2.shape[0]
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(X), h
    _expect(X, "X", t, n_x, m, False)
    _expect(Y, "Y", t, n_y, m, False)
    _expect(W2, "W2", t, n_y, n_h, False)
    _expect(A1, "A1", t, n_h, m, False)
    _expect(A2, "A2", t, n_y, m, False)
    if activation < 0 or activation > 2:
        raise ValueError(f"activation must be 0, 1 or 2, got {activation}")
    cdef cnp.npy_intp dims[2]
    dims[0] = n_h
    dims[1] = n_x
    cdef cnp.ndarray dW1 = cnp.PyArray_EMPTY(2, dims, t, 0)
    dims[1] = 1
    cdef cnp.ndarray db1 = cnp.PyArray_EMPTY(2, dims, t, 0)
    dims[0] = n_y
    dims[1] = n_h
    cdef cnp.ndarray dW2 = cnp.PyArray_EMPTY(2, dims, t, 0)
    dims[1] = 1
    cdef cnp.ndarray db2 = cnp.PyArray_EMPTY(2, dims, t, 0)
    # workspace: dZ2 (n_y, m), dZ1 (n_h, m), a scratch row, the float64 sums of db1
    cdef Py_ssize_t o_dz1 = _round_up(n_y * m * isz, 64)
    cdef Py_ssize_t o_t = o_dz1 + _round_up(n_h * m * isz, 64)
    cdef Py_ssize_t o_s = o_t + _round_up(m * isz, 64)
    cdef fastnn_stack_t stack
    cdef char* ws = <char*>_alloc(&stack, o_s + n_h * 8)
    if ws == NULL:
        raise MemoryError()
    cdef double* s1 = <double*>(ws + o_s)
    memset(s1, 0, n_h * 8)
    cdef void* pX = cnp.PyArray_DATA(X)
    cdef void* pY = cnp.PyArray_DATA(Y)
    cdef void* pW2 = cnp.PyArray_DATA(W2)
    cdef void* pA1 = cnp.PyArray_DATA(A1)
    cdef void* pA2 = cnp.PyArray_DATA(A2)
    cdef void* pdW1 = cnp.PyArray_DATA(dW1)
    cdef void* pdb1 = cnp.PyArray_DATA(db1)
    cdef void* pdW2 = cnp.PyArray_DATA(dW2)
    cdef void* pdb2 = cnp.PyArray_DATA(db2)
    with nogil:
        if t == cnp.NPY_DOUBLE:
            _mlp_backward(<double*>pX, <double*>pY, <double*>pW2, <double*>pA1, <double*>pA2,
                          n_x, n_h, n_y, m, activation, <double*>ws, <double*>(ws + o_dz1),
                          <double*>(ws + o_t), <double*>pdW1, s1, <double*>pdW2,
                          <double*>pdb2)
            for h in range(n_h):
                (<double*>pdb1)[h] = s1[h] / m
        else:
            _mlp_backward(<float*>pX, <float*>pY, <float*>pW2, <float*>pA1, <float*>pA2,
                          n_x, n_h, n_y, m, activation, <float*>ws, <float*>(ws + o_dz1),
                          <float*>(ws + o_t), <float*>pdW1, s1, <float*>pdW2,
                          <float*>pdb2)
            for h in range(n_h):
                (<float*>pdb1)[h] = <float>(s1[h] / m)
    _release(&stack, ws)
    return dW1, db1, dW2, db2


def sgd_update(cnp.ndarray P not None, cnp.ndarray dP not None, double learning_rate):
    """A new array P - learning_rate * dP (learning_rate in the arrays' dtype, as NumPy)."""
    cdef int t = _float_type(P, "P")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(P), i
    if not cnp.PyArray_ISCARRAY_RO(P) or not cnp.PyArray_ISCARRAY_RO(dP) \
            or cnp.PyArray_TYPE(dP) != t or cnp.PyArray_SIZE(dP) != n:
        raise ValueError("fastnn cython kernel: P and dP must be C-contiguous arrays of one "
                         "dtype and size")
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(P), cnp.PyArray_DIMS(P), t, 0)
    cdef void* pP = cnp.PyArray_DATA(P)
    cdef void* pd = cnp.PyArray_DATA(dP)
    cdef void* po = cnp.PyArray_DATA(out)
    cdef float lrf = <float>learning_rate
    with nogil:
        if t == cnp.NPY_DOUBLE:
            for i in range(n):
                (<double*>po)[i] = (<double*>pP)[i] - learning_rate * (<double*>pd)[i]
        else:
            for i in range(n):
                (<float*>po)[i] = (<float*>pP)[i] - lrf * (<float*>pd)[i]
    return out


# =========================================================================================
# Build record
# =========================================================================================

def build_info():
    """How this extension was built: Cython, compiler, flags, OpenMP, debug, SIMD, libmvec."""
    return {
        "cython": FASTNN_CYTHON_VERSION.decode(),
        "compiler": FASTNN_COMPILER.decode(),
        "cflags": FASTNN_CFLAGS.decode(),
        "openmp": bool(FASTNN_OPENMP),
        "debug": bool(FASTNN_DEBUG),
        "simd": FASTNN_SIMD.decode(),
        "libmvec": bool(FASTNN_LIBMVEC),
        "max_threads": fastnn_max_threads(),
        "cores_free": bool(fastnn_cores_free(fastnn_max_threads())),
    }


def tuning(**changes):
    """The measured thresholds and block sizes (a dict); keyword arguments change them
    (for benchmarking and tests: not thread-safe against running kernels)."""
    global BLOCK_BYTES, XBLOCK_BYTES, MIN_BLOCK, MAX_BLOCK, THREAD_WORK, BLAS_MIN_DIM, DOT_THREAD_MIN
    global MLP_TILES_MIN_NX, LOGREG_TILES_MIN_NX, STREAM_MIN_BYTES, STREAM_MAX_ZT_BYTES, LOAD_CHECK
    global FORWARD_CHUNK_BYTES, ONE_ROW_DOTS_MAX_ROW
    for name, value in changes.items():
        if name == "BLOCK_BYTES":
            BLOCK_BYTES = max(1024, <Py_ssize_t>value)
        elif name == "XBLOCK_BYTES":
            XBLOCK_BYTES = max(1024, <Py_ssize_t>value)
        elif name == "MIN_BLOCK":
            MIN_BLOCK = max(8, <Py_ssize_t>value)
        elif name == "MAX_BLOCK":
            MAX_BLOCK = max(8, <Py_ssize_t>value)
        elif name == "THREAD_WORK":
            THREAD_WORK = value
        elif name == "BLAS_MIN_DIM":
            BLAS_MIN_DIM = max(1, <Py_ssize_t>value)
        elif name == "DOT_THREAD_MIN":
            DOT_THREAD_MIN = max(1, <Py_ssize_t>value)
        elif name == "MLP_TILES_MIN_NX":
            MLP_TILES_MIN_NX = max(1, <Py_ssize_t>value)
        elif name == "LOGREG_TILES_MIN_NX":
            LOGREG_TILES_MIN_NX = max(1, <Py_ssize_t>value)
        elif name == "STREAM_MIN_BYTES":
            STREAM_MIN_BYTES = value
        elif name == "STREAM_MAX_ZT_BYTES":
            STREAM_MAX_ZT_BYTES = max(0, <Py_ssize_t>value)
        elif name == "FORWARD_CHUNK_BYTES":
            FORWARD_CHUNK_BYTES = max(0, <Py_ssize_t>value)
        elif name == "ONE_ROW_DOTS_MAX_ROW":
            ONE_ROW_DOTS_MAX_ROW = max(0, <Py_ssize_t>value)
        elif name == "LOAD_CHECK":
            LOAD_CHECK = bool(value)
        else:
            raise KeyError(name)
    return {"BLOCK_BYTES": BLOCK_BYTES, "XBLOCK_BYTES": XBLOCK_BYTES, "MIN_BLOCK": MIN_BLOCK,
            "MAX_BLOCK": MAX_BLOCK, "THREAD_WORK": THREAD_WORK, "BLAS_MIN_DIM": BLAS_MIN_DIM,
            "DOT_THREAD_MIN": DOT_THREAD_MIN, "MLP_TILES_MIN_NX": MLP_TILES_MIN_NX,
            "LOGREG_TILES_MIN_NX": LOGREG_TILES_MIN_NX, "STREAM_MIN_BYTES": STREAM_MIN_BYTES,
            "STREAM_MAX_ZT_BYTES": STREAM_MAX_ZT_BYTES, "FORWARD_CHUNK_BYTES": FORWARD_CHUNK_BYTES,
            "ONE_ROW_DOTS_MAX_ROW": ONE_ROW_DOTS_MAX_ROW, "LOAD_CHECK": LOAD_CHECK}
