"""Raw id <-> contiguous index vocabularies, shared by the data layer and the models.

``Vocabulary(ids, kind)`` maps the raw ids of one side (users or items: MovieLens
``userId`` / ``movieId``, or strings) to the indices ``0..n-1`` and back.
Lookups are vectorised: a dense table for integer ids in a compact range, else
sorted ids + ``searchsorted``, so translating millions of ids is one pass.
"""

from __future__ import annotations

import numpy as np

# A dense look-up table is used for integer ids when max - min + 1 is at most
# this many entries or a small multiple of the vocabulary size.
_LUT_MIN_ENTRIES = 1 << 22
_LUT_FACTOR = 8


# ----------------------------------------------------------------------------
# vocabularies
# ----------------------------------------------------------------------------
def py_scalar(value):
    """A NumPy scalar as the plain Python value (so messages read 7, not np.int64(7))."""
    return value.item() if isinstance(value, np.generic) else value


def object_ids(arr, name, *, keep_strings=False):
    """An object array of raw ids as a typed array, by the type of its elements.

    All integers (Python or NumPy, not bool) become int64, so ``1`` finds the id
    ``1`` (an object array of integers is never turned into strings); all
    strings become a fixed-width str array (or stay object with
    ``keep_strings``, for large per-rating arrays); all bytes become ``S``.
    Anything else (floats, booleans, mixtures, missing values) raises, naming
    ``name`` and the first offending position where there is one.
    """
    import pandas as pd
    from pandas.api.types import infer_dtype

    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    missing = pd.isna(arr)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{name} has a missing raw id at row {k}: {arr[k]!r}")
    kind = infer_dtype(arr, skipna=False)
    if kind == "integer":
        try:
            return arr.astype(np.int64)
        except OverflowError:
            raise ValueError(f"{name} has an integer id outside the int64 range") from None
    if kind == "string":
        return arr if keep_strings else arr.astype(str)
    if kind == "bytes":
        return arr.astype(bytes)
    raise TypeError(f"{name} must hold integer or string ids, got {kind} values "
                    f"(e.g. {next((x for x in arr if not isinstance(x, (str, int, np.integer))), arr[0])!r})")


