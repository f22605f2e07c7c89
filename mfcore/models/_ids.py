"""Mapping between raw ids (whatever the training data used) and row indices.

A model fitted on an object with a vocabulary (``Interactions``: ``user_ids`` /
``item_ids``) takes and returns raw ids; a model fitted on a bare users x items
matrix takes and returns row/column indices. :class:`IdMap` hides the
difference from the model code.
"""

from __future__ import annotations

import numbers

import numpy as np


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
        self.raw_ids = None
        if raw_ids is not None:
            raw_ids = np.asarray(raw_ids)
            if raw_ids.dtype.hasobject:
                raw_ids = raw_ids.astype(str)
            if raw_ids.shape != (self.n,):
                raise ValueError(f"{kind}_ids has shape {raw_ids.shape}, expected ({self.n},)")
            self.raw_ids = raw_ids
            self._order = np.argsort(raw_ids, kind="stable")
            self._sorted = raw_ids[self._order]
            if self.n > 1 and np.any(self._sorted[1:] == self._sorted[:-1]):
                raise ValueError(f"{kind}_ids contains duplicate ids")

    @property
    def uses_raw_ids(self) -> bool:
        return self.raw_ids is not None

    def extend(self, new_raw_ids) -> "IdMap":
        """Return a map with ``new_raw_ids`` appended (indices n, n+1, ...)."""
        new_raw_ids = np.atleast_1d(np.asarray(new_raw_ids))
        if self.raw_ids is None:
            return IdMap(self.kind, self.n + len(new_raw_ids))
        return IdMap(self.kind, self.n + len(new_raw_ids), np.concatenate([self.raw_ids, new_raw_ids.astype(self.raw_ids.dtype)]))

    def lookup(self, ids, *, missing="error"):
        """Indices of ``ids`` (scalar or array); ``missing="error"`` raises KeyError, ``"mask"`` returns -1."""
        scalar = np.ndim(ids) == 0
        arr = np.atleast_1d(np.asarray(ids))
        if self.raw_ids is None:
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{self.kind} ids must be integer indices (model was fitted without raw ids), got {arr.dtype}")
            idx = arr.astype(np.int64, copy=False)
            bad = (idx < 0) | (idx >= self.n)
        else:
            try:
                pos = np.searchsorted(self._sorted, arr)
            except TypeError:
                raise TypeError(
                    f"{self.kind} ids of type {arr.dtype} cannot be compared with the model's {self.raw_ids.dtype} ids"
                ) from None
            pos = np.minimum(pos, max(self.n - 1, 0))
            found = (self._sorted[pos] == arr) if self.n else np.zeros(arr.shape, bool)
            idx = np.where(found, self._order[pos] if self.n else -1, -1).astype(np.int64)
            bad = ~found
        if bad.any():
            if missing == "error":
                first = arr[np.flatnonzero(bad)[0]].item()
                what = "index" if self.raw_ids is None else "id"
                raise KeyError(f"unknown {self.kind} {what} {first!r} (the model knows {self.n} {self.kind}s)")
            idx = np.where(bad, -1, idx)
        return int(idx[0]) if scalar else idx

    def to_raw(self, indices):
        """Raw ids for ``indices``; -1 (padding) maps to -1 for integer ids and '' for string ids."""
        indices = np.asarray(indices)
        if self.raw_ids is None:
            return indices
        out = self.raw_ids[np.maximum(indices, 0)]
        if (indices < 0).any():
            pad = "" if out.dtype.kind in "US" else -1
            out = np.where(indices < 0, np.asarray(pad, dtype=out.dtype), out)
        return out


def is_scalar_id(value) -> bool:
    return np.ndim(value) == 0 and isinstance(value, (numbers.Integral, str, np.integer, np.str_, bytes))
