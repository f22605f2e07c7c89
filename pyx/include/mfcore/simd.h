/* mfcore/simd.h: what every kernel header shares.

   Compiler detection and the CPU-dispatch attributes, GCC/clang vector types,
   the prefetch helpers (one family: mfc_prefetch, mfc_prefetch_l2,
   mfc_prefetch_range) and the horizontal sums (one family: mfc_hsum_float /
   mfc_hsum_double for one 64-byte vector, mfc_<f|d>_hsum4_<bytes> for four
   vectors at once). All names carry the prefix mfc_ / MFC_. */
#ifndef MFCORE_SIMD_H
#define MFCORE_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* MFC_PORTABLE: the plain-C kernels (no GCC vector extensions, attributes or builtins;
   any C99 compiler). Chosen automatically for compilers other than GCC/clang, or with
   -DMFC_PORTABLE (setup.py: MFCORE_PORTABLE=1, which CI builds and tests). */
#if !defined(__GNUC__) && !defined(__clang__) && !defined(MFC_PORTABLE)
#define MFC_PORTABLE 1
#endif

#ifdef MFC_PORTABLE
#define MFC_INLINE static inline
#else
#define MFC_INLINE static inline __attribute__((always_inline))
#endif

/* ------------------------------------------------------------ CPU dispatch
   One scheme for every kernel: each hot function is compiled for up to three
   instruction-set levels inside the one extension (itself compiled for the
   baseline ISA, no -march), and a run-time switch on mfc_level() calls the build
   for this CPU:
       MFC_LEVEL_AVX512 = 2   AVX-512 F/VL/BW/DQ (64-byte vectors, 32 registers)
       MFC_LEVEL_AVX2   = 1   AVX2 + FMA
       MFC_LEVEL_BASE   = 0   the baseline (SSE2 on x86-64; every other CPU)
   The CPU's level comes from __builtin_cpu_supports (libgcc's check includes the
   OS support for the AVX/AVX-512 register state), read once and cached.
   Why a run-time switch rather than target_clones: the level can be lowered at run
   time (MFCORE_SIMD=baseline|avx2|avx512 in the environment, or the modules'
   _simd_level(n) in tests), so CI exercises the baseline path on any machine; it
   needs no ifunc (glibc) and works alike with GCC and clang; and `mfcore info` can
   say which build each kernel runs. The cost is one predictable branch per call.
   Each kernel keeps the target strings it was tuned (and fingerprinted) with:
   the ALS kernels the x86-64-v3/v4 micro-architecture levels, the CG row kernels
   the bare feature lists, BPR's step the "fma" build for levels >= 1.
   Building with -DMFC_NO_DISPATCH (setup.py: MFCORE_SIMD_DISPATCH=0) compiles the
   baseline build only.
   Compilers: GCC >= 8 or clang >= 7 get the SIMD builds; any other C99 compiler
   (or -DMFC_PORTABLE) gets the plain-C path, one scalar build (level 0). */

#define MFC_LEVEL_BASE 0
#define MFC_LEVEL_AVX2 1
#define MFC_LEVEL_AVX512 2

#if defined(__x86_64__) && !defined(MFC_NO_DISPATCH) && !defined(MFC_PORTABLE)
#define MFC_X86 1
/* feature lists (CG row kernels) */
#define MFC_TARGET_V4 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define MFC_TARGET_V3 __attribute__((target("avx2,fma")))
/* micro-architecture levels (ALS kernels); GCC < 11 does not know their names */
#if defined(__clang__) || (__GNUC__ >= 11)
#define MFC_TARGET_ARCH_V4 __attribute__((target("arch=x86-64-v4")))
#define MFC_TARGET_ARCH_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define MFC_TARGET_ARCH_V4 MFC_TARGET_V4
#define MFC_TARGET_ARCH_V3 MFC_TARGET_V3
#endif
/* BPR's step */
#define MFC_TARGET_FMA __attribute__((target("fma")))
#else
#define MFC_X86 0
#endif

/* How this extension was built: 0 = SIMD builds with run-time dispatch, 1 = the
   baseline SIMD build only (MFC_NO_DISPATCH), 2 = the portable plain-C kernels. */
#if defined(MFC_PORTABLE)
#define MFC_BUILD_KIND 2
#elif MFC_X86 || !defined(MFC_NO_DISPATCH)
#define MFC_BUILD_KIND 0
#else
#define MFC_BUILD_KIND 1
#endif
static int mfc_build_kind(void) { return MFC_BUILD_KIND; }

