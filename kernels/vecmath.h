/* vecmath.h -- what the Cython kernels of fastnn need from C, in one small header.
 *
 * 1. Vector math without -ffast-math.  glibc declares its vector math library (libmvec:
 *    _ZGVeN8v_exp and friends, 8 doubles per call on AVX-512) only under __FAST_MATH__,
 *    and -ffast-math is not allowed in fastnn: it assumes no NaN/inf and breaks the NaN
 *    checks.  So the functions the kernels use are declared again here with
 *    `#pragma omp declare simd notinbranch`; compiled with -O3 -fno-math-errno
 *    -fno-trapping-math -fopenmp-simd, gcc then vectorizes loops calling them into calls
 *    of libmvec's vector variants (check: objdump -d _cykernels*.so | grep _ZGV).
 *    libmvec has exp/expm1/log1p/log/tanh (double and float) on x86-64 since glibc 2.35;
 *    elsewhere (other compilers, other C libraries, aarch64) the plain scalar functions
 *    are used and the kernels stay correct, only slower.
 *
 * 2. The build record: FASTNN_CFLAGS / FASTNN_OPENMP / FASTNN_DEBUG come from setup.py
 *    (defaults below for a hand-made build); FASTNN_SIMD, FASTNN_COMPILER from the
 *    compiler's predefined macros.
 *
 * 3. OpenMP queries that also compile without OpenMP, and a 64-byte aligned scratch
 *    buffer type for the kernels' small per-call workspaces (on the C stack).
 */
#ifndef FASTNN_VECMATH_H
#define FASTNN_VECMATH_H

#include <math.h>
#include <string.h>
#include <float.h>
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && !defined(__FAST_MATH__)
#define FASTNN_LIBMVEC 1
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double expm1(double);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
double log(double);
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float expm1f(float);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
float logf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#else
#define FASTNN_LIBMVEC 0
#endif

/* ---- tanh for doubles, arithmetic only, inlined --------------------------------------
 * tanh|x| = -t / (2 + t) with t = expm1(-2|x|) in (-1, 0] (no cancellation near 0), |x|
 * capped at 20 where tanh rounds to 1; expm1 by k = rint(y / ln2), r = y - k ln2
 * (Cody-Waite: ln2 in two parts) and e^r - 1 = r + r^2 q(r), q the Chebyshev fit of the
 * numba backend (fastnn/_backends/_numba_math.py), t = 2^k p + (2^k - 1).  Written with
 * fma() and rint(): the build's -fassociative-math cannot regroup them, and gcc inlines and
 * vectorizes the whole function into the caller's loop (rint -> vrndscalepd, the integer
 * conversion -> vcvtpd2qq on AVX-512), instead of a libmvec expm1 call per 8 doubles
 * (which was 23% of a planar nn_model fit: perf).  NaN stays NaN; tanh(+-inf) = +-1. */
static inline double fnn_tanh(double x) {
    double a = fabs(x);
    a = a > 20.0 ? 20.0 : a;                     /* a comparison: NaN goes through */
    const double y = -2.0 * a;                    /* in [-40, 0]: 2^k is a normal number */
    const double k = rint(y * 1.44269504088896338700e00);
    double r = fma(-k, 6.93147180369123816490e-01, y);
    r = fma(-k, 1.90821492927058770002e-10, r);
    double q = fma(r, 2.510038549551032e-08, 2.7620088445409746e-07);
    q = fma(r, q, 2.7557268459997064e-06);
    q = fma(r, q, 2.4801521295954376e-05);
    q = fma(r, q, 0.00019841269863053618);
    q = fma(r, q, 0.0013888888917213717);
    q = fma(r, q, 0.008333333333330062);
    q = fma(r, q, 0.04166666666662413);
    q = fma(r, q, 0.16666666666666669);
    q = fma(r, q, 0.5000000000000001);
    const double p = fma(r * r, q, r);
    const long long bits = ((long long)k + 1023) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    const double t = fma(s, p, s - 1.0);
    return copysign(-t / (2.0 + t), x);
}

/* ---- tanh for floats, the same way -------------------------------------------------
 * As fnn_tanh in float: |x| capped at 10 (tanhf rounds to 1 from 9.01), the degree-4 q of
 * the numba backend's float32 expm1 (fastnn/_backends/_numba_math.py), ln2 in two float
 * parts.  Inlined and vectorized in the caller's loop, 16 floats per AVX-512 vector,
 * instead of a libmvec tanhf call per vector. */
