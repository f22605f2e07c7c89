# cython: language_level=3
"""Inline-only fused (float/double) dense linear-algebra helpers for the kernels.

Everything here is ``cdef inline`` so that cimporting this file never makes
Cython look for a run-time ``mfcore._linalg`` module.

Storage convention (stated once, used everywhere)
-------------------------------------------------
All matrices are **row-major** (C order) with a leading dimension ``ld`` (the
row stride, in elements). Symmetric matrices keep only their **row-major upper
triangle** (``A[i*ld + j]`` for ``j >= i``); the strictly lower part is never
read and may hold garbage. A row-major upper triangle is the column-major
*lower* triangle, so every BLAS/LAPACK call below passes ``uplo='L'``.

BLAS sees a row-major ``m x n`` matrix ``X`` (row stride ``ld``) as the
column-major ``n x m`` matrix ``X.T``; the wrappers do that translation so the
callers can think in NumPy terms (the NumPy expression is written above each
call). The BLAS calls are single-threaded only if the caller holds the BLAS
pools to one thread (``mfcore._threads.blas_limited``).
"""

from cython cimport floating
from libc.math cimport sqrt
cimport scipy.linalg.cython_blas as _blas
cimport scipy.linalg.cython_lapack as _lapack


# ---------------------------------------------------------------- C helpers (SIMD clones)
# The package is built for the baseline x86-64 ISA (no -march=native). The two
# O(K^3) loops below are compiled three times by GCC's target_clones (AVX-512,
# AVX2+FMA, baseline) and the best clone is picked once at load time (ifunc), so
# the wheel stays portable. Other compilers/platforms get the plain version.
# Each function is written once as a macro and instantiated for float and double.
cdef extern from *:
    """
    #include <math.h>
    #if defined(__GNUC__) && !defined(__clang__) && (__GNUC__ >= 11) && defined(__x86_64__) && defined(__linux__)
    #define MFC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define MFC_CLONES
    #endif

    /* In-place A = U^T U, A row-major upper triangle (row stride lda). Right-looking,
       two pivots per pass so the trailing matrix is read and written half as often;
       every inner loop is a contiguous axpy. Returns 0 or k+1 (pivot k not > 0). */
    #define MFC_DEFINE_CHOL(NAME, T, SQRT)                                           \\
    MFC_CLONES static int NAME(int n, T *A, int lda) {                               \\
        int i, j, k = 0;                                                             \\
        for (; k + 1 < n; k += 2) {                                                  \\
            T *r0 = A + (size_t)k * lda, *r1 = r0 + lda;                             \\
            T d0 = r0[k], d1, inv, a, b;                                             \\
            if (!(d0 > 0)) return k + 1;                                             \\
            d0 = SQRT(d0); r0[k] = d0; inv = (T)1 / d0;                              \\
            for (j = k + 1; j < n; j++) r0[j] *= inv;                                \\
            a = r0[k + 1];                                                           \\
            for (j = k + 1; j < n; j++) r1[j] -= a * r0[j];                          \\
            d1 = r1[k + 1];                                                          \\
            if (!(d1 > 0)) return k + 2;                                             \\
            d1 = SQRT(d1); r1[k + 1] = d1; inv = (T)1 / d1;                          \\
            for (j = k + 2; j < n; j++) r1[j] *= inv;                                \\
            for (i = k + 2; i < n; i++) {                                            \\
                T *ri = A + (size_t)i * lda;                                         \\
                a = r0[i]; b = r1[i];                                                \\
                for (j = i; j < n; j++) ri[j] -= a * r0[j] + b * r1[j];              \\
            }                                                                        \\
        }                                                                            \\
        if (k < n) {                                                                 \\
            T *r0 = A + (size_t)k * lda;                                             \\
            if (!(r0[k] > 0)) return k + 1;                                          \\
            r0[k] = SQRT(r0[k]);                                                     \\
        }                                                                            \\
        return 0;                                                                    \\
    }

    /* Solve (U^T U) x = b in place. Forward sweep in axpy form; backward sweep as
       dot products with four partial sums. */
    #define MFC_DEFINE_CHOLSOLVE(NAME, T)                                            \\
    MFC_CLONES static void NAME(int n, const T *U, int lda, T *b) {                  \\
        int j, k;                                                                    \\
        for (k = 0; k < n; k++) {                                                    \\
            const T *rk = U + (size_t)k * lda;                                       \\
            T z = b[k] / rk[k];                                                      \\
            b[k] = z;                                                                \\
            for (j = k + 1; j < n; j++) b[j] -= z * rk[j];                           \\
        }                                                                            \\
        for (k = n - 1; k >= 0; k--) {                                               \\
            const T *rk = U + (size_t)k * lda;                                       \\
            T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                        \\
            for (j = k + 1; j + 3 < n; j += 4) {                                     \\
                s0 += rk[j] * b[j]; s1 += rk[j + 1] * b[j + 1];                      \\
                s2 += rk[j + 2] * b[j + 2]; s3 += rk[j + 3] * b[j + 3];              \\
            }                                                                        \\
            for (; j < n; j++) s0 += rk[j] * b[j];                                   \\
            b[k] = (b[k] - ((s0 + s1) + (s2 + s3))) / rk[k];                         \\
        }                                                                            \\
    }

    /* Register-blocked Gram of a gathered block (GCC vector extensions, 64-byte
       vectors of W lanes; lowered to AVX-512, 2 x AVX2 or 4 x SSE by the clones).
       X : row-major (m, ldx), ldx a multiple of W, columns n..ldx-1 zero.
       C[i][j] (+)= sum_t X[t][i] X[t][j]  for i <= j < n (row-major upper, stride ldc)
       s[j]    (+)= sum_t X[t][j];  sy[j] (+)= sum_t y[t] X[t][j]  (j < n; skipped if y NULL)
       "+=" when acc != 0, "=" otherwise. Eight rows of C per tile, one vector of columns. */
    #define MFC_DEFINE_GRAM(NAME, T, W)                                              \\
    typedef T NAME##_v __attribute__((vector_size(64)));                             \\
    typedef T NAME##_vu __attribute__((vector_size(64), aligned(sizeof(T))));         \\
    MFC_CLONES static void NAME(int m, int n, const T *X, int ldx, const T *y,       \\
                                T *C, int ldc, T *s, T *sy, int acc) {               \\
        int i0, jb, t, r, c, nb = (n + W - 1) / W;                                   \\
        T tmp[8][W];                                                                 \\
        for (i0 = 0; i0 < n; i0 += 8) {                                              \\
            for (jb = i0 / W; jb < nb; jb++) {                                       \\
                NAME##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                     \\
                NAME##_v a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                     \\
                const T *xp = X + (size_t)jb * W, *xi = X + i0;                      \\
                for (t = 0; t < m; t++, xp += ldx, xi += ldx) {                      \\
                    NAME##_v v = *(const NAME##_vu *)xp;                             \\
                    a0 += xi[0] * v; a1 += xi[1] * v; a2 += xi[2] * v;               \\
                    a3 += xi[3] * v; a4 += xi[4] * v; a5 += xi[5] * v;               \\
                    a6 += xi[6] * v; a7 += xi[7] * v;                                \\
                }                                                                    \\
                *(NAME##_vu *)tmp[0] = a0; *(NAME##_vu *)tmp[1] = a1;                \\
                *(NAME##_vu *)tmp[2] = a2; *(NAME##_vu *)tmp[3] = a3;                \\
                *(NAME##_vu *)tmp[4] = a4; *(NAME##_vu *)tmp[5] = a5;                \\
                *(NAME##_vu *)tmp[6] = a6; *(NAME##_vu *)tmp[7] = a7;                \\
                for (r = 0; r < 8 && i0 + r < n; r++) {                              \\
                    T *crow = C + (size_t)(i0 + r) * ldc;                            \\
                    for (c = 0; c < W; c++) {                                        \\
                        int j = jb * W + c;                                          \\
                        if (j < i0 + r || j >= n) continue;                          \\
                        crow[j] = acc ? crow[j] + tmp[r][c] : tmp[r][c];             \\
                    }                                                                \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
        if (!acc) { for (c = 0; c < n; c++) { s[c] = 0; if (y) sy[c] = 0; } }        \\
        for (t = 0; t < m; t++) {                                                    \\
            const T *xt = X + (size_t)t * ldx;                                       \\
            for (c = 0; c < n; c++) s[c] += xt[c];                                   \\
            if (y) { T yt = y[t]; for (c = 0; c < n; c++) sy[c] += yt * xt[c]; }     \\
        }                                                                            \\
    }

    MFC_DEFINE_GRAM(mfc_gram_s, float, 16)
    MFC_DEFINE_GRAM(mfc_gram_d, double, 8)
    MFC_DEFINE_CHOL(mfc_chol_upper_s, float, sqrtf)
    MFC_DEFINE_CHOL(mfc_chol_upper_d, double, sqrt)
    MFC_DEFINE_CHOLSOLVE(mfc_chol_solve_upper_s, float)
    MFC_DEFINE_CHOLSOLVE(mfc_chol_solve_upper_d, double)
    """
    int mfc_chol_upper_s(int n, float* A, int lda) noexcept nogil
    int mfc_chol_upper_d(int n, double* A, int lda) noexcept nogil
    void mfc_chol_solve_upper_s(int n, const float* U, int lda, float* b) noexcept nogil
    void mfc_chol_solve_upper_d(int n, const double* U, int lda, double* b) noexcept nogil
    void mfc_gram_s(int m, int n, const float* X, int ldx, const float* y, float* C, int ldc,
                    float* s, float* sy, int acc) noexcept nogil
    void mfc_gram_d(int m, int n, const double* X, int ldx, const double* y, double* C, int ldc,
                    double* s, double* sy, int acc) noexcept nogil


