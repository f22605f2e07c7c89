# cython: language_level=3
"""Explicit-feedback ALS half-sweep kernel (biased, optional Genre-ALS priors).

One call of :func:`als_half_sweep` updates every row of one side (all users,
or all items) with the other side held fixed. The epoch loop, validation and
error raising live in Python (``mfcore.models``); this module only computes.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.math cimport NAN

from _simd cimport mfc_set_level_cap, env_level_cap, build_kind, level_hook
from _linalg cimport (xtx_apply, spd_solve, row_dots, lapack_cholesky_solve, dot_d,
                      gram_block, simd_width, gather_rows, mfc_pf, pf_set)

# Rows per gathered block in the exact (Gram) path: the block (CHUNK x Kp) stays
# in L1 (32 KiB at K=64 float32) while the register-blocked Gram reads it once per
# tile, and the scratch does not grow with the degree. 64 and 256 measured slower.
cdef enum:
    DEFAULT_CHUNK = 128
    CG_BLOCK = 128         # CG: rows gathered and consumed by the first pass while L1-hot
    CG_GRAM_BYTES = 1048576   # CG: longer gathered rows (half an L2) are applied via their Gram


# --------------------------------------------------------------------------- row kernels
cdef inline int _round_up(int n, int w) noexcept nogil:
    return ((n + w - 1) // w) * w

# ---------------------------------------------------------------- CPU dispatch (simd.h)
mfc_set_level_cap(env_level_cap())
#: how the kernels were built: 'simd', 'baseline-only' or 'portable' (see _simd.pxd)
SIMD_BUILD = build_kind()


def _simd_level(level=None):
    """Cap / report the SIMD build this module's kernels run (testing hook; top build AVX-512).

    See ``_simd.level_hook``: 2 = AVX-512, 1 = AVX2+FMA, 0 = baseline, -1 lifts the cap.
    """
    return level_hook(level, 2)



cdef double _row_gram(int n, const int* idx, const floating* rat, const floating* OF,
                      const floating* OB, int K, double mu, floating* A, floating* cs,
                      floating* xy, floating* Xb, floating* y, int chunk,
                      const int* next_idx, int next_n, double* sum_yy) noexcept nogil:
    """Gram, column sums and X.T y of one CSR row's factor rows; returns sum_j y_j.

    sum_yy : OUT sum_j y_j^2 (float64), or NULL when not needed.

    Gathers the rows in blocks of ``chunk`` (Xb : scratch (chunk, Kp), y : scratch (chunk,))
    and accumulates with the register-blocked Gram while the next block -- the rest of
    this row, else the first block of the next row (next_idx, next_n) -- is prefetched.
    A : OUT (K, Kp) upper triangle (Kp = round_up(K, W));  cs, xy : OUT (Kp,).
    """
    # NumPy: X = OF[idx]; y = rat - mu - OB[idx]; A = X.T @ X; cs = X.sum(0); xy = X.T @ y
    cdef int W = simd_width(<floating> 0)
    cdef int Kp = _round_up(K, W)
    cdef int t, start = 0, m
    cdef double sum_y = 0, yy = 0
    cdef mfc_pf pf
    while start < n:
        m = n - start
        if m > chunk:
            m = chunk
        gather_rows(m, idx + start, rat + start, OF, OB, K, mu, Xb, Kp, y, False)
        for t in range(m):
            sum_y += y[t]
        if sum_yy != NULL:
            for t in range(m):
                yy += <double> y[t] * y[t]
        if start + m < n:
            pf_set(&pf, idx + start + m, chunk if n - start - m > chunk else n - start - m, OF, K)
        else:
            pf_set(&pf, next_idx, next_n if next_n < chunk else chunk, OF, K)
        gram_block(m, K, Xb, Kp, y, A, Kp, cs, xy, start > 0, &pf)
        start += m
    if sum_yy != NULL:
        sum_yy[0] = yy
    return sum_y


cdef inline double _dot4(int K, const floating* a, const floating* b) noexcept nogil:
    """sum(a[:K] * b[:K]) in float64 with four independent chains (a, b : IN (K,))."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef int k = 0
    while k + 3 < K:
        s0 += <double> a[k] * b[k]
        s1 += <double> a[k + 1] * b[k + 1]
        s2 += <double> a[k + 2] * b[k + 2]
        s3 += <double> a[k + 3] * b[k + 3]
        k += 4
    while k < K:
        s0 += <double> a[k] * b[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef double _row_sse_direct(int n, const int* idx, const floating* rat, const floating* OF,
                            const floating* OB, int K, double mu, const floating* x) noexcept nogil:
    """Training SSE of one row at its solution x = [f_r, b_r], straight from the ratings.

    NumPy: e = rat - mu - OB[idx] - OF[idx] @ x[:K] - x[K];  return (e * e).sum()   (float64)
    Used for short rows (the dual path), whose factor rows were just read (cache-hot).
    """
    cdef double sse = 0, e
    cdef int t, j
    for t in range(n):
        j = idx[t]
        e = (<double> rat[t] - mu - <double> OB[j] - <double> x[K]
             - _dot4(K, OF + <size_t> j * K, x))
        sse += e * e
    return sse


cdef int _row_exact(int n, const int* idx, const floating* rat, const floating* OF,
                    const floating* OB, int K, double mu, double dreg, double dbias,
                    const floating* p, bint has_p, floating* A, floating* x, floating* cs,
                    floating* Mb, floating* Xb, floating* y, int chunk, int dual_max,
                    bint use_lapack, const int* next_idx, int next_n,
                    floating* b0, double* sse) noexcept nogil:
    """Solve one row exactly; x OUT (K+1,) = [f_r, b_r]. Returns 0 or a positive failure code.

    sse : OUT (or NULL) the row's training SSE at the solution, sum_j (y_j - [v_j, 1] . x)^2
    (float64). With the unregularised augmented Gram G, rhs0 = [X.T y, sum y] and the
    solution of (G + D) x = rhs0 + p it is  yy - 2 x.rhs0 + x.G x = yy - x.rhs0 + x.p - x.D x,
    so it costs three length-(K+1) dots; b0 : scratch (Vn,) keeping rhs0 across the solve.

    Scratch (W = simd_width, Kp = round_up(K, W), Vn = round_up(K+1, W)):
    A (K * Kp), x (Vn), cs (Vn), Mb (dual_max * round_up(dual_max, W)),
    Xb (max(chunk * Kp, K * round_up(dual_max, W))), y (max(chunk, round_up(dual_max, W))).
    p : IN (K+1,) prior term [tau * c_r, tau_b * bc_r] (read only if has_p).
    next_idx : IN (next_n,) column indices of the row this thread will probably solve
    next (NULL if none): their factor rows are prefetched during the last Gram.
    """
    cdef int K1 = K + 1
    cdef int W = simd_width(<floating> 0)
    cdef int Kp = _round_up(K, W)
    cdef int lda = Kp                 # A holds the K x K factor block only
    cdef int i, j, k, t, info, ld
    cdef double sum_y, yy = 0, acc
    cdef floating inv_reg, inv_bias, gk
    cdef floating* row
    cdef mfc_pf pf
    if next_n > chunk:
        next_n = chunk
    if n < dual_max and dreg > 0 and dbias > 0:
        # Dual (Woodbury) form, an n x n solve. With D = diag(dreg,...,dreg, dbias),
        # g = D^-1 p and M = I + X D^-1 X.T:   x = g + D^-1 X.T M^-1 (y - X g).
        # V is gathered transposed, Xt[k, t] = v_{j_t}[k], so M's Gram is over K rows.
        ld = _round_up(n, W)
        gather_rows(n, idx, rat, OF, OB, K, mu, Xb, ld, y, True)
        inv_reg = <floating> (1.0 / dreg)
        inv_bias = <floating> (1.0 / dbias)
        if has_p:
            # NumPy: g = p / D ;  y -= V @ g[:K] + g[K]
            for k in range(K):
                x[k] = p[k] * inv_reg
            x[K] = p[K] * inv_bias
            for t in range(n):
                y[t] = y[t] - x[K]
            for k in range(K):
                gk = x[k]
                row = Xb + <size_t> k * ld
                for t in range(n):
                    y[t] = y[t] - gk * row[t]
        else:
            for k in range(K1):
                x[k] = 0
        # NumPy: M = I + V @ V.T / dreg + 1 / dbias   (upper triangle, stride ld, zero padding)
        pf_set(&pf, next_idx, next_n, OF, K)
        gram_block(K, n, Xb, ld, NULL, Mb, ld, cs, NULL, False, &pf)
        for i in range(n):
            row = Mb + <size_t> i * ld
            for j in range(i, n):
                row[j] = row[j] * inv_reg + inv_bias
            row[i] = row[i] + 1
            for j in range(n, ld):
                row[j] = 0
        info = spd_solve(n, Mb, ld, NULL, 0, y)    # y <- t = M^-1 (y - X g)
        if info != 0:
            return info
        # NumPy: x[:K] = g[:K] + V.T @ t / dreg ;  x[K] = g[K] + t.sum() / dbias
        for t in range(n, ld):
            y[t] = 0
        row_dots(K, Xb, ld, y, inv_reg, x)
        sum_y = 0
        for t in range(n):
            sum_y += y[t]
        x[K] = x[K] + <floating> (sum_y / dbias)
        if sse != NULL:
            sse[0] = _row_sse_direct(n, idx, rat, OF, OB, K, mu, x)
        return 0

    # Primal form: the (K+1) x (K+1) system [[G, s], [s.T, c]] [f; b] = [r; rb] with
    # G = X.T X + dreg I (+ tau I), s = sum_j v_j, c = n + dbias, r = X.T y (+ tau c_r),
    # rb = sum_j y_j (+ tau_b bc_r). The bias is the border of a bordered solve, so G's
    # rows are whole SIMD vectors (K = 64: four per row, no fifth for one column).
    if K == 0:
        for i in range(K1):
            x[i] = 0
            cs[i] = 0
    # NumPy: A = X.T @ X ; cs = X.sum(0) ; x[:K] = X.T @ y   (lda == Kp)
    sum_y = _row_gram(n, idx, rat, OF, OB, K, mu, A, cs, x, Xb, y, chunk, next_idx, next_n,
                      &yy if sse != NULL else NULL)
    for i in range(K):
        A[<size_t> i * lda + i] += <floating> dreg
    x[K] = <floating> sum_y
    if sse != NULL:
        for i in range(K1):
            b0[i] = x[i]
    if has_p:
        for i in range(K1):
            x[i] = x[i] + p[i]
    if use_lapack:
        # the (K+1) x (K+1) matrix rebuilt in Mb (sized for it when use_lapack)
        info = _lapack_bordered(K, A, lda, cs, <floating> (n + dbias), x, Mb)
    else:
        info = spd_solve(K, A, lda, cs, <floating> (n + dbias), x)
    if sse != NULL and info == 0:
        # NumPy: yy - x @ rhs0 + x @ p - x @ (D x)
        acc = yy - dot_d(K1, x, b0) - dreg * dot_d(K, x, x) - dbias * (<double> x[K] * x[K])
        if has_p:
            acc = acc + dot_d(K1, x, p)
        sse[0] = acc if acc > 0 else 0
    return info


cdef int _lapack_bordered(int K, const floating* A, int lda, const floating* s, floating c,
                          floating* x, floating* M) noexcept nogil:
    """Benchmark path: copy [[A, s], [s.T, c]] into M ((K+1) x (K+1), row-major upper)
    and solve with LAPACK ?potrf/?potrs; x IN/OUT (K+1,). M : scratch of (K+1)^2."""
    cdef int K1 = K + 1, i, j
    for i in range(K):
        for j in range(i, K):
            M[<size_t> i * K1 + j] = A[<size_t> i * lda + j]
        M[<size_t> i * K1 + K] = s[i]
    M[<size_t> K * K1 + K] = c
    return lapack_cholesky_solve(K1, M, K1, x)


cdef inline void _aug_gram_apply(int K, int Kp, const floating* G, const floating* gs, double cnt,
                                 const floating* d, floating* q) noexcept nogil:
    """q = [[G, gs], [gs.T, cnt]] @ d for the augmented Gram of a row (no D).

    G : IN (K, Kp) full symmetric, zero padding columns;  gs : IN (Kp,) column sums;
    d : IN (>= Kp and > K,) with d[K] the bias part and zero padding;  q : OUT (K+1,).
    """
    cdef int i
    # NumPy: q[:K] = G @ d[:K] + gs * d[K] ;  q[K] = gs @ d[:K] + cnt * d[K]
    for i in range(K):
        q[i] = gs[i] * d[K]
    row_dots(K, G, Kp, d, 1, q)
    q[K] = <floating> (dot_d(K, gs, d) + cnt * d[K])


cdef int _row_cg(int n, const int* idx, const floating* rat, const floating* OF,
                 const floating* OB, int K, double mu, double dreg, double dbias,
                 const floating* p, bint has_p, floating* x, floating* Xb, floating* y,
                 floating* r, floating* d, floating* q, int steps, int gram_rows,
                 floating* G, floating* gs, const int* next_idx, int next_n,
                 floating* b0, double* sse) noexcept nogil:
    """cg_steps conjugate-gradient steps on A x = rhs from the warm start x.

    sse : OUT (or NULL) the row's training SSE at the final x (float64): for rows held
    whole in Xb, ||y - X x - b_r||^2 from one more pass over the gathered rows (L2-hot);
    for Gram-mode rows yy - 2 x.rhs0 + x.G x with G the augmented Gram (b0 : scratch
    (Vn,) keeping rhs0).

    Rows with fewer than gram_rows ratings (or gram_rows == 0): A = X.T X + D is applied
    as X.T (X v) + D v in one fused pass over the gathered rows (no Gram). Longer rows,
    whose gathered block would not stay in L2 and so be streamed again on every step,
    form the (K+1) x (K+1) Gram once (register-blocked, L1-sized blocks) and apply that.
    x : IN/OUT (Vn,) = [f_r, b_r, 0...] with Vn = round_up(K+1, W);
    r, d, q : scratch (Vn,); Xb : scratch (n, Kp) (CG_BLOCK rows in Gram mode);
    y : scratch (n,); G : scratch (K, Kp); gs : scratch (Kp,).
    next_idx, next_n : the next row's columns, prefetched during the last Gram block.
    Returns 0, or 1 if a curvature d.A d was not > 0 (singular system; x meaningless).
    """
    cdef int K1 = K + 1
    cdef int W = simd_width(<floating> 0)
    cdef int Kp = _round_up(K, W)
    cdef int Vn = _round_up(K1, W)
    cdef int i, j, it, start, m
    cdef double rr, rr_new, dq, alpha, beta, sum_y, yy = 0, acc
    cdef floating qb = 0, xb
    cdef bint use_gram = gram_rows > 0 and n >= gram_rows
    for i in range(K1, Vn):
        r[i] = 0
        d[i] = 0
        q[i] = 0
    if use_gram:
        # NumPy: G = X.T @ X ; gs = X.sum(0) ; r = [X.T @ y, y.sum()] - [[G, gs], [gs.T, n]] @ x
        sum_y = _row_gram(n, idx, rat, OF, OB, K, mu, G, gs, r, Xb, y, CG_BLOCK, next_idx, next_n,
                          &yy if sse != NULL else NULL)
        for i in range(K):                 # full symmetric G (the kernel writes the upper part)
            for j in range(i):
                G[<size_t> i * Kp + j] = G[<size_t> j * Kp + i]
        r[K] = <floating> sum_y
        if sse != NULL:
            for i in range(K1):
                b0[i] = r[i]
        _aug_gram_apply(K, Kp, G, gs, n, x, q)
        for i in range(K1):
            r[i] = r[i] - q[i]
    else:
        # NumPy: r = X.T @ (y - X @ x)   -- fused with the gather, block by block,
        # while each gathered block is still in L1 (saves one pass over X for long rows).
        xb = x[K]
        if Kp > K:
            x[K] = 0           # the factor part seen by the kernel: padding must be 0 / finite
        start = 0
        while start < n or start == 0:
            m = n - start
            if m > CG_BLOCK:
                m = CG_BLOCK
            gather_rows(m, idx + start, rat + start, OF, OB, K, mu, Xb + <size_t> start * Kp, Kp,
                        y + start, False)
            xtx_apply(m, Xb + <size_t> start * Kp, Kp, x, xb, y + start, r, &qb, start > 0)
            start += m
            if m == 0:
                break
        x[K] = xb
        r[K] = qb
    # NumPy: r += p - D x
    for i in range(K):
        r[i] = r[i] - <floating> dreg * x[i]
    r[K] = r[K] - <floating> dbias * x[K]
    if has_p:
        for i in range(K1):
            r[i] = r[i] + p[i]
    for i in range(K1):
        d[i] = r[i]
    rr = dot_d(K1, r, r)
    for it in range(steps):
        if rr == 0:
            break
        # NumPy: q = X.T @ (X @ d) + D d
        if use_gram:
            _aug_gram_apply(K, Kp, G, gs, n, d, q)
        elif Kp > K:
            qb = d[K]
            d[K] = 0
            xtx_apply(n, Xb, Kp, d, qb, NULL, q, &q[K])
            d[K] = qb
        else:
            xtx_apply(n, Xb, Kp, d, d[K], NULL, q, &q[K])
        for i in range(K):
            q[i] = q[i] + <floating> dreg * d[i]
        q[K] = q[K] + <floating> dbias * d[K]
        dq = dot_d(K1, d, q)
        if not (dq > 0):
            return 1
        alpha = rr / dq
        for i in range(K1):
            x[i] = x[i] + <floating> alpha * d[i]
            r[i] = r[i] - <floating> alpha * q[i]
        rr_new = dot_d(K1, r, r)
        beta = rr_new / rr
        rr = rr_new
        for i in range(K1):
            d[i] = r[i] + <floating> beta * d[i]
    if sse != NULL:
        if use_gram:
            # NumPy: yy - 2 x @ rhs0 + x @ (G_aug @ x)
            _aug_gram_apply(K, Kp, G, gs, n, x, q)
            acc = yy - 2 * dot_d(K1, x, b0) + dot_d(K1, x, q)
            sse[0] = acc if acc > 0 else 0
        else:
            # NumPy: e = y - X @ x[:K] - x[K];  (e * e).sum()   (y overwritten by e)
            xb = x[K]
            if Kp > K:
                x[K] = 0
            row_dots(n, Xb, Kp, x, -1, y)
            if Kp > K:
                x[K] = xb
            acc = 0
            for i in range(n):
                acc = acc + (<double> y[i] - xb) * (<double> y[i] - xb)
            sse[0] = acc
    return 0


# --------------------------------------------------------------------------- public kernel
def als_half_sweep(const int[::1] indptr, const int[::1] indices, const floating[::1] ratings,
                   const floating[:, ::1] other_factors, const floating[::1] other_bias,
                   double mu,
                   floating[:, ::1] factors, floating[::1] bias,
                   double reg, double reg_bias, bint scale_by_count,
                   prior, double prior_weight,
                   bias_prior, double bias_prior_weight,
                   int solver, int cg_steps, int num_threads,
                   *, int dual_threshold=-1, int chunk_rows=DEFAULT_CHUNK, bint use_lapack=False,
                   int cg_gram_rows=-1, row_sse=None):
    """One ALS half-sweep: re-solve every row of one side with the other side fixed.

    For row r with observed columns J (one CSR row), targets y_j = r_rj - mu - b_j
    and augmented x_j = [v_j, 1] (length K+1), the row's vector and bias solve
    jointly::

        A   = sum_j x_j x_j^T + diag(s*reg,..,s*reg, s*reg_bias) + diag(tau,..,tau, tau_b)
        rhs = sum_j y_j x_j + [tau * c_r, tau_b * bc_r]
        [f_r, b_r] = A^{-1} rhs            (s = |J| if scale_by_count else 1)

    Rows with no ratings get the prior-only solution ``rhs_k / D_kk`` (0 where
    ``D_kk == 0``), i.e. zeros without a prior.

    Parameters
    ----------
    indptr : IN int32 (n_rows + 1,)
        CSR row pointer of the ratings (rows = the side being solved).
    indices : IN int32 (nnz,)
        CSR column indices into ``other_factors`` (any order; not range-checked here).
    ratings : IN floating (nnz,)
        Observed ratings.
    other_factors : IN floating (n_cols, K), C-contiguous
        Fixed factors of the other side.
    other_bias : IN floating (n_cols,)
        Fixed biases of the other side.
    mu : float
        Global mean rating.
    factors : IN/OUT floating (n_rows, K), C-contiguous
        Overwritten with the solution (row by row). Read as the warm start by CG.
    bias : IN/OUT floating (n_rows,)
        Overwritten likewise.
    reg, reg_bias : float >= 0
        Ridge on the factors / on the bias (times |J| if ``scale_by_count``).
    scale_by_count : bool
        Multiply reg and reg_bias by the row's rating count.
    prior : IN floating (n_rows, K) or None
        Genre-ALS centroid c_r per row; ``prior_weight`` (tau) ignored if None.
    prior_weight : float >= 0
        tau.
    bias_prior : IN floating (n_rows,) or None
        Bias prior bc_r; ``bias_prior_weight`` (tau_b) ignored if None.
    bias_prior_weight : float >= 0
        tau_b.
    solver : int
        0 = exact (an LDL^T factorization, i.e. square-root-free Cholesky; rows with
        fewer ratings than ``dual_threshold`` use the equivalent n x n dual form), 1 = ``cg_steps`` conjugate-gradient steps
        warm-started from the current [f_r, b_r].
    cg_steps : int >= 0
        CG steps per row (solver 1 only).
    num_threads : int >= 1
        OpenMP threads (rows are scheduled dynamically).
    dual_threshold : int, keyword-only (tuning/testing)
        Rows with 1 <= n < dual_threshold ratings use the dual form when every
        diagonal regulariser is > 0. -1 = K + 1 (default), 0 = never.
    chunk_rows : int, keyword-only (tuning)
        Rows gathered per Gram block in the primal exact path (default 128).
    use_lapack : bool, keyword-only (benchmark)
        Solve primal rows with LAPACK ?potrf/?potrs instead of the built-in solver
        (hold BLAS to one thread around the call: ``mfcore._threads.blas_limited``).
    cg_gram_rows : int, keyword-only (tuning/testing)
        CG path: rows with at least this many ratings form their Gram once instead of
        passing over the gathered rows on every step. -1 = rows whose gathered block
        would exceed 1 MiB (half an L2 cache: 4,096 ratings at K=64 float32), 0 = never.
    row_sse : OUT float64 (n_rows,) or None, keyword-only
        If given, row r receives its training sum of squared errors at the new solution,
        sum_j (r_rj - mu - b_j - f_r . v_j - b_r)^2 (0 for an empty row), float64,
        derived from the normal equations the solve has already formed (exact path:
        yy - x.rhs - x.D x + x.p; CG: one more pass over the gathered rows, or the
        Gram for long rows; dual rows: directly). Summed over the item half-sweep,
        which ends an epoch, it is the epoch's training SSE at almost no cost.
        Failed rows are left unwritten.

    Returns
    -------
    int
        -1 if every row was solved, else the lowest row index whose factorization
        failed (a pivot not > 0, or a CG curvature not > 0). Failed rows are left
        unchanged (never written as NaN); the others are updated.

    Notes
    -----
    *Triangle.* Symmetric matrices are built and read in their row-major **upper**
    triangle, which is the column-major lower triangle: the LAPACK path passes
    ``uplo='L'``. The scratch matrix's strictly lower part is poisoned with NaN at
    allocation and never feeds a result (tested with ``_spd_solve``).

    *Exact path (solver 0).* Rows with n >= dual_threshold ratings: the factor rows
    are gathered (software prefetch) in blocks of ``chunk_rows``; a register-blocked
    Gram (8 rows x two 64-byte vectors per tile on AVX-512 CPUs, else x one)
    accumulates X.T X, the column sums (bias row of the augmented Gram) and X.T y;
    while it runs, the factor rows of the next block (the rest of this row, else the
    first block of row r + 1) are prefetched into L2, one cache line per tile
    iteration, so their misses overlap arithmetic. Then an own SPD solver of the
    bordered (K+1) x (K+1) system [[G_K, s], [s.T, c]] (``spd_solve``): right-looking
    LDL^T over the K x K block first (four pivots per pass, whole-vector updates of
    its rows, which stay whole SIMD vectors; the border column s and the right-hand
    side eliminated along), the bias the **last** pivot (the corner), then a
    column-oriented back substitution. Rows with
    1 <= n < dual_threshold (default K + 1) and all D > 0 use the Woodbury/dual form
    x = g + D^-1 X.T (I + X D^-1 X.T)^-1 (y - X g), g = D^-1 p: an n x n solve.
    The hot loops are C (pyx/include/mfcore/gram_ldl.h) built for AVX-512 / AVX2 /
    baseline and picked at run time (simd.h), so the build needs no -march flag. No BLAS is called (unless use_lapack).

    *CG path (solver 1).* Each step applies A v = X.T (X v) + D v in one fused pass
    over the gathered rows; dot products of the K+1 vectors accumulate in float64.
    Rows of at least ``cg_gram_rows`` ratings (by default those whose gathered rows
    exceed 1 MiB, which would be streamed from L3 again on every step) form their
    (K+1) x (K+1) Gram once, as the exact path does, and apply it instead.

    *Determinism.* Each row is solved by one thread with a fixed operation order, so
    results are bit-identical for any ``num_threads`` on a given machine (the SIMD
    clone, hence the rounding, may differ between CPUs).

    *Memory.* Scratch is allocated once per call: per thread about
    ((K+1) + dual_threshold) * round_up(K+1, W) + chunk_rows * round_up(K, W) elements
    for the exact solver (~90 KiB at K=64 float32); for CG min(max_degree, cg_gram_rows)
    * round_up(K, W) plus a K x round_up(K, W) Gram (~1.1 MiB at K=64 float32).
    """
    cdef Py_ssize_t n_rows = factors.shape[0]
    cdef int K = <int> factors.shape[1]
    cdef int K1 = K + 1
    cdef Py_ssize_t nnz = indices.shape[0]
    cdef const floating[:, ::1] prior_mv
    cdef const floating[::1] bprior_mv
    cdef const floating* prior_ptr = NULL
    cdef const floating* bprior_ptr = NULL
    cdef Py_ssize_t r
    cdef int t, tid, n, info, k, max_deg = 0, buf_rows, dual_max, chunk
    cdef size_t per_thread, xb_size = 0, m_size = 0
    cdef int W, lda
    cdef floating* cs
    cdef floating* Mb
    cdef void* raw = NULL
    cdef floating* scratch = NULL
    cdef int* first_fail = NULL
    cdef floating* A
    cdef floating* x
    cdef floating* p
    cdef floating* Xb
    cdef floating* y
    cdef floating* rv
    cdef floating* dv
    cdef floating* qv
    cdef floating* b0
    cdef double[::1] sse_mv
    cdef double* sse_out = NULL
    cdef double* sse_row
    cdef double s, dreg, dbias, tau = prior_weight, tau_b = bias_prior_weight
    cdef bint has_prior, has_bprior, has_p
    cdef const int* ip
    cdef const int* ix
    cdef const floating* rt
    cdef const floating* OF
    cdef const floating* OB
    cdef floating* F
    cdef floating* B
    cdef int result = -1

    # ---- O(1) consistency checks (full validation is the Python layer's job)
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr must have n_rows + 1 = {n_rows + 1} entries (factors has "
                         f"{n_rows} rows), got {indptr.shape[0]}")
    if ratings.shape[0] != nnz:
        raise ValueError(f"ratings must have len(indices) = {nnz} entries, got {ratings.shape[0]}")
    if indptr[0] != 0 or indptr[n_rows] != nnz:
        raise ValueError(f"indptr must start at 0 and end at nnz = {nnz}, got "
                         f"{indptr[0]} .. {indptr[n_rows]}")
    if other_factors.shape[1] != K:
        raise ValueError(f"other_factors must have K = {K} columns like factors, got "
                         f"{other_factors.shape[1]}")
    if other_bias.shape[0] != other_factors.shape[0]:
        raise ValueError(f"other_bias must have {other_factors.shape[0]} entries, got "
                         f"{other_bias.shape[0]}")
    if bias.shape[0] != n_rows:
        raise ValueError(f"bias must have {n_rows} entries like factors, got {bias.shape[0]}")
    if solver != 0 and solver != 1:
        raise ValueError(f"solver must be 0 (cholesky) or 1 (cg), got {solver}")
    if cg_steps < 0:
        raise ValueError(f"cg_steps must be >= 0, got {cg_steps}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    has_prior = prior is not None
    has_bprior = bias_prior is not None
    if has_prior:
        try:
            prior_mv = prior
        except (ValueError, TypeError) as exc:
            raise TypeError(f"prior must be a C-contiguous {'float32' if floating is float else 'float64'}"
                            f" array like factors: {exc}") from None
        if prior_mv.shape[0] != n_rows or prior_mv.shape[1] != K:
            raise ValueError(f"prior must have shape ({n_rows}, {K}), got "
                             f"({prior_mv.shape[0]}, {prior_mv.shape[1]})")
        if n_rows > 0 and K > 0:
            prior_ptr = &prior_mv[0, 0]
        else:
            has_prior = False
    if has_bprior:
        try:
            bprior_mv = bias_prior
        except (ValueError, TypeError) as exc:
            raise TypeError(f"bias_prior must be a C-contiguous {'float32' if floating is float else 'float64'}"
                            f" array like bias: {exc}") from None
        if bprior_mv.shape[0] != n_rows:
            raise ValueError(f"bias_prior must have shape ({n_rows},), got ({bprior_mv.shape[0]},)")
        if n_rows > 0:
            bprior_ptr = &bprior_mv[0]
        else:
            has_bprior = False
    if not has_prior:
        tau = 0
    if not has_bprior:
        tau_b = 0
    has_p = has_prior or has_bprior
    if row_sse is not None:
        try:
            sse_mv = row_sse
        except (ValueError, TypeError) as exc:
            raise TypeError(f"row_sse must be a writable C-contiguous float64 array: {exc}") from None
        if sse_mv.shape[0] != n_rows:
            raise ValueError(f"row_sse must have shape ({n_rows},), got ({sse_mv.shape[0]},)")
        if n_rows > 0:
            sse_out = &sse_mv[0]
    if n_rows == 0:
        return -1

    ip = &indptr[0]
    ix = &indices[0] if nnz > 0 else NULL
    rt = &ratings[0] if nnz > 0 else NULL
    OF = &other_factors[0, 0] if (other_factors.shape[0] > 0 and K > 0) else NULL
    OB = &other_bias[0] if other_bias.shape[0] > 0 else NULL
    F = &factors[0, 0] if K > 0 else NULL
    B = &bias[0]

    dual_max = K1 if dual_threshold < 0 else dual_threshold
    if dual_max > K1:
        dual_max = K1          # the n x n matrix must fit in the (K+1)^2 scratch
    chunk = chunk_rows
    for r in range(n_rows):
        n = ip[r + 1] - ip[r]
        if n > max_deg:
            max_deg = n
    W = 16 if floating is float else 8
    lda = _round_up(K1, W)              # vectors of K+1 entries; A uses K * round_up(K, W)
    if solver == 0:
        buf_rows = chunk if chunk > _round_up(dual_max, W) else _round_up(dual_max, W)
        xb_size = <size_t> chunk * _round_up(K, W)
        if <size_t> K * _round_up(dual_max, W) > xb_size:
            xb_size = <size_t> K * _round_up(dual_max, W)
        m_size = <size_t> dual_max * _round_up(dual_max, W)
        if use_lapack and m_size < <size_t> K1 * K1:
            m_size = <size_t> K1 * K1          # _lapack_bordered rebuilds the K+1 system in Mb
        # A, x, p, cs, M, Xb, y  (every block a multiple of W elements)
        per_thread = (<size_t> K1 * lda + 4 * <size_t> lda + m_size + _round_up(<int> xb_size, W)
                      + _round_up(buf_rows, W))
    else:
        if cg_gram_rows < 0:
            cg_gram_rows = CG_GRAM_BYTES // (_round_up(K, W) * sizeof(floating)) if K > 0 else 0
            if cg_gram_rows < 1:
                cg_gram_rows = 1
        # rows of Xb / y: whole rows below cg_gram_rows, CG_BLOCK-row blocks above
        buf_rows = max_deg
        if cg_gram_rows > 0 and buf_rows > cg_gram_rows - 1:
            buf_rows = cg_gram_rows - 1 if cg_gram_rows - 1 > CG_BLOCK else CG_BLOCK
        # x, p, r, d, q (lda each), Xb (buf_rows * Kp), y (buf_rows), G (K * Kp), gs (Kp)
        per_thread = (6 * <size_t> lda + <size_t> buf_rows * _round_up(K, W) + _round_up(buf_rows, W)
                      + <size_t> (K + 1) * _round_up(K, W))
    per_thread = (per_thread + 15) & ~(<size_t> 15)      # keep every thread's block 64-byte aligned

    raw = malloc(per_thread * num_threads * sizeof(floating) + 64)
    scratch = <floating*> ((<size_t> raw + 63) & ~(<size_t> 63)) if raw != NULL else NULL
    first_fail = <int*> malloc(num_threads * sizeof(int))
    try:
        if scratch == NULL or first_fail == NULL:
            raise MemoryError(f"als_half_sweep: cannot allocate {per_thread * num_threads * sizeof(floating)}"
                              f" bytes of scratch for {num_threads} threads")
        for t in range(num_threads):
            first_fail[t] = -1
            if solver == 0:
                A = scratch + <size_t> t * per_thread
                for k in range(K1 * lda):
                    A[k] = NAN      # poison: the strictly lower triangle must never feed a result
        with nogil:
            for r in prange(n_rows, schedule='dynamic', chunksize=4, num_threads=num_threads):
                tid = threadid()
                n = ip[r + 1] - ip[r]
                s = n if scale_by_count else 1
                dreg = s * reg + tau
                dbias = s * reg_bias + tau_b
                if solver == 0:
                    A = scratch + <size_t> tid * per_thread
                    x = A + <size_t> K1 * lda
                    p = x + lda
                    cs = p + lda
                    b0 = cs + lda
                    Mb = b0 + lda
                    Xb = Mb + m_size
                    y = Xb + _round_up(<int> xb_size, W)
                else:
                    x = scratch + <size_t> tid * per_thread
                    p = x + lda
                    rv = p + lda
                    dv = rv + lda
                    qv = dv + lda
                    b0 = qv + lda
                    Xb = b0 + lda
                    y = Xb + <size_t> buf_rows * _round_up(K, W)
                    A = y + _round_up(buf_rows, W)          # the Gram of a long row
                    cs = A + <size_t> K * _round_up(K, W)
                if has_p:
                    for k in range(K):
                        p[k] = <floating> (tau * prior_ptr[<size_t> r * K + k]) if has_prior else 0
                    p[K] = <floating> (tau_b * bprior_ptr[r]) if has_bprior else 0
                sse_row = (sse_out + r) if sse_out != NULL else NULL
                if n == 0:
                    # A = D (diagonal): prior-only solution, 0 where D_kk == 0.
                    if sse_row != NULL:
                        sse_row[0] = 0
                    for k in range(K):
                        F[<size_t> r * K + k] = <floating> (p[k] / dreg) if (has_p and dreg > 0) else 0
                    B[r] = <floating> (p[K] / dbias) if (has_p and dbias > 0) else 0
                    continue
                if solver == 0:
                    info = _row_exact(n, ix + ip[r], rt + ip[r], OF, OB, K, mu, dreg, dbias, p, has_p,
                                      A, x, cs, Mb, Xb, y, chunk, dual_max, use_lapack,
                                      ix + ip[r + 1] if r + 1 < n_rows else NULL,
                                      ip[r + 2] - ip[r + 1] if r + 1 < n_rows else 0, b0, sse_row)
                else:
                    for k in range(K):
                        x[k] = F[<size_t> r * K + k]
                    x[K] = B[r]
                    for k in range(K1, lda):
                        x[k] = 0
                    info = _row_cg(n, ix + ip[r], rt + ip[r], OF, OB, K, mu, dreg, dbias, p, has_p,
                                   x, Xb, y, rv, dv, qv, cg_steps, cg_gram_rows, A, cs,
                                   ix + ip[r + 1] if r + 1 < n_rows else NULL,
                                   ip[r + 2] - ip[r + 1] if r + 1 < n_rows else 0, b0, sse_row)
                if info != 0:
                    if first_fail[tid] < 0 or r < first_fail[tid]:
                        first_fail[tid] = <int> r
                    continue
                for k in range(K):
                    F[<size_t> r * K + k] = x[k]
                B[r] = x[K]
        for t in range(num_threads):
            if first_fail[t] >= 0 and (result < 0 or first_fail[t] < result):
                result = first_fail[t]
    finally:
        free(raw)
        free(first_fail)
    return result


def _spd_solve(floating[:, ::1] A, floating[::1] b, bint use_lapack=False, bint bordered=False):
    """Test hook: solve A x = b with the kernel's own SPD solver (or LAPACK).

    A : IN floating (n, n), C-contiguous; only the row-major upper triangle is meant
        to be read (the strictly lower part may hold anything, e.g. NaN). The matrix
        is copied, with its lower part, into the kernel's padded layout.
    b : IN/OUT floating (n,) -> x (left unchanged on failure).
    bordered : solve with the last row/column of A as the border (the kernel's bias),
        i.e. the (n-1) x (n-1) block in SIMD rows plus border column and corner.
    Returns the solver's info: 0 on success, k + 1 if pivot k was not > 0.
    """
    cdef int n = <int> A.shape[0]
    cdef int W = 16 if floating is float else 8
    cdef int core = n - 1 if (bordered and not use_lapack) else n
    cdef int ld = _round_up(core, W)
    cdef int info = 0, i, j
    cdef floating* buf
    cdef floating* rhs
    cdef floating* border
    if A.shape[1] != n or b.shape[0] != n:
        raise ValueError(f"A must be square (n, n) and b (n,), got A {A.shape[0]}x{A.shape[1]}, b {b.shape[0]}")
    if n == 0:
        return 0
    buf = <floating*> malloc((<size_t> core * ld + 2 * <size_t> (n + W)) * sizeof(floating))
    if buf == NULL:
        raise MemoryError("_spd_solve: cannot allocate scratch")
    rhs = buf + <size_t> core * ld
    border = rhs + n + W
    try:
        with nogil:
            for i in range(core):
                for j in range(ld):
                    buf[<size_t> i * ld + j] = A[i, j] if j < core else 0
                border[i] = A[i, n - 1]
            for j in range(n):
                rhs[j] = b[j]
            if use_lapack:
                info = lapack_cholesky_solve(n, buf, ld, rhs)
            elif core < n:
                info = spd_solve(core, buf, ld, border, A[n - 1, n - 1], rhs)
            else:
                info = spd_solve(n, buf, ld, NULL, 0, rhs)
            if info == 0:
                for j in range(n):
                    b[j] = rhs[j]
    finally:
        free(buf)
    return info
