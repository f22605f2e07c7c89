"""Rating-error and top-K ranking metrics.

Rating metrics
--------------
:func:`rmse` and :func:`mae` compare predicted with true ratings, accumulating
in float64.

Ranking metrics (definitions used everywhere in mfcore)
-------------------------------------------------------
For one user ``u`` with a top-K list ``rec_u = (i_1, ..., i_K)`` (best first,
id -1 = no item at that rank) and a set ``R_u`` of relevant items, let
``hit_r = 1`` if ``i_r`` is in ``R_u`` else 0 (r = 1..K), and ``H = sum_r hit_r``.

* precision@K = H / K (the denominator is K even if fewer than K items could be
  recommended).
* recall@K = H / |R_u|.
* hit_rate@K = 1 if H > 0 else 0.
* NDCG@K = DCG / IDCG with binary gain and log2 discount:
  DCG = sum_{r=1..K} hit_r / log2(r + 1),
  IDCG = sum_{r=1..min(|R_u|, K)} 1 / log2(r + 1).
* MAP@K: AP@K = (1 / min(|R_u|, K)) * sum_{r=1..K} hit_r * precision@r,
  with precision@r = (sum_{s<=r} hit_s) / r; MAP@K is its mean over users.
* AUC (no cut-off): with candidates C_u (items the user may be recommended),
  relevant items R_u and non-relevant candidates Q_u = C_u \\ R_u, the fraction
  of pairs (i in R_u, j in Q_u) with score_i > score_j, ties counting 1/2.
  Undefined (not averaged) when Q_u is empty.
* coverage@K = number of distinct items appearing in the top-K lists of the
  counted users / n_items.

Every per-user metric is averaged over the *counted* users: users with at
least one relevant item. Users without relevant items are ignored (the
per-user forms return NaN for them).

In :func:`ranking_metrics`, for a users x items ``train`` and ``test``:
candidates C_u = all items not in the user's ``train`` row; relevant
R_u = items in the user's ``test`` row with rating >= ``threshold`` (every
test item when ``threshold`` is None; use None for implicit feedback, whose
"ratings" are all 1). A relevant test item that also appears in the user's
``train`` row is an error (train and test of a split are disjoint).

All of it runs over users in bounded batches: the top-K lists come from the
compiled top-N kernel (memory O(n_users * K)); AUC needs every candidate's
score and uses one (batch x n_items) score block at a time. Nothing of size
n_users x n_items is ever built.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._ranking import _csr_rows, check_factor_matrix, top_n
from ._sparse import row_of_entry
from ._threads import blas_limited, resolve_num_threads
from ._topk import auc_rows as _auc_kernel
from ._validation import check_csr, check_csr_pattern, check_float, check_int, rows_sorted_unique

__all__ = [
    "rmse", "mae", "relevant_items", "hit_matrix", "precision_at_k", "recall_at_k", "ndcg_at_k",
    "map_at_k", "hit_rate_at_k", "auc_scores", "catalog_coverage", "ranking_metrics",
]

# Largest AUC score block, in scores (16 Mi scores = 64 MiB in float32, 128 MiB in float64).
_AUC_BLOCK_SCORES = 1 << 24


# ----------------------------------------------------------------------------- rating metrics
def _check_pair(y_true, y_pred):
    a = np.asarray(y_true)
    b = np.asarray(y_pred)
    for name, arr in (("y_true", a), ("y_pred", b)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {a.shape[0]} and {b.shape[0]}")
    if a.size == 0:
        raise ValueError("y_true and y_pred are empty; the error of no prediction is undefined")
    for name, arr in (("y_true", a), ("y_pred", b)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} has a non-finite value ({arr[i]}) at position {i}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def rmse(y_true, y_pred) -> float:
    """Root mean squared error ``sqrt(mean((y_true - y_pred)**2))``, accumulated in float64.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n,)
        Finite ratings; n >= 1.
    """
    a, b = _check_pair(y_true, y_pred)
    d = a - b
    return float(np.sqrt(np.dot(d, d) / d.size))


def mae(y_true, y_pred) -> float:
    """Mean absolute error ``mean(|y_true - y_pred|)``, accumulated in float64.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n,)
        Finite ratings; n >= 1.
    """
    a, b = _check_pair(y_true, y_pred)
    return float(np.abs(a - b).sum() / a.size)


# ----------------------------------------------------------------------------- ranking metrics
def relevant_items(test, threshold=4.0):
    """Relevant items per user: entries of ``test`` with rating >= ``threshold``.

    Parameters
    ----------
    test : scipy.sparse matrix, shape (n_users, n_items)
        Held-out ratings (stored entries; duplicates are an error).
    threshold : float or None
        Minimum rating of a relevant item; None makes every stored entry relevant.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_users, n_items), float32
        Pattern of the relevant items (values 1), sorted int32 indices.
    """
    test = check_csr(test, "test", dtype=np.float64)
    if threshold is None:
        keep = np.ones(test.nnz, dtype=bool)
    else:
        threshold = check_float(threshold, "threshold")
        keep = test.data >= threshold
    row_of = row_of_entry(test.indptr)
    counts = np.bincount(row_of[keep], minlength=test.shape[0])
    indptr = np.zeros(test.shape[0] + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), test.indices[keep], indptr), shape=test.shape)
    out.has_sorted_indices = True
    return out


def _check_recommended(recommended, k, n_items, n_users=None):
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n_users, K) item ids, got shape {rec.shape}")
    if not np.issubdtype(rec.dtype, np.integer):
        raise TypeError(f"recommended must hold integer item ids, got dtype {rec.dtype}")
    if n_users is not None and rec.shape[0] != n_users:
        raise ValueError(f"recommended has {rec.shape[0]} rows but relevant has {n_users} users")
    if rec.shape[1] < k:
        raise ValueError(f"recommended has {rec.shape[1]} columns, fewer than k={k}")
    rec = rec[:, :k]
    if rec.size:
        lo, hi = int(rec.min()), int(rec.max())
        if lo < -1 or hi >= n_items:
            raise ValueError(f"recommended has item id {lo if lo < -1 else hi} outside [-1, {n_items}) "
                             "(-1 = padding)")
        srt = np.sort(rec, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            u = int(np.flatnonzero(dup.any(axis=1))[0])
            raise ValueError(f"recommended row {u} lists an item more than once")
    return rec


def _relevant_keys(rel_indptr, rel_indices, n_items):
    """Sorted int64 keys ``user * n_items + item`` of the relevant entries (CSR rows in order, sorted indices)."""
    rows = row_of_entry(rel_indptr, dtype=np.int64)
    return rows * n_items + rel_indices


def _hits(rec, users, keys, n_items):
    """hits[b, r] = rec[b, r] is relevant for user users[b] (rec: (n, k) ids, -1 = padding)."""
    if keys.size == 0:
        return np.zeros(rec.shape, dtype=bool)
    q = users.astype(np.int64)[:, None] * n_items + rec
    pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    return (keys[pos] == q) & (rec >= 0)


def _per_user(hits, n_rel, k):
    """Per-user metric values (float64 arrays) from hits (n, w) bool and |R_u| (n,) > 0.

    ``w <= k`` columns: a top-k list over fewer than k items is shorter (the
    missing ranks are misses), while precision still divides by k.
    """
    h = hits.astype(np.float64)
    n_hit = h.sum(axis=1)
    ranks = np.arange(1, h.shape[1] + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discount)
    denom_k = np.minimum(n_rel, k)
    ap = (h * (np.cumsum(h, axis=1) / ranks)).sum(axis=1) / denom_k
    return {
        "precision": n_hit / k,
        "recall": n_hit / n_rel,
        "ndcg": (h @ discount) / ideal[denom_k - 1],
        "map": ap,
        "hit_rate": (n_hit > 0).astype(np.float64),
    }


def hit_matrix(recommended, relevant, k=None):
    """Boolean (n_users, k) matrix: is ``recommended[u, r]`` a relevant item of user ``u``.

    Parameters
    ----------
    recommended : array of int, shape (n_users, K)
        Item ids best first, -1 = padding (never a hit); no repeated id in a row.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Stored entries are the relevant items (values ignored).
    k : int, optional
        Use the first ``k`` columns (default all K).
    """
    rel_indptr, rel_indices, n_items = _relevant_pattern(relevant, np.shape(recommended)[0])
    k = np.shape(recommended)[1] if k is None else check_int(k, "k", min_value=1)
    rec = _check_recommended(recommended, k, n_items, rel_indptr.size - 1)
    return _hits(rec, np.arange(rec.shape[0]), _relevant_keys(rel_indptr, rel_indices, n_items), n_items)


def _relevant_pattern(relevant, n_users):
    if not sp.issparse(relevant) or relevant.ndim != 2:
        raise TypeError(f"relevant must be a 2-D scipy.sparse matrix (n_users, n_items), got {type(relevant).__name__}")
    n_items = relevant.shape[1]
    if relevant.shape[0] != n_users:
        raise ValueError(f"relevant has {relevant.shape[0]} rows but recommended has {n_users}")
    indptr, indices = check_csr_pattern(relevant, "relevant", shape=relevant.shape)
    if indices.size:
        rows = row_of_entry(indptr)
        dup = (np.diff(indices) == 0) & (np.diff(rows) == 0)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise ValueError(f"relevant has a duplicate entry at row {rows[i]}, column {indices[i]}")
    return indptr, indices, n_items


def _metric(name, recommended, relevant, k, per_user):
    k = check_int(k, "k", min_value=1)
    rel_indptr, rel_indices, n_items = _relevant_pattern(relevant, np.shape(recommended)[0])
    rec = _check_recommended(recommended, k, n_items, rel_indptr.size - 1)
    n_rel = np.diff(rel_indptr).astype(np.int64)
    counted = n_rel > 0
    values = np.full(rec.shape[0], np.nan)
    if counted.any():
        users = np.flatnonzero(counted)
        hits = _hits(rec[users], users, _relevant_keys(rel_indptr, rel_indices, n_items), n_items)
        values[users] = _per_user(hits, n_rel[users], k)[name]
    if per_user:
        return values
    return float(values[counted].mean()) if counted.any() else float("nan")


_PURE_DOC = """{title}

    See the module docstring for the exact definition.

    Parameters
    ----------
    recommended : array of int, shape (n_users, K), K >= k
        Top lists, best first; -1 = padding (never a hit); no repeated id in a row.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Stored entries are the relevant items of each user (values ignored).
    k : int >= 1
        Cut-off: the first k columns of ``recommended`` are used.
    per_user : bool, default False
        Return the per-user values (float64, NaN for users without relevant
        items) instead of their mean.

    Returns
    -------
    float
        Mean over users with at least one relevant item (NaN if there is none),
        or an array of shape (n_users,) when ``per_user``.
    """


def precision_at_k(recommended, relevant, k, *, per_user=False):
    return _metric("precision", recommended, relevant, k, per_user)


def recall_at_k(recommended, relevant, k, *, per_user=False):
    return _metric("recall", recommended, relevant, k, per_user)


def ndcg_at_k(recommended, relevant, k, *, per_user=False):
    return _metric("ndcg", recommended, relevant, k, per_user)


def map_at_k(recommended, relevant, k, *, per_user=False):
    return _metric("map", recommended, relevant, k, per_user)


def hit_rate_at_k(recommended, relevant, k, *, per_user=False):
    return _metric("hit_rate", recommended, relevant, k, per_user)


precision_at_k.__doc__ = _PURE_DOC.format(title="Precision@k: hits in the top k divided by k.")
recall_at_k.__doc__ = _PURE_DOC.format(title="Recall@k: hits in the top k divided by |relevant|.")
ndcg_at_k.__doc__ = _PURE_DOC.format(
    title="NDCG@k: binary gain, 1/log2(rank+1) discount, ideal DCG over min(|relevant|, k) items.")
map_at_k.__doc__ = _PURE_DOC.format(
    title="MAP@k: mean of AP@k = sum_r hit_r * precision@r / min(|relevant|, k).")
hit_rate_at_k.__doc__ = _PURE_DOC.format(title="Hit rate@k: 1 if any of the top k is relevant, else 0.")


def catalog_coverage(recommended, n_items) -> float:
    """Distinct item ids in ``recommended`` (ignoring -1 padding) divided by ``n_items``.

    Parameters
    ----------
    recommended : array of int, shape (n_users, K)
    n_items : int >= 1
    """
    n_items = check_int(n_items, "n_items", min_value=1)
    rec = _check_recommended(recommended, np.shape(recommended)[1] if np.ndim(recommended) == 2 else 0, n_items)
    seen = np.zeros(n_items, dtype=bool)
    seen[rec[rec >= 0]] = True
    return float(seen.sum() / n_items)


def _auc_rows(scores, rel_indptr, rel_indices, ex_indptr, ex_indices, num_threads=1):
    """Per-row AUC (float64, NaN if undefined) of a dense finite score block (compiled, parallel).

    The CSR parts index the block's rows: int32, sorted, relevant disjoint from excluded.
    """
    return _auc_kernel(scores, rel_indptr, rel_indices, ex_indptr, ex_indices, num_threads)


def auc_scores(scores, relevant, exclude=None, *, num_threads=0):
    """Per-user AUC from a dense block of scores.

    Parameters
    ----------
    scores : ndarray, float, shape (n_users, n_items)
        Scores of every item for these users (a bounded batch of users).
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Stored entries are the relevant items (values ignored); must not be excluded.
    exclude : scipy.sparse matrix, shape (n_users, n_items), optional
        Stored entries are not candidates (e.g. training items).
    num_threads : int >= 0, default 0
        OpenMP threads (0 = all cores).

    Returns
    -------
    ndarray, float64, shape (n_users,)
        Fraction of (relevant, non-relevant candidate) pairs ordered correctly,
        ties 1/2; NaN when the user has no relevant item or no non-relevant
        candidate.
    """
    s = np.asarray(scores)
    if s.ndim != 2 or not np.issubdtype(s.dtype, np.floating):
        raise ValueError(f"scores must be a 2-D float array (n_users, n_items), got {s.dtype} {s.shape}")
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    s = np.ascontiguousarray(s)
    nt = resolve_num_threads(num_threads)
    if not np.all(np.isfinite(s)):
        r, c = np.argwhere(~np.isfinite(s))[0]
        raise ValueError(f"scores has a non-finite value at row {r}, column {c}")
    rel_indptr, rel_indices = check_csr_pattern(relevant, "relevant", shape=s.shape)
    if not rows_sorted_unique(rel_indptr, rel_indices, s.shape):  # a repeat would be counted twice
        raise ValueError("relevant has a repeated entry in some row; store each relevant item once")
    if exclude is None:
        ex_indptr, ex_indices = np.zeros(s.shape[0] + 1, np.int32), np.zeros(0, np.int32)
    else:
        ex_indptr, ex_indices = check_csr_pattern(exclude, "exclude", shape=s.shape)
        _check_disjoint(rel_indptr, rel_indices, ex_indptr, ex_indices, s.shape, "relevant", "exclude")
    return _auc_rows(s, rel_indptr, rel_indices, ex_indptr, ex_indices, nt)


def _check_disjoint(a_indptr, a_indices, b_indptr, b_indices, shape, a_name, b_name):
    a = sp.csr_matrix((np.ones(a_indices.size, np.int8), a_indices, a_indptr), shape=shape)
    b = sp.csr_matrix((np.ones(b_indices.size, np.int8), b_indices, b_indptr), shape=shape)
    both = a.multiply(b).tocoo()
    if both.nnz:
        i = int(np.lexsort((both.col, both.row))[0])
        raise ValueError(f"user {both.row[i]} has item {both.col[i]} both in {a_name} and in {b_name}; "
                         f"{a_name} items must not be {b_name} items")


def ranking_metrics(user_factors, item_factors, train, test, *, k=10, item_bias=None, bias_weight=1.0,
                    threshold=4.0, batch_size=4096, num_threads=0) -> dict:
    """Top-K ranking metrics and AUC of a dot-product model, computed in user batches.

    ``score(u, i) = user_factors[u] . item_factors[i] + bias_weight * item_bias[i]``.
    Candidates of user u: items not in ``train[u]``. Relevant: items of ``test[u]``
    with rating >= ``threshold`` (every test item when ``threshold`` is None).
    Counted users: those with at least one relevant item. Definitions of each
    metric: see the module docstring (precision/recall/NDCG/MAP/hit rate at K;
    MAP and IDCG normalise by min(|relevant|, K)).

    Parameters
    ----------
    user_factors : ndarray, float32 or float64, shape (n_users, K), C-contiguous
    item_factors : ndarray, same dtype, shape (n_items, K), C-contiguous
    train : scipy.sparse matrix, shape (n_users, n_items)
        Training interactions (stored entries are excluded from the candidates).
    test : scipy.sparse matrix, shape (n_users, n_items)
        Held-out ratings (e.g. ``Interactions.user_items()`` of the test split).
    k : int >= 1, default 10
    item_bias : ndarray, same dtype, shape (n_items,), optional
    bias_weight : float, default 1.0
    threshold : float or None, default 4.0
        None for implicit feedback (all test items relevant).
    batch_size : int >= 1, default 4096
        Users per top-K kernel call and per AUC pass. The AUC score block is
        further limited to ``2**24`` scores (``min(batch_size, 2**24 // n_items)``
        users), i.e. at most 64 MiB in float32 (128 MiB in float64). Results do
        not depend on it.
    num_threads : int >= 0, default 0
        OpenMP threads for the top-K kernel (0 = all cores).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate`` (at ``k``, means
        over counted users), ``auc`` (mean over counted users with at least one
        non-relevant candidate; NaN if none), ``coverage`` (distinct items in the
        counted users' top-k lists / n_items) as floats, and ``n_users`` (int,
        users counted).

    Raises
    ------
    ValueError
        On shape/dtype mismatches, a relevant test item that is also in train,
        or when no user has a relevant test item.
    """
    U = check_factor_matrix(user_factors, "user_factors")
    V = check_factor_matrix(item_factors, "item_factors", dtype=U.dtype, n_cols=U.shape[1])
    n_users, n_items = U.shape[0], V.shape[0]
    shape = (n_users, n_items)
    k = check_int(k, "k", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    bias_weight = check_float(bias_weight, "bias_weight")
    nt = resolve_num_threads(num_threads)
    tr_indptr, tr_indices = check_csr_pattern(train, "train", shape=shape)
    if not sp.issparse(test) or tuple(test.shape) != shape:
        raise ValueError(f"test must be a scipy.sparse matrix of shape {shape} (n_users, n_items), "
                         f"got {getattr(test, 'shape', type(test).__name__)}")
    rel = relevant_items(test, threshold)
    rel_indptr, rel_indices = rel.indptr, rel.indices
    _check_disjoint(rel_indptr, rel_indices, tr_indptr, tr_indices, shape, "test (relevant)", "train")
    n_rel = np.diff(rel_indptr).astype(np.int64)
    users = np.flatnonzero(n_rel > 0)
    if users.size == 0:
        hint = "" if threshold is None else f" with rating >= {threshold} (implicit data: pass threshold=None)"
        raise ValueError(f"no user has a relevant test item{hint}; ranking metrics are undefined")

    ids, _ = top_n(U, V, item_bias=item_bias, bias_weight=bias_weight, exclude=train, N=k, users=users,
                   batch_size=batch_size, num_threads=nt)
    bias = None if item_bias is None else np.asarray(item_bias)
    sums = dict.fromkeys(("precision", "recall", "ndcg", "map", "hit_rate"), 0.0)
    auc_sum, auc_count = 0.0, 0
    covered = np.zeros(n_items, dtype=bool)
    keys = _relevant_keys(rel_indptr, rel_indices, n_items)
    auc_rows = max(1, min(batch_size, _AUC_BLOCK_SCORES // max(n_items, 1)))
    # The score blocks below are plain NumPy gemms run while no OpenMP kernel is active, so BLAS
    # may use the same number of threads as the kernels (never more: no oversubscription).
    with blas_limited(nt):
        for start in range(0, users.size, batch_size):
            stop = min(start + batch_size, users.size)
            batch = users[start:stop]
            rec = ids[start:stop]
            covered[rec[rec >= 0]] = True
            hits = _hits(rec, batch, keys, n_items)
            for name, values in _per_user(hits, n_rel[batch], k).items():
                sums[name] += float(values.sum())
            for s0 in range(0, batch.size, auc_rows):
                rows = batch[s0:s0 + auc_rows]
                # NumPy: scores = U[rows] @ V.T + bias_weight * item_bias   (bounded block)
                scores = U[rows] @ V.T
                if bias is not None and bias_weight != 0.0:
                    scores += bias_weight * bias
                r_ptr, r_idx = _csr_rows(rel_indptr, rel_indices, rows)
                e_ptr, e_idx = _csr_rows(tr_indptr, tr_indices, rows)
                auc = _auc_rows(scores, r_ptr, r_idx, e_ptr, e_idx, nt)
                ok = ~np.isnan(auc)
                auc_sum += float(auc[ok].sum())
                auc_count += int(ok.sum())
    out = {name: total / users.size for name, total in sums.items()}
    out["auc"] = auc_sum / auc_count if auc_count else float("nan")
    out["coverage"] = float(covered.sum() / n_items)
    out["n_users"] = int(users.size)
    return out

