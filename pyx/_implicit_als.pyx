"""Implicit-feedback ALS half-sweep (Hu, Koren & Volinsky 2008).

One call updates every row x_u of ``factors`` with the other side Y fixed. For
row u with observed columns J (CSR entries) and confidence c_j = 1 + c'_j
(``confidence`` holds c'_j = c_j - 1, e.g. alpha * r_uj), preference p_j = 1 on
J and 0 elsewhere (confidence 1 off J):

    A_u x_u = b_u,   A_u = YtY + reg I + sum_{j in J} c'_j y_j y_j^T,
                     b_u = sum_{j in J} (1 + c'_j) y_j

(YtY = Y^T Y over all columns, computed once per half-sweep by the caller.)

Solvers
-------
0, Cholesky: A_u is formed explicitly (BLAS gemm on gathered blocks of Y_u)
   and solved with LAPACK potrf/potrs. A_u is filled completely (both
   triangles), so the 'U' passed to LAPACK reads the upper triangle of the
   column-major view, i.e. the lower triangle of our row-major storage; either
   choice gives the same result. Rows with no entries get x_u = 0 (the exact
   solution; no factorization needed). Each row is computed by one thread with
   the same operations in the same order, so the result is bit-identical for
   every ``num_threads`` (when BLAS itself runs single-threaded: wrap calls in
   threadpoolctl limits, as mfcore's models do).
1, conjugate gradient, warm-started from the current x_u, ``cg_steps``
   iterations, A_u applied without forming it:
       A_u p = YtY p + reg p + sum_j c'_j (y_j . p) y_j
   and r = b_u - A_u x_u. Stops early when r.r < 1e-20. Row-independent too, so
   also bit-identical across thread counts.

Cholesky accumulates A_u with gemm over gathered blocks of Y_u of at most 4 MiB.

The CG path calls no BLAS: one C routine solves a row (the residual pass, then
the CG steps), with its own loops for every operation. A pass over the row's
entries takes them four at a time: the four dot products y_j . v (one
transpose-and-add horizontal reduction for the four), their coefficients, then
one sweep out += sum of the four coef_j y_j while the rows are still in L1.
YtY p + reg p is a register-blocked loop over the rows of YtY. The first
(residual) pass reads the rows y_j in place, prefetching them 16 entries ahead,
and copies them on the way into a per-thread contiguous buffer (the "gather"),
which the later passes read; a Y_u larger than the buffer (32 MiB per thread)
is read in place by every pass. Gathered and in-place rows are
summed in the same order, so they give the same result. The loops use GCC/clang
vector extensions; on x86-64 they are compiled for AVX-512 (64-byte vectors),
AVX2+FMA (32-byte) and SSE2 (16-byte), and the build matching the CPU is
chosen at run time (``_cg_build``); K = 64 has its own copy with unrolled
loops.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t, int64_t, uintptr_t

cimport cython
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm
from scipy.linalg.cython_lapack cimport spotrf, dpotrf, spotrs, dpotrs

cdef enum:
    # Per-thread bytes for the gathered copy of a row's Y_u (CG; rows of Y_u
    # that do not fit are processed in place).
    GATHER_BYTES = 33554432
    # Per-thread bytes for each of the two Cholesky accumulation blocks.
    CHOL_BLOCK_BYTES = 4194304
    # Alignment (bytes) of every per-thread scratch array.
    ALIGN = 64


cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>

    #define MFCORE_IALS_INLINE static inline __attribute__((always_inline))
    /* On x86-64 the CG kernels are compiled three times, for AVX-512 (F, VL, BW,
       DQ; 64-byte vectors), AVX2+FMA (32-byte vectors) and the SSE2 baseline
       (16-byte vectors), each with the vector width its registers hold, and the
       build matching the CPU is chosen at run time (mfcore_ials_isa); the
       extension itself is compiled for the baseline, so no -march is needed.
       Elsewhere only the 16-byte build exists. */
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #define MFCORE_IALS_X86 1
    #define MFCORE_IALS_TARGET_V4 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
    #define MFCORE_IALS_TARGET_V3 __attribute__((target("avx2,fma")))
    #else
    #define MFCORE_IALS_X86 0
    #endif
    /* How many entries ahead the rows of Y are prefetched when read in place. */
    #ifndef MFCORE_IALS_PREFETCH_AHEAD
    #define MFCORE_IALS_PREFETCH_AHEAD 16
    #endif

    /* Which build of the kernels this CPU runs: 2 = AVX-512, 1 = AVX2+FMA,
       0 = baseline. (libgcc's CPU check includes the OS support for the
       AVX/AVX-512 register state.) */
    static int mfcore_ials_isa(void) {
    #if MFCORE_IALS_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
            return 2;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return 1;
    #endif
        return 0;
    }

    /* Prefetch every 64-byte line of the `bytes` bytes at p. */
    MFCORE_IALS_INLINE void mfcore_ials_prefetch(const void *p, size_t bytes) {
        uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + bytes;
        for (; a < end; a += 64) __builtin_prefetch((const void *)a);
    }

    /* GCC/clang vector types of 64, 32 and 16 bytes, with unaligned (and
       aliasing) views of memory: mfcore_ials_f_* for float, mfcore_ials_d_* for
       double. */
    #define MFCORE_IALS_VECTYPES(TP, T)                                                \
    typedef T TP##_v64 __attribute__((vector_size(64)));                               \
    typedef T TP##_v32 __attribute__((vector_size(32)));                               \
    typedef T TP##_v16 __attribute__((vector_size(16)));                               \
    typedef T TP##_u64 __attribute__((vector_size(64), aligned(sizeof(T)), may_alias));\
    typedef T TP##_u32 __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));\
    typedef T TP##_u16 __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
    MFCORE_IALS_VECTYPES(mfcore_ials_f, float)
    MFCORE_IALS_VECTYPES(mfcore_ials_d, double)

    /* Four horizontal sums at once, u[t] = sum of the lanes of vector s_t, by a
       transpose-and-add: pairs of vectors are halved and interleaved until each
       16-byte lane holds the partial sums of one vector, then the lanes are summed
       in place (far fewer shuffles than four separate sums). One version per
       vector width; the wide ones are only called from the AVX2/AVX-512 builds. */
    #if defined(__clang__)
    #define MFCORE_IALS_SHUF(a, b, IT, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
    #else
    #define MFCORE_IALS_SHUF(a, b, IT, ...) __builtin_shuffle(a, b, (IT){__VA_ARGS__})
    #endif
    typedef int32_t mfcore_ials_i32x4 __attribute__((vector_size(16)));
    typedef int64_t mfcore_ials_i64x2 __attribute__((vector_size(16)));
    typedef int32_t mfcore_ials_i32x8 __attribute__((vector_size(32)));
    typedef int64_t mfcore_ials_i64x4 __attribute__((vector_size(32)));
    typedef int32_t mfcore_ials_i32x16 __attribute__((vector_size(64)));
    typedef int64_t mfcore_ials_i64x8 __attribute__((vector_size(64)));

    MFCORE_IALS_INLINE void mfcore_ials_f_red4_16(mfcore_ials_f_v16 a, mfcore_ials_f_v16 b,
                                                  mfcore_ials_f_v16 c, mfcore_ials_f_v16 d,
                                                  float *u) {
        /* ab = {a0+a2, b0+b2, a1+a3, b1+b3}, cd likewise */
        mfcore_ials_f_v16 ab = MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x4, 0, 4, 1, 5)
                               + MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x4, 2, 6, 3, 7);
        mfcore_ials_f_v16 cd = MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x4, 0, 4, 1, 5)
                               + MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x4, 2, 6, 3, 7);
        mfcore_ials_f_v16 s = MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x4, 0, 1, 4, 5)
                              + MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x4, 2, 3, 6, 7);
        memcpy(u, &s, sizeof(s));
    }
    MFCORE_IALS_INLINE void mfcore_ials_d_red4_16(mfcore_ials_d_v16 a, mfcore_ials_d_v16 b,
                                                  mfcore_ials_d_v16 c, mfcore_ials_d_v16 d,
                                                  double *u) {
        mfcore_ials_d_v16 ab = MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x2, 0, 2)
                               + MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x2, 1, 3);
        mfcore_ials_d_v16 cd = MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x2, 0, 2)
                               + MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x2, 1, 3);
        memcpy(u, &ab, sizeof(ab));
        memcpy(u + 2, &cd, sizeof(cd));
    }
    #if MFCORE_IALS_X86
    MFCORE_IALS_INLINE MFCORE_IALS_TARGET_V3 void
    mfcore_ials_f_red4_32(mfcore_ials_f_v32 a, mfcore_ials_f_v32 b, mfcore_ials_f_v32 c,
                          mfcore_ials_f_v32 d, float *u) {
        /* ab: 16-byte lane 0 = partial sums of a, lane 1 = of b; cd likewise */
        mfcore_ials_f_v32 ab = MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x8, 0, 1, 2, 3, 8, 9, 10, 11)
                               + MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x8, 4, 5, 6, 7, 12, 13, 14, 15);
        mfcore_ials_f_v32 cd = MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x8, 0, 1, 2, 3, 8, 9, 10, 11)
                               + MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x8, 4, 5, 6, 7, 12, 13, 14, 15);
        /* s = {a, a, c, c | b, b, d, d} (partial sums), then pairs added */
        mfcore_ials_f_v32 s = MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x8, 0, 1, 8, 9, 4, 5, 12, 13)
                              + MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x8, 2, 3, 10, 11, 6, 7, 14, 15);
        s += MFCORE_IALS_SHUF(s, s, mfcore_ials_i32x8, 1, 0, 3, 2, 5, 4, 7, 6);
        u[0] = s[0]; u[1] = s[4]; u[2] = s[2]; u[3] = s[6];
    }
    MFCORE_IALS_INLINE MFCORE_IALS_TARGET_V3 void
    mfcore_ials_d_red4_32(mfcore_ials_d_v32 a, mfcore_ials_d_v32 b, mfcore_ials_d_v32 c,
                          mfcore_ials_d_v32 d, double *u) {
        mfcore_ials_d_v32 ab = MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x4, 0, 1, 4, 5)
                               + MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x4, 2, 3, 6, 7);
        mfcore_ials_d_v32 cd = MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x4, 0, 1, 4, 5)
                               + MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x4, 2, 3, 6, 7);
        /* s = {a, c | b, d} */
        mfcore_ials_d_v32 s = MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i64x4, 0, 4, 2, 6)
                              + MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i64x4, 1, 5, 3, 7);
        u[0] = s[0]; u[1] = s[2]; u[2] = s[1]; u[3] = s[3];
    }
    MFCORE_IALS_INLINE MFCORE_IALS_TARGET_V4 void
    mfcore_ials_f_red4_64(mfcore_ials_f_v64 a, mfcore_ials_f_v64 b, mfcore_ials_f_v64 c,
                          mfcore_ials_f_v64 d, float *u) {
        /* ab: lanes 0-7 = partial sums of a, 8-15 = of b; cd likewise */
        mfcore_ials_f_v64 ab =
            MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x16, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
            + MFCORE_IALS_SHUF(a, b, mfcore_ials_i32x16, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        mfcore_ials_f_v64 cd =
            MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x16, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
            + MFCORE_IALS_SHUF(c, d, mfcore_ials_i32x16, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        /* s: 16-byte lane t = partial sums of vector t */
        mfcore_ials_f_v64 s =
            MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x16, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
            + MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i32x16, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        s += MFCORE_IALS_SHUF(s, s, mfcore_ials_i32x16, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
        s += MFCORE_IALS_SHUF(s, s, mfcore_ials_i32x16, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
        u[0] = s[0]; u[1] = s[4]; u[2] = s[8]; u[3] = s[12];
    }
    MFCORE_IALS_INLINE MFCORE_IALS_TARGET_V4 void
    mfcore_ials_d_red4_64(mfcore_ials_d_v64 a, mfcore_ials_d_v64 b, mfcore_ials_d_v64 c,
                          mfcore_ials_d_v64 d, double *u) {
        mfcore_ials_d_v64 ab = MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x8, 0, 1, 2, 3, 8, 9, 10, 11)
                               + MFCORE_IALS_SHUF(a, b, mfcore_ials_i64x8, 4, 5, 6, 7, 12, 13, 14, 15);
        mfcore_ials_d_v64 cd = MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x8, 0, 1, 2, 3, 8, 9, 10, 11)
                               + MFCORE_IALS_SHUF(c, d, mfcore_ials_i64x8, 4, 5, 6, 7, 12, 13, 14, 15);
        mfcore_ials_d_v64 s = MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i64x8, 0, 1, 4, 5, 8, 9, 12, 13)
                              + MFCORE_IALS_SHUF(ab, cd, mfcore_ials_i64x8, 2, 3, 6, 7, 10, 11, 14, 15);
        s += MFCORE_IALS_SHUF(s, s, mfcore_ials_i64x8, 1, 0, 3, 2, 5, 4, 7, 6);
        u[0] = s[0]; u[1] = s[2]; u[2] = s[4]; u[3] = s[6];
    }
    #endif

    /* The CG kernels, written once as a macro and instantiated per value type and
       instruction set: P = function prefix, T = value type, TP = its vector type
       prefix, VB = vector bytes (16, 32 or 64), TGT = target attribute (or empty).
       Vectors of K values are processed in chunks of W = VB / sizeof(T) values,
       then of 16 bytes, then one value at a time, so any K >= 1 works (K = 64
       floats is four AVX-512 or eight AVX2 vectors). Every sum runs in an order
       fixed by K and the build alone, so results never depend on the thread count.

       P##_fold:  the 16-byte parts of a VB-byte vector added lane-wise.
       P##_dot:   a . b over K values.
       P##_dot4:  u_t = y_t . v for four rows y0..y3 of Y (one horizontal
                  transpose-and-add reduction for the four).
       P##_axpy4: out += e0 y0 + e1 y1 + e2 y2 + e3 y3 in one sweep over out; when g
                  is not NULL the four rows are also stored to g (rows of K values):
                  that is the gather, done while the rows pass through registers.
       P##_one:   dot, coefficient and update of a single entry (the n % 4 last).

       P##_pass: one pass over the n entries of a row,
           residual = 0:  out += sum_j c'_j (y_j . v) y_j
           residual = 1:  out += sum_j (1 + c'_j - c'_j (y_j . v)) y_j,
       four entries at a time, with rows y_j = Y + cols[j] K (in place, prefetched
       MFCORE_IALS_PREFETCH_AHEAD entries ahead) or, with cols NULL, y_j = Y + j K
       (the gathered contiguous copy). Per group of four: the dots, the
       coefficients e_t = c'_t u_t (residual = 0) or 1 + c'_t - c'_t u_t
       (residual = 1), then the update, which reads the four rows again from L1.
       Entries are grouped 0-3, 4-7, ... and summed in the same order either way,
       so a gathered and an in-place row give the same result.

       P##_symv_reg: out = (YtY + reg I) v for the symmetric row-major K x K YtY,
       as out = sum_b v_b YtY[b, :] + reg v: up to four vectors of columns of out
       are accumulated over b in registers, with separate accumulators for even and
       odd b (independent dependency chains, no horizontal sums).

       P##_cg: the whole CG solve of one row (see _cg_row in the Cython code);
       P##_cg_row: its entry point, with a copy specialised for K = 64 (constant
       trip counts: the K loops are unrolled and out stays in registers). */
    #define MFCORE_IALS_KERNELS(P, T, TP, VB, TGT)                                     \
    typedef TP##_v##VB P##_v;                                                          \
    typedef TP##_u##VB P##_vu;                                                         \
                                                                                       \
    MFCORE_IALS_INLINE TGT TP##_v16 P##_fold(P##_v a) {                                \
        TP##_v16 q[4];                       /* room for 64 bytes */                   \
        memcpy(q, &a, VB);                                                             \
        if (VB == 64) { q[0] += q[2]; q[1] += q[3]; }                                  \
        if (VB >= 32) q[0] += q[1];                                                    \
        return q[0];                                                                   \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT T P##_dot(const T *a, const T *b, int K) {                  \
        enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                               \
        P##_v s = {0};                                                                 \
        TP##_v16 q;                                                                    \
        T u[4];                                                                        \
        int k;                                                                         \
        for (k = 0; k + W <= K; k += W)                                                \
            s += *(const P##_vu *)(a + k) * *(const P##_vu *)(b + k);                  \
        q = P##_fold(s);                                                               \
        for (; k + Q <= K; k += Q)                                                     \
            q += *(const TP##_u16 *)(a + k) * *(const TP##_u16 *)(b + k);              \
        TP##_red4_16(q, q, q, q, u);                                                   \
        for (; k < K; k++) u[0] += a[k] * b[k];                                        \
        return u[0];                                                                   \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT void P##_dot4(const T *restrict y0, const T *restrict y1,   \
                                         const T *restrict y2, const T *restrict y3,   \
                                         const T *restrict v, int K, T *restrict u) {  \
        enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                               \
        P##_v s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                  \
        int k;                                                                         \
        for (k = 0; k + W <= K; k += W) {                                              \
            P##_v vk = *(const P##_vu *)(v + k);                                       \
            s0 += *(const P##_vu *)(y0 + k) * vk;                                      \
            s1 += *(const P##_vu *)(y1 + k) * vk;                                      \
            s2 += *(const P##_vu *)(y2 + k) * vk;                                      \
            s3 += *(const P##_vu *)(y3 + k) * vk;                                      \
        }                                                                              \
        TP##_red4_##VB(s0, s1, s2, s3, u);                                             \
        if (k + Q <= K) {                        /* 16-byte chunks (VB > 16 only) */   \
            TP##_v16 q0 = {0}, q1 = {0}, q2 = {0}, q3 = {0};                           \
            T w[4];                                                                    \
            for (; k + Q <= K; k += Q) {                                               \
                TP##_v16 vk = *(const TP##_u16 *)(v + k);                              \
                q0 += *(const TP##_u16 *)(y0 + k) * vk;                                \
                q1 += *(const TP##_u16 *)(y1 + k) * vk;                                \
                q2 += *(const TP##_u16 *)(y2 + k) * vk;                                \
                q3 += *(const TP##_u16 *)(y3 + k) * vk;                                \
            }                                                                          \
            TP##_red4_16(q0, q1, q2, q3, w);                                           \
            u[0] += w[0]; u[1] += w[1]; u[2] += w[2]; u[3] += w[3];                    \
        }                                                                              \
        for (; k < K; k++) {                                                           \
            T vk = v[k];                                                               \
            u[0] += y0[k] * vk; u[1] += y1[k] * vk; u[2] += y2[k] * vk; u[3] += y3[k] * vk;\
        }                                                                              \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT void P##_axpy4(const T *restrict y0, const T *restrict y1,  \
                                          const T *restrict y2, const T *restrict y3,  \
                                          const T *restrict e, int K, T *restrict out, \
                                          T *restrict g) {                             \
        enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                               \
        T e0 = e[0], e1 = e[1], e2 = e[2], e3 = e[3];                                  \
        int k;                                                                         \
        for (k = 0; k + W <= K; k += W) {                                              \
            P##_v a0 = *(const P##_vu *)(y0 + k), a1 = *(const P##_vu *)(y1 + k);      \
            P##_v a2 = *(const P##_vu *)(y2 + k), a3 = *(const P##_vu *)(y3 + k);      \
            if (g) {                                                                   \
                *(P##_vu *)(g + k) = a0; *(P##_vu *)(g + K + k) = a1;                  \
                *(P##_vu *)(g + 2 * K + k) = a2; *(P##_vu *)(g + 3 * K + k) = a3;      \
            }                                                                          \
            *(P##_vu *)(out + k) += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;             \
        }                                                                              \
        for (; k + Q <= K; k += Q) {                                                   \
            TP##_v16 a0 = *(const TP##_u16 *)(y0 + k), a1 = *(const TP##_u16 *)(y1 + k);\
            TP##_v16 a2 = *(const TP##_u16 *)(y2 + k), a3 = *(const TP##_u16 *)(y3 + k);\
            if (g) {                                                                   \
                *(TP##_u16 *)(g + k) = a0; *(TP##_u16 *)(g + K + k) = a1;              \
                *(TP##_u16 *)(g + 2 * K + k) = a2; *(TP##_u16 *)(g + 3 * K + k) = a3;  \
            }                                                                          \
            *(TP##_u16 *)(out + k) += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;           \
        }                                                                              \
        for (; k < K; k++) {                                                           \
            T a0 = y0[k], a1 = y1[k], a2 = y2[k], a3 = y3[k];                          \
            if (g) { g[k] = a0; g[K + k] = a1; g[2 * K + k] = a2; g[3 * K + k] = a3; } \
            out[k] += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;                           \
        }                                                                              \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT void P##_one(const T *restrict y, T c, int K,               \
                                        const T *restrict v, T *restrict out,          \
                                        int residual, T *restrict g) {                 \
        enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                               \
        T u = P##_dot(y, v, K);                                                        \
        T e = residual ? (T)1 + c - c * u : c * u;                                     \
        int k;                                                                         \
        for (k = 0; k + W <= K; k += W) {                                              \
            P##_v a = *(const P##_vu *)(y + k);                                        \
            if (g) *(P##_vu *)(g + k) = a;                                             \
            *(P##_vu *)(out + k) += e * a;                                             \
        }                                                                              \
        for (; k + Q <= K; k += Q) {                                                   \
            TP##_v16 a = *(const TP##_u16 *)(y + k);                                   \
            if (g) *(TP##_u16 *)(g + k) = a;                                           \
            *(TP##_u16 *)(out + k) += e * a;                                           \
        }                                                                              \
        for (; k < K; k++) {                                                           \
            if (g) g[k] = y[k];                                                        \
            out[k] += e * y[k];                                                        \
        }                                                                              \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT void P##_pass(const T *Y, const int32_t *cols, int64_t n,   \
                                         int K, const T *conf, const T *v, T *out,     \
                                         int residual, T *g) {                         \
        const T *y0, *y1, *y2, *y3;                                                    \
        T u[4], e[4];                                                                  \
        int64_t j, i, nq = n & ~(int64_t)3;      /* entries taken four at a time */    \
        int t;                                                                         \
        for (j = 0; j < nq; j += 4) {                                                  \
            if (cols) {                                                                \
                for (i = j + MFCORE_IALS_PREFETCH_AHEAD;                               \
                     i < j + 4 + MFCORE_IALS_PREFETCH_AHEAD && i < n; i++)             \
                    mfcore_ials_prefetch(Y + (int64_t)cols[i] * K, K * sizeof(T));     \
                y0 = Y + (int64_t)cols[j] * K; y1 = Y + (int64_t)cols[j + 1] * K;      \
                y2 = Y + (int64_t)cols[j + 2] * K; y3 = Y + (int64_t)cols[j + 3] * K;  \
            } else {                                                                   \
                y0 = Y + j * K; y1 = y0 + K; y2 = y1 + K; y3 = y2 + K;                 \
            }                                                                          \
            P##_dot4(y0, y1, y2, y3, v, K, u);                                         \
            for (t = 0; t < 4; t++) {                                                  \
                T c = conf[j + t];                                                     \
                e[t] = residual ? (T)1 + c - c * u[t] : c * u[t];                      \
            }                                                                          \
            P##_axpy4(y0, y1, y2, y3, e, K, out, g ? g + j * K : NULL);                \
        }                                                                              \
        for (j = nq; j < n; j++)                                                       \
            P##_one(cols ? Y + (int64_t)cols[j] * K : Y + j * K, conf[j], K, v, out,   \
                    residual, g ? g + j * K : NULL);                                   \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT void P##_symv_reg(const T *restrict YtY, T reg,             \
                                             const T *restrict v, T *restrict out,     \
                                             int K) {                                  \
        enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                               \
        int c0 = 0, b, k;                                                              \
        for (; c0 + 4 * W <= K; c0 += 4 * W) {   /* four vectors of columns */         \
            P##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                              \
            P##_v b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                              \
            const T *col = YtY + c0;                                                   \
            for (b = 0; b + 2 <= K; b += 2) {                                          \
                const T *r0 = col + (int64_t)b * K, *r1 = r0 + K;                      \
                T v0 = v[b], v1 = v[b + 1];                                            \
                a0 += v0 * *(const P##_vu *)r0;                                        \
                a1 += v0 * *(const P##_vu *)(r0 + W);                                  \
                a2 += v0 * *(const P##_vu *)(r0 + 2 * W);                              \
                a3 += v0 * *(const P##_vu *)(r0 + 3 * W);                              \
                b0 += v1 * *(const P##_vu *)r1;                                        \
                b1 += v1 * *(const P##_vu *)(r1 + W);                                  \
                b2 += v1 * *(const P##_vu *)(r1 + 2 * W);                              \
                b3 += v1 * *(const P##_vu *)(r1 + 3 * W);                              \
            }                                                                          \
            if (b < K) {                                                               \
                const T *r0 = col + (int64_t)b * K;                                    \
                T v0 = v[b];                                                           \
                a0 += v0 * *(const P##_vu *)r0;                                        \
                a1 += v0 * *(const P##_vu *)(r0 + W);                                  \
                a2 += v0 * *(const P##_vu *)(r0 + 2 * W);                              \
                a3 += v0 * *(const P##_vu *)(r0 + 3 * W);                              \
            }                                                                          \
            *(P##_vu *)(out + c0) = (a0 + b0) + reg * *(const P##_vu *)(v + c0);       \
            *(P##_vu *)(out + c0 + W) = (a1 + b1) + reg * *(const P##_vu *)(v + c0 + W);\
            *(P##_vu *)(out + c0 + 2 * W) = (a2 + b2) + reg * *(const P##_vu *)(v + c0 + 2 * W);\
            *(P##_vu *)(out + c0 + 3 * W) = (a3 + b3) + reg * *(const P##_vu *)(v + c0 + 3 * W);\
        }                                                                              \
        for (; c0 + 2 * W <= K; c0 += 2 * W) {   /* two vectors of columns */          \
            P##_v a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};                              \
            const T *col = YtY + c0;                                                   \
            for (b = 0; b + 2 <= K; b += 2) {                                          \
                const T *r0 = col + (int64_t)b * K, *r1 = r0 + K;                      \
                a0 += v[b] * *(const P##_vu *)r0;                                      \
                a1 += v[b] * *(const P##_vu *)(r0 + W);                                \
                b0 += v[b + 1] * *(const P##_vu *)r1;                                  \
                b1 += v[b + 1] * *(const P##_vu *)(r1 + W);                            \
            }                                                                          \
            if (b < K) {                                                               \
                const T *r0 = col + (int64_t)b * K;                                    \
                a0 += v[b] * *(const P##_vu *)r0;                                      \
                a1 += v[b] * *(const P##_vu *)(r0 + W);                                \
            }                                                                          \
            *(P##_vu *)(out + c0) = (a0 + b0) + reg * *(const P##_vu *)(v + c0);       \
            *(P##_vu *)(out + c0 + W) = (a1 + b1) + reg * *(const P##_vu *)(v + c0 + W);\
        }                                                                              \
        for (; c0 + W <= K; c0 += W) {           /* one vector of columns */           \
            P##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                              \
            const T *col = YtY + c0;                                                   \
            for (b = 0; b + 4 <= K; b += 4) {                                          \
                const T *r0 = col + (int64_t)b * K;                                    \
                a0 += v[b] * *(const P##_vu *)r0;                                      \
                a1 += v[b + 1] * *(const P##_vu *)(r0 + K);                            \
                a2 += v[b + 2] * *(const P##_vu *)(r0 + 2 * K);                        \
                a3 += v[b + 3] * *(const P##_vu *)(r0 + 3 * K);                        \
            }                                                                          \
            for (; b < K; b++) a0 += v[b] * *(const P##_vu *)(col + (int64_t)b * K);   \
            *(P##_vu *)(out + c0) = ((a0 + a1) + (a2 + a3)) + reg * *(const P##_vu *)(v + c0);\
        }                                                                              \
        for (; c0 + Q <= K; c0 += Q) {           /* 16 bytes of columns */             \
            TP##_v16 a0 = {0}, a1 = {0};                                               \
            const T *col = YtY + c0;                                                   \
            for (b = 0; b + 2 <= K; b += 2) {                                          \
                a0 += v[b] * *(const TP##_u16 *)(col + (int64_t)b * K);                \
                a1 += v[b + 1] * *(const TP##_u16 *)(col + (int64_t)(b + 1) * K);      \
            }                                                                          \
            if (b < K) a0 += v[b] * *(const TP##_u16 *)(col + (int64_t)b * K);         \
            *(TP##_u16 *)(out + c0) = (a0 + a1) + reg * *(const TP##_u16 *)(v + c0);   \
        }                                                                              \
        for (k = c0; k < K; k++) {               /* the last K % Q columns */          \
            T s = 0;                                                                   \
            for (b = 0; b < K; b++) s += v[b] * YtY[(int64_t)b * K + k];               \
            out[k] = s + reg * v[k];                                                   \
        }                                                                              \
    }                                                                                  \
                                                                                       \
    MFCORE_IALS_INLINE TGT int P##_cg(T *x, const T *Y, const int32_t *cols, T *G,     \
                                      const T *conf, int64_t n, const T *YtY, T reg,   \
                                      int K, int cg_steps, T *r, T *p, T *Ap) {        \
        double rs, rs_new, pAp, alpha, beta;                                           \
        int step, k;                                                                   \
        /* r = b - A x = sum_j [(1 + c'_j) - c'_j (y_j . x)] y_j - (YtY + reg I) x,   \
           reading Y in place and gathering the rows into G on the way */             \
        P##_symv_reg(YtY, reg, x, r, K);                                               \
        for (k = 0; k < K; k++) r[k] = -r[k];                                          \
        if (G) {                                                                       \
            P##_pass(Y, cols, n, K, conf, x, r, 1, G);                                 \
            Y = G;                               /* later passes read the copy */      \
            cols = NULL;                                                               \
        } else {                                                                       \
            P##_pass(Y, cols, n, K, conf, x, r, 1, NULL);                              \
        }                                                                              \
        memcpy(p, r, (size_t)K * sizeof(T));                                           \
        rs = (double)P##_dot(r, r, K);                                                 \
        for (step = 0; step < cg_steps; step++) {                                      \
            if (rs < 1e-20)                                                            \
                break;                                                                 \
            /* Ap = (YtY + reg I) p + sum_j c'_j (y_j . p) y_j */                      \
            P##_symv_reg(YtY, reg, p, Ap, K);                                          \
            if (cols)                                                                  \
                P##_pass(Y, cols, n, K, conf, p, Ap, 0, NULL);                         \
            else                                                                       \
                P##_pass(Y, NULL, n, K, conf, p, Ap, 0, NULL);                         \
            pAp = (double)P##_dot(p, Ap, K);                                           \
            if (!(pAp > 0))                                                            \
                return 1;                                                              \
            alpha = rs / pAp;                                                          \
            for (k = 0; k < K; k++) {                                                  \
                x[k] += (T)alpha * p[k];                                               \
                r[k] -= (T)alpha * Ap[k];                                              \
            }                                                                          \
            rs_new = (double)P##_dot(r, r, K);                                         \
            beta = rs_new / rs;                                                        \
            for (k = 0; k < K; k++) p[k] = r[k] + (T)beta * p[k];                      \
            rs = rs_new;                                                               \
        }                                                                              \
        return 0;                                                                      \
    }                                                                                  \
                                                                                       \
    static TGT int P##_cg_row(T *x, const T *Y, const int32_t *cols, T *G,             \
                              const T *conf, int64_t n, const T *YtY, T reg, int K,    \
                              int cg_steps, T *r, T *p, T *Ap) {                       \
        if (K == 64)                                                                   \
            return P##_cg(x, Y, cols, G, conf, n, YtY, reg, 64, cg_steps, r, p, Ap);   \
        return P##_cg(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap);        \
    }

    MFCORE_IALS_KERNELS(mfcore_ials_s0, float, mfcore_ials_f, 16, )
    MFCORE_IALS_KERNELS(mfcore_ials_d0, double, mfcore_ials_d, 16, )
    #if MFCORE_IALS_X86
    MFCORE_IALS_KERNELS(mfcore_ials_s3, float, mfcore_ials_f, 32, MFCORE_IALS_TARGET_V3)
    MFCORE_IALS_KERNELS(mfcore_ials_d3, double, mfcore_ials_d, 32, MFCORE_IALS_TARGET_V3)
    MFCORE_IALS_KERNELS(mfcore_ials_s4, float, mfcore_ials_f, 64, MFCORE_IALS_TARGET_V4)
    MFCORE_IALS_KERNELS(mfcore_ials_d4, double, mfcore_ials_d, 64, MFCORE_IALS_TARGET_V4)
    #endif

    /* The CG solve of one row with the build for instruction set `isa`
       (mfcore_ials_isa(); a lower level than the CPU's also works). */
    #if MFCORE_IALS_X86
    #define MFCORE_IALS_DISPATCH(P, T)                                                 \
    static int P##_cg_row(int isa, T *x, const T *Y, const int32_t *cols, T *G,        \
                          const T *conf, int64_t n, const T *YtY, T reg, int K,        \
                          int cg_steps, T *r, T *p, T *Ap) {                           \
        if (isa >= 2)                                                                  \
            return P##4_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap);\
        if (isa == 1)                                                                  \
            return P##3_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap);\
        return P##0_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap);   \
    }
    #else
    #define MFCORE_IALS_DISPATCH(P, T)                                                 \
    static int P##_cg_row(int isa, T *x, const T *Y, const int32_t *cols, T *G,        \
                          const T *conf, int64_t n, const T *YtY, T reg, int K,        \
                          int cg_steps, T *r, T *p, T *Ap) {                           \
        (void)isa;                                                                     \
        return P##0_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap);   \
    }
    #endif
    MFCORE_IALS_DISPATCH(mfcore_ials_s, float)
    MFCORE_IALS_DISPATCH(mfcore_ials_d, double)

    /* y += a x (Cholesky right-hand side; y and x never overlap here) */
    static inline void mfcore_ials_saxpy(float *restrict y, const float *restrict x, float a, int n) {
        int k;
        #pragma omp simd
        for (k = 0; k < n; k++) y[k] += a * x[k];
    }
    static inline void mfcore_ials_daxpy(double *restrict y, const double *restrict x, double a, int n) {
        int k;
        #pragma omp simd
        for (k = 0; k < n; k++) y[k] += a * x[k];
    }
    """
    int mfcore_ials_isa() nogil
    int mfcore_ials_s_cg_row(int isa, float *x, const float *Y, const int32_t *cols, float *G,
                             const float *conf, int64_t n, const float *YtY, float reg, int K,
                             int cg_steps, float *r, float *p, float *Ap) nogil
    int mfcore_ials_d_cg_row(int isa, double *x, const double *Y, const int32_t *cols, double *G,
                             const double *conf, int64_t n, const double *YtY, double reg, int K,
                             int cg_steps, double *r, double *p, double *Ap) nogil
    void mfcore_ials_saxpy(float *y, const float *x, float a, int n) nogil
    void mfcore_ials_daxpy(double *y, const double *x, double a, int n) nogil


