"""Test data helpers: a minimal stand-in for ``mfcore.Interactions`` and a random holdout."""

import numpy as np
import scipy.sparse as sp


def split_entries(matrix, rng, fraction=0.3):
    """Random holdout of stored entries: (train, test) CSR of the matrix's shape, disjoint."""
    coo = matrix.tocoo()
    test = rng.random(coo.nnz) < fraction
    part = lambda keep: sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)  # noqa: E731
    return part(~test), part(test)


class RatingsWithIds:
    """Minimal stand-in for ``mfcore.Interactions`` (the models only duck-type it)."""

    def __init__(self, matrix, user_ids, item_ids, item_genres=None, genre_names=None, titles=None):
        self._matrix = matrix
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        self.item_genres = item_genres
        self.genre_names = genre_names
        self.titles = titles

    def user_items(self):
        return self._matrix
