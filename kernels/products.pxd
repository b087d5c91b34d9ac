# Register-tiled small matrix products, and the BLAS for large ones: the tuning behind the
# fused steps' products (the numba backend's products.py and blas.py, in C).
#
# The fused kernels multiply one block of examples at a time, the examples being the
# columns of X (the course's layout); every matrix is C-contiguous, row ``r`` of a matrix
# with row stride ``ld`` starting at ``A + r * ld``.  Two products:
#
# ``linear(W, b, n_out, n_in, X, ldx, c0, n, zeros, Out, ldo)``
#     ``Out[:, :n] = W X[:, c0:c0+n] + b`` (the forward pass: ``Z1 = W1 X + b1``, ...).
# ``add_outer(D, ldd, n_rows, X, ldx, n_in, c0, n, G)``
#     ``G += D[:, :n] X[:, c0:c0+n].T`` (the gradients: ``dW1 += dZ1 X.T``, ...).
#
# Why not the BLAS for every size: on a 4 x 400 block a BLAS call costs more than the
# arithmetic, and the blocks sit in L1, where a written-out loop runs at the core's
# multiply-add rate.  How: every inner loop runs along the examples (unit stride: it
# vectorizes), and each pass handles two output rows and four input rows (``linear``: two
# sums of four products; ``add_outer``: eight dot products), so that one load of X feeds
# several multiply-adds: the loops are bound by arithmetic, not by loads and stores.
#
# Both take an odd number of output rows by pairing the last row with a padding row: Out,
# D and G have room for ``even(n_out)`` rows, the padding row's weights are zero and its
# result is never read.

from cython cimport floating
from libc.stdint cimport int64_t


cdef inline Py_ssize_t even(Py_ssize_t n) noexcept nogil:
    """Rows to allocate for ``n`` output rows: ``n`` rounded up to even."""
    return n + n % 2


cdef inline void linear(const floating* W, const floating* b, Py_ssize_t n_out, Py_ssize_t n_in,
                        const floating* X, Py_ssize_t ldx, Py_ssize_t c0, Py_ssize_t n,
                        const floating* zeros, floating* Out, Py_ssize_t ldo) noexcept nogil:
    """``Out[j, i] = b[j] + sum_k W[j, k] X[k, c0 + i]`` for ``j < n_out``, ``i < n``.

    ``W (n_out, n_in)``, ``b (n_out,)``.  Rows of X four at a time, the last group padded
    with zero weights on ``zeros`` (at least ``n`` zeros: ``0 * inf`` would be NaN), the bias
    added in the first pass: one pass over Out per four inputs, each row of X read once
    (Out stays in L1)."""
    cdef Py_ssize_t k, j, j1, i
    cdef floating a0, a1, a2, a3, d0, d1, d2, d3, x0, x1, x2, x3, bu, bv
    cdef const floating* X0
    cdef const floating* X1
    cdef const floating* X2
    cdef const floating* X3
    cdef const floating* Wu
    cdef const floating* Wv
    cdef floating* U
    cdef floating* V
    for k in range(0, n_in, 4):  # each row of X is read once, for every output row
        X0 = X + k * ldx + c0
        X1 = X0 + ldx if k + 1 < n_in else zeros
        X2 = X0 + 2 * ldx if k + 2 < n_in else zeros
        X3 = X0 + 3 * ldx if k + 3 < n_in else zeros
        for j in range(0, n_out, 2):
            j1 = min(j + 1, n_out - 1)  # an odd last row pairs with Out's padding row
            Wu, Wv = W + j * n_in + k, W + j1 * n_in + k
            a0, d0 = Wu[0], Wv[0]
            a1 = d1 = a2 = d2 = a3 = d3 = 0
            if k + 1 < n_in:
                a1, d1 = Wu[1], Wv[1]
            if k + 2 < n_in:
                a2, d2 = Wu[2], Wv[2]
            if k + 3 < n_in:
                a3, d3 = Wu[3], Wv[3]
            if j1 == j:
                d0 = d1 = d2 = d3 = 0
            U, V = Out + j * ldo, Out + (j + 1) * ldo
            if k == 0:
                bu, bv = b[j], b[j1]
                for i in range(n):
                    x0, x1, x2, x3 = X0[i], X1[i], X2[i], X3[i]
                    U[i] = bu + (a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3)
                    V[i] = bv + (d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3)
            else:
                for i in range(n):
                    x0, x1, x2, x3 = X0[i], X1[i], X2[i], X3[i]
                    U[i] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                    V[i] += d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3