cdef inline void _axpy(floating *y, const floating *x, floating a, int n) noexcept nogil:
    # y += a * x  (y and x never overlap here)
    if floating is float:
        mfcore_ials_saxpy(y, x, a, n)
    else:
        mfcore_ials_daxpy(y, x, a, n)


cdef inline int _cg_row(int isa, floating *x, const floating *Y, const int32_t *cols,
                        floating *G, const floating *conf, int64_t n, const floating *YtY,
                        double reg, int K, int cg_steps, floating *r, floating *p,
                        floating *Ap) noexcept nogil:
    """Warm-started CG on A_u x = b_u, A_u = YtY + reg I + Y_u^T C'_u Y_u, b_u = Y_u^T (1 + c'_u).

    The rows of Y_u are y_j = Y + cols[j] * K, j < n. The residual pass
    r = b_u - A_u x reads them in place (prefetching ahead) and, when G is not
    NULL (room for n rows of K), copies them there on the way, so that every later
    pass A_u p reads the contiguous copy; with G NULL every pass reads Y in place.
    Then up to cg_steps CG steps, stopping early when r.r < 1e-20. r, p, Ap: (K,)
    scratch; isa: the kernel build (see _cg_build). Returns 0, or 1 if A_u is
    found not positive definite (x then holds the last iterate).
    """
    if floating is float:
        return mfcore_ials_s_cg_row(isa, x, Y, cols, G, conf, n, YtY, <float>reg, K, cg_steps,
                                    r, p, Ap)
    else:
        return mfcore_ials_d_cg_row(isa, x, Y, cols, G, conf, n, YtY, reg, K, cg_steps,
                                    r, p, Ap)


