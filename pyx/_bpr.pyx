"""BPR (Bayesian Personalised Ranking, Rendle et al. 2009) SGD kernels.

Model: score(u, i) = u . v_i + b_i. For a triple (u, i, j) with i a positive and
j a non-positive item of user u,

    x_uij = u . (v_i - v_j) + b_i - b_j,    z = sigma(-x_uij) = 1 / (1 + exp(x_uij))

and one SGD step (gradient ascent on ln sigma(x_uij) minus L2 penalties), all
right-hand sides read the values from *before* the step:

    u   += lr * ( z * (v_i - v_j) - reg_user * u)
    v_i += lr * ( z * u           - reg_item * v_i)
    v_j += lr * (-z * u           - reg_item * v_j)
    b_i += lr * ( z               - reg_bias * b_i)
    b_j += lr * (-z               - reg_bias * b_j)

The loss of a step is -ln sigma(x_uij) = softplus(-x_uij), accumulated in
float64.

Optional item prior (``prior`` C, ``bias_prior`` d, weights tau, tau_b; the
model's genre prior): the item updates gain a pull toward the item's row of C
and entry of d,

    v_i += lr * ( z * u - reg_item * v_i + tau * c_i)      (v_j likewise, -z)
    b_i += lr * ( z     - reg_bias * b_i + tau_b * d_i)    (b_j likewise, -z)

i.e. the penalty reg_item/2 ||v||^2 becomes (reg_item - tau)/2 ||v||^2 +
tau/2 ||v - c||^2 up to a constant. Without them (None) the step is the one
above, the same code path bit for bit.

Sampling (``bpr_epoch``)
------------------------
* (u, i) uniform over the stored interactions: a random nnz index p, its row
  u found by binary search in ``indptr`` (or read from ``nnz_rows``), i = indices[p].
  With ``run_length`` = m > 1, positives come in runs of m consecutive stored
  interactions p, p + 1, ..., p + m - 1 (mod nnz) from a uniform start p (each
  thread's chunk starts a run; the last run of a chunk may be shorter). Every
  sample's (u, i) is still exactly uniform over the stored interactions (the
  marginal of each position of a run is uniform), but consecutive samples
  usually share the user, so U[u], indptr[u] and u's CSR row stay in cache for
  m steps: at the 32M shape, 2 threads, 1.27x the wall-clock samples per second
  and 1.8x fewer CPU seconds (medians of five interleaved pairs). m = 1 is the
  independent draw above. Ranking quality on ml-latest-small (10 seeds, K = 64,
  100 epochs, temporal and random 80/20 splits) is the same within one standard
  error for m in {1, 4, 8, 16}.
* j uniform over the items u has NOT interacted with: a candidate j0 uniform
  over all items is accepted if a binary search in the sorted CSR row does not
  find it; otherwise (probability n_u / n_items) j is drawn directly and
  exactly: a uniform rank k in [0, n_items - n_u) is mapped to the k-th
  non-positive item by one binary search over the row (the number of
  non-positives below indices[m] is indices[m] - m). A mixture of two
  uniform-over-non-positives draws is uniform over non-positives, so this is
  the distribution of unbounded rejection sampling, with at most two searches
  and no retry limit. A sample is skipped (counted in ``n_skipped``, no update,
  no loss) only when u has interacted with every item.
* Software pipeline: samples are drawn a few steps ahead and their factor rows
  prefetched, so memory latency overlaps the arithmetic (see ``_bpr_chunk``).

Random numbers: xoshiro256** (Blackman & Vigna), seeded through splitmix64
from ``seed``; the stream of work chunk t (one chunk per thread) is the seeded
state advanced by t calls of the 2**128-step jump, so chunks never overlap.
Bounded integers use Lemire's multiply-shift on 64-bit draws (bias < n/2**64).

Threads: ``n_samples`` is split into ``num_threads`` contiguous chunks, run in
parallel lock-free (Hogwild, Niu et al. 2011): threads read and write shared
factor rows without locks. With ``num_threads=1`` a given seed is
bit-reproducible; with more threads results vary from run to run because the
interleaving of updates varies.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport exp, log, sqrt, INFINITY
from scipy.linalg.cython_blas cimport dgemm
from scipy.linalg.cython_lapack cimport dpotrf, dpotrs
from libc.stdlib cimport malloc, free
from libc.stdint cimport uint64_t, int32_t, int64_t

import numpy as np

cimport cython
from cython cimport floating
from _simd cimport mfc_set_level_cap, env_level_cap, build_kind, level_hook

cdef extern from "mfcore/bpr.h":
    ctypedef struct mfc_xoshiro256:
        uint64_t s[4]
    void mfc_xoshiro_seed(mfc_xoshiro256 *g, uint64_t seed, int64_t chunk) nogil
    uint64_t mfc_bounded(mfc_xoshiro256 *g, uint64_t n) nogil
    uint64_t mfc_xoshiro_next(mfc_xoshiro256 *g) nogil
    void mfc_prefetch(const void *p) nogil
    void mfc_prefetch_range(const void *p, size_t n) nogil
    # the two builds of the step's vector loops (_l1: FMA, levels >= AVX2; _l0: baseline)
    float mfc_float_dotdiff_l0(const float *u, const float *vi, const float *vj, int n) nogil
    float mfc_float_dotdiff_l1(const float *u, const float *vi, const float *vj, int n) nogil
    double mfc_double_dotdiff_l0(const double *u, const double *vi, const double *vj, int n) nogil
    double mfc_double_dotdiff_l1(const double *u, const double *vi, const double *vj, int n) nogil
    void mfc_float_update_l0(float *u, float *vi, float *vj, int n, float lr, float z,
                             float ru, float ri) nogil
    void mfc_float_update_l1(float *u, float *vi, float *vj, int n, float lr, float z,
                             float ru, float ri) nogil
    void mfc_double_update_l0(double *u, double *vi, double *vj, int n, double lr, double z,
                              double ru, double ri) nogil
    void mfc_double_update_l1(double *u, double *vi, double *vj, int n, double lr, double z,
                              double ru, double ri) nogil
    # the same with a prior on the item vectors (pulled toward ci, cj with weight tc)
    void mfc_float_update_prior_l0(float *u, float *vi, float *vj, const float *ci, const float *cj, int n,
                                   float lr, float z, float ru, float ri, float tc) nogil
    void mfc_float_update_prior_l1(float *u, float *vi, float *vj, const float *ci, const float *cj, int n,
                                   float lr, float z, float ru, float ri, float tc) nogil
    void mfc_double_update_prior_l0(double *u, double *vi, double *vj, const double *ci, const double *cj,
                                    int n, double lr, double z, double ru, double ri, double tc) nogil
    void mfc_double_update_prior_l1(double *u, double *vi, double *vj, const double *ci, const double *cj,
                                    int n, double lr, double z, double ru, double ri, double tc) nogil
    int mfc_bpr_build() nogil


# ---------------------------------------------------------------- CPU dispatch (simd.h)
mfc_set_level_cap(env_level_cap())
#: how the kernels were built: 'simd', 'baseline-only' or 'portable' (see _simd.pxd)
SIMD_BUILD = build_kind()


def _simd_level(level=None):
    """Cap / report the SIMD build this module's kernels run (testing hook; top build AVX2+FMA).

    See ``_simd.level_hook``: 2 = AVX-512, 1 = AVX2+FMA, 0 = baseline, -1 lifts the cap.
    """
    return level_hook(level, 1)



# ---------------------------------------------------------------------------
# One SGD step
# ---------------------------------------------------------------------------

cdef inline double _bpr_step(floating *u, floating *vi, floating *vj,
                             floating *bi, floating *bj, int K,
                             double lr, double reg_user, double reg_item,
                             double reg_bias, int build,
                             const floating *ci, const floating *cj, double tau,
                             const floating *di, const floating *dj,
                             double tau_b) noexcept nogil:
    """One BPR update in place; returns the step's loss -ln sigma(x_uij) (float64).

    ``build`` selects the vector loops' build, ``mfc_bpr_build()`` read once by the
    caller (1: the FMA build, 0: the baseline build). ``ci``, ``cj`` (K,) IN: the
    prior rows of items i and j, pulled toward with weight ``tau`` (both NULL: no
    vector prior); ``di``, ``dj`` IN: their bias priors, weight ``tau_b`` (NULL:
    none). See the module docstring.
    """
    cdef double x, e, z, loss
    cdef double bi_old = bi[0]
    cdef double bj_old = bj[0]
    if floating is float:
        if build:
            x = <double>mfc_float_dotdiff_l1(u, vi, vj, K)
        else:
            x = <double>mfc_float_dotdiff_l0(u, vi, vj, K)
    else:
        if build:
            x = mfc_double_dotdiff_l1(u, vi, vj, K)
        else:
            x = mfc_double_dotdiff_l0(u, vi, vj, K)
    x += bi_old - bj_old
    # z = sigma(-x); loss = softplus(-x) = max(-x, 0) + ln(1 + e), e = exp(-|x|) in (0, 1]:
    # one exp, overflow-free for any x. ln(1 + e) instead of log1p(e) (3x
    # cheaper here): absolute error <= 1.2e-16 per step, irrelevant for a mean loss.
    if x >= 0:
        e = exp(-x)
        z = e / (1.0 + e)
        loss = log(1.0 + e)
    else:
        e = exp(x)
        z = 1.0 / (1.0 + e)
        loss = -x + log(1.0 + e)
    if ci != NULL:
        if floating is float:
            if build:
                mfc_float_update_prior_l1(u, vi, vj, ci, cj, K, <float>lr, <float>z, <float>reg_user,
                                          <float>reg_item, <float>tau)
            else:
                mfc_float_update_prior_l0(u, vi, vj, ci, cj, K, <float>lr, <float>z, <float>reg_user,
                                          <float>reg_item, <float>tau)
        else:
            if build:
                mfc_double_update_prior_l1(u, vi, vj, ci, cj, K, lr, z, reg_user, reg_item, tau)
            else:
                mfc_double_update_prior_l0(u, vi, vj, ci, cj, K, lr, z, reg_user, reg_item, tau)
    elif floating is float:
        if build:
            mfc_float_update_l1(u, vi, vj, K, <float>lr, <float>z, <float>reg_user, <float>reg_item)
        else:
            mfc_float_update_l0(u, vi, vj, K, <float>lr, <float>z, <float>reg_user, <float>reg_item)
    else:
        if build:
            mfc_double_update_l1(u, vi, vj, K, lr, z, reg_user, reg_item)
        else:
            mfc_double_update_l0(u, vi, vj, K, lr, z, reg_user, reg_item)
    if di != NULL:
        bi[0] = <floating>(bi_old + lr * (z - reg_bias * bi_old + tau_b * <double>di[0]))
        bj[0] = <floating>(bj_old + lr * (-z - reg_bias * bj_old + tau_b * <double>dj[0]))
    else:
        bi[0] = <floating>(bi_old + lr * (z - reg_bias * bi_old))
        bj[0] = <floating>(bj_old + lr * (-z - reg_bias * bj_old))
    return loss


# ---------------------------------------------------------------------------
# Sampling helpers
# ---------------------------------------------------------------------------

cdef inline int64_t _row_of(const int32_t *indptr, int64_t n_rows, int64_t p) noexcept nogil:
    """Row r with indptr[r] <= p < indptr[r + 1] (0 <= p < nnz, indptr[0] = 0).

    Branch-free binary search for the last r in [0, n_rows) with indptr[r] <= p
    (empty rows are skipped because a later r has the same indptr value).
    """
    cdef int64_t base = 0, length = n_rows, half
    while length > 1:
        half = length >> 1
        base = base + half if indptr[base + half] <= p else base
        length -= half
    return base


cdef enum:
    # Half-width (entries) of the window of a user's row prefetched around the
    # interpolated position of a candidate negative.
    WINDOW = 32


cdef inline int64_t _guess(int64_t n, int64_t item, int64_t n_items) noexcept nogil:
    """Interpolated position of ``item`` in a sorted row of length n >= 1 over [0, n_items)."""
    return (item * n) // n_items


cdef inline bint _row_contains_near(const int32_t *row, int64_t n, int64_t item,
                                    int64_t g) noexcept nogil:
    """Whether ``item`` is in the sorted row of length n, starting at position g.

    Gallops from g (steps 16, 32, 64, ...) to bracket the item, then
    binary-searches the bracket: O(log |pos - g|) probes, any data. With
    g = _guess(...) and item ids spread over [0, n_items), |pos - g| is about
    sqrt(n), inside the window prefetched by stage B of the pipeline.
    """
    cdef int64_t lo, hi, step, mid
    if n == 0:
        return False
    if g >= n:
        g = n - 1
    if row[g] == item:
        return True
    if row[g] < item:
        # answer (first entry >= item) in (g, n]
        lo = g + 1
        step = 16
        hi = g + step
        while hi < n and row[hi] < item:
            lo = hi + 1
            step <<= 1
            hi = g + step
        if hi > n:
            hi = n
    else:
        # answer in [0, g)
        hi = g
        step = 16
        lo = g - step
        while lo > 0 and row[lo] > item:
            hi = lo
            step <<= 1
            lo = g - step
        if lo < 0:
            lo = 0
    # lower bound of item in row[lo:hi]
    while lo < hi:
        mid = (lo + hi) >> 1
        if row[mid] < item:
            lo = mid + 1
        else:
            hi = mid
    return lo < n and row[lo] == item


cdef inline int64_t _kth_negative(const int32_t *row, int64_t n, int64_t k) noexcept nogil:
    """The k-th (0-based) item NOT in the sorted, duplicate-free ``row`` of length n.

    Items below row[m] that are not in the row number row[m] - m (non-decreasing
    in m). With m* the number of m having row[m] - m <= k, the answer is k + m*.
    """
    cdef int64_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if row[mid] - mid <= k:
            lo = mid + 1
        else:
            hi = mid
    return k + lo


cdef enum:
    # Software pipeline (see _bpr_chunk): sample t is drawn (stage A) while sample
    # t - LAG_U finds its user (B), t - LAG_W its user's CSR row bounds (W) and
    # t - DEPTH takes its step (C). DEPTH is a power of two (ring buffers); C's lag
    # also fixes the order of the random draws (A's draws interleave with C's).
    DEPTH = 8
    LAG_U = 3
    LAG_W = 6


cdef void _bpr_chunk(const int32_t *indptr, const int32_t *indices, const int32_t *nnz_rows,
                     int64_t n_users, int64_t n_items, int64_t nnz,
                     floating *U, floating *V, floating *B, int K,
                     int64_t start, int64_t stop, uint64_t seed, int64_t chunk, int64_t run,
                     double lr, double reg_user, double reg_item, double reg_bias,
                     int32_t *log, double *loss_out, int64_t *skipped_out,
                     const floating *C, double tau,
                     const floating *D, double tau_b) noexcept nogil:
    """Samples start..stop-1 of an epoch, with the random stream of ``chunk``.

    ``C`` (n_items, K) / ``D`` (n_items,): the optional item priors of the step
    (NULL: none), see ``_bpr_step``.

    Four stages per sample, a few samples apart, so that the cache misses of
    later samples overlap the arithmetic of the current one and every load that
    an address depends on was prefetched by an earlier stage:
      A (sample t): draw the interaction index p and a candidate negative j0
         uniform over all items; prefetch indices[p], nnz_rows[p], row j0 of V
         and its bias.
      B (t - LAG_U): the user u of p (``nnz_rows[p]`` or a binary search in
         indptr), i = indices[p]; prefetch rows u of U, i of V, b_i and
         indptr[u], indptr[u + 1].
      W (t - LAG_W): u's CSR row bounds; prefetch the window of the row around
         the interpolated position of j0.
      C (t - DEPTH): accept j0 if u has not interacted with it (galloping search
         from the interpolated position, see _row_contains_near), otherwise draw
         j exactly uniform over u's non-positives (_kth_negative). Either way j
         is uniform over u's non-positives. Then the SGD step.
    """
    cdef mfc_xoshiro256 g
    cdef int64_t s, t, slot, u, i, j, row_start, row_len, mid, lo, hi
    cdef int64_t p = 0, run_left = 0
    cdef int64_t ring_p[DEPTH]
    cdef int64_t ring_j[DEPTH]
    cdef int64_t ring_u[DEPTH]
    cdef double loss = 0.0
    cdef int64_t skipped = 0
    cdef size_t row_bytes = K * sizeof(floating)
    cdef int build = mfc_bpr_build()   # the step's SIMD build, chosen once per chunk
    mfc_xoshiro_seed(&g, seed, chunk)
    for t in range(start, stop + DEPTH):
        # stage C for sample t - DEPTH
        s = t - DEPTH
        if s >= start:
            slot = s & (DEPTH - 1)
            u = ring_u[slot]
            i = indices[ring_p[slot]]
            j = ring_j[slot]
            row_start = indptr[u]
            row_len = indptr[u + 1] - row_start
            if row_len >= n_items:
                skipped += 1
                j = -1
            elif _row_contains_near(indices + row_start, row_len, j,
                                    _guess(row_len, j, n_items)):
                j = _kth_negative(indices + row_start, row_len,
                                  <int64_t>mfc_bounded(&g, <uint64_t>(n_items - row_len)))
            if log != NULL:
                log[3 * s] = <int32_t>u
                log[3 * s + 1] = <int32_t>i
                log[3 * s + 2] = <int32_t>j
            if j >= 0:
                if C == NULL and D == NULL:
                    # no prior: the NULLs are constants, so the inlined step is the plain one
                    loss += _bpr_step(U + u * K, V + i * K, V + j * K, B + i, B + j, K,
                                      lr, reg_user, reg_item, reg_bias, build,
                                      NULL, NULL, 0.0, NULL, NULL, 0.0)
                else:
                    loss += _bpr_step(U + u * K, V + i * K, V + j * K, B + i, B + j, K,
                                      lr, reg_user, reg_item, reg_bias, build,
                                      C + i * K if C != NULL else NULL,
                                      C + j * K if C != NULL else NULL, tau,
                                      D + i if D != NULL else NULL,
                                      D + j if D != NULL else NULL, tau_b)
        # stage W for sample t - LAG_W
        s = t - LAG_W
        if s >= start and s < stop:
            slot = s & (DEPTH - 1)
            u = ring_u[slot]
            row_start = indptr[u]
            row_len = indptr[u + 1] - row_start
            # the part of u's row where the candidate negative should be
            mid = row_start + _guess(row_len, ring_j[slot], n_items) if row_len > 0 else row_start
            lo = mid - WINDOW if mid - WINDOW > row_start else row_start
            hi = mid + WINDOW if mid + WINDOW < row_start + row_len else row_start + row_len
            if hi > lo:
                mfc_prefetch_range(indices + lo, (hi - lo) * sizeof(int32_t))
        # stage B for sample t - LAG_U
        s = t - LAG_U
        if s >= start and s < stop:
            slot = s & (DEPTH - 1)
            if nnz_rows != NULL:
                u = nnz_rows[ring_p[slot]]
            else:
                u = _row_of(indptr, n_users, ring_p[slot])
            ring_u[slot] = u
            i = indices[ring_p[slot]]
            mfc_prefetch_range(U + u * K, row_bytes)
            mfc_prefetch_range(V + i * K, row_bytes)
            mfc_prefetch(B + i)
            mfc_prefetch_range(indptr + u, 2 * sizeof(int32_t))
            if C != NULL:
                mfc_prefetch_range(C + i * K, row_bytes)
        # stage A for sample t
        if t < stop:
            slot = t & (DEPTH - 1)
            if run_left == 0:
                p = <int64_t>mfc_bounded(&g, <uint64_t>nnz)
                run_left = run
            else:
                p += 1
                if p == nnz:
                    p = 0
            run_left -= 1
            ring_p[slot] = p
            ring_j[slot] = <int64_t>mfc_bounded(&g, <uint64_t>n_items)
            mfc_prefetch(indices + ring_p[slot])
            if nnz_rows != NULL:
                mfc_prefetch(nnz_rows + ring_p[slot])
            mfc_prefetch_range(V + ring_j[slot] * K, row_bytes)
            mfc_prefetch(B + ring_j[slot])
            if C != NULL:
                mfc_prefetch_range(C + ring_j[slot] * K, row_bytes)
    loss_out[0] = loss
    skipped_out[0] = skipped


cdef int64_t _first_bad_row(const int32_t *indptr, const int32_t *nnz_rows,
                            int64_t n_users) noexcept nogil:
    """First p with nnz_rows[p] != its CSR row, or -1."""
    cdef int64_t r, p
    for r in range(n_users):
        for p in range(indptr[r], indptr[r + 1]):
            if nnz_rows[p] != r:
                return p
    return -1


# ---------------------------------------------------------------------------
# Public kernels
# ---------------------------------------------------------------------------

def bpr_epoch(const int32_t[::1] indptr, const int32_t[::1] indices,
              floating[:, ::1] user_factors, floating[:, ::1] item_factors,
              floating[::1] item_bias,
              long n_samples, double learning_rate, double reg_user, double reg_item,
              double reg_bias, unsigned long long seed, int num_threads,
              int32_t[:, ::1] sample_log=None, const int32_t[::1] nnz_rows=None,
              long run_length=1, prior=None, bias_prior=None, double prior_weight=0.0,
              double bias_prior_weight=0.0):
    """Run ``n_samples`` BPR SGD steps on sampled triples (one epoch).

    Parameters
    ----------
    indptr : int32 (n_users + 1,), IN
        CSR row pointers of the users x items interaction matrix.
    indices : int32 (nnz,), IN
        CSR column (item) indices; each row sorted ascending, no duplicates,
        all in [0, n_items). Not checked here (Python validates).
    user_factors : float32/float64 (n_users, K), IN/OUT
    item_factors : same dtype (n_items, K), IN/OUT
    item_bias : same dtype (n_items,), IN/OUT
    n_samples : int
        Number of SGD steps (>= 0).
    learning_rate, reg_user, reg_item, reg_bias : float
        Step size and L2 penalties (see the module docstring for the update).
    seed : uint64
        Seed of the random streams (one per thread).
    num_threads : int
        OpenMP threads (>= 1). Results are bit-reproducible for a given seed
        only with ``num_threads=1`` (Hogwild otherwise).
    sample_log : int32 (n_samples, 3) or None, OUT
        Debug aid: if given, row s receives the triple (u, i, j) of sample s
        (j = -1 for a skipped sample).
    nnz_rows : int32 (nnz,) or None, IN
        Optional row (user) of every stored entry, ``np.repeat(arange(n_users),
        diff(indptr))``; replaces the binary search in ``indptr`` by one load
        (faster on large data, costs 4 bytes per interaction; compute it once
        per fit). Checked against ``indptr`` (one sequential pass).
    run_length : int, default 1
        Positives are drawn in runs of this many consecutive stored
        interactions from a uniform start (see the module docstring); 1 =
        independent uniform draws. Each (u, i) stays uniform over the stored
        interactions; the negatives are drawn per sample as before.
    prior : same dtype (n_items, K) or None, IN
        Optional prior of the item vectors (the genre centroids): each item
        vector of a step is pulled toward its row with weight ``prior_weight``
        (module docstring). None: no pull, the plain step (bit-identical).
    bias_prior : same dtype (n_items,) or None, IN
        Optional prior of the item biases, weight ``bias_prior_weight``.
    prior_weight, bias_prior_weight : float
        tau and tau_b (ignored without their prior).

    Returns
    -------
    mean_loss : float
        Mean of -ln sigma(x_uij) over the performed (non-skipped) steps,
        float64; NaN when no step was performed.
    n_skipped : int
        Samples skipped because their user interacted with every item.
    """
    cdef int64_t n_users = indptr.shape[0] - 1
    cdef int64_t n_items = item_factors.shape[0]
    cdef int K = <int>user_factors.shape[1]
    cdef int64_t nnz
    cdef int n_chunks, t
    cdef int64_t per, extra
    cdef double *losses = NULL
    cdef int64_t *skips = NULL
    cdef int64_t *bounds = NULL
    cdef int32_t *log_ptr = NULL
    cdef const int32_t *rows_ptr = NULL
    cdef int64_t bad
    cdef double total_loss = 0.0
    cdef int64_t total_skipped = 0
    cdef uint64_t useed = <uint64_t>seed
    cdef const floating[:, ::1] prior_view
    cdef const floating[::1] bias_prior_view
    cdef const floating *C = NULL
    cdef const floating *D = NULL

    if n_users < 0:
        raise ValueError("indptr must have at least one entry")
    nnz = indptr[n_users] if n_users >= 0 else 0
    if item_factors.shape[1] != K:
        raise ValueError(f"item_factors has {item_factors.shape[1]} columns, user_factors {K}")
    if user_factors.shape[0] != n_users:
        raise ValueError(f"user_factors has {user_factors.shape[0]} rows, indptr implies {n_users}")
    if item_bias.shape[0] != n_items:
        raise ValueError(f"item_bias has length {item_bias.shape[0]}, expected {n_items}")
    if indices.shape[0] < nnz:
        raise ValueError(f"indices has length {indices.shape[0]}, indptr[-1] is {nnz}")
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    if run_length < 1:
        raise ValueError(f"run_length must be >= 1, got {run_length}")
    if sample_log is not None:
        if sample_log.shape[0] != n_samples or sample_log.shape[1] != 3:
            raise ValueError(f"sample_log must have shape ({n_samples}, 3), got "
                             f"({sample_log.shape[0]}, {sample_log.shape[1]})")
        if n_samples > 0:
            log_ptr = &sample_log[0, 0]
    if nnz_rows is not None:
        if nnz_rows.shape[0] != nnz:
            raise ValueError(f"nnz_rows has length {nnz_rows.shape[0]}, expected nnz = {nnz}")
        if nnz > 0:
            rows_ptr = &nnz_rows[0]
            # one sequential pass (~1% of an epoch): a wrong row would index out of bounds
            bad = _first_bad_row(&indptr[0], rows_ptr, n_users)
            if bad >= 0:
                raise ValueError(f"nnz_rows[{bad}] = {nnz_rows[bad]} does not match indptr "
                                 f"(expected np.repeat(np.arange(n_users), np.diff(indptr)))")
    if prior is not None:
        prior_view = prior
        if prior_view.shape[0] != n_items or prior_view.shape[1] != K:
            raise ValueError(f"prior must have shape ({n_items}, {K}), got ({prior_view.shape[0]}, "
                             f"{prior_view.shape[1]})")
        if n_items > 0:
            C = &prior_view[0, 0]
    if bias_prior is not None:
        bias_prior_view = bias_prior
        if bias_prior_view.shape[0] != n_items:
            raise ValueError(f"bias_prior has length {bias_prior_view.shape[0]}, expected {n_items}")
        if n_items > 0:
            D = &bias_prior_view[0]
    if n_samples == 0:
        return float("nan"), 0
    if nnz == 0:
        raise ValueError("the interaction matrix is empty: nothing to sample")
    if n_items > 2147483647 or nnz > 2147483647:
        raise ValueError("too many items or interactions for int32 indices")

    n_chunks = num_threads
    if n_chunks > n_samples:
        n_chunks = <int>n_samples
    losses = <double *>malloc(n_chunks * sizeof(double))
    skips = <int64_t *>malloc(n_chunks * sizeof(int64_t))
    bounds = <int64_t *>malloc((n_chunks + 1) * sizeof(int64_t))
    try:
        if losses == NULL or skips == NULL or bounds == NULL:
            raise MemoryError("bpr_epoch: could not allocate per-thread accumulators")
        per = n_samples // n_chunks
        extra = n_samples % n_chunks
        bounds[0] = 0
        for t in range(n_chunks):
            bounds[t + 1] = bounds[t] + per + (1 if t < extra else 0)
        with nogil:
            for t in prange(n_chunks, schedule='dynamic', chunksize=1, num_threads=n_chunks):
                _bpr_chunk(&indptr[0], &indices[0], rows_ptr, n_users, n_items, nnz,
                           &user_factors[0, 0] if n_users > 0 else NULL,
                           &item_factors[0, 0], &item_bias[0], K,
                           bounds[t], bounds[t + 1], useed, t, run_length,
                           learning_rate, reg_user, reg_item, reg_bias,
                           log_ptr, &losses[t], &skips[t], C, prior_weight, D, bias_prior_weight)
        for t in range(n_chunks):
            total_loss += losses[t]
            total_skipped += skips[t]
    finally:
        free(losses)
        free(skips)
        free(bounds)
    if total_skipped >= n_samples:
        return float("nan"), int(total_skipped)
    return total_loss / <double>(n_samples - total_skipped), int(total_skipped)


def bpr_sgd_triples(const int32_t[::1] users, const int32_t[::1] pos, const int32_t[::1] neg,
                    floating[:, ::1] user_factors, floating[:, ::1] item_factors,
                    floating[::1] item_bias, double learning_rate, double reg_user,
                    double reg_item, double reg_bias, prior=None, bias_prior=None,
                    double prior_weight=0.0, double bias_prior_weight=0.0):
    """Apply the BPR update to the given triples, sequentially and in order.

    Parameters
    ----------
    users, pos, neg : int32 (n,), IN
        Triples (u, i, j); i != j required (not checked beyond bounds).
    user_factors : float32/float64 (n_users, K), IN/OUT
    item_factors : same dtype (n_items, K), IN/OUT
    item_bias : same dtype (n_items,), IN/OUT
    learning_rate, reg_user, reg_item, reg_bias : float
    prior : same dtype (n_items, K) or None, IN
        Optional prior of the item vectors (the genre centroids): each item
        vector of a step is pulled toward its row with weight ``prior_weight``
        (module docstring). None: no pull, the plain step (bit-identical).
    bias_prior : same dtype (n_items,) or None, IN
        Optional prior of the item biases, weight ``bias_prior_weight``.
    prior_weight, bias_prior_weight : float
        tau and tau_b (ignored without their prior).

    Returns
    -------
    float
        Sum of -ln sigma(x_uij) over the steps (float64), each x_uij computed
        before its own update.
    """
    cdef Py_ssize_t n = users.shape[0], s
    cdef int K = <int>user_factors.shape[1]
    cdef int64_t n_users = user_factors.shape[0], n_items = item_factors.shape[0]
    cdef int64_t u, i, j
    cdef double total = 0.0
    cdef int build = mfc_bpr_build()
    cdef const floating[:, ::1] prior_view
    cdef const floating[::1] bias_prior_view
    cdef const floating *C = NULL
    cdef const floating *D = NULL
    if pos.shape[0] != n or neg.shape[0] != n:
        raise ValueError(f"users, pos, neg must have equal lengths, got {n}, {pos.shape[0]}, "
                         f"{neg.shape[0]}")
    if item_factors.shape[1] != K:
        raise ValueError(f"item_factors has {item_factors.shape[1]} columns, user_factors {K}")
    if item_bias.shape[0] != n_items:
        raise ValueError(f"item_bias has length {item_bias.shape[0]}, expected {n_items}")
    for s in range(n):
        u = users[s]; i = pos[s]; j = neg[s]
        if u < 0 or u >= n_users:
            raise ValueError(f"users[{s}] = {u} out of range [0, {n_users})")
        if i < 0 or i >= n_items or j < 0 or j >= n_items:
            raise ValueError(f"pos[{s}] = {i} or neg[{s}] = {j} out of range [0, {n_items})")
        if i == j:
            raise ValueError(f"pos[{s}] == neg[{s}] == {i}")
    if prior is not None:
        prior_view = prior
        if prior_view.shape[0] != n_items or prior_view.shape[1] != K:
            raise ValueError(f"prior must have shape ({n_items}, {K}), got ({prior_view.shape[0]}, "
                             f"{prior_view.shape[1]})")
        C = &prior_view[0, 0] if n_items > 0 else NULL
    if bias_prior is not None:
        bias_prior_view = bias_prior
        if bias_prior_view.shape[0] != n_items:
            raise ValueError(f"bias_prior has length {bias_prior_view.shape[0]}, expected {n_items}")
        D = &bias_prior_view[0] if n_items > 0 else NULL
    if n == 0:
        return 0.0
    with nogil:
        for s in range(n):
            u = users[s]; i = pos[s]; j = neg[s]
            total += _bpr_step(&user_factors[u, 0], &item_factors[i, 0], &item_factors[j, 0],
                               &item_bias[i], &item_bias[j], K,
                               learning_rate, reg_user, reg_item, reg_bias, build,
                               C + i * K if C != NULL else NULL, C + j * K if C != NULL else NULL,
                               prior_weight, D + i if D != NULL else NULL, D + j if D != NULL else NULL,
                               bias_prior_weight)
    return total


# ---------------------------------------------------------------------------
# Batch fold-in: each user's vector by Newton's method, items fixed
# ---------------------------------------------------------------------------

cdef void _gemm_rm(bint ta, bint tb, int m, int n, int k, double alpha, const double *A, int lda,
                   const double *B, int ldb, double beta, double *C, int ldc) noexcept nogil:
    """Row-major C (m, n) = alpha * op(A) @ op(B) + beta * C, op(X) = X.T if its flag is set.

    A row-major matrix is the column-major view of its transpose, so this is the
    column-major call C.T = op(B).T @ op(A).T (BLAS dgemm, arguments swapped).
    """
    # NumPy: C[:m, :n] = alpha * op(A) @ op(B) + beta * C[:m, :n]
    cdef char tra = b'T' if ta else b'N'
    cdef char trb = b'T' if tb else b'N'
    dgemm(&trb, &tra, &n, &m, &k, &alpha, <double *>B, &ldb, <double *>A, &lda, &beta, C, &ldc)


cdef enum:
    # positives per block of the (positives x negatives) pair matrix
    FOLD_BLOCK = 256
    # doubles of pair matrix per thread: blocks shrink for very many negatives
    FOLD_PAIR_DOUBLES = 131072


cdef int _fold_in_user(const int32_t *pos, int p, const int32_t *neg, int n,
                       const floating *V, const floating *b, int K, double reg, int steps,
                       double *u, double *work, int blk) noexcept nogil:
    """One user's BPR fold-in by Newton's method (see ``bpr_fold_in``); u (K,) OUT.

    ``work`` holds the per-thread buffers laid out below. Returns 0; the LAPACK info
    (> 0) of a failed Cholesky factorization; or K + 1 for a non-finite step.
    """
    cdef double *Vn = work                       # (n, K) negatives' rows
    cdef double *bn = Vn + <size_t>n * K         # (n,)
    cdef double *sn = bn + n                     # (n,) negatives' scores
    cdef double *Sc = sn + n                     # (n,) column sums of s
    cdef double *Hc = Sc + n                     # (n,) column sums of h
    cdef double *R = Hc + n                      # (n, K) Hc * Vn
    cdef double *Vp = R + <size_t>n * K          # (blk, K) a block of positives' rows
    cdef double *T = Vp + <size_t>blk * K        # (blk, K) Hm @ Vn, then Hr/2 * Vp - Hm @ Vn
    cdef double *Hm = T + <size_t>blk * K        # (blk, n) h of the block's pairs
    cdef double *sp = Hm + <size_t>blk * n       # (blk,) positives' scores
    cdef double *Sr = sp + blk                   # (blk,) row sums of s
    cdef double *Hr = Sr + blk                   # (blk,) row sums of h
    cdef double *grad = Hr + blk                 # (K,)
    cdef double *H = grad + K                    # (K, K) Hessian (negated), then its factor
    cdef double *bp = H + <size_t>K * K          # (blk,)
    cdef double *En = bp + blk                   # (n,) exp(-sn)
    cdef bint factor
    cdef double ea
    cdef double n_pairs = <double>p * <double>n
    cdef double x, s, h, acc, step_norm, u_norm
    cdef int it, a, c, k, l, a0, m, info = 0
    cdef char uplo = b'L'
    cdef int one = 1
    for k in range(K):
        u[k] = 0.0
    for c in range(n):
        for k in range(K):
            Vn[<size_t>c * K + k] = <double>V[<size_t>neg[c] * K + k]
        bn[c] = <double>b[neg[c]]
    for it in range(steps):
        factor = True
        # scores of the negatives; NumPy: sn = Vn @ u + bn
        for c in range(n):
            acc = bn[c]
            for k in range(K):
                acc += Vn[<size_t>c * K + k] * u[k]
            sn[c] = acc
            Sc[c] = 0.0
            Hc[c] = 0.0
            if acc > 300.0 or acc < -300.0:
                factor = False
        # the positives' scores must lie in [-300, 300] too: one pass (p K) before the blocks
        if factor:
            for a in range(p):
                acc = <double>b[pos[a]]
                for k in range(K):
                    acc += <double>V[<size_t>pos[a] * K + k] * u[k]
                if acc > 300.0 or acc < -300.0:
                    factor = False
                    break
        if factor:
            for c in range(n):
                En[c] = exp(-sn[c])
        for k in range(K):
            grad[k] = 0.0
        for k in range(K * K):
            H[k] = 0.0
        a0 = 0
        while a0 < p:
            m = p - a0 if p - a0 < blk else blk
            for a in range(m):
                for k in range(K):
                    Vp[<size_t>a * K + k] = <double>V[<size_t>pos[a0 + a] * K + k]
                bp[a] = <double>b[pos[a0 + a]]
                acc = bp[a]
                for k in range(K):
                    acc += Vp[<size_t>a * K + k] * u[k]
                sp[a] = acc
                # s = sigma(-x) = d ln sigma(x)/dx, h = s (1 - s), x = sp - sn; with all
                # scores in [-300, 300], exp(x) = exp(sp) * exp(-sn) (p + n exps, not p n)
                Sr[a] = 0.0
                Hr[a] = 0.0
                ea = exp(sp[a]) if factor else 0.0
                for c in range(n):
                    if factor:
                        s = 1.0 / (1.0 + ea * En[c])
                    else:
                        s = 1.0 / (1.0 + exp(sp[a] - sn[c]))
                    h = s * (1.0 - s)
                    Hm[<size_t>a * n + c] = h
                    Sr[a] += s
                    Hr[a] += h
                    Sc[c] += s
                    Hc[c] += h
                # gradient: + Vp.T @ Sr
                for k in range(K):
                    grad[k] += Sr[a] * Vp[<size_t>a * K + k]
            # T = Hm @ Vn (m, K)
            _gemm_rm(False, False, m, K, n, 1.0, Hm, n, Vn, K, 0.0, T, K)
            # T <- Hr/2 * Vp - T; H += Vp.T @ T + T.T @ Vp (added as Vp.T @ T, symmetrised below)
            for a in range(m):
                for k in range(K):
                    T[<size_t>a * K + k] = 0.5 * Hr[a] * Vp[<size_t>a * K + k] - T[<size_t>a * K + k]
            _gemm_rm(True, False, K, K, m, 1.0, Vp, K, T, K, 1.0, H, K)
            a0 += m
        # H <- H + H.T (the cross terms and the positives' part), then + Vn.T @ (Hc * Vn)
        for k in range(K):
            for l in range(k + 1):
                acc = H[<size_t>k * K + l] + H[<size_t>l * K + k]
                H[<size_t>k * K + l] = acc
                H[<size_t>l * K + k] = acc
        for c in range(n):
            for k in range(K):
                R[<size_t>c * K + k] = Hc[c] * Vn[<size_t>c * K + k]
                grad[k] -= Sc[c] * Vn[<size_t>c * K + k]
        _gemm_rm(True, False, K, K, n, 1.0, Vn, K, R, K, 1.0, H, K)
        # grad / n_pairs - 2 reg u;  H / n_pairs + (2 reg + 1e-10) I
        for k in range(K):
            grad[k] = grad[k] / n_pairs - 2.0 * reg * u[k]
            for l in range(K):
                H[<size_t>k * K + l] /= n_pairs
            H[<size_t>k * K + k] += 2.0 * reg + 1e-10
        # Newton step: grad <- H^-1 grad (H symmetric: either triangle)
        dpotrf(&uplo, &K, H, &K, &info)
        if info != 0:
            return info
        dpotrs(&uplo, &K, &one, H, &K, grad, &K, &info)
        if info != 0:
            return info
        step_norm = 0.0
        u_norm = 0.0
        for k in range(K):
            u[k] += grad[k]
            step_norm += grad[k] * grad[k]
            u_norm += u[k] * u[k]
        if not (step_norm < INFINITY):   # NaN or inf (non-finite factors): no solution
            return K + 1
        if sqrt(step_norm) <= 1e-6 * (1.0 + sqrt(u_norm)):
            break
    return 0


def bpr_fold_in(const int32_t[::1] pos_indptr, const int32_t[::1] pos_indices,
                const int32_t[::1] neg_indptr, const int32_t[::1] neg_ranks,
                floating[:, ::1] item_factors, floating[::1] item_bias,
                double reg, int newton_steps, int num_threads, double[:, ::1] out):
    """BPR fold-in of many users at once: each user's vector by Newton's method, items fixed.

    User r with positives P (``pos_indices[pos_indptr[r]:pos_indptr[r+1]]``) and
    negatives S maximises the concave

        J(u) = mean_{i in P, j in S} ln sigma(u . (v_i - v_j) + b_i - b_j) - reg ||u||^2

    from u = 0 by up to ``newton_steps`` Newton steps, stopping when
    ||step|| <= 1e-6 (1 + ||u||). The negatives are given by rank among the items
    that are NOT positives of the user: rank k is the k-th such item in increasing
    id order. With s = sigma(-x) and h = s (1 - s) over the pairs, N = |P| |S|:

        grad = (Vp.T @ s.sum(1) - Vn.T @ s.sum(0)) / N - 2 reg u
        Hess = (Vp.T diag(h.sum(1)) Vp + Vn.T diag(h.sum(0)) Vn - C - C.T) / N + (2 reg + 1e-10) I,
        C = Vp.T @ h @ Vn,   u += solve(Hess, grad)  (Cholesky, LAPACK)

    (``mfcore._reference.bpr_fold_in`` is the NumPy twin.) Users without
    positives or negatives get the zero vector.

    Parameters
    ----------
    pos_indptr : int32 (n_users + 1,), pos_indices : int32 (nnz,), IN
        Each user's positive items, sorted ascending, no duplicates, in [0, n_items).
    neg_indptr : int32 (n_users + 1,), neg_ranks : int32, IN
        Each user's negatives as ranks among their non-positives, each in
        [0, n_items - |P|). Not checked here (Python validates).
    item_factors : float32/float64 (n_items, K), item_bias : same dtype (n_items,), IN
    reg : float
        L2 weight (>= 0).
    newton_steps : int (>= 1)
    num_threads : int (>= 1)
        OpenMP threads over users; BLAS must be held to one thread by the caller.
    out : float64 (n_users, K), OUT

    Returns
    -------
    int
        -1, or the first user whose Newton system was not positive definite or whose
        step was not finite (non-finite factors); such users are left zero.
    """
    cdef int64_t n_users = pos_indptr.shape[0] - 1
    cdef int64_t n_items = item_factors.shape[0]
    cdef int K = <int>item_factors.shape[1]
    cdef int64_t r
    cdef int p, n, blk, max_n = 0, max_blk = 1, info, t
    cdef size_t per_thread
    cdef double *work = NULL
    cdef int32_t *neg_items = NULL
    cdef int64_t bad = -1
    cdef int n_threads = num_threads
    cdef const int32_t *pos_ptr = NULL
    cdef const int32_t *ranks_ptr = NULL
    if n_users < 0 or neg_indptr.shape[0] != n_users + 1:
        raise ValueError(f"pos_indptr and neg_indptr must have n_users + 1 >= 1 entries, got "
                         f"{pos_indptr.shape[0]} and {neg_indptr.shape[0]}")
    if out.shape[0] != n_users or out.shape[1] != K:
        raise ValueError(f"out must have shape ({n_users}, {K}), got ({out.shape[0]}, {out.shape[1]})")
    if item_bias.shape[0] != n_items:
        raise ValueError(f"item_bias has length {item_bias.shape[0]}, expected {n_items}")
    if newton_steps < 1 or num_threads < 1:
        raise ValueError(f"newton_steps and num_threads must be >= 1, got {newton_steps}, {num_threads}")
    if pos_indices.shape[0] < pos_indptr[n_users] or neg_ranks.shape[0] < neg_indptr[n_users]:
        raise ValueError("pos_indices / neg_ranks shorter than their indptr says")
    out[:, :] = 0.0
    if n_users == 0 or K == 0:
        return -1
    if pos_indices.shape[0] > 0:
        pos_ptr = &pos_indices[0]
    if neg_ranks.shape[0] > 0:
        ranks_ptr = &neg_ranks[0]
    for r in range(n_users):
        n = neg_indptr[r + 1] - neg_indptr[r]
        p = pos_indptr[r + 1] - pos_indptr[r]
        if n > max_n:
            max_n = n
        if p > max_blk:
            max_blk = p
    blk = FOLD_PAIR_DOUBLES // (max_n if max_n > 0 else 1)
    if blk > FOLD_BLOCK:
        blk = FOLD_BLOCK
    if blk < 8:
        blk = 8
    if blk > max_blk:
        blk = max_blk
    if n_threads > n_users:
        n_threads = <int>n_users
    per_thread = (<size_t>max_n * (2 * K + 5) + <size_t>blk * (2 * K + max_n + 4)
                  + <size_t>K * (K + 1) + 8)
    work = <double *>malloc(per_thread * n_threads * sizeof(double))
    neg_items = <int32_t *>malloc((<size_t>neg_indptr[n_users] + 1) * sizeof(int32_t))
    try:
        if work == NULL or neg_items == NULL:
            raise MemoryError("bpr_fold_in: could not allocate the per-thread work space")
        with nogil:
            for r in prange(n_users, schedule='dynamic', chunksize=1, num_threads=n_threads):
                _fold_in_row(r, &pos_indptr[0], pos_ptr, &neg_indptr[0], ranks_ptr, neg_items, &item_factors[0, 0], &item_bias[0], K, reg, newton_steps,
                             &out[r, 0], work + per_thread * <size_t>threadid(), blk, &bad)
    finally:
        free(work)
        free(neg_items)
    return bad


cdef void _fold_in_row(int64_t r, const int32_t *pos_indptr, const int32_t *pos_indices,
                       const int32_t *neg_indptr, const int32_t *neg_ranks, int32_t *neg_items,
                       const floating *V, const floating *b, int K, double reg, int steps,
                       double *u, double *work, int blk, int64_t *bad) noexcept nogil:
    """User r of ``bpr_fold_in``: ranks -> items, then Newton (u left zero on failure)."""
    cdef int p = pos_indptr[r + 1] - pos_indptr[r]
    cdef int n = neg_indptr[r + 1] - neg_indptr[r]
    cdef const int32_t *pos = pos_indices + pos_indptr[r]
    cdef int32_t *neg = neg_items + neg_indptr[r]
    cdef int c, k, info
    if p == 0 or n == 0:
        return
    for c in range(n):
        neg[c] = <int32_t>_kth_negative(pos, p, neg_ranks[neg_indptr[r] + c])
    info = _fold_in_user(pos, p, neg, n, V, b, K, reg, steps, u, work, blk)
    if info != 0:
        for k in range(K):
            u[k] = 0.0
        with gil:
            if bad[0] < 0 or r < bad[0]:
                bad[0] = r