cdef inline int simd_width(floating dummy) noexcept nogil:
    """Lanes of the 64-byte vectors used by :func:`gram_block` (16 float, 8 double)."""
    if floating is float:
        return 16
    else:
        return 8


cdef inline void gram_block(int m, int n, const floating* X, int ldx, const floating* y,
                            floating* C, int ldc, floating* s, floating* sy, bint acc) noexcept nogil:
    """Gram, column sums and X.T @ y of a gathered block, register-blocked (SIMD clones).

    X  : IN row-major (m, ldx); ldx a multiple of simd_width, columns n..ldx-1 zero.
    y  : IN (m,) or NULL.
    C  : IN/OUT row-major (n, n) upper triangle, stride ldc.  s, sy : IN/OUT (n,).
    """
    # NumPy: C[triu] (+)= (X[:, :n].T @ X[:, :n])[triu]; s (+)= X[:, :n].sum(0); sy (+)= X[:, :n].T @ y
    if floating is float:
        mfc_gram_s(m, n, X, ldx, y, C, ldc, s, sy, acc)
    else:
        mfc_gram_d(m, n, X, ldx, y, C, ldc, s, sy, acc)


# ---------------------------------------------------------------- BLAS level 3
cdef inline void gram_upper(int n_rows, int n_cols, floating alpha, const floating* X, int ldx,
                            floating beta, floating* C, int ldc) noexcept nogil:
    """C = alpha * X.T @ X + beta * C (upper triangle only).

    X : IN row-major (n_rows, n_cols), row stride ldx.
    C : IN/OUT row-major (n_cols, n_cols), row stride ldc; only j >= i written.
    """
    # NumPy: C[np.triu_indices(n_cols)] = (alpha * X.T @ X + beta * C)[np.triu_indices(n_cols)]
    # column-major view: X.T is (n_cols, n_rows) -> ?syrk(uplo='L', trans='N')
    cdef char uplo = b'L'
    cdef char trans = b'N'
    if floating is float:
        _blas.ssyrk(&uplo, &trans, &n_cols, &n_rows, &alpha, <float*> X, &ldx, &beta, C, &ldc)
    else:
        _blas.dsyrk(&uplo, &trans, &n_cols, &n_rows, &alpha, <double*> X, &ldx, &beta, C, &ldc)