cdef int _cholesky_row(floating *x, const floating *Y, const int32_t *cols, const floating *conf,
                       int64_t n, const floating *YtY, double reg, int K, int64_t cap,
                       floating *G, floating *W, floating *A, floating *b) noexcept nogil:
    """Form A_u, b_u and solve; returns 0, or 1 if potrf failed (x untouched)."""
    cdef int64_t start, m, j
    cdef int a, info = 0, one = 1, Ki = K, mi
    cdef floating f_one = 1, cj
    cdef char *ntrans = b'N'
    cdef char *trans = b'T'
    cdef char *uplo = b'U'
    if n == 0:
        memset(x, 0, K * sizeof(floating))
        return 0
    # A = YtY + reg I ; b = 0
    memcpy(A, YtY, K * K * sizeof(floating))
    for a in range(K):
        A[a * K + a] += <floating>reg
    memset(b, 0, K * sizeof(floating))
    start = 0
    while start < n:
        m = n - start
        if m > cap:
            m = cap
        for j in range(m):
            cj = conf[start + j]
            memcpy(G + j * K, Y + <int64_t>cols[start + j] * K, K * sizeof(floating))
            for a in range(K):
                W[j * K + a] = cj * G[j * K + a]
            # b += (1 + c'_j) y_j
            _axpy(b, G + j * K, <floating>1 + cj, K)
        # A += W^T @ G  (W, G row-major m x K = column-major K x m, ld K)
        mi = <int>m
        if floating is float:
            sgemm(ntrans, trans, &Ki, &Ki, &mi, &f_one, W, &Ki, G, &Ki, &f_one, A, &Ki)
        else:
            dgemm(ntrans, trans, &Ki, &Ki, &mi, &f_one, W, &Ki, G, &Ki, &f_one, A, &Ki)
        start += m
    # Cholesky of the (full, symmetric) A then solve A x = b.
    if floating is float:
        spotrf(uplo, &Ki, A, &Ki, &info)
    else:
        dpotrf(uplo, &Ki, A, &Ki, &info)
    if info != 0:
        return 1
    if floating is float:
        spotrs(uplo, &Ki, &one, A, &Ki, b, &Ki, &info)
    else:
        dpotrs(uplo, &Ki, &one, A, &Ki, b, &Ki, &info)
    if info != 0:
        return 1
    memcpy(x, b, K * sizeof(floating))
    return 0