cdef inline void add_outer(const floating* D, Py_ssize_t ldd, Py_ssize_t n_rows,
                           const floating* X, Py_ssize_t ldx, Py_ssize_t n_in, Py_ssize_t c0,
                           Py_ssize_t n, floating* G) noexcept nogil:
    """``G[j, k] += sum_i D[j, i] X[k, c0 + i]`` for ``j < n_rows`` (even), ``k < n_in``.

    ``D (n_rows, >= n)``, ``G (n_rows, n_in)``: the padding rows are computed with the
    others (their result is not read).  Two rows of D by four rows of X per pass: eight
    dot products at once, eight independent sums (gcc does not interleave a reduction
    loop by itself as LLVM does, and one sum per row pair would wait on the multiply-add
    latency).  Each row of X is read once, the last rows first: after :func:`linear` on
    the same columns, those are the ones still in cache.  A last group of fewer than four
    rows repeats its last row, whose extra sums are not added."""
    cdef Py_ssize_t k, j, i, r
    cdef floating s0, s1, s2, s3, t0, t1, t2, t3, e0, e1, x0, x1, x2, x3
    cdef const floating* X0
    cdef const floating* X1
    cdef const floating* X2
    cdef const floating* X3
    cdef const floating* D0
    cdef const floating* D1
    cdef floating* G0
    cdef floating* G1
    k = (n_in - 1) // 4 * 4
    while k >= 0:  # rows of X once each, four at a time, the last first
        r = min(4, n_in - k)  # the rows of this group that are real
        X0 = X + k * ldx + c0
        X1 = X0 + min(1, r - 1) * ldx
        X2 = X0 + min(2, r - 1) * ldx
        X3 = X0 + min(3, r - 1) * ldx
        for j in range(0, n_rows, 2):
            D0, D1 = D + j * ldd, D + (j + 1) * ldd
            s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = 0
            for i in range(n):
                x0, x1, x2, x3, e0, e1 = X0[i], X1[i], X2[i], X3[i], D0[i], D1[i]
                s0 += e0 * x0
                s1 += e0 * x1
                s2 += e0 * x2
                s3 += e0 * x3
                t0 += e1 * x0
                t1 += e1 * x1
                t2 += e1 * x2
                t3 += e1 * x3
            G0, G1 = G + j * n_in + k, G + (j + 1) * n_in + k
            G0[0] += s0
            G1[0] += t0
            if r > 1:
                G0[1] += s1
                G1[1] += t1
            if r > 2:
                G0[2] += s2
                G1[2] += t2
            if r > 3:
                G0[3] += s3
                G1[3] += t3
        k -= 4


# --- the BLAS: NumPy's own OpenBLAS, by address (see fastnn/_backends/_numpy_blas.py) ------
# Its CBLAS ``?gemm`` with 64-bit integers (ILP64), row-major: one BLAS thread pool in the
# process, the one np.dot uses and threadpoolctl limits.

ctypedef void (*dgemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                         int64_t, const double*, int64_t, double, double*, int64_t) noexcept nogil
ctypedef void (*sgemm_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                         int64_t, const float*, int64_t, float, float*, int64_t) noexcept nogil

ctypedef struct Cblas:
    dgemm_t dgemm
    sgemm_t sgemm

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
