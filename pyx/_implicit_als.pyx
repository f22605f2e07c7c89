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

For speed the rows y_j (j in J) of a user are first copied ("gathered") into a
per-thread contiguous buffer when they fit in it (32 MiB per thread), so the
CG passes run BLAS gemv on contiguous memory, block by block while a block is
in cache, instead of jumping around Y; longer rows are processed in place by a
fused dot/axpy loop (CG) that prefetches the rows a few entries ahead and is
compiled twice (baseline SSE2 and AVX+FMA, chosen at load time by the CPU,
GCC/Linux only). Cholesky accumulates A_u with gemm over gathered blocks of at
most 4 MiB. The sums of the gathered and in-place paths are ordered
differently, so they agree to rounding, not bit for bit; which path a row takes
depends only on its length, never on the thread count.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t, int64_t

cimport cython
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
from scipy.linalg.cython_lapack cimport spotrf, dpotrf, spotrs, dpotrs

cdef enum:
    # Per-thread bytes for the gathered copy of a row's Y_u (rows of Y_u that do
    # not fit are processed in place by the fused loop).
    GATHER_BYTES = 33554432
    # Rows of a gathered Y_u handled per pair of gemv calls (CG), so both
    # passes over a block find it in cache.
    BLOCK = 2048
    # Per-thread bytes for each of the two Cholesky accumulation blocks.
    CHOL_BLOCK_BYTES = 4194304