cdef inline int64_t _aligned_len(int64_t n, size_t itemsize) noexcept nogil:
    """n rounded up to whole ALIGN-byte units of items of itemsize bytes."""
    cdef int64_t unit = ALIGN // itemsize
    return (n + unit - 1) // unit * unit


# Testing hook: highest CG kernel build implicit_als_half_sweep may use (-1: no cap).
cdef int _isa_cap = -1


def _cg_build(level=None):
    """Which build of the CG kernels ``implicit_als_half_sweep`` uses (testing hook).

    Parameters
    ----------
    level : int, optional
        Cap the build at this level (2 = AVX-512, 1 = AVX2+FMA, 0 = baseline;
        -1 removes the cap). None leaves the setting unchanged.

    Returns
    -------
    int
        The level used from now on: the CPU's level (see ``mfcore_ials_isa``),
        lowered to the cap if one is set.
    """
    global _isa_cap
    if level is not None:
        _isa_cap = int(level)
    isa = mfcore_ials_isa()
    return isa if _isa_cap < 0 or isa <= _isa_cap else _isa_cap


@cython.boundscheck(False)
@cython.wraparound(False)
def implicit_als_half_sweep(const int32_t[::1] indptr, const int32_t[::1] indices,
                            const floating[::1] confidence,
                            const floating[:, ::1] other_factors,
                            floating[:, ::1] factors,
                            const floating[:, ::1] YtY,
                            double reg, int solver, int cg_steps, int num_threads,
                            long gather_rows=-1):
    """Update every row of ``factors`` for implicit-feedback ALS (one half-sweep).

    Parameters
    ----------
    indptr : int32 (n_rows + 1,), IN
        CSR row pointers (rows = the side being updated).
    indices : int32 (nnz,), IN
        CSR column indices into ``other_factors``, duplicate-free per row.
    confidence : float32/float64 (nnz,), IN
        c' = c - 1 per stored entry (e.g. alpha * r); preference is 1 there.
    other_factors : same dtype (n_cols, K), IN
        Y, the fixed side.
    factors : same dtype (n_rows, K), IN/OUT
        X; read as the CG warm start, overwritten with the new rows.
    YtY : same dtype (K, K), IN
        Y^T Y (without the regularisation), symmetric.
    reg : float
        L2 regularisation added to the diagonal.
    solver : int
        0 = Cholesky (exact), 1 = conjugate gradient.
    cg_steps : int
        CG iterations per row (solver 1; >= 1).
    num_threads : int
        OpenMP threads (>= 1).
    gather_rows : int, optional
        Tuning/testing knob: rows of Y_u gathered per thread (-1 = automatic:
        32 MiB for CG, 4 MiB blocks for Cholesky; 0 = never gather in CG).

    Returns
    -------
    int
        -1 on success, else the lowest row index whose system was not positive
        definite (Cholesky: that row is left unchanged; CG: the row keeps its
        last iterate).
    """
    cdef int64_t n_rows = indptr.shape[0] - 1
    cdef int K = <int>factors.shape[1]
    cdef int64_t n_cols = other_factors.shape[0]
    cdef int64_t nnz, max_len = 0, cap, per_thread, gsize, vsize, r, ln
    cdef int t, n_thr = num_threads
    cdef void *raw = NULL
    cdef floating *scratch = NULL
    cdef floating *buf = NULL
    cdef int *first_fail = NULL
    cdef int result = -1, status, isa = _cg_build()
    cdef const int32_t *ip
    cdef const int32_t *ix
    cdef const floating *cf
    cdef const floating *Yp

    if n_rows < 0:
        raise ValueError("indptr must have at least one entry")
    if solver not in (0, 1):
        raise ValueError(f"solver must be 0 (cholesky) or 1 (cg), got {solver}")
    if solver == 1 and cg_steps < 1:
        raise ValueError(f"cg_steps must be >= 1, got {cg_steps}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    if factors.shape[0] != n_rows:
        raise ValueError(f"factors has {factors.shape[0]} rows, indptr implies {n_rows}")
    if other_factors.shape[1] != K:
        raise ValueError(f"other_factors has {other_factors.shape[1]} columns, factors {K}")
    if YtY.shape[0] != K or YtY.shape[1] != K:
        raise ValueError(f"YtY must have shape ({K}, {K}), got ({YtY.shape[0]}, {YtY.shape[1]})")
    nnz = indptr[n_rows]
    if indices.shape[0] < nnz or confidence.shape[0] < nnz:
        raise ValueError(f"indices/confidence have lengths {indices.shape[0]}/"
                         f"{confidence.shape[0]}, indptr[-1] is {nnz}")
    if n_rows == 0 or K == 0:
        return -1
    if nnz > 0 and n_cols == 0:
        raise ValueError("other_factors has no rows but the matrix has entries")
    for r in range(n_rows):
        ln = indptr[r + 1] - indptr[r]
        if ln < 0:
            raise ValueError(f"indptr decreases at row {r}")
        if ln > max_len:
            max_len = ln

    if gather_rows < 0:
        # CG gathers whole rows (up to 32 MiB); Cholesky only needs blocks (4 MiB).
        cap = (GATHER_BYTES if solver == 1 else CHOL_BLOCK_BYTES) // (K * sizeof(floating))
    else:
        cap = gather_rows
    if cap > max_len:
        cap = max_len
    if solver == 0 and cap < 1:
        cap = 1
    if n_thr > n_rows:
        n_thr = <int>n_rows
    # per thread, each array starting on an ALIGN-byte boundary:
    #   Cholesky: G (cap K) + W (cap K) + A (K K) + b (K)
    #   CG:       G (cap K) + r, p, Ap (K each)
    gsize = _aligned_len(cap * K, sizeof(floating))
    vsize = _aligned_len(K, sizeof(floating))
    if solver == 0:
        per_thread = _aligned_len(2 * cap * K + K * K + K, sizeof(floating))
    else:
        per_thread = gsize + 3 * vsize
    ip = &indptr[0]
    ix = &indices[0] if indices.shape[0] > 0 else NULL
    cf = &confidence[0] if confidence.shape[0] > 0 else NULL
    Yp = &other_factors[0, 0] if n_cols > 0 else NULL
    raw = malloc(n_thr * per_thread * sizeof(floating) + ALIGN)
    scratch = <floating *>((<uintptr_t>raw + ALIGN - 1) & ~(<uintptr_t>(ALIGN - 1)))
    first_fail = <int *>malloc(n_thr * sizeof(int))
    try:
        if raw == NULL or first_fail == NULL:
            raise MemoryError(f"implicit_als_half_sweep: could not allocate "
                              f"{n_thr * per_thread * sizeof(floating)} bytes of scratch")
        for t in range(n_thr):
            first_fail[t] = -1
        with nogil, parallel(num_threads=n_thr):
            t = threadid()
            buf = scratch + t * per_thread
            for r in prange(n_rows, schedule='dynamic', chunksize=16):
                ln = ip[r + 1] - ip[r]
                if solver == 0:
                    status = _cholesky_row(&factors[r, 0], Yp, ix + ip[r], cf + ip[r], ln,
                                           &YtY[0, 0], reg, K, cap,
                                           buf, buf + cap * K, buf + 2 * cap * K,
                                           buf + 2 * cap * K + K * K)
                else:
                    # gather Y_u into buf when it fits, else read Y in place
                    status = _cg_row(isa, &factors[r, 0], Yp, ix + ip[r] if ln > 0 else NULL,
                                     buf if 0 < ln <= cap else NULL,
                                     cf + ip[r] if ln > 0 else NULL, ln,
                                     &YtY[0, 0], reg, K, cg_steps,
                                     buf + gsize, buf + gsize + vsize, buf + gsize + 2 * vsize)
                if status != 0:
                    if first_fail[t] < 0 or r < first_fail[t]:
                        first_fail[t] = <int>r
        for t in range(n_thr):
            if first_fail[t] >= 0 and (result < 0 or first_fail[t] < result):
                result = first_fail[t]
    finally:
        free(raw)
        free(first_fail)
    return result
