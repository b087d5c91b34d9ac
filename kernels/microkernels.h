/* microkernels.h -- register-blocked inner products of the first layer, for cykernels.pyx.
 *
 * The two products that touch X -- the forward Z1 = W1 X and the backward dW1 = dZ1 X.T --
 * are the only loops of a training step whose cost grows with n_x * n_h * m.  Written as
 * plain loops, gcc vectorizes them but keeps the partial sums in memory (a load and a store
 * per multiply-add) or scrambles a fully unrolled tile with permutations; written here with
 * GCC vector extensions, the tile of partial sums stays in registers and every X element
 * loaded feeds several FMAs.  The vectors are 64 bytes (8 doubles, 16 floats): one zmm
 * register on AVX-512; gcc splits them on narrower targets (AVX2, SSE2, NEON), so the
 * code stays portable.  No intrinsics, no -ffast-math: plain IEEE multiply-adds.
 *
 * Layouts (row-major, every row contiguous):
 *   X  (n_x, ldx)  the block of examples starts at X; ``nb`` of its columns are used
 *   WT (n_x, H)    W1 transposed, H = n_h rounded up to the vector length (zero padding);
 *                  half a vector in the two-pass mode for float32 with n_h <= 8 (the pairs)
 *   Z  (H, ldz)    Z1 of the block, one row per hidden unit (the course layout)
 *   DT (nb, H)     dZ1 of the block transposed (one row per example, padding zero); in the
 *                  pairs mode, dZ1 as interleaved pairs of examples (fnn_interleave_pairs)
 *   GT (n_x, H)    dW1 transposed, accumulated over blocks
 * Logistic regression (one output) uses its own pair: a row of logits z, and the
 * gradient accumulated per vector lane, G (n_x, VL), summed over lanes at the end.
 */
#ifndef FASTNN_MICROKERNELS_H
#define FASTNN_MICROKERNELS_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
/* the vector helpers are static inline: no ABI crosses a boundary, whatever the ISA */
#pragma GCC diagnostic ignored "-Wpsabi"
#define FNN_UNROLL _Pragma("GCC unroll 16")
#else
#define FNN_UNROLL
#endif

typedef double fnn_vdouble __attribute__((vector_size(64)));
typedef float fnn_vfloat __attribute__((vector_size(64)));
#define FNN_VL_double 8
#define FNN_VL_float 16

typedef long long fnn_mdouble __attribute__((vector_size(64)));
typedef int fnn_mfloat __attribute__((vector_size(64)));

/* (p[0], p[1], p[0], p[1], ...): float32 loads the two values as one double and broadcasts
   it (a load, no shuffle), for the interleaved pairs of the pairs' backward; float64 never
   needs it (H is a multiple of 8 doubles) but has the plain form for the template. */
static inline fnn_vfloat fnn_bcast2_float(const float* p) {
    double both;
    memcpy(&both, p, sizeof both);
    const fnn_vdouble repeated = (fnn_vdouble){0} + both;
    fnn_vfloat v;
    memcpy(&v, &repeated, sizeof v);
    return v;
}
static inline fnn_vdouble fnn_bcast2_double(const double* p) {
    const fnn_vdouble lo = (fnn_vdouble){0} + p[0], hi = (fnn_vdouble){0} + p[1];
    return __builtin_shuffle(lo, hi, (fnn_mdouble){0, 8, 2, 10, 4, 12, 6, 14});
}

/* (p[0] in the first half of the lanes, p[1] in the second), for the half-vector rows of
   the streamed forward: the two values broadcast as above, then permuted (one load, one
   shuffle: two broadcasts and a blend measured 15-20% slower); float64 never needs it
   (H is a multiple of 8 doubles) but has the plain form for the template. */
