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

Hot loops are small C functions (pyx/include/mfcore/gram_ldl.h, written once as
macros, instantiated for float and double) so that they can be compiled as runtime-dispatched SIMD
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
# The hot loops are C, in pyx/include/mfcore/gram_ldl.h (shared helpers in simd.h),
# each written once as a macro and instantiated for float and double. The package
# is built for the baseline x86-64 ISA (no -march=native); each loop is compiled
# for every instruction-set level and the CPU's is used (see simd.h), so the wheel
# stays portable.
cdef extern from "mfcore/gram_ldl.h":
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
    ``mfc_spd_solve_*`` in gram_ldl.h, SIMD clones).
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
