"""Top-N item selection for a batch of users (dot-product scores), in parallel.

For every user ``u`` of the batch the kernel scores every item,

    scores[u, i] = user_factors[u] . item_factors[i] + bias_weight * item_bias[i]

drops the excluded items (the user's CSR row of seen items, and items whose
``item_mask`` is 0) and returns the ``N`` best remaining items, best first.
Ties in score go to the lower item id, so the result is a deterministic
function of the scores: it does not depend on the thread count or on how the
users are batched.

How it works
------------
Users are processed in blocks of ``B`` (<= 128) users, one block per OpenMP
task (``prange`` over blocks, dynamic schedule). For a block, the items are
visited in tiles of ``T`` items sized so that the ``T x B`` score tile (about
1 MiB) stays in the core's L2 cache. Each tile is computed with one BLAS gemm
call into a per-thread buffer stored item-major (row ``j`` holds item ``j``'s
scores for the ``B`` users, the faster gemm shape for small K). The users'
seen items falling into the tile are overwritten with NaN (NaN never compares
greater than anything, so it is never selected). Then, item by item, the
``B`` scores are compared with the ``B`` users' current thresholds in one
branch-free loop the C compiler vectorizes; only when some user's threshold
is beaten are the users visited one by one. Each user keeps its best ``N``
items in a binary min-heap whose root is its worst kept item; the threshold
is the root's score (-inf while the heap is not full). Items are visited in
increasing id order, so an item that only *ties* with the root is never
better than it (the root has the lower id), and ``score > threshold`` is the
exact test. ``item_mask`` and ``item_bias`` are folded into one per-item
offset computed once per call (NaN where the mask is 0: such items are
skipped before their scores are looked at).

``auc_rows`` computes per-user AUC from a dense (bounded) block of scores,
in parallel over users: the relevant scores are sorted and every
non-relevant candidate is placed among them with a branch-free binary search
(O(n_items log |R|) per user); for float32 rows with at most
``AUC_LINEAR_MAX`` relevant items, one vectorized counting pass per relevant
item is faster (O(n_items |R|) simple compares).

Scores are computed in the dtype of the factors (float32 or float64). The
caller (``mfcore._ranking.top_n``) validates the arguments, guarantees that
no score can overflow (so every candidate's score is finite and NaN only
ever marks an excluded item) and keeps BLAS to a single thread; this module
imports nothing from mfcore.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport NAN, INFINITY
from libc.stdlib cimport malloc, free, qsort
from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t, uint8_t, uint16_t
from scipy.linalg.cython_blas cimport sgemm, dgemm
from libc.math cimport sqrt
from _simd cimport mfc_set_level_cap, env_level_cap, build_kind, level_hook

import numpy as np

cdef extern from "mfcore/topk_bf16.h":
    int MFC_TK_MAX_N
    int mfc_tk_bf16_on
    int mfc_tk_bf16_available() noexcept nogil
    double mfc_tk_c1(int K) noexcept nogil
    double MFC_TK_C2
    ctypedef struct mfc_tk_items:
        const uint16_t* vp
        const float* nrm
        const float* o
        const float* d
        const float* od
        const float* V
        const int32_t* order
        const float* bias
        double w
        int n_items, K, P, nvb
    ctypedef struct mfc_tk_scratch:
        pass
    mfc_tk_scratch* mfc_tk_scratch_new(int B, int N, int P) noexcept nogil
    void mfc_tk_scratch_free(mfc_tk_scratch* s) noexcept nogil
    int mfc_tk_pack_items(const float* V, int n_items, int K, int nvb, const int32_t* order,
                          uint16_t* out, float* nrm) noexcept nogil
    int mfc_tk_block(const mfc_tk_items* it, const float* U, const float* ua, const float* un,
                     const int32_t* perm, int u0, int nb,
                     int vb_lo, int vb_hi, const int32_t* seen_indptr, const int32_t* seen,
                     mfc_tk_scratch* s, int32_t* out_ids, float* out_scores, int out_row) noexcept nogil

cdef enum:
    TILE_BYTES = 1048576  # bytes of score tile per thread (B users x T items); fits a 1-2 MiB L2
    MAX_BLOCK = 128       # users per gemm call / OpenMP task
    SPLIT_MIN_ITEMS = 4096  # items per thread below which a small batch is not split over items
    MAX_SPLIT = 64        # most threads one user's items are split over (_merge_lists' heads)
    AUC_LINEAR_MAX = 64   # float32 AUC: linear vectorized counting up to this many relevant items
    BF16_BLOCK = 96       # users per OpenMP task of the bf16 screening path (8 micro-tiles of 12)


# ---------------------------------------------------------------- CPU dispatch (simd.h)
mfc_set_level_cap(env_level_cap())
#: how the kernels were built: 'simd', 'baseline-only' or 'portable' (see _simd.pxd)
SIMD_BUILD = build_kind()


def _simd_level(level=None):
    """Cap / report the SIMD build of this module (testing hook; top build AVX-512).

    The bfloat16 screening path of :func:`topk` runs only at level 2 (AVX-512) on a CPU
    with AVX512_BF16; see ``_simd.level_hook`` (-1 lifts the cap).
    """
    return level_hook(level, 2)


cdef inline bint _worse(floating sa, int32_t ia, floating sb, int32_t ib) noexcept nogil:
    """True if candidate (sa, ia) ranks below (sb, ib): lower score, or equal score and higher id."""
    return sa < sb or (sa == sb and ia > ib)


cdef inline void _sift_down(floating* hs, int32_t* hi, int n, int pos) noexcept nogil:
    """Restore the min-heap (root = worst) below ``pos`` for a heap of ``n`` entries."""
    cdef int child, right
    cdef floating s = hs[pos]
    cdef int32_t i = hi[pos]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        right = child + 1
        if right < n and _worse(hs[right], hi[right], hs[child], hi[child]):
            child = right
        if _worse(hs[child], hi[child], s, i):
            hs[pos] = hs[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hs[pos] = s
    hi[pos] = i


cdef inline void _push(floating* hs, int32_t* hi, int n, floating s, int32_t i) noexcept nogil:
    """Insert (s, i) into a heap holding ``n`` entries (capacity > n)."""
    cdef int pos = n, parent
    while pos > 0:
        parent = (pos - 1) // 2
        if _worse(s, i, hs[parent], hi[parent]):
            hs[pos] = hs[parent]
            hi[pos] = hi[parent]
            pos = parent
        else:
            break
    hs[pos] = s
    hi[pos] = i


cdef inline void _gemm_tile(const floating* U, const floating* V, int K, int nb, int tn,
                            floating* buf, int ldc) noexcept nogil:
    """buf[j, b] = V[j] . U[b] for j < tn, b < nb, written row-major (item-major) with row stride ``ldc``."""
    cdef char transa = b'T'
    cdef char transb = b'N'
    cdef int ldk = K if K > 0 else 1
    cdef floating one = 1.0
    cdef floating zero = 0.0
    cdef int j
    if K == 0:
        for j in range(tn):
            memset(buf + <size_t>j * ldc, 0, nb * sizeof(floating))
        return
    # NumPy: buf[:tn, :nb] = V[:tn] @ U[:nb].T
    # Row-major buf (tn x nb, stride ldc) is column-major C (nb x tn, ld ldc) = U V_tile^T;
    # row-major U (nb x K) is column-major (K x nb) -> transa 'T'; V_tile (tn x K) is (K x tn) -> 'N'.
    if floating is float:
        sgemm(&transa, &transb, &nb, &tn, &K, &one, <float*>U, &ldk, <float*>V, &ldk,
              &zero, buf, &ldc)
    else:
        dgemm(&transa, &transb, &nb, &tn, &K, &one, <double*>U, &ldk, <double*>V, &ldk,
              &zero, buf, &ldc)


cdef void _block(const floating* U, const floating* V, const floating* offset,
                 const int32_t* seen_indptr, const int32_t* seen_indices,
                 int K, int i_lo, int i_hi, int u0, int nb, int B, int N, int T,
                 floating* buf, floating* thr, floating* hs, int32_t* hi, int* cnt, int* pos,
                 int32_t* out_ids, floating* out_scores, int out_u0) noexcept nogil:
    """Top-N among items i_lo .. i_hi-1 for users u0 .. u0+nb-1 (nb <= B) with one thread's scratch.

    Scratch: buf (T*B), thr (B), hs/hi (B*N), cnt/pos (B). thr[b] is user b's
    admission threshold: -inf while its heap holds fewer than N items, then
    the score of the heap root (its worst kept item). User u0 + b's list is
    written to row out_u0 + b of out_ids / out_scores (N entries per row).
    """
    cdef int b, t0, tn, p, end, n, last, j, hit, c
    cdef floating* row
    cdef floating* h
    cdef int32_t* hid
    cdef floating o, s, ts
    cdef int32_t ti
    for b in range(nb):
        cnt[b] = 0
        thr[b] = -INFINITY
        if seen_indptr != NULL:
            pos[b] = seen_indptr[u0 + b]
    t0 = i_lo
    while t0 < i_hi:
        tn = i_hi - t0
        if tn > T:
            tn = T
        _gemm_tile(U + <size_t>u0 * K, V + <size_t>t0 * K, K, nb, tn, buf, B)
        if seen_indptr != NULL:
            for b in range(nb):
                # seen indices are sorted: mark those inside [t0, t0 + tn) and advance.
                p = pos[b]
                end = seen_indptr[u0 + b + 1]
                while p < end and seen_indices[p] < t0 + tn:
                    if seen_indices[p] >= t0:  # guards memory even if a row were unsorted
                        buf[<size_t>(seen_indices[p] - t0) * B + b] = NAN
                    p += 1
                pos[b] = p
        for j in range(tn):
            row = buf + <size_t>j * B
            o = 0
            if offset != NULL:
                o = offset[t0 + j]
                if o != o:  # item_mask == 0
                    continue
            # Branch-free "does any user admit item j?" (vectorized by the compiler).
            hit = 0
            for b in range(nb):
                hit = hit | (row[b] + o > thr[b])
            if not hit:
                continue
            for b in range(nb):
                s = row[b] + o
                if s > thr[b]:
                    h = hs + <size_t>b * N
                    hid = hi + <size_t>b * N
                    c = cnt[b]
                    if c < N:
                        _push(h, hid, c, s, t0 + j)
                        cnt[b] = c + 1
                        if c + 1 == N:
                            thr[b] = h[0]
                    else:
                        h[0] = s
                        hid[0] = t0 + j
                        _sift_down(h, hid, N, 0)
                        thr[b] = h[0]
        t0 += tn
    # Heap-sort each user's kept items (worst moves to the back) and write them out, padded.
    for b in range(nb):
        h = hs + <size_t>b * N
        hid = hi + <size_t>b * N
        n = cnt[b]
        last = n - 1
        while last > 0:
            ts = h[0]
            ti = hid[0]
            h[0] = h[last]
            hid[0] = hid[last]
            h[last] = ts
            hid[last] = ti
            _sift_down(h, hid, last, 0)
            last -= 1
        for p in range(n):
            out_ids[<size_t>(out_u0 + b) * N + p] = hid[p]
            out_scores[<size_t>(out_u0 + b) * N + p] = h[p]
        for p in range(n, N):
            out_ids[<size_t>(out_u0 + b) * N + p] = -1
            out_scores[<size_t>(out_u0 + b) * N + p] = -INFINITY


cdef void _merge_lists(int n_lists, int N, const int32_t* ids, const floating* scores,
                       int32_t* out_ids, floating* out_scores) noexcept nogil:
    """Best N of ``n_lists`` lists (each N long, best first, -1 padded) into one, best first.

    The lists hold disjoint items, each sorted by (score descending, id ascending),
    the order of the whole result, so a k-way merge by that order is exact.
    """
    cdef int p, l, best
    cdef int head[64]
    for l in range(n_lists):
        head[l] = 0
    for p in range(N):
        best = -1
        for l in range(n_lists):
            if head[l] >= N or ids[l * N + head[l]] < 0:
                continue
            if best < 0 or _worse(scores[best * N + head[best]], ids[best * N + head[best]],
                                  scores[l * N + head[l]], ids[l * N + head[l]]):
                best = l
        if best < 0:
            out_ids[p] = -1
            out_scores[p] = -INFINITY
        else:
            out_ids[p] = ids[best * N + head[best]]
            out_scores[p] = scores[best * N + head[best]]
            head[best] += 1


def topk(const floating[:, ::1] user_factors,
         const floating[:, ::1] item_factors,
         item_bias,
         double bias_weight,
         seen_indptr,
         seen_indices,
         item_mask,
         int N,
         int num_threads,
         item_pack=None):
    """Best ``N`` items for each user of a batch.

    Parameters
    ----------
    user_factors : IN, float32 or float64, shape (n_batch, K), C-contiguous
    item_factors : IN, same dtype, shape (n_items, K), C-contiguous
    item_bias : IN, same dtype, shape (n_items,), C-contiguous, or None
    bias_weight : float
        score = u . v + bias_weight * item_bias (ignored when item_bias is None).
    seen_indptr : IN, int32, shape (n_batch + 1,), or None
    seen_indices : IN, int32, shape (seen_indptr[-1],), or None
        CSR of excluded items per user; indices sorted within each row and in [0, n_items).
    item_mask : IN, uint8, shape (n_items,), or None
        1 = candidate, 0 = never recommended.
    N : int >= 1
        Number of items to return per user.
    num_threads : int >= 1
        OpenMP threads (BLAS must be limited to one thread by the caller).
    item_pack : IN, optional
        ``pack_items(item_factors)`` computed once for many calls (float32 only);
        computed here when needed and not given.

    Returns
    -------
    ids : OUT, int32, shape (n_batch, N)
        Item ids by descending score, ties by lower id; -1 past the last candidate.
    scores : OUT, dtype of the factors, shape (n_batch, N)
        The matching scores; -inf where ``ids`` is -1.

    The caller validates everything (shapes, dtypes, sortedness, index ranges,
    finite inputs that cannot overflow a score); the kernel only checks what it
    needs to avoid out-of-bounds memory access from mismatched shapes. A score
    that is NaN anyway is treated as excluded, and -inf as never better than
    the (-inf) threshold of a non-full list.

    float32 with N <= 256 on a CPU with AVX512_BF16 (and the AVX-512 build level):
    the bfloat16 screening path of ``mfcore/topk_bf16.h``; the scores (and so the
    order) are then the float32 roundings of the scores summed in double precision.
    Otherwise the float32/float64 gemm path below, whose scores are BLAS's.
    """
    cdef int n_batch = user_factors.shape[0]
    cdef int K = user_factors.shape[1]
    cdef int n_items = item_factors.shape[0]
    if item_factors.shape[1] != K:
        raise ValueError(f"item_factors has {item_factors.shape[1]} columns, user_factors {K}")
    if N < 1:
        raise ValueError(f"N must be >= 1, got {N}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    dtype = np.float32 if floating is float else np.float64
    ids_arr = np.empty((n_batch, N), dtype=np.int32)
    scores_arr = np.empty((n_batch, N), dtype=dtype)
    if n_batch == 0:
        return ids_arr, scores_arr
    cdef int32_t[:, ::1] ids_mv = ids_arr
    cdef floating[:, ::1] scores_mv = scores_arr

    cdef const floating[::1] bias_mv
    cdef const uint8_t[::1] mask_mv
    cdef const int32_t[::1] indptr_mv
    cdef const int32_t[::1] indices_mv
    cdef const int32_t* indptr_p = NULL
    cdef const int32_t* indices_p = NULL
    cdef bint has_bias = item_bias is not None and bias_weight != 0.0
    cdef bint has_mask = item_mask is not None
    if item_bias is not None:
        bias_mv = item_bias
        if bias_mv.shape[0] != n_items:
            raise ValueError(f"item_bias has length {bias_mv.shape[0]}, expected {n_items}")
    if has_mask:
        mask_mv = item_mask
        if mask_mv.shape[0] != n_items:
            raise ValueError(f"item_mask has length {mask_mv.shape[0]}, expected {n_items}")
    if (seen_indptr is None) != (seen_indices is None):
        raise ValueError("seen_indptr and seen_indices must both be given or both be None")
    if seen_indptr is not None:
        indptr_mv = seen_indptr
        indices_mv = seen_indices
        if indptr_mv.shape[0] != n_batch + 1:
            raise ValueError(f"seen_indptr has length {indptr_mv.shape[0]}, expected {n_batch + 1}")
        if indptr_mv[0] < 0 or indptr_mv[n_batch] > indices_mv.shape[0]:
            raise ValueError("seen_indptr points outside seen_indices")
        indptr_p = &indptr_mv[0]
        if indices_mv.shape[0] > 0:
            indices_p = &indices_mv[0]

    if floating is float:
        if N <= MFC_TK_MAX_N and K > 0 and n_items > 0 and mfc_tk_bf16_available():
            if item_pack is None:
                item_pack = pack_items(item_factors, item_bias if has_bias else None, bias_weight,
                                       _median_norm(user_factors))
            if item_pack is not None:
                _topk_bf16(user_factors, item_factors, item_bias if has_bias else None, bias_weight,
                           indptr_p, indices_p if indptr_p != NULL else NULL,
                           item_mask, N, num_threads, item_pack, &ids_mv[0, 0], &scores_mv[0, 0])
                return ids_arr, scores_arr

    cdef int nt = num_threads
    # Fewer users than threads (one-user recommend, similar_items): the threads split
    # the items instead, each keeping its own top N, merged per user afterwards.
    cdef bint split_items = n_batch < nt and n_items >= SPLIT_MIN_ITEMS * nt
    if nt > MAX_SPLIT:
        split_items = False
    cdef int B = (n_batch + 4 * nt - 1) // (4 * nt)
    if B > MAX_BLOCK:
        B = MAX_BLOCK
    if B < 1:
        B = 1
    cdef int n_blocks = (n_batch + B - 1) // B
    if nt > n_blocks and not split_items:
        nt = n_blocks
    cdef int T = <int>(TILE_BYTES // (B * sizeof(floating)))
    if T < 64:
        T = 64
    if T > n_items:
        T = n_items if n_items > 0 else 1

    cdef floating* offset = NULL
    cdef floating* buf = NULL
    cdef floating* thr = NULL
    cdef floating* hs = NULL
    cdef int32_t* hi = NULL
    cdef int* cnt = NULL
    cdef int* pos = NULL
    cdef int j, blk, tid, u0, nb, part, u
    cdef int32_t* part_ids = NULL
    cdef floating* part_scores = NULL
    cdef const floating* U = &user_factors[0, 0] if K > 0 else NULL
    cdef const floating* V = NULL
    if n_items > 0 and K > 0:
        V = &item_factors[0, 0]
    try:
        if has_bias or has_mask:
            offset = <floating*>malloc(max(n_items, 1) * sizeof(floating))
            if offset == NULL:
                raise MemoryError("topk: cannot allocate the item offset vector")
            for j in range(n_items):
                offset[j] = <floating>(bias_weight * bias_mv[j]) if has_bias else 0
                if has_mask and mask_mv[j] == 0:
                    offset[j] = NAN
        buf = <floating*>malloc(<size_t>nt * B * T * sizeof(floating))
        thr = <floating*>malloc(<size_t>nt * B * sizeof(floating))
        hs = <floating*>malloc(<size_t>nt * B * N * sizeof(floating))
        hi = <int32_t*>malloc(<size_t>nt * B * N * sizeof(int32_t))
        cnt = <int*>malloc(<size_t>nt * B * sizeof(int))
        pos = <int*>malloc(<size_t>nt * B * sizeof(int))
        if buf == NULL or thr == NULL or hs == NULL or hi == NULL or cnt == NULL or pos == NULL:
            raise MemoryError(f"topk: cannot allocate per-thread scratch ({nt} threads, "
                              f"{B} users x {T} items, N={N})")
        if split_items:
            # B == 1 here; part p scans items [p * n_items / nt, (p + 1) * n_items / nt).
            part_ids = <int32_t*>malloc(<size_t>nt * N * sizeof(int32_t))
            part_scores = <floating*>malloc(<size_t>nt * N * sizeof(floating))
            if part_ids == NULL or part_scores == NULL:
                raise MemoryError(f"topk: cannot allocate {nt} partial lists of N={N}")
            for u in range(n_batch):
                for part in prange(nt, nogil=True, schedule='static', num_threads=nt):
                    tid = threadid()
                    _block(U, V, offset, indptr_p, indices_p, K,
                           <int>((<long long>part * n_items) // nt),
                           <int>((<long long>(part + 1) * n_items) // nt), u, 1, 1, N, T,
                           buf + <size_t>tid * T, thr + tid, hs + <size_t>tid * N, hi + <size_t>tid * N,
                           cnt + tid, pos + tid, part_ids, part_scores, part)
                _merge_lists(nt, N, part_ids, part_scores, &ids_mv[u, 0], &scores_mv[u, 0])
        else:
            for blk in prange(n_blocks, nogil=True, schedule='dynamic', num_threads=nt):
                tid = threadid()
                u0 = blk * B
                nb = n_batch - u0
                if nb > B:
                    nb = B
                _block(U, V, offset, indptr_p, indices_p, K, 0, n_items, u0, nb, B, N, T,
                       buf + <size_t>tid * B * T, thr + <size_t>tid * B,
                       hs + <size_t>tid * B * N, hi + <size_t>tid * B * N,
                       cnt + tid * B, pos + tid * B, &ids_mv[0, 0], &scores_mv[0, 0], u0)
    finally:
        free(part_ids)
        free(part_scores)
        free(offset)
        free(buf)
        free(thr)
        free(hs)
        free(hi)
        free(cnt)
        free(pos)
    return ids_arr, scores_arr


#: items x K per thread below which a batch of fewer users than threads is not split over
#: the items on the bf16 path (testing hook: _bf16_split_min_work)
cdef double bf16_split_min_work = 16777216.0


def _bf16_split_min_work(value=None):
    """Testing hook: set / report the bf16 path's per-thread work threshold for splitting items."""
    global bf16_split_min_work
    if value is not None:
        bf16_split_min_work = float(value)
    return bf16_split_min_work


