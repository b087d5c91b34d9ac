/* fastnn_math.h -- what the Cython kernels of fastnn need from C, in one small header.
 *
 * 1. Vector math without -ffast-math.  glibc declares its vector math library (libmvec:
 *    _ZGVdN4v_log and friends) only under __FAST_MATH__, and -ffast-math is not allowed in
 *    fastnn: it assumes no NaN/inf and breaks the finiteness checks.  So the functions the
 *    kernels call in loops are declared again here with `#pragma omp declare simd`;
 *    compiled with -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd, gcc turns such a
 *    loop into calls of libmvec's vector variants (check: objdump -d *.so | grep _ZGV).
 *    Elsewhere (other compilers or C libraries) the scalar functions serve, correctly.
 *
 * 2. exp and tanh written out (fnn_exp, fnn_tanh and their float versions): arithmetic and
 *    bit casts only, inlined and vectorized in the caller's loop (no call per vector).  The
 *    method is the numba backend's (fastnn/_backends/numba/math.py): x = k ln2 + r with
 *    |r| <= ln2/2 (Cody-Waite, ln2 in two parts), e^r - 1 = r + r^2 q(r) with q a Chebyshev
 *    fit evaluated by Estrin's scheme (independent multiply-adds instead of one long
 *    chain), 2^k built from its bits; tanh|x| = -t / (2 + t) with t = expm1(-2|x|), which
 *    keeps the relative accuracy near 0.  The build allows reassociation
 *    (-fassociative-math): the steps whose rounding matters are written with fma() and
 *    rint(), which it cannot regroup (the 1.5 * 2^52 shift trick for rint does not survive
 *    it, even behind __builtin_assoc_barrier once vectorized); gcc inlines rint as a vector
 *    instruction (SSE4.1 and later) or its own shift sequence (-fno-trapping-math).
 *
 * 3. The parameter update P - lr * G in functions compiled without reassociation: G was
 *    rounded when it was divided by m, and gcc must not turn lr * (S / m) into
 *    (lr * S) / m, which overflows for a huge learning rate where the step does not.
 *    Finiteness is tested by comparisons (|v| <= MAX is false for NaN and inf).
 *
 * 4. The build record (FASTNN_CFLAGS, FASTNN_OPENMP, FASTNN_DEBUG from setup.py; SIMD
 *    level and compiler from predefined macros) and OpenMP's thread limit, or 1 without it.
 */
#ifndef FASTNN_MATH_H
#define FASTNN_MATH_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* ---- libmvec ---------------------------------------------------------------------- */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && !defined(__FAST_MATH__)
#define FASTNN_LIBMVEC 1
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double log(double);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float logf(float);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#else
#define FASTNN_LIBMVEC 0
#endif

/* ---- rounding steps the build's reassociation must leave alone ---------------------- */
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define FNN_FMA(a, b, c) fma(a, b, c)
#define FNN_FMAF(a, b, c) fmaf(a, b, c)
#else /* no FMA instruction: fma() would be a library call per element */
#define FNN_FMA(a, b, c) ((a) * (b) + (c))
#define FNN_FMAF(a, b, c) ((a) * (b) + (c))
#endif
/* (x - k hi) - k lo must not become x - k (hi + lo) where there is no FMA instruction */
#if defined(__has_builtin)
#if __has_builtin(__builtin_assoc_barrier)
#define FNN_KEEP(x) __builtin_assoc_barrier(x)
#endif
#endif
#ifndef FNN_KEEP
#define FNN_KEEP(x) (x)
#endif