static inline float fnn_tanhf(float x) {
    float a = fabsf(x);
    a = a > 10.0f ? 10.0f : a;                   /* a comparison: NaN goes through */
    const float y = -2.0f * a;                    /* in [-20, 0] */
    const float k = rintf(y * 1.4426950216e+00f);
    float r = fmaf(-k, 6.9313812256e-01f, y);
    r = fmaf(-k, 9.0580006145e-06f, r);
    float q = fmaf(r, 0.0013926183587713494f, 0.008363179052722578f);
    q = fmaf(r, q, 0.041666554617204574f);
    q = fmaf(r, q, 0.16666576989698775f);
    q = fmaf(r, q, 0.5f);
    const float p = fmaf(r * r, q, r);
    const int bits = ((int)k + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    const float t = fmaf(s, p, s - 1.0f);
    return copysignf(-t / (2.0f + t), x);
}

/* ---- build record ------------------------------------------------------------------ */
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

/* ---- OpenMP, or its absence --------------------------------------------------------- */
#if FASTNN_OPENMP && defined(_OPENMP)
#include <omp.h>
static inline int fastnn_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int fastnn_max_threads(void) { return 1; }
#endif

/* ---- is there a free core?  Threads only pay off when the other cores are idle --------
 * On a shared machine, a fork/join region whose worker shares a core with another busy
 * thread waits for it: a second thread pool still spinning after its last call (NumPy's
 * OpenBLAS spins ~0.1 s) made a two-thread logistic-regression step up to 2.9x slower than on
 * one thread.  The kernels split their work only while a core is idle for their second
 * thread: the runnable tasks in /proc/loadavg, less the kernels' own runnable threads
 * (the caller and the OpenMP pool's workers, which spin a little after each region and
 * are the very threads the next region uses), are fewer than the online CPUs minus the
 * caller.  (Counting the own pool too, the check said "busy" after nearly every call.)
 * It is looked at every 100 ms at most (a coarse clock read otherwise: ~20 ns; the look
 * itself some 30 us), and only by calls big enough to use threads at all; where /proc
 * cannot be read, threads are allowed. */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Whether thread `tid` of this process is runnable (state R in its /proc stat). */
static inline int fastnn_is_running(long tid) {
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE* f = fopen(path, "r");
    if (f == NULL) return 0;  /* the thread has ended */
    size_t len = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[len] = 0;
    const char* end = strrchr(stat, ')');  /* the name may hold spaces */
    return end != NULL && end[1] == ' ' && end[2] == 'R';
}

/* The kernels' own runnable threads: the caller and the OpenMP pool's workers (their ids
   taken by one parallel region of the team the kernel is about to use). */
static inline int fastnn_own_running(int team) {
    enum { MAX_TEAM = 64 };
    long tids[MAX_TEAM] = {0};
    tids[0] = syscall(SYS_gettid);
    team = team < 1 ? 1 : (team < MAX_TEAM ? team : MAX_TEAM);
#if FASTNN_OPENMP && defined(_OPENMP)
    #pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num();
        if (t > 0 && t < MAX_TEAM) tids[t] = syscall(SYS_gettid);
    }
#endif
    int running = 0;
    for (int i = 0; i < team; i++)
        if (tids[i] != 0) running += fastnn_is_running(tids[i]);
    return running > 1 ? running : 1;
}

/* Whether a core is idle for the second thread of a kernel about to run on `team` threads
   (see above; the Python twin is fastnn._threads.cores_free). */
static inline int fastnn_cores_free(int team) {
    static long long next_check_ns = 0;
    static int free_cores = 1;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    long long now = (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
    if (now >= __atomic_load_n(&next_check_ns, __ATOMIC_RELAXED)) {
        __atomic_store_n(&next_check_ns, now + 100000000LL, __ATOMIC_RELAXED);
        int ok = 1, running = 0;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int own = fastnn_own_running(team);  /* first: the pool is awake for both looks */
        FILE* f = fopen("/proc/loadavg", "r");
        if (f != NULL) {
            if (fscanf(f, "%*f %*f %*f %d/", &running) == 1 && cpus > 0)
                ok = running - own + 1 < cpus;
            fclose(f);
        }
        __atomic_store_n(&free_cores, ok, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&free_cores, __ATOMIC_RELAXED);
}

/* ---- a small, aligned scratch buffer for the C stack ------------------------------- */
#define FASTNN_STACK_DOUBLES 2048   /* 16 KiB: safe on any thread's stack */
typedef struct {
    double d[FASTNN_STACK_DOUBLES];
} __attribute__((aligned(64))) fastnn_stack_t;

#endif /* FASTNN_VECMATH_H */