static inline fnn_vfloat fnn_pair_float(const float* p) {
    return __builtin_shuffle(fnn_bcast2_float(p),
                             (fnn_mfloat){0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1});
}
static inline fnn_vdouble fnn_pair_double(const double* p) {
    const fnn_vdouble lo = (fnn_vdouble){0} + p[0], hi = (fnn_vdouble){0} + p[1];
    return __builtin_shuffle(lo, hi, (fnn_mdouble){0, 1, 2, 3, 12, 13, 14, 15});
}

/* everything is generated for T = double and T = float from one template */
#define FNN_TEMPLATE(T)                                                                      \
typedef fnn_v##T fnn_V_##T;                                                                  \
enum { fnn_VL_##T = FNN_VL_##T };                                                            \
                                                                                             \
static inline fnn_v##T fnn_load_##T(const T* p) {                                            \
    fnn_v##T v;                                                                              \
    memcpy(&v, p, sizeof v);                                                                 \
    return v;                                                                                \
}                                                                                            \
static inline void fnn_store_##T(T* p, fnn_v##T v) { memcpy(p, &v, sizeof v); }             \
                                                                                             \
/* Z[h, 0:VL] (+)= sum_k WT[k, h] X[k, 0:VL] for 16 rows h: 16 accumulators in registers,  \
 * starting from zero, or from Z with ``add`` (partial sums over ranges of k)             */ \
static inline void fnn_fwd_tile16_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,     \
                                      const T* restrict WT, ptrdiff_t H, T* restrict Z,      \
                                      ptrdiff_t ldz, int add) {                              \
    fnn_v##T acc[16];                                                                        \
    FNN_UNROLL for (int h = 0; h < 16; h++)                                                  \
        acc[h] = add ? fnn_load_##T(Z + h * ldz) : (fnn_v##T){0};                            \
    for (ptrdiff_t k = 0; k < n_x; k++) {                                                    \
        const fnn_v##T x = fnn_load_##T(X + k * ldx);                                        \
        const T* w = WT + k * H;                                                             \
        FNN_UNROLL for (int h = 0; h < 16; h++) acc[h] += w[h] * x;                          \
    }                                                                                        \
    FNN_UNROLL for (int h = 0; h < 16; h++) fnn_store_##T(Z + h * ldz, acc[h]);              \
}                                                                                            \
static inline void fnn_fwd_tile8_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,      \
                                     const T* restrict WT, ptrdiff_t H, T* restrict Z,       \
                                     ptrdiff_t ldz, int add) {                               \
    /* 8 rows x 2 vectors of examples: 16 accumulators as well */                            \
    fnn_v##T a[8], b[8];                                                                     \
    FNN_UNROLL for (int h = 0; h < 8; h++) {                                                 \
        a[h] = add ? fnn_load_##T(Z + h * ldz) : (fnn_v##T){0};                              \
        b[h] = add ? fnn_load_##T(Z + h * ldz + FNN_VL_##T) : (fnn_v##T){0};                 \
    }                                                                                        \
    for (ptrdiff_t k = 0; k < n_x; k++) {                                                    \
        const fnn_v##T x = fnn_load_##T(X + k * ldx);                                        \
        const fnn_v##T y = fnn_load_##T(X + k * ldx + FNN_VL_##T);                           \
        const T* w = WT + k * H;                                                             \
        FNN_UNROLL for (int h = 0; h < 8; h++) {                                             \
            a[h] += w[h] * x;                                                                \
            b[h] += w[h] * y;                                                                \
        }                                                                                    \
    }                                                                                        \
    FNN_UNROLL for (int h = 0; h < 8; h++) {                                                 \
        fnn_store_##T(Z + h * ldz, a[h]);                                                    \
        fnn_store_##T(Z + h * ldz + FNN_VL_##T, b[h]);                                       \
    }                                                                                        \
}                                                                                            \
static inline void fnn_fwd_tile8x1_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,    \
                                       const T* restrict WT, ptrdiff_t H, T* restrict Z,     \
                                       ptrdiff_t ldz, int add) {                             \
    fnn_v##T a[8];                                                                           \
    FNN_UNROLL for (int h = 0; h < 8; h++)                                                   \
        a[h] = add ? fnn_load_##T(Z + h * ldz) : (fnn_v##T){0};                              \
    for (ptrdiff_t k = 0; k < n_x; k++) {                                                    \
        const fnn_v##T x = fnn_load_##T(X + k * ldx);                                        \
        const T* w = WT + k * H;                                                             \
        FNN_UNROLL for (int h = 0; h < 8; h++) a[h] += w[h] * x;                             \
    }                                                                                        \
    FNN_UNROLL for (int h = 0; h < 8; h++) fnn_store_##T(Z + h * ldz, a[h]);                 \
}                                                                                            \
                                                                                             \
