# cython: language_level=3
"""Inline-only fused (float/double) dense linear-algebra helpers for the kernels.

Everything here is ``cdef inline`` so that cimporting this file never makes
Cython look for a run-time ``mfcore._linalg`` module.

Storage convention (stated once, used everywhere)
-------------------------------------------------
All matrices are **row-major** (C order) with a leading dimension ``ld`` (the
row stride, in elements). Symmetric matrices keep only their **row-major upper
triangle** (``A[i*ld + j]`` for ``j >= i``); no strictly-lower entry ever feeds
a result, so it may hold garbage (the kernel poisons it with NaN). A row-major
upper triangle is the column-major *lower* triangle, so the LAPACK call below
passes ``uplo='L'``. (One exception, in ``_als``: the Gram of a long CG row is
mirrored into a full matrix before :func:`row_dots` reads whole rows of it.)

Hot loops are small C functions (written here once as macros, instantiated for
float and double) so that they can be compiled as runtime-dispatched SIMD
clones; the fused Cython wrappers pick the float/double instance. For
whole-vector loops, the own SPD solver wants ``ld`` a multiple of
``simd_width`` (16 float / 8 double lanes = 64 bytes) with zero padding
columns; see each function.

The LAPACK path (``?potrf``/``?potrs``, kept for comparison and tests) runs
single-threaded only if the caller holds the BLAS pools to one thread
(``mfcore._threads.blas_limited``); the default path calls no BLAS at all.
"""

from cython cimport floating
cimport scipy.linalg.cython_lapack as _lapack