static inline double fnn_pow2(int k) { /* 2^k for k in [-1022, 1023] */
    const long long bits = (long long)(k + 1023) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

static inline float fnn_pow2f(int k) { /* 2^k for k in [-126, 127] */
    const int bits = (k + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* ---- float64 ------------------------------------------------------------------------ */
#define FNN_LN2_HI 6.93147180369123816490e-01 /* trailing zero bits: k * LN2_HI is exact */
#define FNN_LN2_LO 1.90821492927058770002e-10
#define FNN_INV_LN2 1.44269504088896338700e00

/* e^r - 1 for |r| <= ln2/2: r + r^2 q(r), q of degree 9 by Estrin's scheme. */
static inline double fnn_expm1_poly(double r) {
    const double r2 = r * r, r4 = r2 * r2;
    const double q01 = FNN_FMA(r, 0.16666666666666669, 0.5000000000000001);
    const double q23 = FNN_FMA(r, 0.008333333333330062, 0.04166666666662413);
    const double q45 = FNN_FMA(r, 0.00019841269863053618, 0.0013888888917213717);
    const double q67 = FNN_FMA(r, 2.7557268459997064e-06, 2.4801521295954376e-05);
    const double q89 = FNN_FMA(r, 2.510038549551032e-08, 2.7620088445409746e-07);
    const double q = FNN_FMA(r4, FNN_FMA(r4, q89, FNN_FMA(r2, q67, q45)), FNN_FMA(r2, q23, q01));
    return FNN_FMA(r2, q, r);
}

/* x - k ln2 for an integer-valued k. */
static inline double fnn_reduce(double x, double k) {
    return FNN_FMA(-k, FNN_LN2_LO, FNN_KEEP(FNN_FMA(-k, FNN_LN2_HI, x)));
}

/* e^x; NaN stays NaN, e^-inf = 0, e^inf = inf, subnormal results right (2^k in two
   factors). */
static inline double fnn_exp(double x) {
    x = x < -746.0 ? -746.0 : x; /* comparisons: NaN goes through */
    x = x > 710.0 ? 710.0 : x;
    const double k = rint(x * FNN_INV_LN2);
    const int ki = (int)k, k1 = ki >> 1;
    const double p = fnn_expm1_poly(fnn_reduce(x, k));
    return ((1.0 + p) * fnn_pow2(k1)) * fnn_pow2(ki - k1);
}

/* tanh(x) = sign(x) (-t / (2 + t)), t = expm1(-2|x|) in (-1, 0]; |x| capped at 20, where
   tanh rounds to 1 (and 2^k stays normal).  NaN stays NaN, tanh(+-inf) = +-1. */
static inline double fnn_tanh(double x) {
    double a = fabs(x);
    a = a > 20.0 ? 20.0 : a;
    const double y = -2.0 * a;
    const double k = rint(y * FNN_INV_LN2);
    const double s = fnn_pow2((int)k), p = fnn_expm1_poly(fnn_reduce(y, k));
    /* expm1(y) = 2^k p + (2^k - 1), which is p itself for k = 0 (|x| < 0.17): selected, so
       that no regrouping into (2^k p + 2^k) - 1 can cancel the small values away */
    const double t = k == 0.0 ? p : FNN_FMA(s, p, s - 1.0);
    return copysign(-t / (2.0 + t), x);
}

/* ---- float32: the same, with a degree-4 q and ln2 in two float parts ------------------- */
static inline float fnn_expm1_polyf(float r) {
    const float r2 = r * r;
    const float q01 = FNN_FMAF(r, 0.16666576989698775f, 0.5f);
    const float q23 = FNN_FMAF(r, 0.008363179052722578f, 0.041666554617204574f);
    const float q = FNN_FMAF(r2, FNN_FMAF(r2, 0.0013926183587713494f, q23), q01);
    return FNN_FMAF(r2, q, r);
}

static inline float fnn_reducef(float x, float k) {
    return FNN_FMAF(-k, 9.0580006145e-06f, FNN_KEEP(FNN_FMAF(-k, 6.9313812256e-01f, x)));
}

static inline float fnn_expf(float x) {
    x = x < -104.0f ? -104.0f : x;
    x = x > 89.0f ? 89.0f : x;
    const float k = rintf(x * 1.4426950216e+00f);
    const int ki = (int)k, k1 = ki >> 1;
    const float p = fnn_expm1_polyf(fnn_reducef(x, k));
    return ((1.0f + p) * fnn_pow2f(k1)) * fnn_pow2f(ki - k1);
}

static inline float fnn_tanhf(float x) {
    float a = fabsf(x);
    a = a > 10.0f ? 10.0f : a; /* tanhf rounds to 1 from 9.01 */
    const float y = -2.0f * a;
    const float k = rintf(y * 1.4426950216e+00f);
    const float s = fnn_pow2f((int)k), p = fnn_expm1_polyf(fnn_reducef(y, k));
    const float t = k == 0.0f ? p : FNN_FMAF(s, p, s - 1.0f);
    return copysignf(-t / (2.0f + t), x);
}

/* ---- the update, never reassociated ------------------------------------------------------
 * P[i] - lr * G[i] for i < n, written back when `apply`; returns how many new values are
 * not finite.  (Counted by comparisons: the `sum(v * 0)` idiom does not survive gcc's
 * -fno-signed-zeros at -O3, which drops it from vectorized loops.) */
#if defined(__GNUC__) && !defined(__clang__)
#define FNN_EXACT __attribute__((noinline, optimize("no-associative-math")))
#else
#define FNN_EXACT __attribute__((noinline))
#endif

static FNN_EXACT double fnn_sgd(double* P, const double* G, ptrdiff_t n, double lr, int apply) {
    double bad = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const double p = P[i] - lr * G[i];
        bad += fabs(p) <= DBL_MAX ? 0.0 : 1.0;
        if (apply) P[i] = p;
    }
    return bad;
}

static FNN_EXACT double fnn_sgdf(float* P, const float* G, ptrdiff_t n, float lr, int apply) {
    double bad = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float p = P[i] - lr * G[i];
        bad += fabsf(p) <= FLT_MAX ? 0.0 : 1.0;
        if (apply) P[i] = p;
    }
    return bad;
}

/* ---- build record ---------------------------------------------------------------------- */
#ifndef FASTNN_CFLAGS
#define FASTNN_CFLAGS "unknown (not built by fastnn's setup.py)"
#endif
#ifndef FASTNN_OPENMP
#define FASTNN_OPENMP 0
#endif
#ifndef FASTNN_DEBUG
#define FASTNN_DEBUG 0
#endif
#ifndef FASTNN_CYTHON_VERSION
#define FASTNN_CYTHON_VERSION "unknown"
#endif

#if defined(__AVX512F__)
#define FASTNN_SIMD "AVX-512"
#elif defined(__AVX2__)
#define FASTNN_SIMD "AVX2"
#elif defined(__AVX__)
#define FASTNN_SIMD "AVX"
#elif defined(__SSE4_2__)
#define FASTNN_SIMD "SSE4.2"
#elif defined(__SSE2__)
#define FASTNN_SIMD "SSE2"
#elif defined(__ARM_FEATURE_SVE)
#define FASTNN_SIMD "SVE"
#elif defined(__ARM_NEON)
#define FASTNN_SIMD "NEON"
#else
#define FASTNN_SIMD "none"
#endif

#if defined(__clang__)
#define FASTNN_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FASTNN_COMPILER "gcc " __VERSION__
#else
#define FASTNN_COMPILER "unknown"
#endif

/* ---- OpenMP, or its absence ------------------------------------------------------------ */
#if FASTNN_OPENMP && defined(_OPENMP)
#include <omp.h>
static inline int fastnn_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int fastnn_max_threads(void) { return 1; }
#endif

#endif /* FASTNN_MATH_H */
