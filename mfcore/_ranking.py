"""Batched top-N recommendation over a dot-product model (wrapper of ``mfcore._topk``).

Python validates, Cython computes: :func:`top_n` checks every argument, resolves
the thread count once, holds BLAS to one thread and feeds the compiled kernel
bounded batches of users, so memory stays ``O(batch_size * N)`` plus a fixed
per-thread scratch (about 1 MiB) whatever the number of users.
"""

from __future__ import annotations

import numpy as np

from ._threads import blas_limited, resolve_num_threads
from ._topk import _median_norm, pack_items
from ._topk import topk as _topk_kernel
from ._validation import check_csr_pattern, check_float, check_int

__all__ = ["top_n"]


def check_factor_matrix(array, name, *, dtype=None, n_cols=None):
    """Check a 2-D float32/float64 C-contiguous finite factor matrix; return it unchanged."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows x factors), got shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but the user factors are {np.dtype(dtype)}; "
                        "use one dtype for both")
    if n_cols is not None and array.shape[1] != n_cols:
        raise ValueError(f"{name} has {array.shape[1]} factor columns, expected {n_cols} "
                         "(same as user_factors)")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass numpy.ascontiguousarray({name})")
    if not np.all(np.isfinite(array)):
        r, c = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} has a non-finite value at row {r}, column {c}")
    return array


def _check_no_overflow(U, V, bias, bias_weight):
    """Raise unless every score |u . v + w b| is provably far below the dtype's maximum.

    By Cauchy-Schwarz every partial sum of u . v is at most max ||u|| * max ||v||,
    so the kernel (which relies on finite scores) cannot overflow.
    """
    if U.size == 0 or V.size == 0:
        bound = 0.0
    else:
        bound = float(np.sqrt(np.max(np.einsum("ij,ij->i", U, U, dtype=np.float64))) *
                      np.sqrt(np.max(np.einsum("ij,ij->i", V, V, dtype=np.float64))))
    if bias is not None and bias.size:
        bound += abs(bias_weight) * float(np.max(np.abs(bias)))
    limit = float(np.finfo(U.dtype).max) / 16
    if not bound < limit:
        raise ValueError(f"scores could overflow {U.dtype}: max |u|*|v| + |bias_weight|*max|item_bias| = "
                         f"{bound:.3g} exceeds {limit:.3g}; rescale the factors or use float64")


def _check_item_bias(item_bias, n_items, dtype):
    if item_bias is None:
        return None
    bias = np.asarray(item_bias)
    if bias.ndim != 1 or bias.shape[0] != n_items:
        raise ValueError(f"item_bias must have shape ({n_items},) (one per item), got {bias.shape}")
    if bias.dtype != dtype:
        raise TypeError(f"item_bias has dtype {bias.dtype}, expected {np.dtype(dtype)} like the factors")
    if not np.all(np.isfinite(bias)):
        raise ValueError(f"item_bias has a non-finite value at item {int(np.flatnonzero(~np.isfinite(bias))[0])}")
    return np.ascontiguousarray(bias)


def _check_item_mask(item_mask, n_items):
    if item_mask is None:
        return None
    mask = np.asarray(item_mask)
    if mask.ndim != 1 or mask.shape[0] != n_items:
        raise ValueError(f"item_mask must have shape ({n_items},) (one per item), got {mask.shape}")
    if mask.dtype != np.bool_:
        if not np.issubdtype(mask.dtype, np.integer):
            raise TypeError(f"item_mask must be boolean or 0/1 integers, got {mask.dtype}")
        bad = (mask != 0) & (mask != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"item_mask must hold only 0/1, got {mask[i]} at item {i}")
    return np.ascontiguousarray(mask, dtype=np.uint8)


def _check_users(users, n_users):
    if users is None:
        return None
    idx = np.asarray(users)
    if idx.ndim != 1:
        raise ValueError(f"users must be a 1-D array of user indices, got shape {idx.shape}")
    if idx.size == 0:
        return idx.astype(np.intp)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"users must hold integer user indices, got dtype {idx.dtype}")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= n_users:
        raise ValueError(f"users has index {lo if lo < 0 else hi} outside [0, {n_users}) (n_users)")
    return idx.astype(np.intp, copy=False)


def _csr_rows(indptr, indices, rows):
    """(indptr, indices) int32 of the CSR restricted to ``rows`` (in that order)."""
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    sub_indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub_indptr[1:])
    gather = np.repeat(starts - sub_indptr[:-1], lengths) + np.arange(sub_indptr[-1])
    return sub_indptr.astype(np.int32), indices[gather]


def top_n(user_factors, item_factors, *, item_bias=None, bias_weight=1.0, exclude=None,
          item_mask=None, N=10, users=None, batch_size=16384, num_threads=0):
    """Best ``N`` items for each user by ``score = user_factors[u] . item_factors[i] + bias_weight * item_bias[i]``.

    Parameters
    ----------
    user_factors : ndarray, float32 or float64, shape (n_users, K), C-contiguous, finite
    item_factors : ndarray, same dtype, shape (n_items, K), C-contiguous, finite
    item_bias : ndarray, same dtype, shape (n_items,), optional
    bias_weight : float, default 1.0
        Weight of the item bias in the score (0 ignores it).
    exclude : scipy.sparse matrix, shape (n_users, n_items), optional
        Items never recommended to a user (typically the training interactions):
        every *stored* entry of row ``u`` is excluded, whatever its value.
    item_mask : ndarray of bool or 0/1 ints, shape (n_items,), optional
        Items with mask 0 are never recommended to anyone.
    N : int >= 1, default 10
        Length of each list, capped at ``n_items`` (a list can never hold more
        items, and the result is allocated as ``(n_selected_users, N)``). Users
        with fewer than ``N`` candidate items get padded lists (id -1, score -inf).
    users : 1-D array of int, optional
        User indices (rows of ``user_factors``) to recommend for, in this
        order; default all users.
    batch_size : int >= 1, default 16384
        Users per kernel call. Memory outside the kernel is
        ``O(batch_size * (N + K))``; results do not depend on it.
    num_threads : int >= 0, default 0
        OpenMP threads; 0 = all cores this process may use.

    Returns
    -------
    ids : ndarray, int32, shape (n_selected_users, min(N, n_items))
        Item indices, best first; ties in score go to the lower item index.
    scores : ndarray, dtype of the factors, shape (n_selected_users, min(N, n_items))
        Scores of ``ids`` computed in the factor dtype; -inf where ``ids`` is -1.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: wrong dtype (the factors and ``item_bias`` must share
        one), layout, shape, non-finite values, out-of-range ``users`` or
        ``exclude`` indices, ``item_mask`` values other than 0/1, or factor
        magnitudes for which a score could overflow the dtype (bound:
        ``max ||u|| * max ||v|| + |bias_weight| * max |item_bias|``).

    Notes
    -----
    float32 on a CPU with AVX512_BF16 (N <= 256): the scores are screened in
    bfloat16 with a rigorous error bound, item blocks whose Cauchy-Schwarz bound
    cannot enter a list are skipped, and the candidates are rescored exactly:
    the lists are exactly the top N of ``fl32(u . v + w b computed in float64)``
    (see ``pyx/include/mfcore/topk_bf16.h``). Otherwise a per-user binary heap
    over item tiles scored by BLAS gemm (see ``pyx/_topk.pyx``). Memory is
    bounded by the batch and a fixed per-thread scratch, never ``n_users x n_items``.
    """
    U = check_factor_matrix(user_factors, "user_factors")
    V = check_factor_matrix(item_factors, "item_factors", dtype=U.dtype, n_cols=U.shape[1])
    n_users, n_items = U.shape[0], V.shape[0]
    bias = _check_item_bias(item_bias, n_items, U.dtype)
    bias_weight = check_float(bias_weight, "bias_weight")
    mask = _check_item_mask(item_mask, n_items)
    N = min(check_int(N, "N", min_value=1), n_items)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    rows = _check_users(users, n_users)
    ex_indptr = ex_indices = None
    if exclude is not None:
        ex_indptr, ex_indices = check_csr_pattern(exclude, "exclude", shape=(n_users, n_items))
    _check_no_overflow(U, V, bias, bias_weight)
    nt = resolve_num_threads(num_threads)
    with blas_limited(1):
        return top_n_checked(U, V, bias, bias_weight, ex_indptr, ex_indices, mask, N, rows, batch_size, nt)


def item_bound(V, bias):
    """(max ||v_i||, max |b_i|) in float64: the item side of the overflow bound, for callers that cache it."""
    v = float(np.sqrt(np.max(np.einsum("ij,ij->i", V, V, dtype=np.float64)))) if V.size else 0.0
    b = float(np.max(np.abs(bias))) if bias is not None and bias.size else 0.0
    return v, b


def check_user_side(U, item_norm, bias_max, bias_weight):
    """Finite user vectors and the overflow bound of :func:`_check_no_overflow` with a cached item side."""
    if not np.isfinite(U).all():
        r, c = np.argwhere(~np.isfinite(U))[0]
        raise ValueError(f"user vectors have a non-finite value at row {r}, column {c}")
    u = float(np.sqrt(np.max(np.einsum("ij,ij->i", U, U, dtype=np.float64)))) if U.size else 0.0
    bound = u * item_norm + abs(bias_weight) * bias_max
    limit = float(np.finfo(U.dtype).max) / 16
    if not bound < limit:
        raise ValueError(f"scores could overflow {U.dtype}: max |u|*|v| + |bias_weight|*max|item_bias| = "
                         f"{bound:.3g} exceeds {limit:.3g}; rescale the factors or use float64")


def item_pack(V, bias=None, bias_weight=1.0, user_norm=1.0):
    """The bfloat16 item side of the float32 top-N kernel (``mfcore._topk.pack_items``), or None.

    None for float64 factors or where the bfloat16 screening path does not run (no
    AVX512_BF16, ``MFCORE_SIMD`` below avx512, the portable build). Computing it costs
    about one pass over the items (~10-30 ms for 87,585 x 64): callers that rank many
    times against the same items (the models) compute it once and pass it on.
    """
    if V.dtype != np.float32 or V.shape[0] == 0 or V.shape[1] == 0:
        return None
    return pack_items(V, bias, float(bias_weight), float(user_norm))


def top_n_checked(U, V, bias, bias_weight, ex_indptr, ex_indices, mask, N, rows, batch_size, nt, pack=None):
    """:func:`top_n` after validation: arguments already checked, N capped, BLAS already limited.

    For callers that validated once and cache what depends only on the item side (the
    models: see ``FactorModel.recommend``). ``ex_indptr`` / ``ex_indices``: the exclusion
    CSR over all rows of ``U`` (int32), or None. ``pack``: :func:`item_pack` of ``V``
    (computed here, once for all batches, when None and the path applies).
    """
    n_users = U.shape[0]
    n_sel = n_users if rows is None else rows.size
    ids = np.empty((n_sel, N), dtype=np.int32)
    scores = np.empty((n_sel, N), dtype=U.dtype)
    if N == 0:  # no items at all
        return ids, scores
    if pack is None and U.dtype == np.float32 and N <= 256 and n_sel > 0:
        pack = item_pack(V, bias, bias_weight, _median_norm(U if rows is None else U[rows[:4096]]))
    for start in range(0, n_sel, batch_size):
        stop = min(start + batch_size, n_sel)
        seen_indptr = seen_indices = None
        if rows is None:
            U_batch = U[start:stop]
            if ex_indptr is not None:
                lo, hi = int(ex_indptr[start]), int(ex_indptr[stop])
                seen_indptr = ex_indptr[start:stop + 1] - np.int32(lo)
                seen_indices = ex_indices[lo:hi]
        else:
            batch_rows = rows[start:stop]
            U_batch = np.ascontiguousarray(U[batch_rows])
            if ex_indptr is not None:
                seen_indptr, seen_indices = _csr_rows(ex_indptr, ex_indices, batch_rows)
        ids[start:stop], scores[start:stop] = _topk_kernel(
            U_batch, V, bias, bias_weight, seen_indptr, seen_indices, mask, N, nt, pack
        )
    return ids, scores