# ---------------------------------------------------------------- C helpers (SIMD clones)
# The package is built for the baseline x86-64 ISA (no -march=native). The hot
# loops below are compiled three times by GCC's target_clones (AVX-512,
# AVX2+FMA, baseline) and the best clone is picked once at load time (ifunc), so
# the wheel stays portable. Other compilers/platforms get the plain version.
# Each function is written once as a macro and instantiated for float and double.
cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__) && (__GNUC__ >= 11) && defined(__x86_64__) && defined(__GLIBC__)
    #define MFC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define MFC_CLONES
    #endif

    /* Solve the bordered SPD system  [[A, s], [s^T, c]] [x; x_n] = [b_0..b_{n-1}; b_n]
       in place (b <- solution), or A x = b when s is NULL (then b has n entries).
       A: n x n in its row-major upper triangle, lda a multiple of W and >= n, columns
       n..lda-1 of rows < n zero, W-aligned row starts; s (n entries) is the border
       column, c the corner. The border is the last pivot, so A's rows stay whole SIMD
       vectors (K = 64 factors + a bias: four vectors per row, not five).
       Right-looking LDL^T (no square roots), four pivots per pass: the pivot rows are
       first eliminated among themselves, then every later row i gets
       row_i -= sum_p (u_pi / d_p) row_p  over whole W-lane vectors from the one holding
       its diagonal (entries left of the diagonal inside it get garbage; they never feed
       an upper entry); s_i and b_i get the same scalar combination and each pivot
       updates the corner and b_n (forward substitution on the fly). Then a
       column-oriented back substitution (u_ik x_k subtracted from b_i, i < k: no
       scalar-store / vector-load round trips). A and s are overwritten.
       Returns 0, k+1 when pivot k < n is not > 0 (NaN included), n+1 for the corner. */
    #define MFC_DEFINE_SPDSOLVE(NAME, T, W)                                          \\
    typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));        \\
    MFC_CLONES static int NAME(int n, T *A, int lda, T *s, T c, T *b) {              \\
        int i, j, k, p, q, np;                                                       \\
        T inv[n > 0 ? n : 1], bn = s ? b[n] : 0;                                     \\
        for (k = 0; k < n; k += 4) {                                                 \\
            T *r[4];                                                                 \\
            np = n - k < 4 ? n - k : 4;                                              \\
            for (p = 0; p < np; p++) r[p] = A + (size_t)(k + p) * lda;               \\
            for (p = 0; p < np; p++) {           /* the pivot block among itself */  \\
                T d = r[p][k + p];                                                   \\
                if (!(d > 0)) return k + p + 1;                                      \\
                inv[k + p] = (T)1 / d;                                               \\
                for (q = p + 1; q < np; q++) {                                       \\
                    T m = r[p][k + q] * inv[k + p];                                  \\
                    for (j = (k + q) & ~(W - 1); j < lda; j += W)                    \\
                        *(NAME##_v *)(r[q] + j) -= m * *(NAME##_v *)(r[p] + j);      \\
                    b[k + q] -= m * b[k + p];                                        \\
                    if (s) s[k + q] -= m * s[k + p];                                 \\
                }                                                                    \\
                if (s) {                         /* the border row */                \\
                    T m = s[k + p] * inv[k + p];                                     \\
                    c -= m * s[k + p];                                               \\
                    bn -= m * b[k + p];                                              \\
                }                                                                    \\
            }                                                                        \\
            if (np < 4) break;                                                       \\
            for (i = k + 4; i < n; i++) {        /* rank-4 update of the rest */     \\
                T *ri = A + (size_t)i * lda, bi = b[i];                              \\
                T m0 = r[0][i] * inv[k], m1 = r[1][i] * inv[k + 1];                  \\
                T m2 = r[2][i] * inv[k + 2], m3 = r[3][i] * inv[k + 3];              \\
                for (j = i & ~(W - 1); j < lda; j += W) {   /* four chained FMAs */  \\
                    NAME##_v v = *(NAME##_v *)(ri + j);                              \\
                    v -= m0 * *(NAME##_v *)(r[0] + j);                               \\
                    v -= m1 * *(NAME##_v *)(r[1] + j);                               \\
                    v -= m2 * *(NAME##_v *)(r[2] + j);                               \\
                    v -= m3 * *(NAME##_v *)(r[3] + j);                               \\
                    *(NAME##_v *)(ri + j) = v;                                       \\
                }                                                                    \\
                bi -= m0 * b[k]; bi -= m1 * b[k + 1];                                \\
                bi -= m2 * b[k + 2]; bi -= m3 * b[k + 3];                            \\
                b[i] = bi;                                                           \\
                if (s) {                                                             \\
                    T si = s[i];                                                     \\
                    si -= m0 * s[k]; si -= m1 * s[k + 1];                            \\
                    si -= m2 * s[k + 2]; si -= m3 * s[k + 3];                        \\
                    s[i] = si;                                                       \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
        if (s) {                                 /* corner pivot, then its column */ \\
            if (!(c > 0)) return n + 1;                                              \\
            bn /= c;                                                                 \\
            b[n] = bn;                                                               \\
            for (i = 0; i < n; i++) b[i] -= s[i] * bn;                               \\
        }                                                                            \\
        for (k = n - 1; k >= 0; k--) {          /* x = (D L^T)^-1 z, by columns */  \\
            const T *col = A + k;                                                    \\
            T xk = b[k] * inv[k];                                                    \\
            b[k] = xk;                                                               \\
            for (i = 0; i < k; i++) b[i] -= col[(size_t)i * lda] * xk;               \\
        }                                                                            \\
        return 0;                                                                    \\
    }

    /* Horizontal sum of a 64-byte vector by halving (a fixed-order tree). */
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

    /* out[k] += alpha * (X[k] . y) for k < m: dot products of whole rows of a
       row-major (m, ldx) matrix (ldx a multiple of W) with y (ldx entries, zero
       padded). Four rows at a time, so four accumulator chains run side by side. */
    #define MFC_DEFINE_ROWDOTS(NAME, T, W)                                           \\
    typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));        \\
    MFC_CLONES static void NAME(int m, const T *X, int ldx, const T *y, T alpha,    \\
                                T *out) {                                            \\
        int k = 0, j;                                                                \\
        for (; k + 3 < m; k += 4) {                                                  \\
            const T *x0 = X + (size_t)k * ldx, *x1 = x0 + ldx;                       \\
            const T *x2 = x1 + ldx, *x3 = x2 + ldx;                                  \\
            NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                         \\
            for (j = 0; j < ldx; j += W) {                                           \\
                NAME##_v yv = *(const NAME##_v *)(y + j);                            \\
                a0 += *(const NAME##_v *)(x0 + j) * yv;                              \\
                a1 += *(const NAME##_v *)(x1 + j) * yv;                              \\
                a2 += *(const NAME##_v *)(x2 + j) * yv;                              \\
                a3 += *(const NAME##_v *)(x3 + j) * yv;                              \\
            }                                                                        \\
            out[k] += alpha * mfc_hsum_##T(&a0);                                     \\
            out[k + 1] += alpha * mfc_hsum_##T(&a1);                                 \\
            out[k + 2] += alpha * mfc_hsum_##T(&a2);                                 \\
            out[k + 3] += alpha * mfc_hsum_##T(&a3);                                 \\
        }                                                                            \\
        for (; k < m; k++) {                                                         \\
            const T *xk = X + (size_t)k * ldx;                                       \\
            NAME##_v a0 = {0};                                                       \\
            for (j = 0; j < ldx; j += W)                                             \\
                a0 += *(const NAME##_v *)(xk + j) * *(const NAME##_v *)(y + j);      \\
            out[k] += alpha * mfc_hsum_##T(&a0);                                     \\
        }                                                                            \\
    }
    MFC_DEFINE_ROWDOTS(mfc_rowdots_s, float, 16)
    MFC_DEFINE_ROWDOTS(mfc_rowdots_d, double, 8)

    /* Register-blocked Gram of a gathered block (GCC vector extensions, 64-byte
       vectors of W lanes; lowered to AVX-512, 2 x AVX2 or 4 x SSE by the clones).
       X : row-major (m, ldx), ldx a multiple of W, columns n..ldx-1 zero.
       C[i][j] (+)= sum_t X[t][i] X[t][j]  for i <= j < n (row-major upper, stride ldc)
       s[j]    (+)= sum_t X[t][j];  sy[j] (+)= sum_t y[t] X[t][j]  (j < ldx: s and sy hold
       ldx entries, the padding ones end up 0; sy skipped if y is NULL)
       "+=" when acc != 0, "=" otherwise. Tiles of eight rows of C by two vectors of
       columns (AVX-512 CPUs: 16 accumulators in 32 registers) or by one vector;
       tiles are stored as whole vectors, so C also receives (harmless) values left of
       the diagonal inside diagonal tiles and in columns n..round_up(n, W)-1, which
       must exist (ldc >= round_up(n, W)). */
    /* Prefetch stream: the factor rows of the next block to be gathered, fetched
       into L2 one 64-byte line per Gram tile iteration, so that their cache misses
       overlap the Gram's arithmetic instead of stalling the next gather. */
    typedef struct {
        const int *idx;          /* row indices of the next block (NULL: none) */
        int n;                   /* number of rows in it */
        int lines;               /* 64-byte lines per factor row */
        const char *base;        /* factor matrix */
        size_t rowbytes;         /* bytes per factor row */
        int row, line;           /* progress */
    } mfc_pf;
    /* One step: prefetch the next line (pf_q, pf_left lines left in the current row);
       the row index is looked up only when a row is done, so the common step is a
       test, a prefetch, an add and a decrement inside the Gram's FMA loop. */
    #if defined(__GNUC__)
    #define MFC_PF_STEP                                                              \\
        if (pf_left) {                                                               \\
            __builtin_prefetch(pf_q, 0, 2);                                          \\
            pf_q += 64;                                                              \\
            if (--pf_left == 0 && ++pf_row < pf_n) {                                 \\
                pf_q = pf_base + (size_t)pf_idx[pf_row] * pf_rb;                     \\
                pf_left = pf_lines;                                                  \\
            }                                                                        \\
        }
    #else
    #define MFC_PF_STEP ((void)0);
    #endif
    static mfc_pf mfc_pf_none = {0, 0, 1, 0, 0, 0, 0};   /* read only (pf == NULL) */

    #define MFC_DEFINE_GRAM(NAME, T, W)                                              \\
    typedef T NAME##_v __attribute__((vector_size(64)));                             \\
    typedef T NAME##_vu __attribute__((vector_size(64), aligned(sizeof(T))));         \\
    MFC_CLONES static void NAME(int m, int n, const T *X, int ldx, const T *y,       \\
                                T *C, int ldc, T *s, T *sy, int acc, mfc_pf *pf) {   \\
        int i0, jb, t, r, c, nb = (n + W - 1) / W, wide = MFC_WIDE_GRAM;             \\
        int pf_row, pf_n, pf_lines, pf_left = 0;                                     \\
        const int *pf_idx; const char *pf_base, *pf_q = 0; size_t pf_rb;             \\
        if (!pf) pf = &mfc_pf_none;                                                  \\
        pf_row = pf->row; pf_n = pf->n; pf_lines = pf->lines;                        \\
        pf_idx = pf->idx; pf_base = pf->base; pf_rb = pf->rowbytes;                  \\
        if (pf_row < pf_n) {                                                         \\
            pf_q = pf_base + (size_t)pf_idx[pf_row] * pf_rb + (size_t)pf->line * 64;  \\
            pf_left = pf_lines - pf->line;                                           \\
        }                                                                            \\
        for (i0 = 0; i0 < n; i0 += 8) {                                              \\
            for (jb = i0 / W; wide && jb + 1 < nb; jb += 2) {  /* 8 rows x 2 vectors */ \\
                NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \\
                NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \\
                NAME##_v b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                     \\
                NAME##_v b4 = {0}, b5 = {0}, b6 = {0}, b7 = {0};                     \\
                const T *xp = X + (size_t)jb * W, *xi = X + i0;                      \\
                for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                      \\
                    NAME##_v v = *(const NAME##_vu *)xp;                             \\
                    NAME##_v w = *(const NAME##_vu *)(xp + W);                       \\
                    T e;                                                             \\
                    MFC_PF_STEP                                                      \\
                    e = xi[0]; a0 += e * v; b0 += e * w;                             \\
                    e = xi[1]; a1 += e * v; b1 += e * w;                             \\
                    e = xi[2]; a2 += e * v; b2 += e * w;                             \\
                    e = xi[3]; a3 += e * v; b3 += e * w;                             \\
                    e = xi[4]; a4 += e * v; b4 += e * w;                             \\
                    e = xi[5]; a5 += e * v; b5 += e * w;                             \\
                    e = xi[6]; a6 += e * v; b6 += e * w;                             \\
                    e = xi[7]; a7 += e * v; b7 += e * w;                             \\
                }                                                                    \\
                {                                                                    \\
                    NAME##_vu *cv; NAME##_v av[8] = {a0, a1, a2, a3, a4, a5, a6, a7}; \\
                    NAME##_v bv[8] = {b0, b1, b2, b3, b4, b5, b6, b7};               \\
                    for (r = 0; r < 8 && i0 + r < n; r++) {                          \\
                        cv = (NAME##_vu *)(C + (size_t)(i0 + r) * ldc + jb * W);     \\
                        cv[0] = acc ? cv[0] + av[r] : av[r];                         \\
                        cv[1] = acc ? cv[1] + bv[r] : bv[r];                         \\
                    }                                                                \\
                }                                                                    \\
            }                                                                        \\
            for (; jb < nb; jb++) {                                                  \\
                NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \\
                NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \\
                const T *xp = X + (size_t)jb * W, *xi = X + i0;                      \\
                for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                      \\
                    NAME##_v v = *(const NAME##_vu *)xp;                             \\
                    MFC_PF_STEP                                                      \\
                    a0 += xi[0] * v; a1 += xi[1] * v; a2 += xi[2] * v;               \\
                    a3 += xi[3] * v; a4 += xi[4] * v; a5 += xi[5] * v;               \\
                    a6 += xi[6] * v; a7 += xi[7] * v;                                \\
                }                                                                    \\
                {                                                                    \\
                    NAME##_vu *cv[8]; NAME##_v av[8] = {a0, a1, a2, a3, a4, a5, a6, a7}; \\
                    for (r = 0; r < 8 && i0 + r < n; r++) {                          \\
                        cv[r] = (NAME##_vu *)(C + (size_t)(i0 + r) * ldc + jb * W);   \\
                        *cv[r] = acc ? *cv[r] + av[r] : av[r];                       \\
                    }                                                                \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
        if (pf != &mfc_pf_none) {                                                    \\
            pf->row = pf_row < pf_n ? pf_row : pf_n;                                 \\
            pf->line = pf_left ? pf_lines - pf_left : 0;                             \\
        }                                                                            \\
        if (!acc) { for (c = 0; c < ldx; c++) { s[c] = 0; if (y) sy[c] = 0; } }      \\
        /* s, sy in register accumulators, four vectors of columns per pass */      \\
        for (c = 0; c + 4 * W <= ldx; c += 4 * W) {                                  \\
            NAME##_vu *sp = (NAME##_vu *)(s + c), *yp = (NAME##_vu *)(sy + c);       \\
            NAME##_v s0 = sp[0], s1 = sp[1], s2 = sp[2], s3 = sp[3];                 \\
            const T *xt = X + c;                                                     \\
            if (y) {                                                                 \\
                NAME##_v y0 = yp[0], y1 = yp[1], y2 = yp[2], y3 = yp[3];             \\
                for (t = 0; t < m; t++, xt += ldx) {                                 \\
                    NAME##_v x0 = *(const NAME##_vu *)xt;                            \\
                    NAME##_v x1 = *(const NAME##_vu *)(xt + W);                      \\
                    NAME##_v x2 = *(const NAME##_vu *)(xt + 2 * W);                  \\
                    NAME##_v x3 = *(const NAME##_vu *)(xt + 3 * W);                  \\
                    T yt = y[t];                                                     \\
                    s0 += x0; s1 += x1; s2 += x2; s3 += x3;                          \\
                    y0 += yt * x0; y1 += yt * x1; y2 += yt * x2; y3 += yt * x3;      \\
                }                                                                    \\
                yp[0] = y0; yp[1] = y1; yp[2] = y2; yp[3] = y3;                      \\
            } else {                                                                 \\
                for (t = 0; t < m; t++, xt += ldx) {                                 \\
                    s0 += *(const NAME##_vu *)xt;                                    \\
                    s1 += *(const NAME##_vu *)(xt + W);                              \\
                    s2 += *(const NAME##_vu *)(xt + 2 * W);                          \\
                    s3 += *(const NAME##_vu *)(xt + 3 * W);                          \\
                }                                                                    \\
            }                                                                        \\
            sp[0] = s0; sp[1] = s1; sp[2] = s2; sp[3] = s3;                          \\
        }                                                                            \\
        for (; c < ldx; c += W) {                                                    \\
            NAME##_vu *sp = (NAME##_vu *)(s + c), *yp = (NAME##_vu *)(sy + c);       \\
            NAME##_v s0 = *sp, y0 = {0};                                             \\
            const T *xt = X + c;                                                     \\
            if (y) y0 = *yp;                                                         \\
            for (t = 0; t < m; t++, xt += ldx) {                                     \\
                NAME##_v x0 = *(const NAME##_vu *)xt;                                \\
                s0 += x0;                                                            \\
                if (y) y0 += y[t] * x0;                                              \\
            }                                                                        \\
            *sp = s0;                                                                \\
            if (y) *yp = y0;                                                         \\
        }                                                                            \\
    }

    /* 8 x 2-vector Gram tiles need 16 vector accumulators: only with 32 SIMD
       registers (AVX-512); elsewhere (16 registers) the 8 x 1 tiles are used.
       Each C entry gets the same operations in the same order either way. */
    #if defined(__GNUC__) && !defined(__clang__) && (__GNUC__ >= 11) && defined(__x86_64__) && defined(__GLIBC__)
    #define MFC_WIDE_GRAM __builtin_cpu_supports("avx512f")
    #else
    #define MFC_WIDE_GRAM 0
    #endif
    MFC_DEFINE_GRAM(mfc_gram_s, float, 16)
    MFC_DEFINE_GRAM(mfc_gram_d, double, 8)
    #if defined(__GNUC__)
    #define MFC_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #define MFC_PREFETCH(p) ((void)0)
    #endif
    #define MFC_PF_AHEAD 16

    /* Gather the factor rows of one CSR row (memory-latency bound: the rows are
       random, so rows MFC_PF_AHEAD ahead are prefetched, with their biases).
       trans == 0: X[t][k] = OF[idx[t]][k] (k < K), X[t][K..ldx-1] = 0
       trans == 1: X[k][t] = OF[idx[t]][k] (t < m), X[k][m..ldx-1] = 0
       y[t] = rat[t] - mu - OB[idx[t]]  (computed in double) */
    #define MFC_DEFINE_GATHER(NAME, T)                                               \\
    MFC_CLONES static void NAME(int m, const int *idx, const T *rat, const T *OF,    \\
                                const T *OB, int K, double mu, T *X, int ldx,        \\
                                T *y, int trans) {                                   \\
        int t, k;                                                                    \\
        size_t bytes = (size_t)K * sizeof(T), b;                                     \\
        for (t = 0; t < m && t < MFC_PF_AHEAD; t++) {                                \\
            const char *q = (const char *)(OF + (size_t)idx[t] * K);                 \\
            for (b = 0; b < bytes; b += 64) MFC_PREFETCH(q + b);                     \\
            if (bytes) MFC_PREFETCH(q + bytes - 1);                                  \\
            MFC_PREFETCH(OB + idx[t]);                                               \\
        }                                                                            \\
        for (t = 0; t < m; t++) {                                                    \\
            int j = idx[t];                                                          \\
            const T *src = OF + (size_t)j * K;                                       \\
            if (t + MFC_PF_AHEAD < m) {                                              \\
                int jn = idx[t + MFC_PF_AHEAD];                                      \\
                const char *q = (const char *)(OF + (size_t)jn * K);                 \\
                for (b = 0; b < bytes; b += 64) MFC_PREFETCH(q + b);                 \\
                if (bytes) MFC_PREFETCH(q + bytes - 1);                              \\
                MFC_PREFETCH(OB + jn);                                               \\
            }                                                                        \\
            y[t] = (T)((double)rat[t] - mu - (double)OB[j]);                         \\
            if (!trans) {                                                            \\
                T *dst = X + (size_t)t * ldx;                                        \\
                for (k = 0; k < K; k++) dst[k] = src[k];                             \\
                for (; k < ldx; k++) dst[k] = 0;                                     \\
            } else {                                                                 \\
                for (k = 0; k < K; k++) X[(size_t)k * ldx + t] = src[k];             \\
            }                                                                        \\
        }                                                                            \\
        if (trans)                                                                   \\
            for (k = 0; k < K; k++)                                                  \\
                for (t = m; t < ldx; t++) X[(size_t)k * ldx + t] = 0;                \\
    }

    MFC_DEFINE_GATHER(mfc_gather_s, float)
    MFC_DEFINE_GATHER(mfc_gather_d, double)
    /* One pass of CG's operator over a gathered block, no Gram:
       u_t = X[t] . d + dbias  (or y_t - that, if y != NULL);
       q[j] = sum_t u_t X[t][j] (j < ldx),  *qbias = sum_t u_t.
       X : (m, ldx) rows [v_t, zero padding], ldx a multiple of W; d : (ldx,) finite.
       With accumulate != 0, q and *qbias are added to instead of overwritten. */
    #define MFC_DEFINE_CGAPPLY(NAME, T, W)                                           \\
    typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));        \\
    MFC_CLONES static void NAME(int m, const T *X, int ldx, const T *d, T dbias,     \\
                                const T *y, T *q, T *qbias, int accumulate) {        \\
        int t, j;                                                                    \\
        T qb = accumulate ? *qbias : 0;                                              \\
        if (!accumulate) for (j = 0; j < ldx; j++) q[j] = 0;                         \\
        for (t = 0; t + 3 < m; t += 4) {   /* 4 rows per pass over q: 1 q round trip */ \\
            const T *x0 = X + (size_t)t * ldx, *x1 = x0 + ldx;                       \\
            const T *x2 = x1 + ldx, *x3 = x2 + ldx;                                  \\
            NAME##_v c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                         \\
            T u0, u1, u2, u3;                                                        \\
            for (j = 0; j < ldx; j += W) {                                           \\
                NAME##_v dv = *(const NAME##_v *)(d + j);                            \\
                c0 += *(const NAME##_v *)(x0 + j) * dv;                              \\
                c1 += *(const NAME##_v *)(x1 + j) * dv;                              \\
                c2 += *(const NAME##_v *)(x2 + j) * dv;                              \\
                c3 += *(const NAME##_v *)(x3 + j) * dv;                              \\
            }                                                                        \\
            u0 = mfc_hsum_##T(&c0) + dbias; u1 = mfc_hsum_##T(&c1) + dbias;          \\
            u2 = mfc_hsum_##T(&c2) + dbias; u3 = mfc_hsum_##T(&c3) + dbias;          \\
            if (y) { u0 = y[t] - u0; u1 = y[t + 1] - u1;                             \\
                     u2 = y[t + 2] - u2; u3 = y[t + 3] - u3; }                       \\
            for (j = 0; j < ldx; j += W)                                             \\
                *(NAME##_v *)(q + j) += (u0 * *(const NAME##_v *)(x0 + j)            \\
                                       + u1 * *(const NAME##_v *)(x1 + j))           \\
                                      + (u2 * *(const NAME##_v *)(x2 + j)            \\
                                       + u3 * *(const NAME##_v *)(x3 + j));          \\
            qb += (u0 + u1) + (u2 + u3);                                             \\
        }                                                                            \\
        for (; t < m; t++) {                                                         \\
            const T *xt = X + (size_t)t * ldx;                                       \\
            NAME##_v acc = {0};                                                      \\
            T u;                                                                     \\
            for (j = 0; j < ldx; j += W)                                             \\
                acc += *(const NAME##_v *)(xt + j) * *(const NAME##_v *)(d + j);     \\
            u = mfc_hsum_##T(&acc) + dbias;                                          \\
            if (y) u = y[t] - u;                                                     \\
            for (j = 0; j < ldx; j += W)                                             \\
                *(NAME##_v *)(q + j) += u * *(const NAME##_v *)(xt + j);             \\
            qb += u;                                                                 \\
        }                                                                            \\
        *qbias = qb;                                                                 \\
    }

    MFC_DEFINE_SPDSOLVE(mfc_spd_solve_s, float, 16)
    MFC_DEFINE_SPDSOLVE(mfc_spd_solve_d, double, 8)
    MFC_DEFINE_CGAPPLY(mfc_cg_apply_s, float, 16)
    MFC_DEFINE_CGAPPLY(mfc_cg_apply_d, double, 8)
    """
    void mfc_rowdots_s(int m, const float* X, int ldx, const float* y, float alpha, float* out) noexcept nogil
    void mfc_rowdots_d(int m, const double* X, int ldx, const double* y, double alpha, double* out) noexcept nogil
    int mfc_spd_solve_s(int n, float* A, int lda, float* s, float c, float* b) noexcept nogil
    int mfc_spd_solve_d(int n, double* A, int lda, double* s, double c, double* b) noexcept nogil
    ctypedef struct mfc_pf:
        const int* idx
        int n
        int lines
        const char* base
        size_t rowbytes
        int row
        int line
    void mfc_gram_s(int m, int n, const float* X, int ldx, const float* y, float* C, int ldc,
                    float* s, float* sy, int acc, mfc_pf* pf) noexcept nogil
    void mfc_gram_d(int m, int n, const double* X, int ldx, const double* y, double* C, int ldc,
                    double* s, double* sy, int acc, mfc_pf* pf) noexcept nogil
    void mfc_gather_s(int m, const int* idx, const float* rat, const float* OF, const float* OB,
                      int K, double mu, float* X, int ldx, float* y, int trans) noexcept nogil
    void mfc_gather_d(int m, const int* idx, const double* rat, const double* OF, const double* OB,
                      int K, double mu, double* X, int ldx, double* y, int trans) noexcept nogil
    void mfc_cg_apply_s(int m, const float* X, int ldx, const float* d, float dbias,
                        const float* y, float* q, float* qbias, int accumulate) noexcept nogil
    void mfc_cg_apply_d(int m, const double* X, int ldx, const double* d, double dbias,
                        const double* y, double* q, double* qbias, int accumulate) noexcept nogil


cdef inline void xtx_apply(int m, const floating* X, int ldx, const floating* d, floating dbias,
                           const floating* y, floating* q, floating* qbias,
                           bint accumulate=False) noexcept nogil:
    """One fused pass u = X_aug @ d (or y - X_aug @ d), q = X_aug.T @ u, with X_aug = [X, 1].

    X : IN (m, ldx) zero-padded rows (ldx a multiple of simd_width);  d : IN (ldx,) factor
    part, finite padding;  dbias : bias part of d;  y : IN (m,) or NULL;
    q : OUT (ldx,);  qbias : OUT scalar (bias part of q); both IN/OUT (added to) if accumulate.
    """
    # NumPy: u = X @ d[:K] + dbias (u = y - u if y given); q[:K] (+)= X.T @ u; qbias (+)= u.sum()
    if floating is float:
        mfc_cg_apply_s(m, X, ldx, d, dbias, y, q, qbias, accumulate)
    else:
        mfc_cg_apply_d(m, X, ldx, d, dbias, y, q, qbias, accumulate)


cdef inline void gather_rows(int m, const int* idx, const floating* rat, const floating* OF,
                             const floating* OB, int K, double mu, floating* X, int ldx,
                             floating* y, bint trans) noexcept nogil:
    """Gather one CSR row's factor rows (with software prefetch) and its targets.

    idx, rat : IN (m,) column indices / ratings;  OF : IN (n_cols, K);  OB : IN (n_cols,).
    X : OUT row-major (m, ldx) = OF[idx] zero-padded, or (K, ldx) = OF[idx].T if trans.
    y : OUT (m,) = rat - mu - OB[idx].
    """
    # NumPy: X[:m, :K] = OF[idx] (or X[:K, :m] = OF[idx].T); y = rat - mu - OB[idx]
    if floating is float:
        mfc_gather_s(m, idx, rat, OF, OB, K, mu, X, ldx, y, trans)
    else:
        mfc_gather_d(m, idx, rat, OF, OB, K, mu, X, ldx, y, trans)


cdef inline int simd_width(floating dummy) noexcept nogil:
    """Lanes of the 64-byte vectors used by :func:`gram_block` (16 float, 8 double)."""
    if floating is float:
        return 16
    else:
        return 8


cdef inline void gram_block(int m, int n, const floating* X, int ldx, const floating* y,
                            floating* C, int ldc, floating* s, floating* sy, bint acc,
                            mfc_pf* pf=NULL) noexcept nogil:
    """Gram, column sums and X.T @ y of a gathered block, register-blocked (SIMD clones).

    X  : IN row-major (m, ldx); ldx a multiple of simd_width, columns n..ldx-1 zero.
    y  : IN (m,) or NULL.
    C  : IN/OUT row-major (n, n) upper triangle, stride ldc.  s, sy : IN/OUT (ldx,).
    pf : IN/OUT prefetch stream or NULL: the factor rows pf.base[pf.idx[:pf.n]] are
         prefetched into L2, one line per tile iteration, resuming at (pf.row, pf.line);
         progress is written back (set with :func:`pf_set`). Does not change results.
    """
    # NumPy: C[triu] (+)= (X[:, :n].T @ X[:, :n])[triu]; s (+)= X[:, :n].sum(0); sy (+)= X[:, :n].T @ y
    if floating is float:
        mfc_gram_s(m, n, X, ldx, y, C, ldc, s, sy, acc, pf)
    else:
        mfc_gram_d(m, n, X, ldx, y, C, ldc, s, sy, acc, pf)


cdef inline void pf_set(mfc_pf* pf, const int* idx, int n, const floating* OF, int K) noexcept nogil:
    """Point the prefetch stream pf (OUT) at factor rows OF[idx[:n]] (OF : (n_cols, K))."""
    pf.idx = idx
    pf.n = n if idx != NULL else 0
    pf.base = <const char*> OF
    pf.rowbytes = <size_t> K * sizeof(floating)
    # lines spanned by a row; one more when rows do not start on a line boundary
    pf.lines = <int> ((pf.rowbytes + 63) // 64)
    if (<size_t> OF) % 64 != 0 or pf.rowbytes % 64 != 0:
        pf.lines += 1
    if pf.lines == 0:
        pf.n = 0
        pf.lines = 1
    pf.row = 0
    pf.line = 0


# ---------------------------------------------------------------- LAPACK (reference path)
cdef inline int lapack_cholesky_solve(int n, floating* A, int lda, floating* b) noexcept nogil:
    """Solve A x = b in place with LAPACK ?potrf/?potrs; A is SPD, row-major upper triangle.

    A : IN/OUT row-major (n, n), row stride lda; upper triangle read, overwritten by the factor.
    b : IN/OUT (n,) -> x.  Returns LAPACK's info (0 ok, k > 0: leading minor k not positive).
    """
    # NumPy: b[:] = np.linalg.solve(np.triu(A) + np.triu(A, 1).T, b)
    # row-major upper == column-major lower -> uplo='L'
    cdef char uplo = b'L'
    cdef int info = 0
    cdef int one = 1
    if floating is float:
        _lapack.spotrf(&uplo, &n, A, &lda, &info)
        if info == 0:
            _lapack.spotrs(&uplo, &n, &one, A, &lda, b, &n, &info)
    else:
        _lapack.dpotrf(&uplo, &n, A, &lda, &info)
        if info == 0:
            _lapack.dpotrs(&uplo, &n, &one, A, &lda, b, &n, &info)
    return info


# ---------------------------------------------------------------- own small SPD solver
cdef inline void row_dots(int m, const floating* X, int ldx, const floating* y, floating alpha,
                          floating* out) noexcept nogil:
    """out[:m] += alpha * X[:m] @ y for a row-major X (m, ldx), ldx a multiple of simd_width.

    y : IN (ldx,), zero (or finite, against zero columns of X) from the used length on.
    """
    # NumPy: out[:m] += alpha * X[:m, :ldx] @ y[:ldx]
    if floating is float:
        mfc_rowdots_s(m, X, ldx, y, alpha, out)
    else:
        mfc_rowdots_d(m, X, ldx, y, alpha, out)


cdef inline int spd_solve(int n, floating* A, int lda, floating* s, floating c,
                          floating* b) noexcept nogil:
    """Solve the SPD system [[A, s], [s.T, c]] x = b in place (b <- x), or A x = b if s is NULL.

    A : IN/OUT row-major (n, lda) upper triangle; lda a multiple of simd_width and >= n,
        columns n..lda-1 zero. Overwritten (the strictly lower part is never read).
    s : IN/OUT (n,) border column (overwritten), or NULL for the plain n x n system.
    c : the corner entry (ignored if s is NULL).
    b : IN/OUT (n + 1,) right-hand side -> solution ((n,) if s is NULL).
    Returns 0 on success, else k + 1 for the first pivot k that is not > 0 (NaN included;
    n + 1 is the corner); b is then partly overwritten. Right-looking LDL^T with four
    pivots per pass, the border last, the right-hand side eliminated along (C helper
    ``mfc_spd_solve_*`` above, SIMD clones).
    """
    # NumPy: M = [[A, s], [s.T, c]] (A symmetric from its upper triangle); b[:] = np.linalg.solve(M, b)
    if floating is float:
        return mfc_spd_solve_s(n, A, lda, s, c, b)
    else:
        return mfc_spd_solve_d(n, A, lda, s, c, b)


cdef inline double dot_d(int n, const floating* a, const floating* b) noexcept nogil:
    """sum(a * b) accumulated in float64 (a, b : IN (n,))."""
    cdef double s = 0
    cdef int i
    for i in range(n):
        s += <double> a[i] * <double> b[i]
    return s
