"""Implicit-feedback ALS half-sweep (Hu, Koren & Volinsky 2008).

One call updates every row x_u of ``factors`` with the other side Y fixed. For
row u with observed columns J (CSR entries) and confidence c_j = 1 + c'_j
(``confidence`` holds c'_j = c_j - 1, e.g. alpha * r_uj), preference p_j = 1 on
J and 0 elsewhere (confidence 1 off J):

    A_u x_u = b_u,   A_u = YtY + reg I + sum_{j in J} c'_j y_j y_j^T,
                     b_u = sum_{j in J} (1 + c'_j) y_j

(YtY = Y^T Y over all columns, computed once per half-sweep by the caller.)

With a prior (``prior`` = c_u per row, weight tau = ``prior_weight``; the
genre prior of ImplicitALS's item side) the row minimises the loss above plus
tau ||x_u - c_u||^2, i.e. A_u gains tau I and b_u gains tau c_u; a row with no
entries then gets x_u = (YtY + (reg + tau) I)^-1 tau c_u instead of 0.

With ``reg_scale`` (one positive float64 s_u per row; ImplicitALS's
frequency-scaled regularization) row u uses reg s_u and tau s_u in place of
reg and tau: its whole penalty is scaled. Without it (None) the arithmetic is
exactly that of s_u = 1 never being applied (no multiplication), so the
default path is bit-identical to the kernel without the argument.

Solvers
-------
0, Cholesky: A_u is formed explicitly (BLAS gemm on gathered blocks of Y_u)
   and solved with ``_linalg.lapack_cholesky_solve`` (LAPACK potrf/potrs on the
   row-major upper triangle, ``_linalg.pxd``'s one convention; gemm fills both
   triangles). Rows with no entries get x_u = 0 (the exact
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
chosen at run time (``_simd_level``; pyx/include/mfcore/cg_row.h and simd.h); K = 64 has its own copy with unrolled
loops.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.math cimport INFINITY

cimport cython
from cython cimport floating
from _simd cimport mfc_set_level_cap, env_level_cap, build_kind, level_hook
from scipy.linalg.cython_blas cimport sgemm, dgemm
from _linalg cimport lapack_cholesky_solve

cdef enum:
    # Per-thread bytes for the gathered copy of a row's Y_u (CG; rows of Y_u
    # that do not fit are processed in place).
    GATHER_BYTES = 33554432
    # Per-thread bytes for each of the two Cholesky accumulation blocks.
    CHOL_BLOCK_BYTES = 4194304
    # Alignment (bytes) of every per-thread scratch array.
    ALIGN = 64


cdef extern from "mfcore/cg_row.h":
    int mfc_ials_s_cg_row(int isa, float *x, const float *Y, const int32_t *cols, float *G,
                             const float *conf, int64_t n, const float *YtY, float reg, int K,
                             int cg_steps, float *r, float *p, float *Ap,
                             const float *prior, float tau) nogil
    int mfc_ials_d_cg_row(int isa, double *x, const double *Y, const int32_t *cols, double *G,
                             const double *conf, int64_t n, const double *YtY, double reg, int K,
                             int cg_steps, double *r, double *p, double *Ap,
                             const double *prior, double tau) nogil
    void mfc_ials_saxpy(float *y, const float *x, float a, int n) nogil
    void mfc_ials_daxpy(double *y, const double *x, double a, int n) nogil


cdef inline void _axpy(floating *y, const floating *x, floating a, int n) noexcept nogil:
    # y += a * x  (y and x never overlap here)
    if floating is float:
        mfc_ials_saxpy(y, x, a, n)
    else:
        mfc_ials_daxpy(y, x, a, n)


cdef inline int _cg_row(int isa, floating *x, const floating *Y, const int32_t *cols,
                        floating *G, const floating *conf, int64_t n, const floating *YtY,
                        double reg, int K, int cg_steps, floating *r, floating *p,
                        floating *Ap, const floating *prior, double tau) noexcept nogil:
    """Warm-started CG on A_u x = b_u, A_u = YtY + reg I + Y_u^T C'_u Y_u, b_u = Y_u^T (1 + c'_u).

    The rows of Y_u are y_j = Y + cols[j] * K, j < n. The residual pass
    r = b_u - A_u x reads them in place (prefetching ahead) and, when G is not
    NULL (room for n rows of K), copies them there on the way, so that every later
    pass A_u p reads the contiguous copy; with G NULL every pass reads Y in place.
    Then up to cg_steps CG steps, stopping early when r.r < 1e-20. r, p, Ap: (K,)
    scratch; isa: the kernel build (see _simd_level). prior: NULL, or the row's
    centroid c_u (K,): b_u gains tau c_u (``reg`` must then already include tau).
    Returns 0, or 1 if A_u is found not positive definite (x then holds the last
    iterate).
    """
    if floating is float:
        return mfc_ials_s_cg_row(isa, x, Y, cols, G, conf, n, YtY, <float>reg, K, cg_steps,
                                    r, p, Ap, prior, <float>tau)
    else:
        return mfc_ials_d_cg_row(isa, x, Y, cols, G, conf, n, YtY, reg, K, cg_steps,
                                    r, p, Ap, prior, tau)


cdef int _cholesky_row(floating *x, const floating *Y, const int32_t *cols, const floating *conf,
                       int64_t n, const floating *YtY, double reg, int K, int64_t cap,
                       floating *G, floating *W, floating *A, floating *b,
                       const floating *prior=NULL, double tau=0) noexcept nogil:
    """Form A_u, b_u and solve; returns 0, or 1 if potrf failed (x untouched).

    prior: NULL, or the row's centroid c_u (K,): A_u gains tau I and b_u tau c_u.
    """
    cdef int64_t start, m, j
    cdef int a, Ki = K, mi
    cdef floating f_one = 1, cj
    cdef char *ntrans = b'N'
    cdef char *trans = b'T'
    if n == 0 and prior == NULL:
        memset(x, 0, K * sizeof(floating))
        return 0
    # A = YtY + reg I ; b = 0
    memcpy(A, YtY, K * K * sizeof(floating))
    for a in range(K):
        A[a * K + a] += <floating>reg
    memset(b, 0, K * sizeof(floating))
    if prior != NULL:
        # A += tau I ; b = tau c_u
        for a in range(K):
            A[a * K + a] += <floating>tau
        _axpy(b, prior, <floating>tau, K)
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
    # NumPy: b = np.linalg.solve(A, b)  (Cholesky of A's row-major upper triangle)
    if lapack_cholesky_solve(Ki, A, Ki, b) != 0:
        return 1
    memcpy(x, b, K * sizeof(floating))
    return 0


cdef inline int64_t _aligned_len(int64_t n, size_t itemsize) noexcept nogil:
    """n rounded up to whole ALIGN-byte units of items of itemsize bytes."""
    cdef int64_t unit = ALIGN // itemsize
    return (n + unit - 1) // unit * unit


# ---------------------------------------------------------------- CPU dispatch (simd.h)
mfc_set_level_cap(env_level_cap())
#: how the kernels were built: 'simd', 'baseline-only' or 'portable' (see _simd.pxd)
SIMD_BUILD = build_kind()


def _simd_level(level=None):
    """Cap / report the SIMD build this module's kernels run (testing hook; top build AVX-512).

    See ``_simd.level_hook``: 2 = AVX-512, 1 = AVX2+FMA, 0 = baseline, -1 lifts the cap.
    """
    return level_hook(level, 2)


# The former name of the testing hook (tests/kernels/test_implicit_als_kernel.py).
_cg_build = _simd_level


def implicit_als_half_sweep(const int32_t[::1] indptr, const int32_t[::1] indices,
                            const floating[::1] confidence,
                            const floating[:, ::1] other_factors,
                            floating[:, ::1] factors,
                            const floating[:, ::1] YtY,
                            double reg, int solver, int cg_steps, int num_threads,
                            long gather_rows=-1, prior=None, double prior_weight=0.0, reg_scale=None):
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
    prior : same dtype (n_rows, K), IN, or None
        Centroid c_r each row is pulled toward (ImplicitALS's genre prior);
        ``prior_weight`` is ignored when None.
    prior_weight : float >= 0
        tau: the row's system gains tau I and its right-hand side tau c_r.
    reg_scale : float64 (n_rows,), IN, or None
        Per-row factor s_r > 0 (finite) of the penalty: row r uses ``reg * s_r``
        and ``prior_weight * s_r``. None: every row uses ``reg`` and ``prior_weight``
        (the arithmetic of the kernel without this argument, bit for bit).

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
    cdef int result = -1, status, isa = _simd_level()
    cdef const int32_t *ip
    cdef const int32_t *ix
    cdef const floating *cf
    cdef const floating *Yp
    cdef const floating[:, ::1] prior_mv
    cdef const floating *prior_ptr = NULL
    cdef double tau = prior_weight, reg_r, tau_r
    cdef const double[::1] scale_mv
    cdef const double *scale_ptr = NULL

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
    if prior is not None:
        try:
            prior_mv = prior
        except (ValueError, TypeError) as exc:
            raise TypeError(f"prior must be a C-contiguous {'float32' if floating is float else 'float64'}"
                            f" array like factors: {exc}") from None
        if prior_mv.shape[0] != n_rows or prior_mv.shape[1] != K:
            raise ValueError(f"prior must have shape ({n_rows}, {K}), got "
                             f"({prior_mv.shape[0]}, {prior_mv.shape[1]})")
        if not tau >= 0:
            raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
        if n_rows > 0 and K > 0:
            prior_ptr = &prior_mv[0, 0]
    if prior_ptr == NULL:
        tau = 0
    if reg_scale is not None:
        try:
            scale_mv = reg_scale
        except (ValueError, TypeError) as exc:
            raise TypeError(f"reg_scale must be a contiguous float64 array: {exc}") from None
        if scale_mv.shape[0] != n_rows:
            raise ValueError(f"reg_scale must have {n_rows} entries (one per row), got {scale_mv.shape[0]}")
        for r in range(n_rows):
            if not (0 < scale_mv[r] < INFINITY):
                raise ValueError(f"reg_scale must be positive and finite, got {scale_mv[r]} at row {r}")
        if n_rows > 0:
            scale_ptr = &scale_mv[0]
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
                if scale_ptr == NULL:
                    reg_r = reg
                    tau_r = tau
                else:
                    reg_r = reg * scale_ptr[r]
                    tau_r = tau * scale_ptr[r]
                if solver == 0:
                    status = _cholesky_row(&factors[r, 0], Yp, ix + ip[r], cf + ip[r], ln,
                                           &YtY[0, 0], reg_r, K, cap,
                                           buf, buf + cap * K, buf + 2 * cap * K,
                                           buf + 2 * cap * K + K * K,
                                           prior_ptr + r * K if prior_ptr != NULL else NULL, tau_r)
                else:
                    # gather Y_u into buf when it fits, else read Y in place
                    status = _cg_row(isa, &factors[r, 0], Yp, ix + ip[r] if ln > 0 else NULL,
                                     buf if 0 < ln <= cap else NULL,
                                     cf + ip[r] if ln > 0 else NULL, ln,
                                     &YtY[0, 0], reg_r + tau_r, K, cg_steps,
                                     buf + gsize, buf + gsize + vsize, buf + gsize + 2 * vsize,
                                     prior_ptr + r * K if prior_ptr != NULL else NULL, tau_r)
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
