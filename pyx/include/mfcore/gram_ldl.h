/* mfcore/gram_ldl.h: the explicit-ALS block kernels (mfcore._als via _linalg.pxd).

   Gather of a CSR row's factor rows (with prefetch), the register-blocked Gram of
   a gathered block (with a prefetch stream for the next block), the bordered LDL^T
   solve of the (K + 1) x (K + 1) normal equations, row dot products and one pass
   of the CG operator. Each function is written once as a macro and instantiated
   for float (suffix _s, 16 lanes) and double (_d, 8 lanes) with 64-byte GCC
   vectors, once per instruction-set level (MFC_ALS_BUILDS; dispatch: simd.h).

   Storage: row-major matrices with a leading dimension (row stride) that is a
   multiple of the lane count W, zero padding columns; symmetric matrices keep
   their row-major upper triangle. */
#ifndef MFCORE_GRAM_LDL_H
#define MFCORE_GRAM_LDL_H

#include "mfcore/simd.h"

/* Every kernel below is instantiated once per instruction-set level (simd.h):
   NAME_l0 (baseline), NAME_l1 (x86-64-v3: AVX2 + FMA), NAME_l2 (x86-64-v4: AVX-512),
   and NAME itself calls the one for mfc_level(). WIDE: the Gram's 8 x 2-vector
   tiles need 16 vector accumulators, so only the AVX-512 build (32 registers)
   uses them; elsewhere (16 registers) the 8 x 1 tiles are used. Each C entry gets
   the same operations in the same order either way. */