cdef extern from *:
    """
    #include <stdint.h>
    /* Runtime CPU dispatch for the hot loops: on x86-64 Linux with GCC the
       loader picks an AVX+FMA build when the CPU has FMA (ifunc), else the
       baseline SSE2 build; the extension is still compiled for the baseline. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
        && (__GNUC__ >= 8)
    #define MFCORE_IALS_CLONES __attribute__((target_clones("fma", "default")))
    #else
    #define MFCORE_IALS_CLONES
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define MFCORE_IALS_PREFETCH(ptr) __builtin_prefetch((const void *)(ptr))
    #else
    #define MFCORE_IALS_PREFETCH(ptr) ((void)0)
    #endif

    /* One pass over the entries of a row (y_j = Y + cols[j] * K, or Y + j * K
       when cols is NULL, i.e. a gathered contiguous copy):
         residual = 0:  out += sum_j c'_j (y_j . v) y_j
         residual = 1:  out += sum_j (1 + c'_j - c'_j (y_j . v)) y_j
       dot and axpy of an entry are fused, so y_j is read once per pass. */
    #define MFCORE_IALS_PASS(NAME, T)                                              \
    MFCORE_IALS_CLONES static void NAME(const T *Y, const int32_t *cols, int64_t n, \
                                        int K, const T *conf, const T *v, T *out,   \
                                        int residual) {                             \
        int64_t j;                                                                  \
        int k;                                                                      \
        for (j = 0; j < n; j++) {                                                   \
            const T *y;                                                             \
            T d = 0, c = conf[j], coef;                                             \
            if (cols) {                                                             \
                if (j + 4 < n) {                                                    \
                    const char *q = (const char *)(Y + (int64_t)cols[j + 4] * K);   \
                    for (k = 0; k < K * (int)sizeof(T); k += 64)                   \
                        MFCORE_IALS_PREFETCH(q + k);                                \
                }                                                                   \
                y = Y + (int64_t)cols[j] * K;                                       \
            } else {                                                                \
                y = Y + j * K;                                                      \
            }                                                                       \
            _Pragma("omp simd reduction(+:d)")                                      \
            for (k = 0; k < K; k++) d += y[k] * v[k];                               \
            coef = residual ? (T)1 + c - c * d : c * d;                             \
            _Pragma("omp simd")                                                     \
            for (k = 0; k < K; k++) out[k] += coef * y[k];                          \
        }                                                                           \
    }
    MFCORE_IALS_PASS(mfcore_ials_spass, float)
    MFCORE_IALS_PASS(mfcore_ials_dpass, double)


    static inline float mfcore_ials_sdot(const float *a, const float *b, int n) {
        float s = 0.0f;
        int k;
        #pragma omp simd reduction(+:s)
        for (k = 0; k < n; k++) s += a[k] * b[k];
        return s;
    }
    static inline double mfcore_ials_ddot(const double *a, const double *b, int n) {
        double s = 0.0;
        int k;
        #pragma omp simd reduction(+:s)
        for (k = 0; k < n; k++) s += a[k] * b[k];
        return s;
    }
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
    void mfcore_ials_spass(const float *Y, const int32_t *cols, int64_t n, int K,
                           const float *conf, const float *v, float *out, int residual) nogil
    void mfcore_ials_dpass(const double *Y, const int32_t *cols, int64_t n, int K,
                           const double *conf, const double *v, double *out, int residual) nogil
    float mfcore_ials_sdot(const float *a, const float *b, int n) nogil
    double mfcore_ials_ddot(const double *a, const double *b, int n) nogil
    void mfcore_ials_saxpy(float *y, const float *x, float a, int n) nogil
    void mfcore_ials_daxpy(double *y, const double *x, double a, int n) nogil


cdef inline floating _dot(const floating *a, const floating *b, int n) noexcept nogil:
    if floating is float:
        return mfcore_ials_sdot(a, b, n)
    else:
        return mfcore_ials_ddot(a, b, n)


cdef inline void _axpy(floating *y, const floating *x, floating a, int n) noexcept nogil:
    # y += a * x  (y and x never overlap here)
    if floating is float:
        mfcore_ials_saxpy(y, x, a, n)
    else:
        mfcore_ials_daxpy(y, x, a, n)


cdef inline void _symv_reg(const floating *YtY, const floating *p, double reg,
                           floating *out, int K) noexcept nogil:
    """out = (YtY + reg I) @ p  (YtY symmetric, row-major K x K)."""
    cdef int a, one = 1
    cdef floating f_one = 1, f_zero = 0
    cdef char *tr = b'N'
    # out = YtY @ p  (symmetric, so the row-/column-major view does not matter)
    if floating is float:
        sgemv(tr, &K, &K, &f_one, <floating *>YtY, &K, <floating *>p, &one, &f_zero, out, &one)
    else:
        dgemv(tr, &K, &K, &f_one, <floating *>YtY, &K, <floating *>p, &one, &f_zero, out, &one)
    for a in range(K):
        out[a] += <floating>reg * p[a]


cdef inline void _pass(const floating *rows, const int32_t *cols, int64_t n, int K,
                       const floating *conf, const floating *v, floating *out,
                       bint residual) noexcept nogil:
    """residual=False: out += sum_j c'_j (y_j . v) y_j
    residual=True:  out += sum_j (1 + c'_j - c'_j (y_j . v)) y_j
    with y_j = rows + cols[j] * K (rows of Y used in place, next rows prefetched)."""
    if floating is float:
        mfcore_ials_spass(rows, cols, n, K, conf, v, out, residual)
    else:
        mfcore_ials_dpass(rows, cols, n, K, conf, v, out, residual)


cdef inline void _gemv(bint trans, int K, int n, floating alpha, const floating *G,
                       const floating *x, floating beta, floating *y) noexcept nogil:
    """G is row-major (n, K) = column-major (K, n) with ld K.

    trans:     y = alpha * G @ x + beta * y      (x: K, y: n)   BLAS 'T'
    not trans: y = alpha * G.T @ x + beta * y    (x: n, y: K)   BLAS 'N'
    """
    cdef char *tr = b'T' if trans else b'N'
    cdef int one = 1
    if floating is float:
        sgemv(tr, &K, &n, &alpha, <floating *>G, &K, <floating *>x, &one, &beta, y, &one)
    else:
        dgemv(tr, &K, &n, &alpha, <floating *>G, &K, <floating *>x, &one, &beta, y, &one)


cdef inline void _gathered_pass(const floating *G, const floating *conf, int64_t n, int K,
                                const floating *v, floating *out, floating *t,
                                bint residual) noexcept nogil:
    """One pass over a gathered Y_u = G (n, K), in row blocks that stay in cache.

    residual=False: out += G.T @ (c' * (G @ v))
    residual=True:  out = G.T @ (1 + c' - c' * (G @ v)) - out
    Both gemv calls of a block run while the block is in L2 (BLOCK rows).
    """
    cdef int64_t b0 = 0, j
    cdef int nb, first = 1
    while b0 < n:
        nb = <int>(n - b0 if n - b0 < BLOCK else BLOCK)
        _gemv(True, K, nb, 1, G + b0 * K, v, 0, t)                     # t = G_b @ v
        if residual:
            for j in range(nb):
                t[j] = 1 + conf[b0 + j] - conf[b0 + j] * t[j]
            # out = G_b.T @ t - out on the first block, then out += G_b.T @ t
            _gemv(False, K, nb, 1, G + b0 * K, t, -1 if first else 1, out)
        else:
            for j in range(nb):
                t[j] = conf[b0 + j] * t[j]
            _gemv(False, K, nb, 1, G + b0 * K, t, 1, out)              # out += G_b.T @ t
        first = 0
        b0 += nb


cdef inline void _row_pass(const floating *G, const floating *rows, const int32_t *cols,
                           const floating *conf, int64_t n, int K, const floating *v,
                           floating *out, floating *t, bint residual) noexcept nogil:
    """One pass over Y_u: the gathered copy G (n, K) when G is not NULL (BLAS gemv in
    cache-sized blocks, t = scratch), else the rows of Y in place (y_j = rows + cols[j] * K).

    residual=False: out += sum_j c'_j (y_j . v) y_j
    residual=True:  out = sum_j (1 + c'_j - c'_j (y_j . v)) y_j - out
    """
    cdef int a
    if G != NULL:
        _gathered_pass(G, conf, n, K, v, out, t, residual)
    else:
        if residual:
            for a in range(K):
                out[a] = -out[a]
        _pass(rows, cols, n, K, conf, v, out, residual)


cdef int _cg_row(floating *x, const floating *G, const floating *rows, const int32_t *cols,
                 const floating *conf, int64_t n, const floating *YtY, double reg,
                 int K, int cg_steps, floating *r, floating *p, floating *Ap,
                 floating *t) noexcept nogil:
    """Warm-started CG on A_u x = b_u, A_u = YtY + reg I + Y_u^T C'_u Y_u, b_u = Y_u^T (1 + c'_u).

    Y_u is the gathered block G (n, K) when G is not NULL (t: scratch of min(n, BLOCK)),
    else the rows of Y used in place (for rows too long to gather). r, p, Ap: (K,) scratch.
    Returns 0, or 1 if A_u is found not positive definite.
    """
    cdef int step, a
    cdef double rs, rs_new, pAp, alpha, beta
    # r = b - A x = -(YtY + reg I) x + sum_j [(1 + c'_j) - c'_j (y_j . x)] y_j
    _symv_reg(YtY, x, reg, r, K)
    _row_pass(G, rows, cols, conf, n, K, x, r, t, True)
    memcpy(p, r, K * sizeof(floating))
    rs = <double>_dot(r, r, K)
    for step in range(cg_steps):
        if rs < 1e-20:
            break
        # Ap = (YtY + reg I) p + sum_j c'_j (y_j . p) y_j
        _symv_reg(YtY, p, reg, Ap, K)
        _row_pass(G, rows, cols, conf, n, K, p, Ap, t, False)
        pAp = <double>_dot(p, Ap, K)
        if not (pAp > 0):
            return 1
        alpha = rs / pAp
        _axpy(x, p, <floating>alpha, K)
        _axpy(r, Ap, <floating>(-alpha), K)
        rs_new = <double>_dot(r, r, K)
        beta = rs_new / rs
        for a in range(K):
            p[a] = r[a] + <floating>beta * p[a]
        rs = rs_new
    return 0


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
    cdef int64_t nnz, max_len = 0, cap, per_thread, r, ln, jj
    cdef int t, n_thr = num_threads
    cdef floating *scratch = NULL
    cdef floating *buf = NULL
    cdef int *first_fail = NULL
    cdef int result = -1, status
    cdef const int32_t *ip
    cdef const int32_t *ix
    cdef const floating *cf
    cdef const floating *Yp
    cdef const floating *Gp

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
    # per-thread: G (cap K) + W (cap K, Cholesky) or t (BLOCK, CG) + A (K K) + 4 vectors (K)
    per_thread = cap * K + (cap * K if solver == 0 else BLOCK) + K * K + 4 * K
    ip = &indptr[0]
    ix = &indices[0] if indices.shape[0] > 0 else NULL
    cf = &confidence[0] if confidence.shape[0] > 0 else NULL
    Yp = &other_factors[0, 0] if n_cols > 0 else NULL
    scratch = <floating *>malloc(n_thr * per_thread * sizeof(floating))
    first_fail = <int *>malloc(n_thr * sizeof(int))
    try:
        if scratch == NULL or first_fail == NULL:
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
                    if ln <= cap and ln > 0:
                        for jj in range(ln):
                            memcpy(buf + jj * K,
                                   Yp + <int64_t>ix[ip[r] + jj] * K, K * sizeof(floating))
                        status = _cg_row(&factors[r, 0], buf, NULL, NULL, cf + ip[r], ln,
                                         &YtY[0, 0], reg, K, cg_steps,
                                         buf + cap * K + K * K,
                                         buf + cap * K + K * K + K,
                                         buf + cap * K + K * K + 2 * K,
                                         buf + cap * K + K * K + 4 * K)
                    else:
                        status = _cg_row(&factors[r, 0], NULL, Yp, ix + ip[r] if ln > 0 else NULL,
                                         cf + ip[r] if ln > 0 else NULL, ln,
                                         &YtY[0, 0], reg, K, cg_steps,
                                         buf + cap * K + K * K, buf + cap * K + K * K + K,
                                         buf + cap * K + K * K + 2 * K, NULL)
                if status != 0:
                    if first_fail[t] < 0 or r < first_fail[t]:
                        first_fail[t] = <int>r
        for t in range(n_thr):
            if first_fail[t] >= 0 and (result < 0 or first_fail[t] < result):
                result = first_fail[t]
    finally:
        free(scratch)
        free(first_fail)
    return result
