/* tiles.h -- register tiles: the products of the fused steps (products.pxd's ``linear`` and
 * ``add_outer``).
 *
 * Written as plain loops, gcc keeps the partial sums of a product in memory, or reloads
 * an operand for every multiply-add; here a tile of partial sums stays in registers while
 * a loop runs over the shared dimension, and each vector loaded feeds several multiply-
 * adds.  GCC vector extensions, no intrinsics: 64-byte vectors (one zmm register) on
 * AVX-512 hosts, 32 bytes elsewhere (gcc splits them where it must: SSE2, NEON).  Plain
 * IEEE multiply-adds in a fixed order: the result depends only on the operands.
 *
 *   fnn_linear_T     Out[j, i] = b[j] + sum_k W[j, k] X[k, i]      (Z1 = W1 X + b1)
 *   fnn_add_outer_T  G[j, k] += sum_i D[j, i] X[k, i]             (dW1 += dZ1 X.T)
 *
 * Rows go in pairs: Out, D and G have room for an even number of rows, an odd last row
 * pairing with a padding row (products.pxd).  Every matrix is row-major, row r at A + r ld.
 */
#ifndef FASTNN_TILES_H
#define FASTNN_TILES_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi" /* static inline vectors: no ABI crosses a boundary */
#endif
#if defined(__AVX512F__)
#define FNN_VBYTES 64
#else
#define FNN_VBYTES 32
#endif
#if defined(__GNUC__) && defined(__AVX__)
/* keeps a loaded vector in a register: gcc would fold its load into every multiply-add
   that uses it (a load per multiply-add: the loop becomes bound by loads) */
#define FNN_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define FNN_IN_REGISTER(v) (void)(v)
#endif
#define FNN_CHUNK_BYTES (256 * 1024) /* rows of X a forward chunk holds: L2-resident */

#define FNN_TILES(T, I)                                                                        \
typedef T fnn_v_##T __attribute__((vector_size(FNN_VBYTES)));                                 \
enum { fnn_vl_##T = FNN_VBYTES / sizeof(T) };                                                 \
static inline fnn_v_##T fnn_load_##T(const T* p) { fnn_v_##T v; memcpy(&v, p, FNN_VBYTES); return v; } \
                                                                                              \
/* out[q] = the sum of the lanes of s[q], q < 4: pairs of lanes added (s0 and s1 into one   \
   vector, s2 and s3 into another), then pairs of pairs, then the groups of four lanes. */   \
typedef I fnn_i_##T __attribute__((vector_size(FNN_VBYTES)));                                 \
static inline void fnn_lane_sums4_##T(const fnn_v_##T s[4], T out[4]) {                       \
    const int L = fnn_vl_##T;                                                                 \
    fnn_i_##T m1, m2;                                                                         \
    for (int l = 0; l < L; l++) {                                                             \
        m1[l] = l / 2 * 2 + l % 2 * L;                  /* lanes 2i, 2i+1: a[2i], b[2i] */    \
        m2[l] = l / 4 * 4 + (l % 4 < 2 ? l % 4 : L + l % 4 - 2);                              \
    }                                                                                         \
    const fnn_i_##T one = (fnn_i_##T){0} + 1, two = (fnn_i_##T){0} + 2;                       \
    const fnn_v_##T p01 = __builtin_shuffle(s[0], s[1], m1) + __builtin_shuffle(s[0], s[1], m1 + one); \
    const fnn_v_##T p23 = __builtin_shuffle(s[2], s[3], m1) + __builtin_shuffle(s[2], s[3], m1 + one); \
    const fnn_v_##T e = __builtin_shuffle(p01, p23, m2) + __builtin_shuffle(p01, p23, m2 + two); \
    for (int q = 0; q < 4; q++) {                                                             \
        T t = e[q];                                                                           \
        for (int g = 4; g < L; g += 4) t += e[g + q];                                         \
        out[q] = t;                                                                           \
    }                                                                                         \
}                                                                                             \
                                                                                              \
/* Out[j + r, :NV vectors] = (add ? Out : b[j + r]) + sum_{k < n_in} W[j + r, k] X[k, :],   \
   r < 2, row j + 1 being row j1 of W and b: 2 x NV sums in registers over all k. */         \
