"""What runs inside the Dask workers: partition checks, rating blocks and block solves.

Plain NumPy / pandas / SciPy functions (no Dask import): the driver in
:mod:`mfcore.distributed._fit` ships them by reference, so every worker runs the
very kernels of :mod:`mfcore.models._kernels` a local fit runs.

A *block* is a dict holding one contiguous range ``[lo, hi)`` of rows of one side
(users or items) as a canonical CSR (rows local to the block, entries of a row
sorted by the other side's global index, as in the local fit's CSR) whose column
indices are remapped to positions in ``needed``: the sorted global indices of the
other side's rows the block reads. The driver routes exactly those rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the columns a ratings frame must hold (timestamp is optional and unused)
REQUIRED = ("userId", "movieId", "rating")


class RatingsInputError(ValueError):
    """A partition of the ratings frame is unusable (names the column and the partition)."""


# ----------------------------------------------------------------------------
# checks, per partition
# ----------------------------------------------------------------------------
def _ids_column(part, name, index):
    col = part[name]
    values = col.to_numpy()
    if values.dtype.kind not in "iu":
        if values.dtype.kind == "f" and len(values) and np.all(np.isfinite(values)) \
                and np.all(values == np.round(values)):
            values = values.astype(np.int64)
        else:
            bad = _first_bad(col, integer=True)
            raise RatingsInputError(f"partition {index}: column {name!r} must hold integer ids, got dtype "
                                    f"{col.dtype}{bad}")
    return values.astype(np.int64, copy=False)


def _first_bad(col, *, integer=False):
    """`` (first bad value 'x' at row r)`` of a column that should be numeric, or ''."""
    num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(num)
    if integer:
        bad |= num != np.round(num)
    if not bad.any():
        return ""
    r = int(np.flatnonzero(bad)[0])
    return f" (first bad value {col.iloc[r]!r} at row {r} of the partition)"


def check_partition(part, index):
    """Check one partition and return its id counts; raise :class:`RatingsInputError` naming it.

    Parameters
    ----------
    part : pandas.DataFrame
        Columns ``userId``, ``movieId`` (integer ids), ``rating`` (finite numbers).
    index : int
        The partition's number (for messages).

    Returns
    -------
    dict
        ``users``, ``user_counts``, ``items``, ``item_counts`` (sorted unique raw ids,
        int64, and their rating counts in the partition) and ``n`` (rows).
    """
    if not isinstance(part, pd.DataFrame):
        raise RatingsInputError(f"partition {index} is a {type(part).__name__}, expected a pandas DataFrame")
    for name in REQUIRED:
        if name not in part.columns:
            raise RatingsInputError(f"partition {index}: missing column {name!r} (it has "
                                    f"{', '.join(map(repr, map(str, part.columns)))}); expected {', '.join(REQUIRED)}")
    users = _ids_column(part, "userId", index)
    items = _ids_column(part, "movieId", index)
    col = part["rating"]
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        raise RatingsInputError(f"partition {index}: column 'rating' must be numeric, got dtype {col.dtype}"
                                f"{_first_bad(col)}")
    ratings = col.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(ratings)
    if not finite.all():
        r = int(np.flatnonzero(~finite)[0])
        raise RatingsInputError(f"partition {index}: column 'rating' holds {float(ratings[r])!r} (NaN or infinite) at row "
                                f"{r} of the partition (userId {int(users[r])}, movieId {int(items[r])}); ratings "
                                "must be finite numbers")
    if len(users) > 1:
        order = np.lexsort((items, users))
        su, si = users[order], items[order]
        same = (su[1:] == su[:-1]) & (si[1:] == si[:-1])
        if same.any():
            k = int(np.flatnonzero(same)[0])
            a, b = sorted((int(order[k]), int(order[k + 1])))
            raise RatingsInputError(f"partition {index}: duplicate (userId, movieId) pair ({int(su[k])}, {int(si[k])})"
                                    f" at rows {a} and {b} of the partition; remove duplicates before fitting")
    uu, uc = np.unique(users, return_counts=True)
    ii, ic = np.unique(items, return_counts=True)
    lowest, highest = (float(ratings.min()), float(ratings.max())) if len(ratings) else (np.inf, -np.inf)
    return {"users": uu, "user_counts": uc, "items": ii, "item_counts": ic, "n": len(users),
            "lowest": lowest, "highest": highest}


# ----------------------------------------------------------------------------
# blocks
# ----------------------------------------------------------------------------
def _lookup(vocab, raw, name, index):
    pos = np.searchsorted(vocab, raw)
    pos = np.minimum(pos, len(vocab) - 1)
    bad = vocab[pos] != raw
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise RatingsInputError(f"partition {index}: column {name!r} holds id {int(raw[r])} (row {r}) which is not in "
                                f"the given {'user_ids' if name == 'userId' else 'item_ids'}")
    return pos.astype(np.int32)


def split_partition(part, index, user_vocab, item_vocab, user_bounds, item_bounds, dtype):
    """Cut one partition into its pieces of every user block and every item block.

    Returns
    -------
    (user_pieces, item_pieces) : two lists of (users int32, items int32, ratings dtype, partition int32)
        ``user_pieces[p]`` = the partition's ratings of users in block p (global indices).
    """
    users = _lookup(user_vocab, part["userId"].to_numpy().astype(np.int64), "userId", index)
    items = _lookup(item_vocab, part["movieId"].to_numpy().astype(np.int64), "movieId", index)
    ratings = part["rating"].to_numpy(dtype=np.float64).astype(dtype)
    src = np.full(len(users), index, np.int32)

    def cut(keys, bounds):
        block = np.searchsorted(bounds, keys, side="right") - 1
        order = np.argsort(block, kind="stable")
        starts = np.searchsorted(block[order], np.arange(len(bounds)))
        pieces = []
        for b in range(len(bounds) - 1):
            sel = order[starts[b]:starts[b + 1]]
            pieces.append((users[sel], items[sel], ratings[sel], src[sel]))
        return pieces

    return cut(users, user_bounds), cut(items, item_bounds)


def build_block(pieces, side, lo, hi, transform, user_vocab, item_vocab):
    """One block (module docstring) from its pieces of every partition.

    Parameters
    ----------
    pieces : list of (users, items, ratings, partition) tuples
    side : {"user", "item"}
        The side whose rows the block holds.
    lo, hi : int
        Its global row range.
    transform : tuple
        ``("explicit",)`` keeps the ratings; ``("implicit", threshold, binarize, alpha, confidence)``
        keeps the positives and stores c - 1 (``alpha * r``, r = 1 when binarizing, minus one more
        for ``confidence="raw"``) exactly as ImplicitALS does.
    user_vocab, item_vocab : int64 arrays
        For naming a duplicate pair by its raw ids.

    Returns
    -------
    dict
        ``side``, ``lo``, ``hi``, ``indptr``, ``indices`` (local, int32), ``data``, ``needed`` (int64),
        ``sum`` (float64 sum of the ratings; explicit only) and ``nnz``.
    """
    users = np.concatenate([p[0] for p in pieces])
    items = np.concatenate([p[1] for p in pieces])
    data = np.concatenate([p[2] for p in pieces])
    src = np.concatenate([p[3] for p in pieces])
    rows, cols = (users, items) if side == "user" else (items, users)
    order = np.lexsort((cols, rows))
    rows, cols, data, src = rows[order], cols[order], data[order], src[order]
    same = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        u, i = (rows[k], cols[k]) if side == "user" else (cols[k], rows[k])
        raise RatingsInputError(f"duplicate (userId, movieId) pair ({int(user_vocab[u])}, {int(item_vocab[i])}) in "
                                f"partitions {int(src[k])} and {int(src[k + 1])}; remove duplicates before fitting")
    total = float(np.sum(data, dtype=np.float64)) if transform[0] == "explicit" else 0.0
    if transform[0] == "implicit":
        _, threshold, binarize, alpha, confidence = transform
        if threshold is not None:
            keep = data >= threshold
            rows, cols, data = rows[keep], cols[keep], data[keep]
        if data.size and data.min() < 0:
            raise RatingsInputError(f"a kept rating is negative ({float(data.min())!r}); ImplicitALS needs "
                                    "strengths >= 0 (set positive_threshold)")
        values = np.ones_like(data) if binarize else data
        c1 = float(alpha) * values  # c - 1, as ImplicitALS._confidence_minus_one forms it
        data = (c1 - 1.0 if confidence == "raw" else c1).astype(data.dtype)
    counts = np.bincount(rows - lo, minlength=hi - lo)
    indptr = np.zeros(hi - lo + 1, np.int32)
    np.cumsum(counts, out=indptr[1:])
    needed = np.unique(cols)
    local = np.searchsorted(needed, cols).astype(np.int32)
    return {"side": side, "lo": int(lo), "hi": int(hi), "indptr": indptr, "indices": local,
            "data": np.ascontiguousarray(data), "needed": needed.astype(np.int64), "sum": total,
            "nnz": int(len(data))}


def block_plan(block):
    """What the driver keeps of a block: its range, ``needed`` rows, nnz and rating sum."""
    return {"lo": block["lo"], "hi": block["hi"], "needed": block["needed"], "nnz": block["nnz"],
            "sum": block["sum"]}


def block_columns(block):
    """(indptr, global column indices) of a block: its rows' pattern in the local fit's CSR."""
    return block["indptr"], block["needed"][block["indices"]].astype(np.int32)


def block_pattern(pieces, lo, hi):
    """(indptr (hi-lo+1,), sorted item indices) of every rating of users [lo, hi): the seen-items pattern."""
    users = np.concatenate([p[0] for p in pieces])
    items = np.concatenate([p[1] for p in pieces])
    order = np.lexsort((items, users))
    indptr = np.zeros(hi - lo + 1, np.int64)
    np.cumsum(np.bincount(users - lo, minlength=hi - lo), out=indptr[1:])
    return indptr, items[order].astype(np.int32)


# ----------------------------------------------------------------------------
# solves
# ----------------------------------------------------------------------------
def _csr(block, n_cols):
    import scipy.sparse as sp

    m = sp.csr_matrix((block["data"], block["indices"], block["indptr"]),
                      shape=(block["hi"] - block["lo"], n_cols))
    m.has_sorted_indices = True
    return m


def residual_sums_block(block, payload, mu, num_threads):
    """GenreALS's cold-start bias map: per item of an item block, the sum of its ratings' residuals
    ``r - mu - b_u - u . x_i`` (``_predict.row_residual_sums``) and its rating count.

    ``payload = (fixed_factors, fixed_bias, row_vectors)``: the routed user rows (``block["needed"]``,
    in that order) and the block's items' vectors x (float64).
    """
    from .. import _predict
    from .._threads import resolve_num_threads

    fixed_factors, fixed_bias, row_vectors = payload
    out = np.empty(block["hi"] - block["lo"])
    _predict.row_residual_sums(block["indptr"], block["indices"], block["data"], fixed_factors, fixed_bias,
                               row_vectors, float(mu), out, resolve_num_threads(num_threads))
    return out, np.diff(block["indptr"])


def solve_explicit_block(block, payload, mu, solve):
    """One block's explicit half-sweep with the existing kernel; returns (factors, bias, status).

    ``payload = (fixed_factors, fixed_bias, warm, prior, bias_prior)``:
    ``fixed_factors`` / ``fixed_bias`` are the routed rows (``block["needed"]``, in that order);
    ``warm`` the block's own (factors, bias) for CG's warm start, or None (Cholesky never reads
    them); ``prior`` / ``bias_prior`` GenreALS's centroids of the block's rows, or None.
    """
    from .._threads import blas_limited, resolve_num_threads
    from ..models._kernels import solve_explicit_rows

    fixed_factors, fixed_bias, warm, prior, bias_prior = payload
    n, K = block["hi"] - block["lo"], fixed_factors.shape[1]
    dtype = fixed_factors.dtype
    if warm is None:
        factors, bias = np.zeros((n, K), dtype), np.zeros(n, dtype)
    else:
        factors, bias = np.array(warm[0], dtype=dtype, order="C"), np.array(warm[1], dtype=dtype)
    solve = dict(solve)
    solve["num_threads"] = resolve_num_threads(solve["num_threads"])
    extra = {}
    if prior is not None:
        extra = dict(prior=prior, prior_weight=solve.pop("prior_weight"), bias_prior=bias_prior,
                     bias_prior_weight=solve.pop("bias_prior_weight"))
    else:
        solve.pop("prior_weight", None)
        solve.pop("bias_prior_weight", None)
    with blas_limited():
        status = solve_explicit_rows(_csr(block, len(fixed_bias)), fixed_factors, fixed_bias, mu, factors, bias,
                                     **solve, **extra)
    return factors, bias, int(status)


def solve_implicit_block(block, payload, mu, solve):
    """One block's implicit half-sweep; ``payload = (routed rows, gram, warm)``, ``gram`` = Y^T Y of the whole
    fixed side (formed on the driver); ``mu`` is unused (0)."""
    from .._threads import blas_limited, resolve_num_threads
    from ..models._kernels import solve_implicit_rows

    from ..models.implicit_als import frequency_scale

    fixed_factors, gram, warm = payload
    n, K = block["hi"] - block["lo"], fixed_factors.shape[1]
    dtype = fixed_factors.dtype
    factors = np.zeros((n, K), dtype) if warm is None else np.array(warm, dtype=dtype, order="C")
    solve = dict(solve)
    solve["num_threads"] = resolve_num_threads(solve["num_threads"])
    # frequency-scaled regularization: (nu, nbar) of this side; the block holds its rows' positives whole
    nu, nbar = solve.pop("count_scale", (0.0, 0.0))
    solve["reg_scale"] = frequency_scale(np.diff(block["indptr"]), nbar, nu)
    with blas_limited():
        status = solve_implicit_rows(_csr(block, fixed_factors.shape[0]), fixed_factors, factors, gram=gram, **solve)
    return factors, None, int(status)