def _bf16_screening(enabled=None):
    """Testing/benchmark hook: turn the bfloat16 screening path on/off (None: leave it).

    Returns whether :func:`topk` uses it for float32 now (it also needs AVX512_BF16 and the
    AVX-512 build level: ``_simd_level``/``MFCORE_SIMD`` below 2 turn it off).
    """
    global mfc_tk_bf16_on
    if enabled is not None:
        mfc_tk_bf16_on = 1 if enabled else 0
    return bool(mfc_tk_bf16_available())


def _median_norm(U):
    """Median row norm of U (float), the typical ||u|| that orders the packed items."""
    if U.shape[0] == 0:
        return 1.0
    rows = np.asarray(U)
    if rows.shape[0] > 4096:
        rows = rows[:: rows.shape[0] // 4096]
    return float(np.median(np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))))


def pack_items(const float[:, ::1] item_factors, item_bias=None, double bias_weight=1.0, double user_norm=1.0):
    """The item side of the bfloat16 screening path, computed once per item matrix.

    The items are stored in decreasing order of their score bound for a user of norm
    ``user_norm`` (``bias_weight * item_bias + user_norm * ||v||``), so that the items able
    to enter a user's list come first and the blocks whose bound cannot beat the list are
    skipped (see ``mfcore/topk_bf16.h``). The order only affects speed: results are the
    same for any pack of the same items.

    Parameters
    ----------
    item_factors : IN, float32, shape (n_items, K), C-contiguous, finite
    item_bias : IN, float32, shape (n_items,), optional
    bias_weight, user_norm : float
        The ordering key's weights (a typical call's bias weight and user norm).

    Returns
    -------
    tuple or None
        (packed bfloat16 items as uint16, item norms float32 (n_blocks * 16,) by position,
        largest norm as float, position -> item id as int32, a dict caching the per-item
        offsets of unmasked calls), the layout of ``mfcore/topk_bf16.h``; None when the path is not available here or a factor
        rounds to an infinite bfloat16 (the gemm path is used).
    """
    cdef int n_items = item_factors.shape[0]
    cdef int K = item_factors.shape[1]
    if not mfc_tk_bf16_available() or n_items == 0 or K == 0:
        return None
    cdef int P = (K + 1) // 2
    cdef int nvb = ((n_items + 63) // 64) * 4
    V = np.asarray(item_factors)
    key = user_norm * np.sqrt(np.einsum("ij,ij->i", V, V, dtype=np.float64))
    if item_bias is not None:
        key += bias_weight * np.asarray(item_bias, dtype=np.float64)
    order_arr = np.argsort(-key, kind="stable").astype(np.int32)
    vp_arr = np.empty(<size_t>nvb * P * 32, dtype=np.uint16)
    nrm_arr = np.empty(<size_t>nvb * 16, dtype=np.float32)
    cdef uint16_t[::1] vp = vp_arr
    cdef float[::1] nrm = nrm_arr
    cdef const int32_t[::1] order = order_arr
    cdef int rc
    with nogil:
        rc = mfc_tk_pack_items(&item_factors[0, 0], n_items, K, nvb, &order[0], &vp[0], &nrm[0])
    if rc != 0:
        return None
    return vp_arr, nrm_arr, float(nrm_arr.max()), order_arr, {}


cdef void _item_offsets(float[:, ::1] offs, const int32_t[::1] order, const float[::1] bias_mv,
                        double bias_weight, const uint8_t[::1] mask_mv, int n_items, double A) noexcept nogil:
    """offs[0] = fl32(w b_i) (NaN: masked or padding), offs[1] = c2 |w b_i| + A, offs[2] = their sum; by position."""
    cdef Py_ssize_t k
    cdef int i
    cdef double wb
    cdef bint has_bias = bias_mv is not None
    cdef bint has_mask = mask_mv is not None
    for k in range(offs.shape[1]):  # by position; item i = order[k]
        if k >= n_items:
            offs[0, k] = NAN
            offs[1, k] = 0
        else:
            i = order[k]
            wb = bias_weight * bias_mv[i] if has_bias else 0.0
            offs[0, k] = <float>wb
            offs[1, k] = <float>(MFC_TK_C2 * (wb if wb >= 0 else -wb) + A)
            if has_mask and mask_mv[i] == 0:
                offs[0, k] = NAN
        offs[2, k] = offs[0, k] + offs[1, k]


cdef void _topk_bf16(const float[:, ::1] user_factors, const float[:, ::1] item_factors, item_bias,
                     double bias_weight, const int32_t* indptr_p, const int32_t* indices_p, item_mask,
                     int N, int num_threads, item_pack, int32_t* out_ids, float* out_scores) except *:
    """The bfloat16 screening path of topk (arguments checked by topk)."""
    cdef int n_batch = user_factors.shape[0]
    cdef int K = user_factors.shape[1]
    cdef int n_items = item_factors.shape[0]
    vp_arr, nrm_arr, vmax, order_arr, offs_cache = item_pack
    cdef const uint16_t[::1] vp = vp_arr
    cdef const float[::1] nrm = nrm_arr
    cdef const int32_t[::1] order = order_arr
    cdef int nvb = nrm.shape[0] // 16
    cdef int P = (K + 1) // 2
    if (nvb * 16 < n_items or nvb % 4 != 0 or vp.shape[0] != <Py_ssize_t>nvb * P * 32
            or order.shape[0] != n_items):
        raise ValueError("item_pack does not match item_factors (use pack_items(item_factors))")
    cdef const float[::1] bias_mv
    cdef const uint8_t[::1] mask_mv
    cdef bint has_bias = item_bias is not None
    cdef bint has_mask = item_mask is not None
    if has_bias:
        bias_mv = item_bias
    if has_mask:
        mask_mv = item_mask
    ua_arr = np.empty(n_batch, dtype=np.float32)
    un_arr = np.empty(n_batch, dtype=np.float32)
    cdef float[::1] un = un_arr
    cdef int32_t* perm_p = NULL
    cdef float[::1] ua = ua_arr
    cdef float[:, ::1] offs
    cdef double c1 = mfc_tk_c1(K), umax = 0.0, ss, vmax_d = float(vmax)
    cdef int b, k, i, nt = num_threads, B, n_blocks, blk, u0, nb, tid, part, u, lo, hi
    cdef const float* U = &user_factors[0, 0]
    with nogil:
        for b in range(n_batch):
            ss = 0.0
            for k in range(K):
                ss = ss + <double>U[<size_t>b * K + k] * U[<size_t>b * K + k]
            ss = sqrt(ss) * (1.0 + 1e-6)
            if ss > umax:
                umax = ss
            ua[b] = <float>(c1 * ss)
            un[b] = <float>ss
    # The per-item offsets depend on the bias, its weight, the mask and (through the tiny
    # absolute term A) the largest user norm, rounded up to a power of two so that calls
    # without a mask can reuse them (kept in the pack, checked against the bias values).
    umax_r = float(2.0 ** np.ceil(np.log2(umax))) if umax > 0 else 1.0
    key = (float(bias_weight) if has_bias else 0.0, umax_r)
    cached = None if has_mask else offs_cache.get(key)
    if cached is not None and (cached[0] is None) == (not has_bias) and (
            not has_bias or np.array_equal(cached[0], item_bias)):
        offs_arr = cached[1]
        offs = offs_arr
    else:
        offs_arr = np.empty((3, <size_t>nvb * 16), dtype=np.float32)
        offs = offs_arr
        _item_offsets(offs, order, bias_mv if has_bias else None, bias_weight, mask_mv if has_mask else None,
                      n_items, 7.52316384526264e-37 * (K + 4) * (1.0 + vmax_d) * (1.0 + umax_r))  # 2^-120 * ...
        if not has_mask:
            if len(offs_cache) >= 8:
                offs_cache.clear()
            offs_cache[key] = (np.array(item_bias, copy=True) if has_bias else None, offs_arr)
    cdef mfc_tk_items it
    it.vp = &vp[0]
    it.nrm = &nrm[0]
    it.o = &offs[0, 0]
    it.d = &offs[1, 0]
    it.od = &offs[2, 0]
    it.V = &item_factors[0, 0]
    it.order = &order[0]
    it.bias = &bias_mv[0] if has_bias else NULL
    it.w = bias_weight
    it.n_items = n_items
    it.K = K
    it.P = P
    it.nvb = nvb
    # Fewer users than threads: split the items over the threads only when each thread gets
    # a lot of work; a one-user call over ~100k items (~0.3-0.5 ms on one core) loses more to
    # waking and joining a team -- and far more on a loaded machine -- than it gains.
    cdef bint split_items = (n_batch < nt and nt <= MAX_SPLIT
                             and <double>n_items * K >= bf16_split_min_work * nt)
    B = BF16_BLOCK
    if not split_items:
        # enough blocks for the threads to balance: at least ~4 per thread
        B = (n_batch + 4 * nt - 1) // (4 * nt)
        B = ((B + 11) // 12) * 12
        if B > BF16_BLOCK:
            B = BF16_BLOCK
        if B < 12:
            B = 12
    n_blocks = (n_batch + B - 1) // B
    cdef const int32_t[::1] perm_mv
    if not split_items and n_batch > 1:
        # users by decreasing norm: the 12 users of a tile have similar score bounds
        perm_arr = np.argsort(-un_arr, kind="stable").astype(np.int32)
        perm_mv = perm_arr
        perm_p = <int32_t*>&perm_mv[0]
    if not split_items and nt > n_blocks:
        nt = n_blocks
    cdef mfc_tk_scratch** scr = <mfc_tk_scratch**>malloc(nt * sizeof(mfc_tk_scratch*))
    cdef int32_t* part_ids = NULL
    cdef float* part_scores = NULL
    if scr == NULL:
        raise MemoryError("topk: cannot allocate the per-thread state")
    for tid in range(nt):
        scr[tid] = mfc_tk_scratch_new(B, N, P)
    try:
        for tid in range(nt):
            if scr[tid] == NULL:
                raise MemoryError(f"topk: cannot allocate per-thread state ({B} users, N={N})")
        if split_items:
            part_ids = <int32_t*>malloc(<size_t>nt * N * sizeof(int32_t))
            part_scores = <float*>malloc(<size_t>nt * N * sizeof(float))
            if part_ids == NULL or part_scores == NULL:
                raise MemoryError(f"topk: cannot allocate {nt} partial lists of N={N}")
            for u in range(n_batch):
                for part in prange(nt, nogil=True, schedule='static', num_threads=nt):
                    lo = <int>((<long long>part * (nvb // 4)) // nt) * 4
                    hi = <int>((<long long>(part + 1) * (nvb // 4)) // nt) * 4
                    mfc_tk_block(&it, U, &ua[0], &un[0], NULL, u, 1, lo, hi, indptr_p, indices_p, scr[threadid()],
                                 part_ids, part_scores, part)
                _merge_lists(nt, N, part_ids, part_scores, out_ids + <size_t>u * N, out_scores + <size_t>u * N)
        else:
            for blk in prange(n_blocks, nogil=True, schedule='dynamic', num_threads=nt):
                u0 = blk * B
                nb = n_batch - u0
                if nb > B:
                    nb = B
                mfc_tk_block(&it, U, &ua[0], &un[0], perm_p, u0, nb, 0, nvb, indptr_p, indices_p, scr[threadid()],
                             out_ids, out_scores, u0)
    finally:
        for tid in range(nt):
            mfc_tk_scratch_free(scr[tid])
        free(scr)
        free(part_ids)
        free(part_scores)


cdef int _cmp_float(const void* a, const void* b) noexcept nogil:
    cdef float x = (<const float*>a)[0]
    cdef float y = (<const float*>b)[0]
    return (x > y) - (x < y)


cdef int _cmp_double(const void* a, const void* b) noexcept nogil:
    cdef double x = (<const double*>a)[0]
    cdef double y = (<const double*>b)[0]
    return (x > y) - (x < y)


cdef inline int _count_below(const floating* r, int n, floating x) noexcept nogil:
    """Number of entries of the sorted r[0:n] (n >= 1) that are < x (branch-free lower bound)."""
    cdef const floating* base = r
    cdef int half
    while n > 1:
        half = n >> 1
        base = base + half if base[half] < x else base
        n -= half
    return <int>(base - r) + (base[0] < x)


def auc_rows(const floating[:, ::1] scores,
             const int32_t[::1] rel_indptr, const int32_t[::1] rel_indices,
             const int32_t[::1] ex_indptr, const int32_t[::1] ex_indices,
             int num_threads):
    """Per-row AUC of a dense score block.

    Parameters
    ----------
    scores : IN, float32 or float64, shape (n_rows, n_items), C-contiguous, finite
    rel_indptr, rel_indices : IN, int32 CSR (n_rows + 1,), (nnz,)
        Relevant items per row; sorted, unique, in [0, n_items).
    ex_indptr, ex_indices : IN, int32 CSR (n_rows + 1,), (nnz,)
        Excluded (non-candidate) items per row; sorted, in [0, n_items), disjoint
        from the relevant items.
    num_threads : int >= 1

    Returns
    -------
    auc : OUT, float64, shape (n_rows,)
        With R the relevant scores and Q the scores of the other non-excluded
        items: (#{(r, q): r > q} + #{(r, q): r == q} / 2) / (|R| |Q|), computed as
        1 - (sum_q #{r < q} + sum_q #{r <= q}) / (2 |R| |Q|); NaN if R or Q is empty.
    """
    cdef int n_rows = scores.shape[0]
    cdef int n_items = scores.shape[1]
    if rel_indptr.shape[0] != n_rows + 1 or ex_indptr.shape[0] != n_rows + 1:
        raise ValueError(f"rel_indptr and ex_indptr must have length {n_rows + 1}")
    if rel_indptr[n_rows] > rel_indices.shape[0] or ex_indptr[n_rows] > ex_indices.shape[0]:
        raise ValueError("indptr points outside its indices")
    out_arr = np.full(n_rows, np.nan, dtype=np.float64)
    if n_rows == 0 or n_items == 0:
        return out_arr
    cdef double[::1] out = out_arr
    cdef int b, max_rel = 1
    for b in range(n_rows):
        if rel_indptr[b + 1] - rel_indptr[b] > max_rel:
            max_rel = rel_indptr[b + 1] - rel_indptr[b]
    cdef int nt = num_threads if num_threads < n_rows else n_rows
    if nt < 1:
        nt = 1
    cdef floating* scratch = <floating*>malloc(<size_t>nt * max_rel * sizeof(floating))
    cdef floating* rowbuf = <floating*>malloc(<size_t>nt * n_items * sizeof(floating))
    if scratch == NULL or rowbuf == NULL:
        free(scratch)
        free(rowbuf)
        raise MemoryError(f"auc_rows: cannot allocate {nt} x ({max_rel} + {n_items}) scores")
    cdef const int32_t* rp = &rel_indptr[0]
    cdef const int32_t* ri = &rel_indices[0] if rel_indices.shape[0] > 0 else NULL
    cdef const int32_t* ep = &ex_indptr[0]
    cdef const int32_t* ei = &ex_indices[0] if ex_indices.shape[0] > 0 else NULL
    try:
        for b in prange(n_rows, nogil=True, schedule='dynamic', num_threads=nt):
            out[b] = _auc_row(&scores[b, 0], n_items, ri + rp[b], rp[b + 1] - rp[b],
                              ei + ep[b], ep[b + 1] - ep[b], scratch + <size_t>threadid() * max_rel,
                              rowbuf + <size_t>threadid() * n_items)
    finally:
        free(scratch)
        free(rowbuf)
    return out_arr


cdef double _auc_row(const floating* row, int n_items, const int32_t* rel, int n_rel,
                     const int32_t* ex, int n_ex, floating* r, floating* buf) noexcept nogil:
    """AUC of one row (see auc_rows); r is scratch for n_rel scores, buf for n_items scores."""
    cdef int i, j, jj, k, nxt, c1, c2, pe = 0, pr = 0
    cdef long long lo = 0, hi = 0, n_q = 0
    cdef floating s, ri, r_min, r_max
    if n_rel == 0:
        return NAN
    for i in range(n_rel):
        r[i] = row[rel[i]]
    if floating is float:
        if n_rel <= AUC_LINEAR_MAX:
            # Few relevant items: lo = sum_i #{q > r_i}, hi = sum_i #{q >= r_i}, one vectorized
            # pass over a copy of the row per relevant item; excluded and relevant items are
            # NaN in the copy, and NaN compares false.
            memcpy(buf, row, n_items * sizeof(float))
            n_q = n_items
            for i in range(n_ex):
                if buf[ex[i]] == buf[ex[i]]:
                    buf[ex[i]] = NAN
                    n_q -= 1
            for i in range(n_rel):
                if buf[rel[i]] == buf[rel[i]]:
                    buf[rel[i]] = NAN
                    n_q -= 1
            if n_q == 0:
                return NAN
            for i in range(n_rel):
                ri = r[i]
                c1 = 0
                c2 = 0
                for j in range(n_items):
                    c1 = c1 + (buf[j] > ri)
                    c2 = c2 + (buf[j] >= ri)
                lo += c1
                hi += c2
            return 1.0 - (<double>lo + <double>hi) / (2.0 * n_rel * <double>n_q)
    if floating is float:
        qsort(r, n_rel, sizeof(float), _cmp_float)
    else:
        qsort(r, n_rel, sizeof(double), _cmp_double)
    r_min = r[0]
    r_max = r[n_rel - 1]
    j = 0
    while j < n_items:
        # Next excluded-or-relevant item at or after j; items j .. nxt-1 are non-relevant candidates.
        while pe < n_ex and ex[pe] < j:
            pe += 1
        while pr < n_rel and rel[pr] < j:
            pr += 1
        nxt = n_items
        if pe < n_ex and ex[pe] < nxt:
            nxt = ex[pe]
        if pr < n_rel and rel[pr] < nxt:
            nxt = rel[pr]
        n_q += nxt - j
        for jj in range(j, nxt):
            s = row[jj]
            if s < r_min:  # below every relevant score: contributes 0 to both counts
                continue
            if s > r_max:
                lo += n_rel
                hi += n_rel
                continue
            k = _count_below(r, n_rel, s)
            lo += k
            while k < n_rel and r[k] == s:  # ties with relevant scores (rare)
                k += 1
            hi += k
        j = nxt + 1
    if n_q == 0:
        return NAN
    return 1.0 - (<double>lo + <double>hi) / (2.0 * n_rel * <double>n_q)