static inline __attribute__((always_inline)) void                                             \
fnn_fwd_tile_##T(const int NV, const T* Wj, const T* Wj1, T bj, T bj1, ptrdiff_t n_in,        \
                 const T* X, ptrdiff_t ldx, int add, T* Out, ptrdiff_t ldo) {                  \
    fnn_v_##T u[4], v[4];                                                                     \
    for (int q = 0; q < NV; q++) {                                                            \
        u[q] = add ? fnn_load_##T(Out + q * fnn_vl_##T) : (fnn_v_##T){0} + bj;               \
        v[q] = add ? fnn_load_##T(Out + ldo + q * fnn_vl_##T) : (fnn_v_##T){0} + bj1;        \
    }                                                                                         \
    for (ptrdiff_t k = 0; k < n_in; k++) {                                                    \
        for (int q = 0; q < NV; q++) {                                                        \
            fnn_v_##T x = fnn_load_##T(X + k * ldx + q * fnn_vl_##T);                          \
            FNN_IN_REGISTER(x);                                                               \
            u[q] += Wj[k] * x;                                                                \
            v[q] += Wj1[k] * x;                                                               \
        }                                                                                     \
    }                                                                                         \
    for (int q = 0; q < NV; q++) {                                                            \
        memcpy(Out + q * fnn_vl_##T, &u[q], FNN_VBYTES);                                      \
        memcpy(Out + ldo + q * fnn_vl_##T, &v[q], FNN_VBYTES);                                \
    }                                                                                         \
}                                                                                             \
                                                                                              \
/* Rows of X in chunks that stay in the L2 cache (X is read from memory once), each chunk's \
   sums added to Out; columns in tiles of four vectors, then one, then one vector ending at \
   n (its lanes shared with the previous tile computed again, bit for bit the same), or    \
   plain loops when n is narrower than a vector or a chunk adds to Out. */                   \
static void fnn_linear_##T(const T* W, const T* b, ptrdiff_t n_out, ptrdiff_t n_in,           \
                           const T* X, ptrdiff_t ldx, ptrdiff_t n, T* Out, ptrdiff_t ldo) {   \
    const ptrdiff_t VL = fnn_vl_##T, step = FNN_CHUNK_BYTES / (sizeof(T) * (n + 1)) + 4;    \
    for (ptrdiff_t k0 = 0; k0 < n_in; k0 += step) {                                           \
        const ptrdiff_t kn = n_in - k0 < step ? n_in - k0 : step;                             \
        const T* Xk = X + k0 * ldx;                                                           \
        for (ptrdiff_t j = 0; j < n_out; j += 2) {                                            \
            const ptrdiff_t j1 = j + 1 < n_out ? j + 1 : j;                                   \
            const T *Wj = W + j * n_in + k0, *Wj1 = W + j1 * n_in + k0;                      \
            T* O = Out + j * ldo;                                                             \
            ptrdiff_t i = 0;                                                                  \
            for (; i + 4 * VL <= n; i += 4 * VL)                                              \
                fnn_fwd_tile_##T(4, Wj, Wj1, b[j], b[j1], kn, Xk + i, ldx, k0 > 0, O + i, ldo); \
            for (; i + VL <= n; i += VL)                                                      \
                fnn_fwd_tile_##T(1, Wj, Wj1, b[j], b[j1], kn, Xk + i, ldx, k0 > 0, O + i, ldo); \
            if (i < n && n >= VL && k0 == 0) {                                                \
                fnn_fwd_tile_##T(1, Wj, Wj1, b[j], b[j1], kn, Xk + n - VL, ldx, 0, O + n - VL, ldo); \
            } else {                                                                          \
                for (; i < n; i++) {                                                          \
                    T s = k0 > 0 ? O[i] : b[j], t = k0 > 0 ? O[ldo + i] : b[j1];              \
                    for (ptrdiff_t k = 0; k < kn; k++) {                                      \
                        s += Wj[k] * Xk[k * ldx + i];                                         \
                        t += Wj1[k] * Xk[k * ldx + i];                                        \
                    }                                                                         \
                    O[i] = s;                                                                 \
                    O[ldo + i] = t;                                                           \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
                                                                                              \
/* G[j:j+2, k:k+4] += D[j:j+2, :n] X[k:k+4, :n].T for rows j < n_rows (even), k < n_in:     \
   eight sums in registers along the examples, then each row's four added across lanes     \
   at once (a shuffle tree: no lane-by-lane sums).  The rows of X go last first: after     \
   fnn_linear on the same columns, those are the ones still in cache.  A last group of     \
   fewer than four rows of X repeats its last row, whose extra sums are not added. */       \
static void fnn_add_outer_##T(const T* D, ptrdiff_t ldd, ptrdiff_t n_rows, const T* X,       \
                              ptrdiff_t ldx, ptrdiff_t n_in, ptrdiff_t n, T* G) {             \
    const ptrdiff_t VL = fnn_vl_##T, nv = n / VL * VL;                                        \
    for (ptrdiff_t k = (n_in - 1) / 4 * 4; k >= 0; k -= 4) {                                  \
        const ptrdiff_t real = n_in - k < 4 ? n_in - k : 4;                                   \
        const T* Xr[4];                                                                       \
        for (int q = 0; q < 4; q++) Xr[q] = X + (k + (q < real ? q : real - 1)) * ldx;        \
        for (ptrdiff_t j = 0; j < n_rows; j += 2) {                                           \
            const T *D0 = D + j * ldd, *D1 = D0 + ldd;                                        \
            fnn_v_##T s[2][4] = {{{0}}};                                                      \
            T tail[2][4] = {{0}};                                                             \
            for (ptrdiff_t i = 0; i < nv; i += VL) {                                          \
                fnn_v_##T d0 = fnn_load_##T(D0 + i), d1 = fnn_load_##T(D1 + i);               \
                FNN_IN_REGISTER(d0);                                                          \
                FNN_IN_REGISTER(d1);                                                          \
                for (int q = 0; q < 4; q++) {                                                 \
                    fnn_v_##T x = fnn_load_##T(Xr[q] + i);                                    \
                    FNN_IN_REGISTER(x);                                                       \
                    s[0][q] += d0 * x;                                                        \
                    s[1][q] += d1 * x;                                                        \
                }                                                                             \
            }                                                                                 \
            for (ptrdiff_t i = nv; i < n; i++)                                                \
                for (int q = 0; q < 4; q++) {                                                 \
                    tail[0][q] += D0[i] * Xr[q][i];                                           \
                    tail[1][q] += D1[i] * Xr[q][i];                                           \
                }                                                                             \
            for (int r = 0; r < 2; r++) {                                                     \
                T sums[4];                                                                    \
                fnn_lane_sums4_##T(s[r], sums);                                               \
                for (int q = 0; q < real; q++) G[(j + r) * n_in + k + q] += sums[q] + tail[r][q]; \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}

FNN_TILES(double, long long)
FNN_TILES(float, int)

#endif /* FASTNN_TILES_H */
