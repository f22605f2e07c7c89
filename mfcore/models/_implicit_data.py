"""Turning training data into positive interactions for the ranking models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._sparse import row_of_entry
from .._validation import check_float


def check_strengths(values, name, indptr=None, indices=None):
    """Refuse a negative interaction strength among the positives (ValueError naming the entry).

    Every stored entry a ranking model keeps is a positive interaction, weighed
    by its value in ImplicitALS (confidence ``1 + alpha * r``): a negative value
    has no meaning there and would otherwise be binarized (or sampled by BPR)
    as a positive. ``indptr`` / ``indices`` (CSR) locate the entry by row and column.
    """
    if values.size and values.min() < 0:
        k = int(np.flatnonzero(values < 0)[0])
        where = (f"position {k}" if indptr is None else
                 f"row {int(np.searchsorted(indptr, k, side='right') - 1)}, column {int(indices[k])}")
        raise ValueError(f"{name} has a negative interaction value {float(values[k])!r} at {where}; positive "
                         "interactions need strengths >= 0 (set positive_threshold to leave such entries out)")


def positives(user_items, positive_threshold, has_ratings=True):
    """Keep the entries that count as positive feedback; a negative kept value raises.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix (n_users, n_items)
        Canonical CSR (sorted int32 indices), data = ratings or interaction strengths.
    positive_threshold : float or None
        Entries with value >= threshold are positives; None keeps every entry
        (implicit feedback: each stored interaction is a positive).
    has_ratings : bool
        False for implicit data (an ``Interactions`` without ratings): every
        entry is a positive whatever the threshold.

    Returns
    -------
    scipy.sparse.csr_matrix
        Same shape and dtype, only the positive entries (values kept, all >= 0).
    """
    if not has_ratings:
        return user_items
    if positive_threshold is None:
        check_strengths(user_items.data, "X", user_items.indptr, user_items.indices)
        return user_items
    threshold = check_float(positive_threshold, "positive_threshold")
    keep = user_items.data >= threshold
    rows = row_of_entry(user_items.indptr)[keep]
    indptr = np.zeros(user_items.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=user_items.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((user_items.data[keep], user_items.indices[keep], indptr), shape=user_items.shape)
    out.has_sorted_indices = True
    check_strengths(out.data, "X", out.indptr, out.indices)
    return out


def positive_entries(item_index, ratings, positive_threshold):
    """Fold-in counterpart of :func:`positives`: ``(item_index, ratings)`` of one user's positives.

    ``ratings`` None (every item a positive) is returned as None; otherwise the
    entries below ``positive_threshold`` (if set) are dropped and a negative
    kept value raises, as in a fit.
    """
    if ratings is None:
        return item_index, None
    if positive_threshold is not None:
        keep = ratings >= check_float(positive_threshold, "positive_threshold")
        item_index, ratings = item_index[keep], ratings[keep]
    check_strengths(ratings, "ratings")
    return item_index, ratings


#: What a ranking model was trained on (``FactorModel.input_kind_``): an ``Interactions`` with
#: ratings, an ``Interactions`` of implicit feedback, or a bare scipy.sparse matrix.
INPUT_KINDS = ("ratings", "interactions", "sparse")


def check_threshold(value, name):
    """``"auto"``, None or a finite float (ValueError/TypeError naming ``name``)."""
    if isinstance(value, str) and value == "auto":
        return value
    if value is not None:
        check_float(value, name)
    return value


def resolve_threshold(value, input_kind, ratings_default=4.0):
    """The threshold a ranking model applies to data of ``input_kind``.

    ``"auto"`` is ``ratings_default`` for an ``Interactions`` with ratings (MovieLens
    stars: only the liked items are positives) and None for a bare sparse matrix or
    implicit ``Interactions`` (as in implicit: every stored value is an interaction).
    A number or None given by the user applies as given.
    """
    if isinstance(value, str) and value == "auto":
        return ratings_default if input_kind == "ratings" else None
    return value


def resolve_binarize(value, input_kind):
    """``binarize="auto"``: True for rating data (stars are not strengths), False otherwise."""
    if isinstance(value, str) and value == "auto":
        return input_kind == "ratings"
    return bool(value)
