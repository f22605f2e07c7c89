/* mfcore/bpr.h: BPR's random numbers and SGD step (mfcore._bpr).

   xoshiro256** seeded through splitmix64, with the 2**128 jump for per-chunk
   streams and Lemire's multiply-shift for bounded integers; the dot product and
   the three row updates of one step. Prefetch helpers come from simd.h. */
#ifndef MFCORE_BPR_H
#define MFCORE_BPR_H

#include "mfcore/simd.h"


typedef struct { uint64_t s[4]; } mfc_xoshiro256;

static inline uint64_t mfc_rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* splitmix64: used only to expand the user seed into a full state. */
static inline uint64_t mfc_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* xoshiro256**: next 64-bit output. */
static inline uint64_t mfc_xoshiro_next(mfc_xoshiro256 *g) {
    uint64_t *s = g->s;
    const uint64_t result = mfc_rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mfc_rotl64(s[3], 45);
    return result;
}

/* Advance by 2**128 steps (the published jump polynomial of xoshiro256). */
static void mfc_xoshiro_jump(mfc_xoshiro256 *g) {
    static const uint64_t JUMP[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                     0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    int i, b;
    for (i = 0; i < 4; i++) {
        for (b = 0; b < 64; b++) {
            if (JUMP[i] & ((uint64_t)1 << b)) {
                t0 ^= g->s[0]; t1 ^= g->s[1]; t2 ^= g->s[2]; t3 ^= g->s[3];
            }
            mfc_xoshiro_next(g);
        }
    }
    g->s[0] = t0; g->s[1] = t1; g->s[2] = t2; g->s[3] = t3;
}

/* State for work chunk `chunk` of a run seeded with `seed`. */
static void mfc_xoshiro_seed(mfc_xoshiro256 *g, uint64_t seed, int64_t chunk) {
    uint64_t x = seed;
    int64_t c;
    g->s[0] = mfc_splitmix64(&x);
    g->s[1] = mfc_splitmix64(&x);
    g->s[2] = mfc_splitmix64(&x);
    g->s[3] = mfc_splitmix64(&x);
    for (c = 0; c < chunk; c++) mfc_xoshiro_jump(g);
}

/* Uniform integer in [0, n) (n >= 1): high 64 bits of draw * n.
   Python: (next64() * n) >> 64 */
static inline uint64_t mfc_bounded(mfc_xoshiro256 *g, uint64_t n) {
    uint64_t r = mfc_xoshiro_next(g);
#if defined(__SIZEOF_INT128__) && !defined(MFC_PORTABLE)
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
#else
    uint64_t r_lo = r & 0xFFFFFFFFULL, r_hi = r >> 32;
    uint64_t n_lo = n & 0xFFFFFFFFULL, n_hi = n >> 32;
    uint64_t lo_lo = r_lo * n_lo, hi_lo = r_hi * n_lo;
    uint64_t lo_hi = r_lo * n_hi, hi_hi = r_hi * n_hi;
    uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFULL) + lo_hi;
    return hi_hi + (hi_lo >> 32) + (cross >> 32);
#endif
}

/* The dot product and the update, written once as macros and built twice
   (simd.h's dispatch): S##_l1 for levels >= 1 (target "fma", which brings AVX's
   32-byte vectors) and S##_l0 for the baseline; `omp simd` lets the compiler
   vectorise the reduction without -ffast-math (ignored when OpenMP is off). */
#define MFC_BPR_BUILD(T, L, TGT)                                                     \
/* x = u . (vi - vj).  NumPy: u[:n] @ (vi[:n] - vj[:n]) */                           \
static TGT T mfc_##T##_dotdiff_##L(const T *u, const T *vi, const T *vj, int n) {    \
    T s = 0;                                                                         \
    int k;                                                                           \
    _Pragma("omp simd reduction(+:s)")                                               \
    for (k = 0; k < n; k++) s += u[k] * (vi[k] - vj[k]);                             \
    return s;                                                                        \
}                                                                                    \
/* The three vector updates of one BPR step (rows are distinct), all from the old    \
   values.  NumPy: u, vi, vj = (u + lr * (z * (vi - vj) - ru * u),                   \
                                vi + lr * (z * u - ri * vi), vj + lr * (-z * u - ri * vj)) */ \
static TGT void mfc_##T##_update_##L(T *restrict u, T *restrict vi, T *restrict vj,  \
                                     int n, T lr, T z, T ru, T ri) {                 \
    int k;                                                                           \
    _Pragma("omp simd")                                                              \
    for (k = 0; k < n; k++) {                                                        \
        T uk = u[k], vik = vi[k], vjk = vj[k];                                       \
        u[k] = uk + lr * (z * (vik - vjk) - ru * uk);                                \
        vi[k] = vik + lr * (z * uk - ri * vik);                                      \
        vj[k] = vjk + lr * (-z * uk - ri * vjk);                                     \
    }                                                                                \
}                                                                                    \
/* The same step with a prior on the item vectors: each is pulled toward its row    \
   of C (the genre centroid) with weight tc, on top of the pull ri toward 0.        \
   NumPy: as above with vi += lr * tc * ci and vj += lr * tc * cj inside the step */ \
static TGT void mfc_##T##_update_prior_##L(T *restrict u, T *restrict vi,            \
                                           T *restrict vj, const T *restrict ci,     \
                                           const T *restrict cj, int n, T lr, T z,   \
                                           T ru, T ri, T tc) {                       \
    int k;                                                                           \
    _Pragma("omp simd")                                                              \
    for (k = 0; k < n; k++) {                                                        \
        T uk = u[k], vik = vi[k], vjk = vj[k];                                       \
        u[k] = uk + lr * (z * (vik - vjk) - ru * uk);                                \
        vi[k] = vik + lr * (z * uk - ri * vik + tc * ci[k]);                         \
        vj[k] = vjk + lr * (-z * uk - ri * vjk + tc * cj[k]);                        \
    }                                                                                \
}
MFC_BPR_BUILD(float, l0, )
MFC_BPR_BUILD(double, l0, )
#if MFC_X86
MFC_BPR_BUILD(float, l1, MFC_TARGET_FMA)
MFC_BPR_BUILD(double, l1, MFC_TARGET_FMA)
#else
#define mfc_float_dotdiff_l1 mfc_float_dotdiff_l0
#define mfc_double_dotdiff_l1 mfc_double_dotdiff_l0
#define mfc_float_update_l1 mfc_float_update_l0
#define mfc_double_update_l1 mfc_double_update_l0
#define mfc_float_update_prior_l1 mfc_float_update_prior_l0
#define mfc_double_update_prior_l1 mfc_double_update_prior_l0
#endif

/* Which build of the step functions above runs: 1 (the _l1 build, levels >= AVX2)
   or 0 (the _l0 baseline build). The kernels read it once per call or per thread's
   chunk and branch on that local, not on mfc_level() inside the sample loop. */
static inline int mfc_bpr_build(void) {
#if MFC_X86
    return mfc_level() >= MFC_LEVEL_AVX2;
#else
    return 0;
#endif
}

#endif /* MFCORE_BPR_H */