/* The level this CPU supports (not capped). */
static int mfc_cpu_level(void) {
#if MFC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return MFC_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return MFC_LEVEL_AVX2;
#endif
    return MFC_LEVEL_BASE;
}

/* Per extension module: the cap on the level (set from MFCORE_SIMD at import and by
   the testing hook _simd_level) and the level in use (-1: not yet computed). */
static int mfc_level_cap = MFC_LEVEL_AVX512;
static int mfc_level_now = -1;

/* The level the kernels run: min(CPU level, cap). */
static inline int mfc_level(void) {
    if (mfc_level_now < 0) {
        int l = mfc_cpu_level();
        mfc_level_now = l < mfc_level_cap ? l : mfc_level_cap;
    }
    return mfc_level_now;
}

/* Cap the level (cap < 0: no cap); returns the level used from now on. Not to be
   called while a kernel runs. */
static int mfc_set_level_cap(int cap) {
    mfc_level_cap = cap < 0 || cap > MFC_LEVEL_AVX512 ? MFC_LEVEL_AVX512 : cap;
    mfc_level_now = -1;
    return mfc_level();
}

/* Call the build of NAME for the current level: NAME##_l2, _l1 or _l0. */
#if MFC_X86
#define MFC_DISPATCH3(NAME, ...)                                                 \
    (mfc_level() >= MFC_LEVEL_AVX512 ? NAME##_l2(__VA_ARGS__)                        \
     : mfc_level() == MFC_LEVEL_AVX2 ? NAME##_l1(__VA_ARGS__) : NAME##_l0(__VA_ARGS__))
#else
#define MFC_DISPATCH3(NAME, ...) NAME##_l0(__VA_ARGS__)
#endif

/* ------------------------------------------------------------ prefetch */
#ifndef MFC_PORTABLE
/* Hint: the 64-byte line holding p into every cache level (L1). */
#define mfc_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)
/* Hint: the line holding p into L2 (and outer levels) only. */
#define mfc_prefetch_l2(p) __builtin_prefetch((const void *)(p), 0, 2)
#else
#define mfc_prefetch(p) ((void)(p))
#define mfc_prefetch_l2(p) ((void)(p))
#endif

/* Prefetch every 64-byte line of the `bytes` bytes at p (into L1). */
MFC_INLINE void mfc_prefetch_range(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + bytes;
    for (; a < end; a += 64) mfc_prefetch((const void *)a);
}

#ifndef MFC_PORTABLE  /* vector types and sums: GCC/clang only */
/* ------------------------------------------------------------ vector types */
/* GCC/clang vector types of 64, 32 and 16 bytes, with unaligned (and
   aliasing) views of memory: mfc_ials_f_* for float, mfc_ials_d_* for
   double. */
#define MFC_VECTYPES(TP, T)                                                          \
typedef T TP##_v64 __attribute__((vector_size(64)));                                 \
typedef T TP##_v32 __attribute__((vector_size(32)));                                 \
typedef T TP##_v16 __attribute__((vector_size(16)));                                 \
typedef T TP##_u64 __attribute__((vector_size(64), aligned(sizeof(T)), may_alias));  \
typedef T TP##_u32 __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));  \
typedef T TP##_u16 __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
MFC_VECTYPES(mfc_f, float)
MFC_VECTYPES(mfc_d, double)

/* ------------------------------------------------------------ horizontal sums */
/* mfc_hsum_float / mfc_hsum_double: the sum of the lanes of one 64-byte vector
   by halving (64 -> 32 -> 16 bytes, then the 16-byte lanes in a fixed tree):
   NumPy: float(v.sum()) with the summation order fixed by the tree. */
typedef float mfc_v16f __attribute__((vector_size(64), aligned(4)));
typedef float mfc_v8f __attribute__((vector_size(32), aligned(4)));
typedef float mfc_v4f __attribute__((vector_size(16), aligned(4)));
typedef double mfc_v8d __attribute__((vector_size(64), aligned(8)));
typedef double mfc_v4d __attribute__((vector_size(32), aligned(8)));
typedef double mfc_v2d __attribute__((vector_size(16), aligned(8)));
static inline float mfc_hsum_float(const mfc_v16f *pv) {
    mfc_v16f v = *pv;
    mfc_v8f a, b; mfc_v4f c, d;
    memcpy(&a, &v, 32); memcpy(&b, (char *)&v + 32, 32); a += b;
    memcpy(&c, &a, 16); memcpy(&d, (char *)&a + 16, 16); c += d;
    return (c[0] + c[2]) + (c[1] + c[3]);
}
static inline double mfc_hsum_double(const mfc_v8d *pv) {
    mfc_v8d v = *pv;
    mfc_v4d a, b; mfc_v2d c, d;
    memcpy(&a, &v, 32); memcpy(&b, (char *)&v + 32, 32); a += b;
    memcpy(&c, &a, 16); memcpy(&d, (char *)&a + 16, 16); c += d;
    return c[0] + c[1];
}

/* Four horizontal sums at once, u[t] = sum of the lanes of vector s_t, by a
   transpose-and-add: pairs of vectors are halved and interleaved until each
   16-byte lane holds the partial sums of one vector, then the lanes are summed
   in place (far fewer shuffles than four separate sums). One version per
   vector width; the wide ones are only called from the AVX2/AVX-512 builds.
   NumPy: u[:4] = [a.sum(), b.sum(), c.sum(), d.sum()] (64-byte float: the same tree as
   mfc_hsum_float). */
#if defined(__clang__)
#define MFC_SHUF(a, b, IT, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define MFC_SHUF(a, b, IT, ...) __builtin_shuffle(a, b, (IT){__VA_ARGS__})
#endif
typedef int32_t mfc_i32x4 __attribute__((vector_size(16)));
typedef int64_t mfc_i64x2 __attribute__((vector_size(16)));
typedef int32_t mfc_i32x8 __attribute__((vector_size(32)));
typedef int64_t mfc_i64x4 __attribute__((vector_size(32)));
typedef int32_t mfc_i32x16 __attribute__((vector_size(64)));
typedef int64_t mfc_i64x8 __attribute__((vector_size(64)));

MFC_INLINE void mfc_f_hsum4_16(mfc_f_v16 a, mfc_f_v16 b,
                                              mfc_f_v16 c, mfc_f_v16 d,
                                              float *u) {
    /* ab = {a0+a2, b0+b2, a1+a3, b1+b3}, cd likewise */
    mfc_f_v16 ab = MFC_SHUF(a, b, mfc_i32x4, 0, 4, 1, 5)
                           + MFC_SHUF(a, b, mfc_i32x4, 2, 6, 3, 7);
    mfc_f_v16 cd = MFC_SHUF(c, d, mfc_i32x4, 0, 4, 1, 5)
                           + MFC_SHUF(c, d, mfc_i32x4, 2, 6, 3, 7);
    mfc_f_v16 s = MFC_SHUF(ab, cd, mfc_i32x4, 0, 1, 4, 5)
                          + MFC_SHUF(ab, cd, mfc_i32x4, 2, 3, 6, 7);
    memcpy(u, &s, sizeof(s));
}
MFC_INLINE void mfc_d_hsum4_16(mfc_d_v16 a, mfc_d_v16 b,
                                              mfc_d_v16 c, mfc_d_v16 d,
                                              double *u) {
    mfc_d_v16 ab = MFC_SHUF(a, b, mfc_i64x2, 0, 2)
                           + MFC_SHUF(a, b, mfc_i64x2, 1, 3);
    mfc_d_v16 cd = MFC_SHUF(c, d, mfc_i64x2, 0, 2)
                           + MFC_SHUF(c, d, mfc_i64x2, 1, 3);
    memcpy(u, &ab, sizeof(ab));
    memcpy(u + 2, &cd, sizeof(cd));
}
#if MFC_X86
MFC_INLINE MFC_TARGET_V3 void
mfc_f_hsum4_32(mfc_f_v32 a, mfc_f_v32 b, mfc_f_v32 c,
                      mfc_f_v32 d, float *u) {
    /* ab: 16-byte lane 0 = partial sums of a, lane 1 = of b; cd likewise */
    mfc_f_v32 ab = MFC_SHUF(a, b, mfc_i32x8, 0, 1, 2, 3, 8, 9, 10, 11)
                           + MFC_SHUF(a, b, mfc_i32x8, 4, 5, 6, 7, 12, 13, 14, 15);
    mfc_f_v32 cd = MFC_SHUF(c, d, mfc_i32x8, 0, 1, 2, 3, 8, 9, 10, 11)
                           + MFC_SHUF(c, d, mfc_i32x8, 4, 5, 6, 7, 12, 13, 14, 15);
    /* s = {a, a, c, c | b, b, d, d} (partial sums), then pairs added */
    mfc_f_v32 s = MFC_SHUF(ab, cd, mfc_i32x8, 0, 1, 8, 9, 4, 5, 12, 13)
                          + MFC_SHUF(ab, cd, mfc_i32x8, 2, 3, 10, 11, 6, 7, 14, 15);
    s += MFC_SHUF(s, s, mfc_i32x8, 1, 0, 3, 2, 5, 4, 7, 6);
    u[0] = s[0]; u[1] = s[4]; u[2] = s[2]; u[3] = s[6];
}
MFC_INLINE MFC_TARGET_V3 void
mfc_d_hsum4_32(mfc_d_v32 a, mfc_d_v32 b, mfc_d_v32 c,
                      mfc_d_v32 d, double *u) {
    mfc_d_v32 ab = MFC_SHUF(a, b, mfc_i64x4, 0, 1, 4, 5)
                           + MFC_SHUF(a, b, mfc_i64x4, 2, 3, 6, 7);
    mfc_d_v32 cd = MFC_SHUF(c, d, mfc_i64x4, 0, 1, 4, 5)
                           + MFC_SHUF(c, d, mfc_i64x4, 2, 3, 6, 7);
    /* s = {a, c | b, d} */
    mfc_d_v32 s = MFC_SHUF(ab, cd, mfc_i64x4, 0, 4, 2, 6)
                          + MFC_SHUF(ab, cd, mfc_i64x4, 1, 5, 3, 7);
    u[0] = s[0]; u[1] = s[2]; u[2] = s[1]; u[3] = s[3];
}
MFC_INLINE MFC_TARGET_V4 void
mfc_f_hsum4_64(mfc_f_v64 a, mfc_f_v64 b, mfc_f_v64 c,
                      mfc_f_v64 d, float *u) {
    /* ab: lanes 0-7 = partial sums of a, 8-15 = of b; cd likewise */
    mfc_f_v64 ab =
        MFC_SHUF(a, b, mfc_i32x16, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
        + MFC_SHUF(a, b, mfc_i32x16, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    mfc_f_v64 cd =
        MFC_SHUF(c, d, mfc_i32x16, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
        + MFC_SHUF(c, d, mfc_i32x16, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    /* s: 16-byte lane t = partial sums of vector t */
    mfc_f_v64 s =
        MFC_SHUF(ab, cd, mfc_i32x16, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
        + MFC_SHUF(ab, cd, mfc_i32x16, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    s += MFC_SHUF(s, s, mfc_i32x16, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    s += MFC_SHUF(s, s, mfc_i32x16, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    u[0] = s[0]; u[1] = s[4]; u[2] = s[8]; u[3] = s[12];
}
MFC_INLINE MFC_TARGET_V4 void
mfc_d_hsum4_64(mfc_d_v64 a, mfc_d_v64 b, mfc_d_v64 c,
                      mfc_d_v64 d, double *u) {
    mfc_d_v64 ab = MFC_SHUF(a, b, mfc_i64x8, 0, 1, 2, 3, 8, 9, 10, 11)
                           + MFC_SHUF(a, b, mfc_i64x8, 4, 5, 6, 7, 12, 13, 14, 15);
    mfc_d_v64 cd = MFC_SHUF(c, d, mfc_i64x8, 0, 1, 2, 3, 8, 9, 10, 11)
                           + MFC_SHUF(c, d, mfc_i64x8, 4, 5, 6, 7, 12, 13, 14, 15);
    mfc_d_v64 s = MFC_SHUF(ab, cd, mfc_i64x8, 0, 1, 4, 5, 8, 9, 12, 13)
                          + MFC_SHUF(ab, cd, mfc_i64x8, 2, 3, 6, 7, 10, 11, 14, 15);
    s += MFC_SHUF(s, s, mfc_i64x8, 1, 0, 3, 2, 5, 4, 7, 6);
    u[0] = s[0]; u[1] = s[2]; u[2] = s[4]; u[3] = s[6];
}
#endif
#endif /* !MFC_PORTABLE */

#endif /* MFCORE_SIMD_H */