def check_ids(ids, name):
    """Return ``ids`` as a read-only 1-D ndarray of unique raw ids (integers or strings)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of raw ids, got shape {arr.shape}")
    if arr.dtype.kind not in "iuUSO":
        raise TypeError(
            f"{name} must hold integer or string raw ids, got dtype {arr.dtype}"
        )
    if arr.dtype.kind == "O":
        arr = object_ids(arr, name)
    if arr.size:
        try:
            order = np.argsort(arr, kind="stable")
        except TypeError:
            raise TypeError(f"{name} mixes raw ids of different types that cannot be ordered") from None
        srt = arr[order]
        same = srt[1:] == srt[:-1]
        if np.any(same):
            k = int(np.flatnonzero(same)[0])
            raise ValueError(
                f"{name} must be unique, but raw id {py_scalar(srt[k])!r} appears at positions "
                f"{int(order[k])} and {int(order[k + 1])}"
            )
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


_INT64 = np.iinfo(np.int64)
#: Integer vocabularies use a dense table only when every id lies within +-2**61, so that
#: ``clip(query, -2**62, 2**62) - min_id`` cannot overflow int64.
_LUT_BOUND = 2**61


def _exact_integers(flat, dtype):
    """``(values, ok)``: the query as ``dtype`` (int64 or uint64), exactly; ``ok`` False where it cannot be an id.

    ``ok`` is None when every value converts (always so for a query of ``dtype`` itself).

    A float must be finite and integral (its exact value is compared, so 2.0**53
    never matches the id 2**53 + 1); any value outside ``dtype``'s range is
    not an id of a vocabulary of that dtype. NumPy would compare uint64 with
    int64, or integers with floats, in float64 and match neighbouring ids.
    """
    if flat.dtype == dtype:
        return flat, None   # (None: every value is ok; the common case costs nothing)
    info = np.iinfo(dtype)
    if flat.dtype.kind == "f":
        ok = np.isfinite(flat) & (flat == np.floor(flat)) & (flat >= float(info.min)) & (flat < float(int(info.max) + 1))
        return np.where(ok, flat, 0).astype(dtype), ok
    if flat.size == 0 or (int(flat.min()) >= info.min and int(flat.max()) <= info.max):
        return flat.astype(dtype), None
    ok = np.fromiter((info.min <= v <= info.max for v in flat.tolist()), dtype=bool, count=flat.size)
    return np.where(ok, flat, 0).astype(dtype), ok   # (the masked values are within both dtypes)


class Vocabulary:
    """Raw id <-> contiguous index mapping over a unique 1-D id array.

    ``ids[index]`` is the raw id of ``index``. Lookups are vectorised: a dense
    table for integer ids in a compact range, else sorted ids + searchsorted.
    """

    __slots__ = ("ids", "kind", "_lut", "_lut_min", "_sorted", "_sorter", "_int_dtype")

    def __init__(self, ids, kind, *, checked=False):
        self.ids = ids if checked else check_ids(ids, f"{kind}_ids")
        self.kind = kind
        self._lut = None
        self._lut_min = 0
        self._sorted = None
        self._sorter = None
        self._int_dtype = None   # integer ids: int64, or uint64 when some id exceeds the int64 range

    def __len__(self):
        return len(self.ids)

    def _prepare(self):
        if self._lut is not None or self._sorted is not None:
            return
        ids = self.ids
        if ids.dtype.kind in "iu":
            hi = int(ids.max()) if ids.size else 0
            self._int_dtype = np.dtype(np.uint64 if hi > _INT64.max else np.int64)
            ids = ids.astype(self._int_dtype, copy=False)
        if ids.dtype.kind in "iu" and ids.size:
            lo, hi = int(ids.min()), int(ids.max())
            span = hi - lo + 1
            if -_LUT_BOUND <= lo and hi <= _LUT_BOUND and span <= max(_LUT_MIN_ENTRIES, _LUT_FACTOR * ids.size):
                lut = np.full(span, -1, dtype=np.int32)
                lut[(ids.astype(np.int64) - lo).astype(np.intp)] = np.arange(ids.size, dtype=np.int32)
                self._lut, self._lut_min = lut, lo
                return
        if ids.size > 1 and ids.dtype.kind != "O" and np.all(ids[1:] > ids[:-1]):
            self._sorted, self._sorter = ids, None
        else:
            self._sorter = np.argsort(ids, kind="stable")
            self._sorted = ids[self._sorter]

    def _unknown(self, value):
        return KeyError(f"unknown {self.kind} id {py_scalar(value)!r} (not in the {self.kind} vocabulary of {len(self)} ids)")

    def lookup(self, raw, missing="error"):
        """Return the index (int) of a scalar raw id or an int32 array of indices.

        ``missing="error"`` raises KeyError naming the first raw id that is not
        in the vocabulary; ``missing="mask"`` returns -1 for it instead.
        """
        scalar = np.ndim(raw) == 0
        query = np.asarray(raw)
        if query.dtype.kind == "O" and self.ids.dtype.kind in "US" and query.size:
            query = np.array(query.tolist())
        flat = query.reshape(-1)
        ids_kind = self.ids.dtype.kind
        compatible = (
            (ids_kind in "iu" and flat.dtype.kind in "iuf")
            or (ids_kind == "U" and flat.dtype.kind == "U")
            or (ids_kind == "S" and flat.dtype.kind == "S")
            or ids_kind == "O"
        )
        if flat.size == 0:
            out = np.empty(query.shape, dtype=np.int32)
            return out
        if not compatible:
            if missing == "mask":
                return -1 if scalar else np.full(query.shape, -1, dtype=np.int32)
            raise self._unknown(flat[0].item() if flat.dtype.kind != "O" else flat[0])
        self._prepare()
        query_ok = None
        if self._int_dtype is not None:   # compare integers exactly, in the vocabulary's int64 / uint64
            original = flat
            flat, query_ok = _exact_integers(flat, self._int_dtype)
            if query_ok is not None and not query_ok.all() and missing != "mask":
                raise self._unknown(original[np.flatnonzero(~query_ok)[0]].item())
        if self._lut is not None:
            if flat.dtype.kind == "u":
                rel = np.minimum(flat, np.uint64(2 * _LUT_BOUND)).astype(np.int64) - self._lut_min
            else:
                rel = np.clip(flat, -2 * _LUT_BOUND, 2 * _LUT_BOUND) - self._lut_min
            inside = (rel >= 0) & (rel < self._lut.size)
            if query_ok is not None:
                inside &= query_ok
            if inside.all():
                idx = self._lut[rel]
            else:
                idx = np.full(flat.shape, -1, dtype=np.int32)
                idx[inside] = self._lut[rel[inside]]
            bad = idx < 0
        else:
            try:
                pos = np.searchsorted(self._sorted, flat)
            except TypeError:
                if missing == "mask":
                    return -1 if scalar else np.full(query.shape, -1, dtype=np.int32)
                raise self._unknown(flat[0]) from None
            pos_c = np.minimum(pos, len(self._sorted) - 1) if len(self._sorted) else pos
            if len(self._sorted) == 0:
                bad = np.ones(flat.shape, dtype=bool)
                idx = np.full(flat.shape, -1, dtype=np.int32)
            else:
                try:
                    bad = ~(self._sorted[pos_c] == flat)
                except TypeError:
                    if missing == "mask":
                        return -1 if scalar else np.full(query.shape, -1, dtype=np.int32)
                    raise self._unknown(flat[0]) from None
                bad = np.asarray(bad, dtype=bool)
                if query_ok is not None:
                    bad |= ~query_ok
                idx = (pos_c if self._sorter is None else self._sorter[pos_c]).astype(np.int32)
        if np.any(bad) and missing == "mask":
            idx = np.where(bad, -1, idx).astype(np.int32)
        elif np.any(bad):
            first = flat[np.flatnonzero(bad)[0]]
            raise self._unknown(first.item() if hasattr(first, "item") and flat.dtype.kind != "O" else first)
        if scalar:
            return int(idx[0])
        return idx.reshape(query.shape)

    def raw(self, index):
        """Return the raw id(s) of index/indices; IndexError if out of range."""
        scalar = np.ndim(index) == 0
        idx = np.asarray(index)
        if idx.dtype.kind not in "iu" or isinstance(index, (bool, np.bool_)):
            raise TypeError(f"{self.kind} index must be an integer or an integer array, got {idx.dtype}")
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= len(self.ids):
                badv = lo if lo < 0 else hi
                raise IndexError(f"{self.kind} index {badv} is out of range [0, {len(self.ids)})")
        out = self.ids[idx]
        if scalar:
            return out.item() if self.ids.dtype.kind in "iuUS" else out
        return out
