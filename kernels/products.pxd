# The fused steps' products: register tiles (``tiles.h``) for the blocks of examples, the
# BLAS for large layers (the numba backend's products.py and blas.py, in C).
#
# The fused kernels multiply one block of examples at a time, the examples being the
# columns of X (the course's layout); every matrix is C-contiguous, row ``r`` of a matrix
# with row stride ``ld`` starting at ``A + r * ld``.  Two products:
#
# ``linear(W, b, n_out, n_in, X, ldx, c0, n, Out, ldo)``
#     ``Out[:, :n] = W X[:, c0:c0+n] + b`` (the forward pass: ``Z1 = W1 X + b1``, ...).
# ``add_outer(D, ldd, n_rows, X, ldx, n_in, c0, n, G)``
#     ``G += D[:, :n] X[:, c0:c0+n].T`` (the gradients: ``dW1 += dZ1 X.T``, ...).
#
# Why not the BLAS for every size: on a 4 x 400 block a BLAS call costs more than the
# arithmetic, and the blocks sit in L1, where a register tile runs at the core's
# multiply-add rate (``tiles.h`` says how).  Both take an odd number of output rows by
# pairing the last row with a padding row: Out, D and G have room for ``even(n_out)``
# rows; the padding row's result is never read.

from cython cimport floating
from libc.stdint cimport int64_t


cdef extern from "tiles.h" nogil:
    void fnn_linear_double(const double* W, const double* b, Py_ssize_t n_out, Py_ssize_t n_in,
                           const double* X, Py_ssize_t ldx, Py_ssize_t n, double* Out, Py_ssize_t ldo)
    void fnn_linear_float(const float* W, const float* b, Py_ssize_t n_out, Py_ssize_t n_in,
                          const float* X, Py_ssize_t ldx, Py_ssize_t n, float* Out, Py_ssize_t ldo)
    void fnn_add_outer_double(const double* D, Py_ssize_t ldd, Py_ssize_t n_rows, const double* X,
                              Py_ssize_t ldx, Py_ssize_t n_in, Py_ssize_t n, double* G)
    void fnn_add_outer_float(const float* D, Py_ssize_t ldd, Py_ssize_t n_rows, const float* X,
                             Py_ssize_t ldx, Py_ssize_t n_in, Py_ssize_t n, float* G)


cdef inline Py_ssize_t even(Py_ssize_t n) noexcept nogil:
    """Rows to allocate for ``n`` output rows: ``n`` rounded up to even."""
    return n + n % 2


cdef inline void linear(const floating* W, const floating* b, Py_ssize_t n_out, Py_ssize_t n_in,
                        const floating* X, Py_ssize_t ldx, Py_ssize_t c0, Py_ssize_t n,
                        floating* Out, Py_ssize_t ldo) noexcept nogil:
    """``Out[j, i] = b[j] + sum_k W[j, k] X[k, c0 + i]`` for ``j < n_out``, ``i < n``;
    ``W (n_out, n_in)``, ``b (n_out,)``, ``Out (even(n_out), >= n)``."""
    if floating is double:
        fnn_linear_double(W, b, n_out, n_in, X + c0, ldx, n, Out, ldo)
    else:
        fnn_linear_float(W, b, n_out, n_in, X + c0, ldx, n, Out, ldo)


cdef inline void add_outer(const floating* D, Py_ssize_t ldd, Py_ssize_t n_rows,
                           const floating* X, Py_ssize_t ldx, Py_ssize_t n_in, Py_ssize_t c0,
                           Py_ssize_t n, floating* G) noexcept nogil:
    """``G[j, k] += sum_i D[j, i] X[k, c0 + i]`` for ``j < n_rows`` (even), ``k < n_in``;
    ``D (n_rows, >= n)``, ``G (n_rows, n_in)``: the padding rows are computed with the
    others (their result is not read)."""
    if floating is double:
        fnn_add_outer_double(D, ldd, n_rows, X + c0, ldx, n_in, n, G)
    else:
        fnn_add_outer_float(D, ldd, n_rows, X + c0, ldx, n_in, n, G)


# --- the BLAS: NumPy's own OpenBLAS, by address (see fastnn/_backends/_numpy_blas.py) ------
# Its CBLAS ``?gemm`` and ``?gemv`` with 64-bit integers (ILP64), row-major: one BLAS thread pool in the
# process, the one np.dot uses and threadpoolctl limits.

ctypedef void (*dgemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                         int64_t, const double*, int64_t, double, double*, int64_t) noexcept nogil
ctypedef void (*sgemm_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                         int64_t, const float*, int64_t, float, float*, int64_t) noexcept nogil

ctypedef void (*dgemv_t)(int, int, int64_t, int64_t, double, const double*, int64_t,
                         const double*, int64_t, double, double*, int64_t) noexcept nogil
ctypedef void (*sgemv_t)(int, int, int64_t, int64_t, float, const float*, int64_t,
                         const float*, int64_t, float, float*, int64_t) noexcept nogil

ctypedef struct Cblas:
    dgemm_t dgemm
    sgemm_t sgemm
    dgemv_t dgemv
    sgemv_t sgemv

cdef enum:
    ROW_MAJOR = 101
    NO_TRANS = 111
    TRANS = 112


cdef inline void gemm(const Cblas* blas, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                      const floating* A, Py_ssize_t lda, const floating* B, Py_ssize_t ldb,
                      floating* C, Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C[:M, :N] += A[:M, :K] op(B)``."""
    if floating is double:
        blas.dgemm(ROW_MAJOR, NO_TRANS, trans_b, M, N, K, 1.0, A, lda, B, ldb, 1.0, C, ldc)
    else:
        blas.sgemm(ROW_MAJOR, NO_TRANS, trans_b, M, N, K, 1.0, A, lda, B, ldb, 1.0, C, ldc)


cdef inline void matvec(const Cblas* blas, int trans, Py_ssize_t M, Py_ssize_t N,
                        const floating* A, const floating* x, floating* y) noexcept nogil:
    """``y = A x`` (``NO_TRANS``) or ``y = A.T x`` (``TRANS``) for a row-major ``A (M, N)``."""
    if floating is double:
        blas.dgemv(ROW_MAJOR, trans, M, N, 1.0, A, N, x, 1, 0.0, y, 1)
    else:
        blas.sgemv(ROW_MAJOR, trans, M, N, 1.0, A, N, x, 1, 0.0, y, 1)


cdef inline void blas_linear(const Cblas* blas, const floating* W, const floating* b,
                             Py_ssize_t n_out, Py_ssize_t n_in, const floating* X, Py_ssize_t ldx,
                             Py_ssize_t c0, Py_ssize_t n, floating* Out, Py_ssize_t ldo) noexcept nogil:
    """:func:`linear` by the BLAS: ``Out`` filled with ``b``, then ``Out += W X[:, c0:c0+n]``."""
    cdef Py_ssize_t j, i
    for j in range(n_out):
        for i in range(n):
            Out[j * ldo + i] = b[j]
    gemm(blas, NO_TRANS, n_out, n, n_in, W, n_in, X + c0, ldx, Out, ldo)


cdef inline void blas_add_outer(const Cblas* blas, const floating* D, Py_ssize_t ldd,
                                Py_ssize_t n_rows, const floating* X, Py_ssize_t ldx,
                                Py_ssize_t n_in, Py_ssize_t c0, Py_ssize_t n,
                                floating* G) noexcept nogil:
    """:func:`add_outer` by the BLAS: ``G += D[:, :n] X[:, c0:c0+n].T``."""
    gemm(blas, TRANS, n_rows, n_in, n, D, ldd, X + c0, ldx, G, n_in)
