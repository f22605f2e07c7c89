"""Turning training data into positive interactions for the ranking models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._sparse import row_of_entry
from .._validation import check_float


def positives(user_items, positive_threshold, has_ratings=True):
    """Keep the entries that count as positive feedback.

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
        Same shape and dtype, only the positive entries (values kept).
    """
    if positive_threshold is None or not has_ratings:
        return user_items
    threshold = check_float(positive_threshold, "positive_threshold")
    keep = user_items.data >= threshold
    rows = row_of_entry(user_items.indptr)[keep]
    indptr = np.zeros(user_items.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=user_items.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((user_items.data[keep], user_items.indices[keep], indptr), shape=user_items.shape)
    out.has_sorted_indices = True
    return out