/* Z (H, nb) (+)= W1 X for a block of nb examples (nb a multiple of VL), W1 given as WT;  */ \
/* with ``add``, the sums over these n_x rows of X are added to Z                          */ \
static void fnn_forward_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x, ptrdiff_t nb, \
                            const T* restrict WT, ptrdiff_t H, T* restrict Z, ptrdiff_t ldz, \
                            int add) {                                                       \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    for (ptrdiff_t h = 0; h < H; h += 8) {                                                   \
        if (h + 16 <= H) {                                                                   \
            for (ptrdiff_t j = 0; j < nb; j += VL)                                           \
                fnn_fwd_tile16_##T(X + j, ldx, n_x, WT + h, H, Z + h * ldz + j, ldz, add);   \
            h += 8;                                                                          \
        } else {                                                                             \
            ptrdiff_t j = 0;                                                                 \
            for (; j + 2 * VL <= nb; j += 2 * VL)                                            \
                fnn_fwd_tile8_##T(X + j, ldx, n_x, WT + h, H, Z + h * ldz + j, ldz, add);    \
            for (; j < nb; j += VL)                                                          \
                fnn_fwd_tile8x1_##T(X + j, ldx, n_x, WT + h, H, Z + h * ldz + j, ldz, add);  \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* Half-vector rows, H = VL / 2 (float32 with n_h <= 8): two examples per vector, lanes      \
 * 0 .. H-1 example j and H .. VL-1 example j + 1, so that every FMA does the work of two. */\
static inline fnn_v##T fnn_twice_##T(const T* p) {  /* (p[0:H], p[0:H]) */                   \
    T both[FNN_VL_##T];                                                                      \
    memcpy(both, p, sizeof both / 2);                                                        \
    memcpy(both + FNN_VL_##T / 2, p, sizeof both / 2);                                       \
    return fnn_load_##T(both);                                                               \
}                                                                                            \
/* fnn_forward_stream for H = VL / 2: ZT[j, :] += sum_k X[k, j] WT[k, :], rows j, j + 1 of   \
 * ZT (contiguous) in one vector; an odd last example by plain loops. */                     \
static void fnn_forward_stream_pairs_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,  \
                                         ptrdiff_t nb, const T* restrict WT,                 \
                                         T* restrict ZT) {                                   \
    const ptrdiff_t H = FNN_VL_##T / 2, even = nb - nb % 2;                                  \
    ptrdiff_t k = 0;                                                                         \
    for (; k + 8 <= n_x; k += 8) {                                                           \
        const T* x = X + k * ldx;                                                            \
        fnn_v##T a[8];                                                                       \
        FNN_UNROLL for (int r = 0; r < 8; r++) a[r] = fnn_twice_##T(WT + (k + r) * H);       \
        for (ptrdiff_t j = 0; j < even; j += 2) {                                            \
            fnn_v##T z = fnn_load_##T(ZT + j * H);                                           \
            fnn_v##T y = fnn_pair_##T(x + j) * a[0];                                         \
            FNN_UNROLL for (int r = 1; r < 8; r += 2) {                                      \
                z += fnn_pair_##T(x + r * ldx + j) * a[r];                                   \
                if (r + 1 < 8) y += fnn_pair_##T(x + (r + 1) * ldx + j) * a[r + 1];          \
            }                                                                                \
            fnn_store_##T(ZT + j * H, z + y);                                                \
        }                                                                                    \
        if (even < nb) {                                                                     \
            FNN_UNROLL for (int r = 0; r < 8; r++)                                           \
                for (ptrdiff_t h = 0; h < H; h++)                                            \
                    ZT[even * H + h] += x[r * ldx + even] * WT[(k + r) * H + h];             \
        }                                                                                    \
    }                                                                                        \
    for (; k < n_x; k++) {                                                                   \
        const T* x = X + k * ldx;                                                            \
        const fnn_v##T a = fnn_twice_##T(WT + k * H);                                        \
        for (ptrdiff_t j = 0; j < even; j += 2)                                              \
            fnn_store_##T(ZT + j * H, fnn_load_##T(ZT + j * H) + fnn_pair_##T(x + j) * a);   \
        if (even < nb)                                                                       \
            for (ptrdiff_t h = 0; h < H; h++) ZT[even * H + h] += x[even] * WT[k * H + h];   \
    }                                                                                        \
}                                                                                            \
/* The pairs' dZ1 for fnn_backward_pairs: DP (nb / 2, VL) with lane 2h + e of row p the     \
 * Z[h, 2p + e] of Z (H, ldz), H = VL / 2; nb even.                                       */ \
static void fnn_interleave_pairs_##T(const T* restrict Z, ptrdiff_t ldz, ptrdiff_t nb,       \
                                     T* restrict DP) {                                       \
    const ptrdiff_t H = FNN_VL_##T / 2;                                                      \
    for (ptrdiff_t h = 0; h < H; h++)                                                        \
        for (ptrdiff_t j = 0; j < nb; j++) DP[j * H + 2 * h - j % 2 * (H - 1)] = Z[h * ldz + j];\
}                                                                                            \
/* fnn_backward for H = VL / 2: GT[k, :] += sum_j X[k, j] dZ1[:, j], dZ1 as interleaved      \
 * pairs DP (fnn_interleave_pairs): (x_j, x_j+1) broadcast in one load meets                 \
 * (d_j[h], d_j+1[h]) in lanes 2h, 2h + 1 -- no shuffle; the two lanes are added at the end.\
 * An odd last example by plain loops.                                                    */ \
static void fnn_backward_pairs_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,        \
                                   ptrdiff_t nb, const T* restrict DP, T* restrict GT) {     \
    const ptrdiff_t H = FNN_VL_##T / 2, even = nb - nb % 2;                                  \
    ptrdiff_t k = n_x;                                                                       \
    for (; k >= 8; k -= 8) {                                                                 \
        const T* x = X + (k - 8) * ldx;                                                      \
        T* g = GT + (k - 8) * H;                                                             \
        fnn_v##T a[8];                                                                       \
        FNN_UNROLL for (int r = 0; r < 8; r++) a[r] = (fnn_v##T){0};                         \
        for (ptrdiff_t j = 0; j < even; j += 2) {                                            \
            const fnn_v##T d = fnn_load_##T(DP + j * H);                                     \
            FNN_UNROLL for (int r = 0; r < 8; r++) a[r] += fnn_bcast2_##T(x + r * ldx + j) * d;\
        }                                                                                    \
        FNN_UNROLL for (int r = 0; r < 8; r++) {                                             \
            for (ptrdiff_t h = 0; h < H; h++) {                                              \
                T odd = even < nb ? x[r * ldx + even] * DP[even * H + 2 * h] : 0;            \
                g[r * H + h] += (a[r][2 * h] + a[r][2 * h + 1]) + odd;                       \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    for (; k >= 1; k--) {                                                                    \
        const T* x = X + (k - 1) * ldx;                                                      \
        T* g = GT + (k - 1) * H;                                                             \
        fnn_v##T a = {0};                                                                    \
        for (ptrdiff_t j = 0; j < even; j += 2) a += fnn_bcast2_##T(x + j) * fnn_load_##T(DP + j * H);\
        for (ptrdiff_t h = 0; h < H; h++)                                                    \
            g[h] += (a[2 * h] + a[2 * h + 1]) + (even < nb ? x[even] * DP[even * H + 2 * h] : 0);\
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* GT[k, :] += sum_j X[k, j] DT[j, :] for j < nb, all k: dW1.T += X dZ1.T on the block.      \
 * Eight accumulators: 4 rows k x 2 vectors of h, or 8 rows k x 1 vector (the last vector   \
 * of h); every DT vector loaded feeds 8 FMAs.  k runs backwards, so the rows of X that the  \
 * forward pass read last (still in cache) come first.                                    */ \
static void fnn_backward_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x, ptrdiff_t nb,\
                             const T* restrict DT, ptrdiff_t H, T* restrict GT) {            \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    if (2 * H == VL) {                                                                       \
        fnn_backward_pairs_##T(X, ldx, n_x, nb, DT, GT);                                     \
        return;                                                                              \
    }                                                                                        \
    ptrdiff_t h = 0;                                                                         \
    for (; h + 2 * VL <= H; h += 2 * VL) {                                                   \
        ptrdiff_t k = n_x;                                                                   \
        for (; k >= 4; k -= 4) {                                                             \
            const T* x = X + (k - 4) * ldx;                                                  \
            T* g = GT + (k - 4) * H + h;                                                     \
            fnn_v##T a[4], b[4];                                                             \
            FNN_UNROLL for (int r = 0; r < 4; r++) {                                         \
                a[r] = fnn_load_##T(g + r * H);                                              \
                b[r] = fnn_load_##T(g + r * H + VL);                                         \
            }                                                                                \
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                const fnn_v##T d = fnn_load_##T(DT + j * H + h);                             \
                const fnn_v##T e = fnn_load_##T(DT + j * H + h + VL);                        \
                FNN_UNROLL for (int r = 0; r < 4; r++) {                                     \
                    a[r] += x[r * ldx + j] * d;                                              \
                    b[r] += x[r * ldx + j] * e;                                              \
                }                                                                            \
            }                                                                                \
            FNN_UNROLL for (int r = 0; r < 4; r++) {                                         \
                fnn_store_##T(g + r * H, a[r]);                                              \
                fnn_store_##T(g + r * H + VL, b[r]);                                         \
            }                                                                                \
        }                                                                                    \
        for (; k >= 1; k--) {                                                                \
            const T* x = X + (k - 1) * ldx;                                                  \
            T* g = GT + (k - 1) * H + h;                                                     \
            fnn_v##T a = fnn_load_##T(g), b = fnn_load_##T(g + VL);                          \
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                a += x[j] * fnn_load_##T(DT + j * H + h);                                    \
                b += x[j] * fnn_load_##T(DT + j * H + h + VL);                               \
            }                                                                                \
            fnn_store_##T(g, a);                                                             \
            fnn_store_##T(g + VL, b);                                                        \
        }                                                                                    \
    }                                                                                        \
    if (h < H) {                                                                             \
        ptrdiff_t k = n_x;                                                                   \
        for (; k >= 8; k -= 8) {                                                             \
            const T* x = X + (k - 8) * ldx;                                                  \
            T* g = GT + (k - 8) * H + h;                                                     \
            fnn_v##T a[8];                                                                   \
            FNN_UNROLL for (int r = 0; r < 8; r++) a[r] = fnn_load_##T(g + r * H);           \
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                const fnn_v##T d = fnn_load_##T(DT + j * H + h);                             \
                FNN_UNROLL for (int r = 0; r < 8; r++) a[r] += x[r * ldx + j] * d;           \
            }                                                                                \
            FNN_UNROLL for (int r = 0; r < 8; r++) fnn_store_##T(g + r * H, a[r]);           \
        }                                                                                    \
        for (; k >= 1; k--) {                                                                \
            const T* x = X + (k - 1) * ldx;                                                  \
            T* g = GT + (k - 1) * H + h;                                                     \
            fnn_v##T a = fnn_load_##T(g);                                                    \
            for (ptrdiff_t j = 0; j < nb; j++) a += x[j] * fnn_load_##T(DT + j * H + h);     \
            fnn_store_##T(g, a);                                                             \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* ZT[j, :] += sum_k X[k, j] WT[k, :] for j < nb, all k: Z1.T += X.T W1.T, streaming X row  \
 * by row (8 rows at a time, each read along j: contiguous, prefetcher-friendly) while the   \
 * block ZT (nb, H) stays in cache: the forward pass of the two-pass mode for inputs much     \
 * larger than the L2 cache.                                                              */ \
static void fnn_forward_stream_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,        \
                                   ptrdiff_t nb, const T* restrict WT, ptrdiff_t H,          \
                                   T* restrict ZT) {                                         \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    if (2 * H == VL) {                                                                       \
        fnn_forward_stream_pairs_##T(X, ldx, n_x, nb, WT, ZT);                               \
        return;                                                                              \
    }                                                                                        \
    ptrdiff_t h = 0;                                                                         \
    for (; h + 2 * VL <= H; h += 2 * VL) {                                                   \
        ptrdiff_t k = 0;                                                                     \
        for (; k + 4 <= n_x; k += 4) {                                                       \
            const T* x = X + k * ldx;                                                        \
            fnn_v##T a[4], b[4];                                                             \
            FNN_UNROLL for (int r = 0; r < 4; r++) {                                         \
                a[r] = fnn_load_##T(WT + (k + r) * H + h);                                   \
                b[r] = fnn_load_##T(WT + (k + r) * H + h + VL);                              \
            }                                                                                \
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                fnn_v##T z = fnn_load_##T(ZT + j * H + h);                                   \
                fnn_v##T y = fnn_load_##T(ZT + j * H + h + VL);                              \
                FNN_UNROLL for (int r = 0; r < 4; r++) {                                     \
                    z += x[r * ldx + j] * a[r];                                              \
                    y += x[r * ldx + j] * b[r];                                              \
                }                                                                            \
                fnn_store_##T(ZT + j * H + h, z);                                            \
                fnn_store_##T(ZT + j * H + h + VL, y);                                       \
            }                                                                                \
        }                                                                                    \
        for (; k < n_x; k++) {                                                               \
            const fnn_v##T a = fnn_load_##T(WT + k * H + h);                                 \
            const fnn_v##T b = fnn_load_##T(WT + k * H + h + VL);                            \
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                fnn_store_##T(ZT + j * H + h, fnn_load_##T(ZT + j * H + h) + X[k * ldx + j] * a);\
                fnn_store_##T(ZT + j * H + h + VL,                                           \
                              fnn_load_##T(ZT + j * H + h + VL) + X[k * ldx + j] * b);       \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    if (h < H) {                                                                             \
        ptrdiff_t k = 0;                                                                     \
        for (; k + 8 <= n_x; k += 8) {                                                       \
            const T* x = X + k * ldx;                                                        \
            fnn_v##T a[8];                                                                   \
            FNN_UNROLL for (int r = 0; r < 8; r++) a[r] = fnn_load_##T(WT + (k + r) * H + h);\
            for (ptrdiff_t j = 0; j < nb; j++) {                                             \
                fnn_v##T z = fnn_load_##T(ZT + j * H + h);                                   \
                fnn_v##T y = x[j] * a[0];                                                    \
                FNN_UNROLL for (int r = 1; r < 8; r += 2) {                                  \
                    z += x[r * ldx + j] * a[r];                                              \
                    if (r + 1 < 8) y += x[(r + 1) * ldx + j] * a[r + 1];                     \
                }                                                                            \
                fnn_store_##T(ZT + j * H + h, z + y);                                        \
            }                                                                                \
        }                                                                                    \
        for (; k < n_x; k++) {                                                               \
            const fnn_v##T a = fnn_load_##T(WT + k * H + h);                                 \
            for (ptrdiff_t j = 0; j < nb; j++)                                               \
                fnn_store_##T(ZT + j * H + h, fnn_load_##T(ZT + j * H + h) + X[k * ldx + j] * a);\
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* Logistic regression, a block of 4 VL examples: z[0:4VL] = sum_k w[k] X[k, 0:4VL].         \
 * Two interleaved halves of k give 8 independent accumulators.                           */ \
static void fnn_lr_forward_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,            \
                               const T* restrict w, T* restrict z) {                         \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    fnn_v##T a[4] = {{0}}, b[4] = {{0}};                                                     \
    ptrdiff_t k = 0;                                                                         \
    for (; k + 2 <= n_x; k += 2) {                                                           \
        const T* x = X + k * ldx;                                                            \
        FNN_UNROLL for (int v = 0; v < 4; v++) {                                             \
            a[v] += w[k] * fnn_load_##T(x + v * VL);                                         \
            b[v] += w[k + 1] * fnn_load_##T(x + ldx + v * VL);                               \
        }                                                                                    \
    }                                                                                        \
    if (k < n_x) {                                                                           \
        FNN_UNROLL for (int v = 0; v < 4; v++) a[v] += w[k] * fnn_load_##T(X + k * ldx + v * VL);\
    }                                                                                        \
    FNN_UNROLL for (int v = 0; v < 4; v++) fnn_store_##T(z + v * VL, a[v] + b[v]);           \
}                                                                                            \
/* G[k, 0:VL] += sum_v X[k, vVL:(v+1)VL] dz[vVL:(v+1)VL]: per-lane partial sums of X dz.T,   \
 * k backwards (the rows the forward pass read last first).                               */ \
static void fnn_lr_backward_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x,           \
                                const T* restrict dz, T* restrict G) {                       \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    const fnn_v##T d0 = fnn_load_##T(dz), d1 = fnn_load_##T(dz + VL),                        \
                   d2 = fnn_load_##T(dz + 2 * VL), d3 = fnn_load_##T(dz + 3 * VL);           \
    for (ptrdiff_t k = n_x - 1; k >= 0; k--) {                                               \
        const T* x = X + k * ldx;                                                            \
        fnn_v##T s = fnn_load_##T(x) * d0 + fnn_load_##T(x + VL) * d1;                       \
        fnn_v##T t = fnn_load_##T(x + 2 * VL) * d2 + fnn_load_##T(x + 3 * VL) * d3;          \
        fnn_store_##T(G + k * VL, fnn_load_##T(G + k * VL) + (s + t));                       \
    }                                                                                        \
}                                                                                            \
/* g[k] = X[k, 0:n] dz[0:n] for each row k: one row at a time, read front to back (one     \
 * sequential stream), four vector accumulators, the last n % VL products scalar.         */ \
static void fnn_row_dots_##T(const T* restrict X, ptrdiff_t ldx, ptrdiff_t n_x, ptrdiff_t n, \
                             const T* restrict dz, T* restrict g) {                          \
    const ptrdiff_t VL = FNN_VL_##T;                                                         \
    for (ptrdiff_t k = 0; k < n_x; k++) {                                                    \
        const T* x = X + k * ldx;                                                            \
        fnn_v##T a[4] = {{0}};                                                               \
        ptrdiff_t j = 0;                                                                     \
        for (; j + 4 * VL <= n; j += 4 * VL) {                                               \
            FNN_UNROLL for (int v = 0; v < 4; v++)                                           \
                a[v] += fnn_load_##T(x + j + v * VL) * fnn_load_##T(dz + j + v * VL);        \
        }                                                                                    \
        for (; j + VL <= n; j += VL) a[0] += fnn_load_##T(x + j) * fnn_load_##T(dz + j);     \
        const fnn_v##T s = (a[0] + a[1]) + (a[2] + a[3]);                                    \
        T t = 0;                                                                             \
        for (int l = 0; l < FNN_VL_##T; l++) t += s[l];                                      \
        for (; j < n; j++) t += x[j] * dz[j];                                                \
        g[k] = t;                                                                            \
    }                                                                                        \
}

FNN_TEMPLATE(double)
FNN_TEMPLATE(float)

/* ---- transposes of the hidden layer's block: 8 x 8 tiles through registers ---------------- */
typedef double fnn_v8d __attribute__((vector_size(64)));
typedef float fnn_v8f __attribute__((vector_size(32)));
typedef long long fnn_v8i64 __attribute__((vector_size(64)));
typedef int fnn_v8i32 __attribute__((vector_size(32)));

#define FNN_TRANSPOSE8(T, V, MASK)                                                           \
/* AT (nb, H) = A (H, nb).T, with A's row stride lda; H and nb multiples of 8            */  \
static void fnn_transpose_##T(const T* restrict A, ptrdiff_t lda, ptrdiff_t H, ptrdiff_t nb, \
                              T* restrict AT) {                                              \
    for (ptrdiff_t i = 0; i < H; i += 8) {                                                   \
        for (ptrdiff_t j = 0; j < nb; j += 8) {                                              \
            V r[8], s[8];                                                                    \
            FNN_UNROLL for (int q = 0; q < 8; q++) memcpy(&r[q], A + (i + q) * lda + j, sizeof(V));\
            FNN_UNROLL for (int q = 0; q < 8; q += 2) {   /* 1 x 1 blocks */                 \
                s[q] = __builtin_shuffle(r[q], r[q + 1], (MASK){0, 8, 2, 10, 4, 12, 6, 14});  \
                s[q + 1] = __builtin_shuffle(r[q], r[q + 1], (MASK){1, 9, 3, 11, 5, 13, 7, 15});\
            }                                                                                \
            FNN_UNROLL for (int q = 0; q < 8; q += 4) {   /* 2 x 2 blocks */                 \
                for (int u = 0; u < 2; u++) {                                                \
                    r[q + u] = __builtin_shuffle(s[q + u], s[q + u + 2],                     \
                                                 (MASK){0, 1, 8, 9, 4, 5, 12, 13});          \
                    r[q + u + 2] = __builtin_shuffle(s[q + u], s[q + u + 2],                 \
                                                     (MASK){2, 3, 10, 11, 6, 7, 14, 15});    \
                }                                                                            \
            }                                                                                \
            FNN_UNROLL for (int q = 0; q < 4; q++) {      /* 4 x 4 blocks */                 \
                s[q] = __builtin_shuffle(r[q], r[q + 4], (MASK){0, 1, 2, 3, 8, 9, 10, 11});   \
                s[q + 4] = __builtin_shuffle(r[q], r[q + 4], (MASK){4, 5, 6, 7, 12, 13, 14, 15});\
            }                                                                                \
            /* s[q] is column q of the tile: row j + q of AT */                              \
            FNN_UNROLL for (int q = 0; q < 8; q++)                                           \
                memcpy(AT + (j + q) * H + i, &s[q], sizeof(V));                              \
        }                                                                                    \
    }                                                                                        \
}

FNN_TRANSPOSE8(double, fnn_v8d, fnn_v8i64)
FNN_TRANSPOSE8(float, fnn_v8f, fnn_v8i32)


#endif /* FASTNN_MICROKERNELS_H */
