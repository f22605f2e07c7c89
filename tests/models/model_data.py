"""A minimal stand-in for ``mfcore.Interactions`` (the models only duck-type it)."""

import numpy as np


class RatingsWithIds:
    """Minimal stand-in for ``mfcore.Interactions`` (the models only duck-type it)."""

    def __init__(self, matrix, user_ids, item_ids, item_genres=None, genre_names=None):
        self._matrix = matrix
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        self.item_genres = item_genres
        self.genre_names = genre_names

    def user_items(self):
        return self._matrix