cdef inline void outer_upper(int n_rows, int n_cols, floating alpha, const floating* X, int ldx,
                             floating beta, floating* C, int ldc) noexcept nogil:
    """C = alpha * X @ X.T + beta * C (upper triangle only).

    X : IN row-major (n_rows, n_cols), row stride ldx.
    C : IN/OUT row-major (n_rows, n_rows), row stride ldc; only j >= i written.
    """
    # NumPy: C[np.triu_indices(n_rows)] = (alpha * X @ X.T + beta * C)[np.triu_indices(n_rows)]
    # column-major view: X.T is (n_cols, n_rows); X @ X.T = (X.T).T @ X.T -> ?syrk(uplo='L', trans='T')
    cdef char uplo = b'L'
    cdef char trans = b'T'
    if floating is float:
        _blas.ssyrk(&uplo, &trans, &n_rows, &n_cols, &alpha, <float*> X, &ldx, &beta, C, &ldc)
    else:
        _blas.dsyrk(&uplo, &trans, &n_rows, &n_cols, &alpha, <double*> X, &ldx, &beta, C, &ldc)


# ---------------------------------------------------------------- BLAS level 2
cdef inline void matvec(int n_rows, int n_cols, floating alpha, const floating* X, int ldx,
                        const floating* v, floating beta, floating* out) noexcept nogil:
    """out = alpha * X @ v + beta * out.

    X : IN row-major (n_rows, n_cols), row stride ldx;  v : IN (n_cols,);  out : IN/OUT (n_rows,).
    """
    # NumPy: out[:] = alpha * X @ v + beta * out   (column-major view: (X.T).T @ v -> trans='T')
    cdef char trans = b'T'
    cdef int one = 1
    if n_rows <= 0:
        return
    if floating is float:
        _blas.sgemv(&trans, &n_cols, &n_rows, &alpha, <float*> X, &ldx, <float*> v, &one, &beta, out, &one)
    else:
        _blas.dgemv(&trans, &n_cols, &n_rows, &alpha, <double*> X, &ldx, <double*> v, &one, &beta, out, &one)


