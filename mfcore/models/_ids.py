"""Ids as the models see them: raw ids of the training data, or plain indices.

A model fitted on an object with vocabularies (``Interactions``: ``user_ids`` /
``item_ids``) takes and returns raw ids, looked up through the same
:class:`mfcore._vocabulary.Vocabulary` the data layer uses; a model fitted on a
bare users x items matrix takes and returns row / column indices. :class:`IdMap`
hides the difference from the model code.
"""

from __future__ import annotations

import numpy as np

from .._vocabulary import Vocabulary


class IdMap:
    """Raw id <-> index mapping for one side (users or items).

    Parameters
    ----------
    kind : {"user", "item"}
        Used in error messages.
    n : int
        Number of indices.
    raw_ids : numpy.ndarray or None
        ``raw_ids[index]`` is the raw id; None means ids *are* indices.
    """

    def __init__(self, kind: str, n: int, raw_ids=None):
        self.kind = kind
        self.n = int(n)
        self._vocab = None
        if raw_ids is not None:
            raw_ids = np.asarray(raw_ids)
            if raw_ids.shape != (self.n,):
                raise ValueError(f"{kind}_ids has shape {raw_ids.shape}, expected ({self.n},)")
            self._vocab = Vocabulary(raw_ids, kind)

    @property
    def raw_ids(self):
        return None if self._vocab is None else self._vocab.ids

    @property
    def uses_raw_ids(self) -> bool:
        return self._vocab is not None

    def extend(self, new_raw_ids) -> "IdMap":
        """Return a map with ``new_raw_ids`` appended (indices n, n+1, ...)."""
        new_raw_ids = np.atleast_1d(np.asarray(new_raw_ids))
        if self._vocab is None:
            return IdMap(self.kind, self.n + len(new_raw_ids))
        ids = self.raw_ids
        new = Vocabulary(new_raw_ids, self.kind).ids   # checked and normalised like any vocabulary
        if (new.dtype.kind in "iu") != (ids.dtype.kind in "iu"):
            raise TypeError(f"new {self.kind} ids are {new.dtype} but the model's are {ids.dtype}")
        return IdMap(self.kind, self.n + len(new_raw_ids), np.concatenate([ids, new]))

    def lookup(self, ids, *, missing="error"):
        """Indices of ``ids`` (scalar or array) as int64.

        ``missing="error"`` raises KeyError naming the first unknown id;
        ``missing="mask"`` returns -1 for unknown ids.
        """
        if self._vocab is not None:
            idx = self._vocab.lookup(ids, missing=missing)
            return idx if np.ndim(idx) == 0 else idx.astype(np.int64)
        scalar = np.ndim(ids) == 0
        arr = np.atleast_1d(np.asarray(ids))
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{self.kind} ids must be integer indices (model was fitted without raw ids), got {arr.dtype}")
        idx = arr.astype(np.int64, copy=False)
        bad = (idx < 0) | (idx >= self.n)
        if bad.any():
            if missing == "error":
                raise KeyError(f"unknown {self.kind} index {arr[np.flatnonzero(bad)[0]].item()!r} "
                               f"(the model knows {self.n} {self.kind}s)")
            idx = np.where(bad, -1, idx)
        return int(idx[0]) if scalar else idx

    def to_raw(self, indices):
        """Raw ids for ``indices``; -1 (padding) maps to -1 for integer ids and '' for string ids."""
        indices = np.asarray(indices)
        if self._vocab is None:
            return indices
        ids = self.raw_ids
        out = ids[np.maximum(indices, 0)]
        if (indices < 0).any():
            pad = "" if out.dtype.kind in "US" else -1
            out = np.where(indices < 0, np.asarray(pad, dtype=out.dtype), out)
        return out