#if MFC_X86
#define MFC_ALS_BUILDS(DEF, NAME, T, W)                                          \
    DEF(NAME##_l0, T, W, , 0)                                                    \
    DEF(NAME##_l1, T, W, MFC_TARGET_ARCH_V3, 0)                                  \
    DEF(NAME##_l2, T, W, MFC_TARGET_ARCH_V4, 1)
#else
#define MFC_ALS_BUILDS(DEF, NAME, T, W) DEF(NAME##_l0, T, W, , 0)
#endif

#ifdef MFC_PORTABLE
/* ------------------------------------------------------------ the plain-C path
   The same kernels in plain C99 (no vector types, attributes or builtins) for
   compilers without GCC vector extensions: one scalar build per function with the
   contract of the vector one below (same arguments, layout, results to rounding);
   simple loops, left to the compiler's auto-vectoriser. */

/* NumPy: M = [[A, s], [s.T, c]] (A symmetric from its upper triangle);
          b[:n + 1] = np.linalg.solve(M, b[:n + 1])  (b[:n] = solve(A, b[:n]) if s is NULL).
   Right-looking LDL^T one pivot at a time, rows updated from their diagonal on; the
   diagonal d_k stays in A, so no scratch is needed. Returns as the vector version. */
#define MFC_DEFINE_SPDSOLVE(NAME, T, W, TGT, WIDE)                               \
static int NAME(int n, T *A, int lda, T *s, T c, T *b) {                         \
    int i, j, k;                                                                 \
    T bn = s ? b[n] : 0;                                                         \
    for (k = 0; k < n; k++) {                                                    \
        const T *rk = A + (size_t)k * lda;                                       \
        T d = rk[k];                                                             \
        if (!(d > 0)) return k + 1;                                              \
        for (i = k + 1; i < n; i++) {                                            \
            T *ri = A + (size_t)i * lda, m = rk[i] / d;                          \
            for (j = i; j < n; j++) ri[j] -= m * rk[j];                          \
            b[i] -= m * b[k];                                                    \
            if (s) s[i] -= m * s[k];                                             \
        }                                                                        \
        if (s) {                                                                 \
            T m = s[k] / d;                                                      \
            c -= m * s[k];                                                       \
            bn -= m * b[k];                                                      \
        }                                                                        \
    }                                                                            \
    if (s) {                                                                     \
        if (!(c > 0)) return n + 1;                                              \
        bn /= c;                                                                 \
        b[n] = bn;                                                               \
        for (i = 0; i < n; i++) b[i] -= s[i] * bn;                               \
    }                                                                            \
    for (k = n - 1; k >= 0; k--) {                                               \
        T xk = b[k] / A[(size_t)k * lda + k];                                    \
        b[k] = xk;                                                               \
        for (i = 0; i < k; i++) b[i] -= A[(size_t)i * lda + k] * xk;             \
    }                                                                            \
    return 0;                                                                    \
}

/* NumPy: out[:m] += alpha * X[:m, :ldx] @ y[:ldx] */
#define MFC_DEFINE_ROWDOTS(NAME, T, W, TGT, WIDE)                                \
static void NAME(int m, const T *X, int ldx, const T *y, T alpha, T *out) {      \
    int k, j;                                                                    \
    for (k = 0; k < m; k++) {                                                    \
        const T *xk = X + (size_t)k * ldx;                                       \
        T a = 0;                                                                 \
        for (j = 0; j < ldx; j++) a += xk[j] * y[j];                             \
        out[k] += alpha * a;                                                     \
    }                                                                            \
}

/* NumPy: C[triu] (+)= (X[:, :n].T @ X[:, :n])[triu]; s (+)= X.sum(0); sy (+)= X.T @ y.
   Entries j in [i, round_up(n, W)) of each row i < n are written (the padding ones
   come out 0 from X's zero columns), as the vector version does. No prefetch. */
#define MFC_DEFINE_GRAM(NAME, T, W, TGT, WIDE)                                   \
static void NAME(int m, int n, const T *X, int ldx, const T *y, T *C, int ldc,   \
                 T *s, T *sy, int acc, mfc_pf *pf) {                             \
    int i, j, t, nw = (n + W - 1) / W * W;                                       \
    (void)pf;                                                                    \
    for (i = 0; i < n; i++) {                                                    \
        T *ci = C + (size_t)i * ldc;                                             \
        if (!acc) for (j = i; j < nw; j++) ci[j] = 0;                            \
        for (t = 0; t < m; t++) {                                                \
            const T *xt = X + (size_t)t * ldx;                                   \
            T e = xt[i];                                                         \
            for (j = i; j < nw; j++) ci[j] += e * xt[j];                         \
        }                                                                        \
    }                                                                            \
    if (!acc) { for (j = 0; j < ldx; j++) { s[j] = 0; if (y) sy[j] = 0; } }      \
    for (t = 0; t < m; t++) {                                                    \
        const T *xt = X + (size_t)t * ldx;                                       \
        for (j = 0; j < ldx; j++) {                                              \
            s[j] += xt[j];                                                       \
            if (y) sy[j] += y[t] * xt[j];                                        \
        }                                                                        \
    }                                                                            \
}

/* NumPy: u = X @ d + dbias (u = y - u if y); q (+)= X.T @ u; qbias (+)= u.sum() */
#define MFC_DEFINE_CGAPPLY(NAME, T, W, TGT, WIDE)                                \
static void NAME(int m, const T *X, int ldx, const T *d, T dbias,                \
                 const T *y, T *q, T *qbias, int accumulate) {                   \
    int t, j;                                                                    \
    T qb = accumulate ? *qbias : 0;                                              \
    if (!accumulate) for (j = 0; j < ldx; j++) q[j] = 0;                         \
    for (t = 0; t < m; t++) {                                                    \
        const T *xt = X + (size_t)t * ldx;                                       \
        T u = 0;                                                                 \
        for (j = 0; j < ldx; j++) u += xt[j] * d[j];                             \
        u += dbias;                                                              \
        if (y) u = y[t] - u;                                                     \
        for (j = 0; j < ldx; j++) q[j] += u * xt[j];                             \
        qb += u;                                                                 \
    }                                                                            \
    *qbias = qb;                                                                 \
}
#endif /* MFC_PORTABLE */

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
   Returns 0, k+1 when pivot k < n is not > 0 (NaN included), n+1 for the corner.
   NumPy: M = [[A, s], [s.T, c]] (A symmetric from its upper triangle);
          b[:n + 1] = np.linalg.solve(M, b[:n + 1])  (b[:n] = solve(A, b[:n]) if s is NULL) */
#ifndef MFC_PORTABLE
#define MFC_DEFINE_SPDSOLVE(NAME, T, W, TGT, WIDE)                               \
typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));         \
static TGT int NAME(int n, T *A, int lda, T *s, T c, T *b) {                     \
    int i, j, k, p, q, np;                                                       \
    T inv[n > 0 ? n : 1], bn = s ? b[n] : 0;                                     \
    for (k = 0; k < n; k += 4) {                                                 \
        T *r[4];                                                                 \
        np = n - k < 4 ? n - k : 4;                                              \
        for (p = 0; p < np; p++) r[p] = A + (size_t)(k + p) * lda;               \
        for (p = 0; p < np; p++) {           /* the pivot block among itself */  \
            T d = r[p][k + p];                                                   \
            if (!(d > 0)) return k + p + 1;                                      \
            inv[k + p] = (T)1 / d;                                               \
            for (q = p + 1; q < np; q++) {                                       \
                T m = r[p][k + q] * inv[k + p];                                  \
                for (j = (k + q) & ~(W - 1); j < lda; j += W)                    \
                    *(NAME##_v *)(r[q] + j) -= m * *(NAME##_v *)(r[p] + j);      \
                b[k + q] -= m * b[k + p];                                        \
                if (s) s[k + q] -= m * s[k + p];                                 \
            }                                                                    \
            if (s) {                         /* the border row */                \
                T m = s[k + p] * inv[k + p];                                     \
                c -= m * s[k + p];                                               \
                bn -= m * b[k + p];                                              \
            }                                                                    \
        }                                                                        \
        if (np < 4) break;                                                       \
        {   /* rank-4 update of the rest: pivot rows, multipliers' factors and    \
               b, s entries held in locals (no reloads after the row stores);    \
               per entry the same operations in the same order as one at a time */ \
            const T *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];              \
            const T v0 = inv[k], v1 = inv[k + 1], v2 = inv[k + 2], v3 = inv[k + 3]; \
            const T b0 = b[k], b1 = b[k + 1], b2 = b[k + 2], b3 = b[k + 3];      \
            if (s) {                                                             \
                const T s0 = s[k], s1 = s[k + 1], s2 = s[k + 2], s3 = s[k + 3];  \
                for (i = k + 4; i < n; i++) {                                    \
                    T *ri = A + (size_t)i * lda, bi = b[i], si = s[i];           \
                    T m0 = r0[i] * v0, m1 = r1[i] * v1;                          \
                    T m2 = r2[i] * v2, m3 = r3[i] * v3;                          \
                    for (j = i & ~(W - 1); j < lda; j += W) {                    \
                        NAME##_v x = *(NAME##_v *)(ri + j);                      \
                        x -= m0 * *(const NAME##_v *)(r0 + j);                   \
                        x -= m1 * *(const NAME##_v *)(r1 + j);                   \
                        x -= m2 * *(const NAME##_v *)(r2 + j);                   \
                        x -= m3 * *(const NAME##_v *)(r3 + j);                   \
                        *(NAME##_v *)(ri + j) = x;                               \
                    }                                                            \
                    bi -= m0 * b0; bi -= m1 * b1; bi -= m2 * b2; bi -= m3 * b3;  \
                    si -= m0 * s0; si -= m1 * s1; si -= m2 * s2; si -= m3 * s3;  \
                    b[i] = bi; s[i] = si;                                        \
                }                                                                \
            } else {                                                             \
                for (i = k + 4; i < n; i++) {                                    \
                    T *ri = A + (size_t)i * lda, bi = b[i];                      \
                    T m0 = r0[i] * v0, m1 = r1[i] * v1;                          \
                    T m2 = r2[i] * v2, m3 = r3[i] * v3;                          \
                    for (j = i & ~(W - 1); j < lda; j += W) {                    \
                        NAME##_v x = *(NAME##_v *)(ri + j);                      \
                        x -= m0 * *(const NAME##_v *)(r0 + j);                   \
                        x -= m1 * *(const NAME##_v *)(r1 + j);                   \
                        x -= m2 * *(const NAME##_v *)(r2 + j);                   \
                        x -= m3 * *(const NAME##_v *)(r3 + j);                   \
                        *(NAME##_v *)(ri + j) = x;                               \
                    }                                                            \
                    bi -= m0 * b0; bi -= m1 * b1; bi -= m2 * b2; bi -= m3 * b3;  \
                    b[i] = bi;                                                   \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }                                                                            \
    if (s) {                                 /* corner pivot, then its column */ \
        if (!(c > 0)) return n + 1;                                              \
        bn /= c;                                                                 \
        b[n] = bn;                                                               \
        for (i = 0; i < n; i++) b[i] -= s[i] * bn;                               \
    }                                                                            \
    for (k = n - 1; k >= 0; k--) {          /* x = (D L^T)^-1 z, by columns */   \
        const T *col = A + k;                                                    \
        T xk = b[k] * inv[k];                                                    \
        b[k] = xk;                                                               \
        for (i = 0; i < k; i++) b[i] -= col[(size_t)i * lda] * xk;               \
    }                                                                            \
    return 0;                                                                    \
}
#endif /* !MFC_PORTABLE */


/* out[k] += alpha * (X[k] . y) for k < m: dot products of whole rows of a
   row-major (m, ldx) matrix (ldx a multiple of W) with y (ldx entries, zero
   padded). Four rows at a time, so four accumulator chains run side by side.
   NumPy: out[:m] += alpha * X[:m, :ldx] @ y[:ldx] */
#ifndef MFC_PORTABLE
#define MFC_DEFINE_ROWDOTS(NAME, T, W, TGT, WIDE)                                \
typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));         \
static TGT void NAME(int m, const T *X, int ldx, const T *y, T alpha,            \
                            T *out) {                                            \
    int k = 0, j;                                                                \
    for (; k + 3 < m; k += 4) {                                                  \
        const T *x0 = X + (size_t)k * ldx, *x1 = x0 + ldx;                       \
        const T *x2 = x1 + ldx, *x3 = x2 + ldx;                                  \
        NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                         \
        for (j = 0; j < ldx; j += W) {                                           \
            NAME##_v yv = *(const NAME##_v *)(y + j);                            \
            a0 += *(const NAME##_v *)(x0 + j) * yv;                              \
            a1 += *(const NAME##_v *)(x1 + j) * yv;                              \
            a2 += *(const NAME##_v *)(x2 + j) * yv;                              \
            a3 += *(const NAME##_v *)(x3 + j) * yv;                              \
        }                                                                        \
        out[k] += alpha * mfc_hsum_##T(&a0);                                     \
        out[k + 1] += alpha * mfc_hsum_##T(&a1);                                 \
        out[k + 2] += alpha * mfc_hsum_##T(&a2);                                 \
        out[k + 3] += alpha * mfc_hsum_##T(&a3);                                 \
    }                                                                            \
    for (; k < m; k++) {                                                         \
        const T *xk = X + (size_t)k * ldx;                                       \
        NAME##_v a0 = {0};                                                       \
        for (j = 0; j < ldx; j += W)                                             \
            a0 += *(const NAME##_v *)(xk + j) * *(const NAME##_v *)(y + j);      \
        out[k] += alpha * mfc_hsum_##T(&a0);                                     \
    }                                                                            \
}
#endif /* !MFC_PORTABLE */
MFC_ALS_BUILDS(MFC_DEFINE_ROWDOTS, mfc_rowdots_s, float, 16)
MFC_ALS_BUILDS(MFC_DEFINE_ROWDOTS, mfc_rowdots_d, double, 8)

/* Register-blocked Gram of a gathered block (GCC vector extensions, 64-byte
   vectors of W lanes; lowered to AVX-512, 2 x AVX2 or 4 x SSE by the clones).
   X : row-major (m, ldx), ldx a multiple of W, columns n..ldx-1 zero.
   C[i][j] (+)= sum_t X[t][i] X[t][j]  for i <= j < n (row-major upper, stride ldc)
   s[j]    (+)= sum_t X[t][j];  sy[j] (+)= sum_t y[t] X[t][j]  (j < ldx: s and sy hold
   ldx entries, the padding ones end up 0; sy skipped if y is NULL)
   "+=" when acc != 0, "=" otherwise. Tiles of eight rows of C by two vectors of
   columns (AVX-512 CPUs: 16 accumulators in 32 registers) or by one vector;
   a block of eight rows that starts in the upper half of a vector (float: rows
   8-15, 24-31, ...) takes only that half-vector there (K = 64 float: 144 instead
   of 160 vector FMAs per gathered row, ~10% of the Gram). Tiles are stored as
   whole (half-)vectors, so C also receives (harmless) values left of the
   diagonal inside diagonal tiles and in columns n..round_up(n, W)-1, which must
   exist (ldc >= round_up(n, W)); other strictly-lower entries are not written.
   NumPy: C[triu] (+)= (X[:, :n].T @ X[:, :n])[triu]; s (+)= X.sum(0); sy (+)= X.T @ y */
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
#define MFC_PF_STEP                                                              \
    if (pf_left) {                                                               \
        mfc_prefetch_l2(pf_q);                                                   \
        pf_q += 64;                                                              \
        if (--pf_left == 0 && ++pf_row < pf_n) {                                 \
            pf_q = pf_base + (size_t)pf_idx[pf_row] * pf_rb;                     \
            pf_left = pf_lines;                                                  \
        }                                                                        \
    }
#else
#define MFC_PF_STEP ((void)0);
#endif
static mfc_pf mfc_pf_none = {0, 0, 1, 0, 0, 0, 0};   /* read only (pf == NULL) */

#ifndef MFC_PORTABLE
#define MFC_DEFINE_GRAM(NAME, T, W, TGT, WIDE)                                   \
typedef T NAME##_v __attribute__((vector_size(64)));                             \
typedef T NAME##_vu __attribute__((vector_size(64), aligned(sizeof(T))));        \
typedef T NAME##_h __attribute__((vector_size(32)));                             \
typedef T NAME##_hu __attribute__((vector_size(32), aligned(sizeof(T))));        \
static TGT void NAME(int m, int n, const T *X, int ldx, const T *y,              \
                            T *C, int ldc, T *s, T *sy, int acc, mfc_pf *pf) {   \
    int i0, jb, t, r, c, nb = (n + W - 1) / W, wide = WIDE;                      \
    int pf_row, pf_n, pf_lines, pf_left = 0;                                     \
    const int *pf_idx; const char *pf_base, *pf_q = 0; size_t pf_rb;             \
    if (!pf) pf = &mfc_pf_none;                                                  \
    pf_row = pf->row; pf_n = pf->n; pf_lines = pf->lines;                        \
    pf_idx = pf->idx; pf_base = pf->base; pf_rb = pf->rowbytes;                  \
    if (pf_row < pf_n) {                                                         \
        pf_q = pf_base + (size_t)pf_idx[pf_row] * pf_rb + (size_t)pf->line * 64; \
        pf_left = pf_lines - pf->line;                                           \
    }                                                                            \
    for (i0 = 0; i0 < n; i0 += 8) {                                              \
        jb = i0 / W;                                                             \
        if (2 * (i0 - jb * W) >= W) {                                            \
            /* The block's rows start in the upper half of vector jb (float: i0 = \
               8, 24, ...), so its lower half is left of every row's diagonal:   \
               only the upper half-vector is accumulated and stored (wide builds: \
               with the next whole vector beside it). The lower half of those C  \
               entries is not written (strictly lower, never read as such). */   \
            NAME##_h h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0};                     \
            NAME##_h h4 = {0}, h5 = {0}, h6 = {0}, h7 = {0};                     \
            NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \
            NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \
            const T *xp = X + (size_t)jb * W + W / 2, *xi = X + i0;              \
            int two = wide && jb + 1 < nb;                                       \
            if (two) {                                                           \
                for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                  \
                    NAME##_h u = *(const NAME##_hu *)xp;                         \
                    NAME##_v v = *(const NAME##_vu *)(xp + W / 2);               \
                    T e;                                                         \
                    MFC_PF_STEP                                                  \
                    e = xi[0]; h0 += e * u; a0 += e * v;                         \
                    e = xi[1]; h1 += e * u; a1 += e * v;                         \
                    e = xi[2]; h2 += e * u; a2 += e * v;                         \
                    e = xi[3]; h3 += e * u; a3 += e * v;                         \
                    e = xi[4]; h4 += e * u; a4 += e * v;                         \
                    e = xi[5]; h5 += e * u; a5 += e * v;                         \
                    e = xi[6]; h6 += e * u; a6 += e * v;                         \
                    e = xi[7]; h7 += e * u; a7 += e * v;                         \
                }                                                                \
            } else {                                                             \
                for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                  \
                    NAME##_h u = *(const NAME##_hu *)xp;                         \
                    MFC_PF_STEP                                                  \
                    h0 += xi[0] * u; h1 += xi[1] * u; h2 += xi[2] * u;           \
                    h3 += xi[3] * u; h4 += xi[4] * u; h5 += xi[5] * u;           \
                    h6 += xi[6] * u; h7 += xi[7] * u;                            \
                }                                                                \
            }                                                                    \
            {                                                                    \
                NAME##_hu *hp; NAME##_vu *cv;                                    \
                NAME##_h hv[8] = {h0, h1, h2, h3, h4, h5, h6, h7};               \
                NAME##_v av[8] = {a0, a1, a2, a3, a4, a5, a6, a7};               \
                for (r = 0; r < 8 && i0 + r < n; r++) {                          \
                    hp = (NAME##_hu *)(C + (size_t)(i0 + r) * ldc + jb * W + W / 2); \
                    *hp = acc ? *hp + hv[r] : hv[r];                             \
                    if (two) {                                                   \
                        cv = (NAME##_vu *)(C + (size_t)(i0 + r) * ldc + (jb + 1) * W); \
                        *cv = acc ? *cv + av[r] : av[r];                         \
                    }                                                            \
                }                                                                \
            }                                                                    \
            jb += two ? 2 : 1;                                                   \
        }                                                                        \
        for (; wide && jb + 1 < nb; jb += 2) {  /* 8 rows x 2 vectors */         \
            NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \
            NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \
            NAME##_v b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                     \
            NAME##_v b4 = {0}, b5 = {0}, b6 = {0}, b7 = {0};                     \
            const T *xp = X + (size_t)jb * W, *xi = X + i0;                      \
            for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                      \
                NAME##_v v = *(const NAME##_vu *)xp;                             \
                NAME##_v w = *(const NAME##_vu *)(xp + W);                       \
                T e;                                                             \
                MFC_PF_STEP                                                      \
                e = xi[0]; a0 += e * v; b0 += e * w;                             \
                e = xi[1]; a1 += e * v; b1 += e * w;                             \
                e = xi[2]; a2 += e * v; b2 += e * w;                             \
                e = xi[3]; a3 += e * v; b3 += e * w;                             \
                e = xi[4]; a4 += e * v; b4 += e * w;                             \
                e = xi[5]; a5 += e * v; b5 += e * w;                             \
                e = xi[6]; a6 += e * v; b6 += e * w;                             \
                e = xi[7]; a7 += e * v; b7 += e * w;                             \
            }                                                                    \
            {                                                                    \
                NAME##_vu *cv; NAME##_v av[8] = {a0, a1, a2, a3, a4, a5, a6, a7}; \
                NAME##_v bv[8] = {b0, b1, b2, b3, b4, b5, b6, b7};               \
                for (r = 0; r < 8 && i0 + r < n; r++) {                          \
                    cv = (NAME##_vu *)(C + (size_t)(i0 + r) * ldc + jb * W);     \
                    cv[0] = acc ? cv[0] + av[r] : av[r];                         \
                    cv[1] = acc ? cv[1] + bv[r] : bv[r];                         \
                }                                                                \
            }                                                                    \
        }                                                                        \
        for (; jb < nb; jb++) {                                                  \
            NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \
            NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \
            const T *xp = X + (size_t)jb * W, *xi = X + i0;                      \
            for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                      \
                NAME##_v v = *(const NAME##_vu *)xp;                             \
                MFC_PF_STEP                                                      \
                a0 += xi[0] * v; a1 += xi[1] * v; a2 += xi[2] * v;               \
                a3 += xi[3] * v; a4 += xi[4] * v; a5 += xi[5] * v;               \
                a6 += xi[6] * v; a7 += xi[7] * v;                                \
            }                                                                    \
            {                                                                    \
                NAME##_vu *cv[8]; NAME##_v av[8] = {a0, a1, a2, a3, a4, a5, a6, a7}; \
                for (r = 0; r < 8 && i0 + r < n; r++) {                          \
                    cv[r] = (NAME##_vu *)(C + (size_t)(i0 + r) * ldc + jb * W);  \
                    *cv[r] = acc ? *cv[r] + av[r] : av[r];                       \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }                                                                            \
    if (pf != &mfc_pf_none) {                                                    \
        pf->row = pf_row < pf_n ? pf_row : pf_n;                                 \
        pf->line = pf_left ? pf_lines - pf_left : 0;                             \
    }                                                                            \
    if (!acc) { for (c = 0; c < ldx; c++) { s[c] = 0; if (y) sy[c] = 0; } }      \
    /* s, sy in register accumulators, four vectors of columns per pass */       \
    for (c = 0; c + 4 * W <= ldx; c += 4 * W) {                                  \
        NAME##_vu *sp = (NAME##_vu *)(s + c), *yp = (NAME##_vu *)(sy + c);       \
        NAME##_v s0 = sp[0], s1 = sp[1], s2 = sp[2], s3 = sp[3];                 \
        const T *xt = X + c;                                                     \
        if (y) {                                                                 \
            NAME##_v y0 = yp[0], y1 = yp[1], y2 = yp[2], y3 = yp[3];             \
            for (t = 0; t < m; t++, xt += ldx) {                                 \
                NAME##_v x0 = *(const NAME##_vu *)xt;                            \
                NAME##_v x1 = *(const NAME##_vu *)(xt + W);                      \
                NAME##_v x2 = *(const NAME##_vu *)(xt + 2 * W);                  \
                NAME##_v x3 = *(const NAME##_vu *)(xt + 3 * W);                  \
                T yt = y[t];                                                     \
                s0 += x0; s1 += x1; s2 += x2; s3 += x3;                          \
                y0 += yt * x0; y1 += yt * x1; y2 += yt * x2; y3 += yt * x3;      \
            }                                                                    \
            yp[0] = y0; yp[1] = y1; yp[2] = y2; yp[3] = y3;                      \
        } else {                                                                 \
            for (t = 0; t < m; t++, xt += ldx) {                                 \
                s0 += *(const NAME##_vu *)xt;                                    \
                s1 += *(const NAME##_vu *)(xt + W);                              \
                s2 += *(const NAME##_vu *)(xt + 2 * W);                          \
                s3 += *(const NAME##_vu *)(xt + 3 * W);                          \
            }                                                                    \
        }                                                                        \
        sp[0] = s0; sp[1] = s1; sp[2] = s2; sp[3] = s3;                          \
    }                                                                            \
    for (; c < ldx; c += W) {                                                    \
        NAME##_vu *sp = (NAME##_vu *)(s + c), *yp = (NAME##_vu *)(sy + c);       \
        NAME##_v s0 = *sp, y0 = {0};                                             \
        const T *xt = X + c;                                                     \
        if (y) y0 = *yp;                                                         \
        for (t = 0; t < m; t++, xt += ldx) {                                     \
            NAME##_v x0 = *(const NAME##_vu *)xt;                                \
            s0 += x0;                                                            \
            if (y) y0 += y[t] * x0;                                              \
        }                                                                        \
        *sp = s0;                                                                \
        if (y) *yp = y0;                                                         \
    }                                                                            \
}
#endif /* !MFC_PORTABLE */

MFC_ALS_BUILDS(MFC_DEFINE_GRAM, mfc_gram_s, float, 16)
MFC_ALS_BUILDS(MFC_DEFINE_GRAM, mfc_gram_d, double, 8)
#define MFC_PF_AHEAD 16

/* Gather the factor rows of one CSR row (memory-latency bound: the rows are
   random, so rows MFC_PF_AHEAD ahead are prefetched, with their biases).
   trans == 0: X[t][k] = OF[idx[t]][k] (k < K), X[t][K..ldx-1] = 0
   trans == 1: X[k][t] = OF[idx[t]][k] (t < m), X[k][m..ldx-1] = 0
   y[t] = rat[t] - mu - OB[idx[t]]  (computed in double)
   NumPy: X[:m, :K] = OF[idx]; X[:m, K:] = 0  (trans: X[:K, :m] = OF[idx].T; X[:K, m:] = 0);
          y = (rat.astype(float64) - mu - OB[idx]).astype(T) */
#define MFC_DEFINE_GATHER(NAME, T, W, TGT, WIDE)                                 \
static TGT void NAME(int m, const int *idx, const T *rat, const T *OF,           \
                            const T *OB, int K, double mu, T *X, int ldx,        \
                            T *y, int trans) {                                   \
    int t, k;                                                                    \
    size_t bytes = (size_t)K * sizeof(T);                                        \
    for (t = 0; t < m && t < MFC_PF_AHEAD; t++) {                                \
        const char *q = (const char *)(OF + (size_t)idx[t] * K);                 \
        mfc_prefetch_range(q, bytes);                                            \
        mfc_prefetch(OB + idx[t]);                                               \
    }                                                                            \
    for (t = 0; t < m; t++) {                                                    \
        int j = idx[t];                                                          \
        const T *src = OF + (size_t)j * K;                                       \
        if (t + MFC_PF_AHEAD < m) {                                              \
            int jn = idx[t + MFC_PF_AHEAD];                                      \
            const char *q = (const char *)(OF + (size_t)jn * K);                 \
            mfc_prefetch_range(q, bytes);                                        \
            mfc_prefetch(OB + jn);                                               \
        }                                                                        \
        y[t] = (T)((double)rat[t] - mu - (double)OB[j]);                         \
        if (!trans) {                                                            \
            T *dst = X + (size_t)t * ldx;                                        \
            for (k = 0; k < K; k++) dst[k] = src[k];                             \
            for (; k < ldx; k++) dst[k] = 0;                                     \
        } else {                                                                 \
            for (k = 0; k < K; k++) X[(size_t)k * ldx + t] = src[k];             \
        }                                                                        \
    }                                                                            \
    if (trans)                                                                   \
        for (k = 0; k < K; k++)                                                  \
            for (t = m; t < ldx; t++) X[(size_t)k * ldx + t] = 0;                \
}

MFC_ALS_BUILDS(MFC_DEFINE_GATHER, mfc_gather_s, float, 16)
MFC_ALS_BUILDS(MFC_DEFINE_GATHER, mfc_gather_d, double, 8)
/* One pass of CG's operator over a gathered block, no Gram:
   u_t = X[t] . d + dbias  (or y_t - that, if y != NULL);
   q[j] = sum_t u_t X[t][j] (j < ldx),  *qbias = sum_t u_t.
   X : (m, ldx) rows [v_t, zero padding], ldx a multiple of W; d : (ldx,) finite.
   With accumulate != 0, q and *qbias are added to instead of overwritten.
   NumPy: u = X @ d + dbias (u = y - u if y); q (+)= X.T @ u; qbias (+)= u.sum() */
#ifndef MFC_PORTABLE
#define MFC_DEFINE_CGAPPLY(NAME, T, W, TGT, WIDE)                                \
typedef T NAME##_v __attribute__((vector_size(64), aligned(sizeof(T))));         \
static TGT void NAME(int m, const T *X, int ldx, const T *d, T dbias,            \
                            const T *y, T *q, T *qbias, int accumulate) {        \
    int t, j;                                                                    \
    T qb = accumulate ? *qbias : 0;                                              \
    if (!accumulate) for (j = 0; j < ldx; j++) q[j] = 0;                         \
    for (t = 0; t + 3 < m; t += 4) {   /* 4 rows per pass over q: 1 q round trip */ \
        const T *x0 = X + (size_t)t * ldx, *x1 = x0 + ldx;                       \
        const T *x2 = x1 + ldx, *x3 = x2 + ldx;                                  \
        NAME##_v c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                         \
        T u0, u1, u2, u3;                                                        \
        for (j = 0; j < ldx; j += W) {                                           \
            NAME##_v dv = *(const NAME##_v *)(d + j);                            \
            c0 += *(const NAME##_v *)(x0 + j) * dv;                              \
            c1 += *(const NAME##_v *)(x1 + j) * dv;                              \
            c2 += *(const NAME##_v *)(x2 + j) * dv;                              \
            c3 += *(const NAME##_v *)(x3 + j) * dv;                              \
        }                                                                        \
        u0 = mfc_hsum_##T(&c0) + dbias; u1 = mfc_hsum_##T(&c1) + dbias;          \
        u2 = mfc_hsum_##T(&c2) + dbias; u3 = mfc_hsum_##T(&c3) + dbias;          \
        if (y) { u0 = y[t] - u0; u1 = y[t + 1] - u1;                             \
                 u2 = y[t + 2] - u2; u3 = y[t + 3] - u3; }                       \
        for (j = 0; j < ldx; j += W)                                             \
            *(NAME##_v *)(q + j) += (u0 * *(const NAME##_v *)(x0 + j)            \
                                   + u1 * *(const NAME##_v *)(x1 + j))           \
                                  + (u2 * *(const NAME##_v *)(x2 + j)            \
                                   + u3 * *(const NAME##_v *)(x3 + j));          \
        qb += (u0 + u1) + (u2 + u3);                                             \
    }                                                                            \
    for (; t < m; t++) {                                                         \
        const T *xt = X + (size_t)t * ldx;                                       \
        NAME##_v acc = {0};                                                      \
        T u;                                                                     \
        for (j = 0; j < ldx; j += W)                                             \
            acc += *(const NAME##_v *)(xt + j) * *(const NAME##_v *)(d + j);     \
        u = mfc_hsum_##T(&acc) + dbias;                                          \
        if (y) u = y[t] - u;                                                     \
        for (j = 0; j < ldx; j += W)                                             \
            *(NAME##_v *)(q + j) += u * *(const NAME##_v *)(xt + j);             \
        qb += u;                                                                 \
    }                                                                            \
    *qbias = qb;                                                                 \
}
#endif /* !MFC_PORTABLE */

MFC_ALS_BUILDS(MFC_DEFINE_SPDSOLVE, mfc_spd_solve_s, float, 16)
MFC_ALS_BUILDS(MFC_DEFINE_SPDSOLVE, mfc_spd_solve_d, double, 8)
MFC_ALS_BUILDS(MFC_DEFINE_CGAPPLY, mfc_cg_apply_s, float, 16)
MFC_ALS_BUILDS(MFC_DEFINE_CGAPPLY, mfc_cg_apply_d, double, 8)

/* ------------------------------------------------------------ dispatch */
#define MFC_ALS_ENTRY_POINTS(S, T)                                               \
static inline int mfc_spd_solve_##S(int n, T *A, int lda, T *s, T c, T *b) {     \
    return MFC_DISPATCH3(mfc_spd_solve_##S, n, A, lda, s, c, b);                 \
}                                                                                \
static inline void mfc_rowdots_##S(int m, const T *X, int ldx, const T *y, T alpha, T *out) { \
    MFC_DISPATCH3(mfc_rowdots_##S, m, X, ldx, y, alpha, out);                    \
}                                                                                \
static inline void mfc_gram_##S(int m, int n, const T *X, int ldx, const T *y, T *C, int ldc, \
                                T *s, T *sy, int acc, mfc_pf *pf) {              \
    MFC_DISPATCH3(mfc_gram_##S, m, n, X, ldx, y, C, ldc, s, sy, acc, pf);        \
}                                                                                \
static inline void mfc_gather_##S(int m, const int *idx, const T *rat, const T *OF, \
                                  const T *OB, int K, double mu, T *X, int ldx, T *y, \
                                  int trans) {                                   \
    MFC_DISPATCH3(mfc_gather_##S, m, idx, rat, OF, OB, K, mu, X, ldx, y, trans); \
}                                                                                \
static inline void mfc_cg_apply_##S(int m, const T *X, int ldx, const T *d, T dbias, \
                                    const T *y, T *q, T *qbias, int accumulate) { \
    MFC_DISPATCH3(mfc_cg_apply_##S, m, X, ldx, d, dbias, y, q, qbias, accumulate); \
}
MFC_ALS_ENTRY_POINTS(s, float)
MFC_ALS_ENTRY_POINTS(d, double)

#endif /* MFCORE_GRAM_LDL_H */