cdef inline void rmatvec(int n_rows, int n_cols, floating alpha, const floating* X, int ldx,
                         const floating* u, floating beta, floating* out) noexcept nogil:
    """out = alpha * X.T @ u + beta * out.

    X : IN row-major (n_rows, n_cols), row stride ldx;  u : IN (n_rows,);  out : IN/OUT (n_cols,).
    """
    # NumPy: out[:] = alpha * X.T @ u + beta * out   (column-major view: X.T @ u -> trans='N')
    cdef char trans = b'N'
    cdef int one = 1
    cdef int i
    if n_rows <= 0:
        # BLAS would do the same (out = beta * out); done here to avoid a call.
        for i in range(n_cols):
            out[i] = beta * out[i] if beta != 0 else 0
        return
    if floating is float:
        _blas.sgemv(&trans, &n_cols, &n_rows, &alpha, <float*> X, &ldx, <float*> u, &one, &beta, out, &one)
    else:
        _blas.dgemv(&trans, &n_cols, &n_rows, &alpha, <double*> X, &ldx, <double*> u, &one, &beta, out, &one)


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


# ---------------------------------------------------------------- own small Cholesky
cdef inline int cholesky_upper(int n, floating* A, int lda) noexcept nogil:
    """In-place Cholesky A = U.T @ U of an SPD matrix stored in its row-major upper triangle.

    A : IN/OUT row-major (n, n), row stride lda. On success the upper triangle holds U.
    Returns 0 on success, else k + 1 for the first pivot k that is not > 0 (NaN included);
    A is then partially overwritten. Right-looking, two pivots per pass, contiguous
    axpy inner loops (C helper ``mfc_chol_upper_*`` above, SIMD clones).
    """
    # NumPy: U = np.linalg.cholesky(np.triu(A) + np.triu(A, 1).T).T
    if floating is float:
        return mfc_chol_upper_s(n, A, lda)
    else:
        return mfc_chol_upper_d(n, A, lda)


cdef inline void cholesky_solve_upper(int n, const floating* U, int lda, floating* b) noexcept nogil:
    """Solve (U.T @ U) x = b in place, U from :func:`cholesky_upper`.

    U : IN row-major (n, n) upper triangular, row stride lda.  b : IN/OUT (n,) -> x.
    """
    # NumPy: z = solve_triangular(U, b, trans='T'); b[:] = solve_triangular(U, z)
    if floating is float:
        mfc_chol_solve_upper_s(n, U, lda, b)
    else:
        mfc_chol_solve_upper_d(n, U, lda, b)


cdef inline double dot_d(int n, const floating* a, const floating* b) noexcept nogil:
    """sum(a * b) accumulated in float64 (a, b : IN (n,))."""
    cdef double s = 0
    cdef int i
    for i in range(n):
        s += <double> a[i] * <double> b[i]
    return s
