"""The ``Interactions`` container: ratings with raw-id vocabularies and item metadata.

Every rating is one row ``(users[k], items[k], ratings[k], timestamps[k])``
where ``users`` and ``items`` are contiguous ``int32`` indices into the
vocabularies ``user_ids`` / ``item_ids`` (index -> raw id). Raw ids map back
to indices through a vectorised lookup (a dense look-up table for integer ids
with a compact range, sorted ids + ``searchsorted`` otherwise), so translating
millions of ids costs one pass over the array.

The user x item and item x user CSR matrices (``float32`` data, sorted
``int32`` indices) are built once, on first use, and cached. Building them is a
single ``argsort`` of a packed ``int64`` key (skipped entirely when the rows are
already ordered by user then item, as MovieLens files are): about two seconds
for 32 million ratings.

Item metadata (multi-hot genres, titles, tags) is shared, not copied, by
:meth:`Interactions.subset`, so train/test splits agree on every index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._sparse import row_of_entry
from .._validation import check_choice, check_csr
from .._vocabulary import _LUT_FACTOR, _LUT_MIN_ENTRIES
from .._vocabulary import Vocabulary as _Vocabulary
from .._vocabulary import object_ids as _object_ids
from .._vocabulary import py_scalar as _py

__all__ = ["Interactions"]

_DUPLICATE_MODES = ("error", "keep_latest")
_FLOAT_EXACT = 2.0**53  # every integer below this magnitude is exactly a float64


# ----------------------------------------------------------------------------
# vocabularies (the Vocabulary class itself lives in mfcore._vocabulary)
# ----------------------------------------------------------------------------
def _encode_raw(values, name, ids=None, kind="user"):
    """Map raw ids to int32 indices; build a sorted vocabulary when ``ids`` is None.

    Returns ``(indices int32, vocabulary)``.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "O":  # integers stay integers (never strings); mixtures and floats raise
        arr = _object_ids(arr, name, keep_strings=True)
    if arr.dtype.kind not in "biufUSO":  # (object arrays left here hold strings)
        raise TypeError(f"{name} must hold integer or string ids, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            k = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{name} has a missing/non-finite raw id at row {k}: {_py(arr[k])!r}")
        integral = arr == np.floor(arr)
        if not integral.all():
            k = int(np.flatnonzero(~integral)[0])
            raise ValueError(f"{name} must hold integer or string ids, got {_py(arr[k])!r} at row {k}")
        # from 2**53 on, distinct integers share a float: such an id may already be rounded
        inexact = np.abs(arr.astype(np.float64)) >= _FLOAT_EXACT
        if inexact.any():
            k = int(np.flatnonzero(inexact)[0])
            raise ValueError(f"{name} holds float id {_py(arr[k])!r} at row {k}: floats cannot represent every "
                             "integer from 2**53 on, so distinct ids may have merged; pass integer ids")
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer or string ids, got booleans")
    if ids is not None:
        vocab = ids if isinstance(ids, _Vocabulary) else _Vocabulary(ids, kind)
        try:
            return vocab.lookup(arr).astype(np.int32, copy=False), vocab
        except KeyError as exc:
            raise KeyError(f"{name}: {exc.args[0]}") from None
    if arr.size == 0:
        return np.empty(0, dtype=np.int32), _Vocabulary(arr[:0], kind)
    if arr.dtype.kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        span = hi - lo + 1
        if span <= max(_LUT_MIN_ENTRIES, _LUT_FACTOR * arr.size):
            rel = (arr - lo).astype(np.intp, copy=False)
            present = np.zeros(span, dtype=bool)
            present[rel] = True
            uniq = np.flatnonzero(present).astype(arr.dtype) + arr.dtype.type(lo)  # (uint64 ids beyond int64)
            lut = np.cumsum(present, dtype=np.int32) - 1
            return lut[rel], _Vocabulary(uniq, kind, checked=False)
    if arr.dtype.kind == "O":
        try:
            codes, uniq = pd.factorize(arr, sort=True)
        except TypeError:
            raise TypeError(f"{name} mixes raw ids of different types that cannot be ordered") from None
        if codes.size and codes.min() < 0:
            k = int(np.flatnonzero(codes < 0)[0])
            raise ValueError(f"{name} has a missing raw id at row {k}: {arr[k]!r}")
        uniq = np.asarray(uniq, dtype=object)
    else:
        uniq, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int32), _Vocabulary(uniq, kind)


# ----------------------------------------------------------------------------
# index / value arrays
# ----------------------------------------------------------------------------
def _as_index(values, name, n, n_rows):
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D index array, got shape {arr.shape}")
    if arr.size == 0 and arr.dtype.kind in "iuf":
        arr = arr.astype(np.int32)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer index array, got dtype {arr.dtype}")
    if n_rows is not None and arr.size != n_rows:
        raise ValueError(f"{name} has length {arr.size}, expected {n_rows} (one per rating)")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n:
            k = int(np.flatnonzero((arr < 0) | (arr >= n))[0])
            raise ValueError(f"{name}[{k}] = {int(arr[k])} is out of range [0, {n})")
    return np.ascontiguousarray(arr, dtype=np.int32)


def _readonly(arr):
    if arr is not None and arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def _pair_keys(users, items, n_items):
    return users.astype(np.int64) * np.int64(max(n_items, 1)) + items


def _sorted_unique(key):
    """True when the packed (user, item) keys strictly increase (rows ordered, no repeats)."""
    return key.size < 2 or bool(np.all(key[1:] > key[:-1]))


def _locate_duplicate(users, items, n_items):
    """``(first_row, repeat_row)`` of the earliest repeated pair (slow path: stable sort)."""
    key = _pair_keys(users, items, n_items)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    dup = np.flatnonzero(sk[1:] == sk[:-1]) + 1
    if dup.size == 0:
        return None
    # stable sort: within a group rows increase, so order[dup] are the repeats
    j = dup[np.argmin(order[dup])]
    start = np.searchsorted(sk, sk[j], side="left")
    return int(order[start]), int(order[j])


def _pairs_to_csr(rows, cols, data, n_rows, n_cols):
    """Canonical CSR of (row, col, value) triples, or the first repeated pair.

    Returns ``(csr, None)`` when every pair is unique: float32 data, int32
    indptr/indices sorted within rows. Returns ``(None, (first_row,
    repeat_row))`` otherwise. Rows already ordered by (row, col), as in
    MovieLens files, are copied in O(n); others go through SciPy's counting
    sort by row and per-row index sort (repeated pairs would be summed there,
    which the entry count detects, so they are never returned summed).
    """
    n = rows.size
    if n >= np.iinfo(np.int32).max:
        raise ValueError("more than 2**31 - 2 ratings do not fit int32 CSR indices")
    if data is None:
        data = np.ones(n, dtype=np.float32)
    key = _pair_keys(rows, cols, n_cols)
    ordered = _sorted_unique(key)
    del key
    if ordered:
        indptr = np.zeros(n_rows + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        csr = sp.csr_matrix(
            (np.array(data, dtype=np.float32, copy=True), np.array(cols, dtype=np.int32, copy=True), indptr),
            shape=(n_rows, n_cols), copy=False,
        )
    else:
        csr = sp.csr_matrix((np.asarray(data, dtype=np.float32), (rows, cols)), shape=(n_rows, n_cols))
        if csr.nnz != n:
            return None, _locate_duplicate(rows, cols, n_cols)
        csr.sort_indices()
        csr = sp.csr_matrix(
            (csr.data, csr.indices.astype(np.int32, copy=False), csr.indptr.astype(np.int32, copy=False)),
            shape=(n_rows, n_cols), copy=False,
        )
    csr.has_sorted_indices = True
    csr.has_canonical_format = True
    return csr, None


def _first_duplicate(users, items, n_users, n_items):
    """``(first_row, repeat_row)`` of the earliest repeated pair, or None."""
    key = _pair_keys(users, items, n_items)
    if _sorted_unique(key):
        return None
    del key
    return _pairs_to_csr(users, items, None, n_users, n_items)[1]


def _latest_rows(users, items, timestamps, n_items):
    """Boolean mask keeping, per (user, item) pair, the row with the latest timestamp.

    Ties on timestamp keep the row that comes last.
    """
    n = users.size
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    key = _pair_keys(users, items, n_items)
    order = np.lexsort((np.arange(n), timestamps, key))
    sk = key[order]
    not_last = np.zeros(n, dtype=bool)
    not_last[:-1] = sk[1:] == sk[:-1]
    keep[order[not_last]] = False
    return keep


def _csr_from_pairs(rows, cols, data, n_rows, n_cols):
    """Canonical CSR from pairs already known to be unique."""
    csr, dup = _pairs_to_csr(rows, cols, data, n_rows, n_cols)
    if csr is None:
        raise RuntimeError(f"internal error: repeated (row, col) pair at rows {dup}")
    return csr


# ----------------------------------------------------------------------------
# the container
# ----------------------------------------------------------------------------
class Interactions:
    """Ratings (or implicit feedback) indexed by contiguous user and item indices.

    Parameters
    ----------
    users, items : int array (n,)
        Indices into ``user_ids`` / ``item_ids``; stored as C-contiguous int32.
        Arrays that already have that dtype are not copied: do not modify them
        afterwards.
    ratings : float array (n,) or None
        Explicit ratings, stored as float32. ``None`` means implicit feedback:
        stored as ones and :attr:`has_ratings` is False.
    timestamps : int array (n,) or None
        Seconds since the Unix epoch, stored as int64.
    user_ids, item_ids : 1-D array
        Raw ids (integers or strings), unique; ``user_ids[u]`` is the raw id
        of user index ``u``. Users/items without ratings are allowed (cold start).
    item_genres : scipy.sparse matrix (n_items, n_genres) or None
        Multi-hot 0/1 genre membership, stored as float32 CSR.
    genre_names : list of str (n_genres,) or None
        Required with ``item_genres``.
    titles : array-like of str (n_items,) or None
        Stored as an object ndarray.
    tags : pandas.DataFrame or None
        Columns ``user`` (int32 user index), ``item`` (int32 item index),
        ``tag`` (str) and ``timestamp`` (int64).

    Raises
    ------
    ValueError
        On shape/range problems, non-finite ratings, or a repeated
        (user, item) pair (the message names the raw ids and both rows).

    Notes
    -----
    The user x item CSR is built while checking for duplicate pairs and kept
    for :meth:`user_items`; the item x user CSR is built on first use. Both
    are cached and shared: treat them as read-only.
    """

    def __init__(self, users, items, ratings=None, timestamps=None, *, user_ids, item_ids,
                 item_genres=None, genre_names=None, titles=None, tags=None):
        user_vocab = user_ids if isinstance(user_ids, _Vocabulary) else _Vocabulary(user_ids, "user")
        item_vocab = item_ids if isinstance(item_ids, _Vocabulary) else _Vocabulary(item_ids, "item")
        users = _as_index(users, "users", len(user_vocab), None)
        items = _as_index(items, "items", len(item_vocab), users.size)
        n = users.size
        if ratings is None:
            has_ratings = False
            ratings = np.ones(n, dtype=np.float32)
        else:
            has_ratings = True
            ratings = np.asarray(ratings)
            if ratings.ndim != 1 or ratings.size != n:
                raise ValueError(f"ratings must have shape ({n},), got {ratings.shape}")
            if ratings.dtype.kind not in "iuf":
                raise TypeError(f"ratings must be numeric, got dtype {ratings.dtype}")
            ratings = np.ascontiguousarray(ratings, dtype=np.float32)
            finite = np.isfinite(ratings)
            if not finite.all():
                k = int(np.flatnonzero(~finite)[0])
                raise ValueError(f"ratings[{k}] = {ratings[k]} is not finite")
        if timestamps is not None:
            timestamps = np.asarray(timestamps)
            if timestamps.ndim != 1 or timestamps.size != n:
                raise ValueError(f"timestamps must have shape ({n},), got {timestamps.shape}")
            if timestamps.dtype.kind not in "iu":
                raise TypeError(f"timestamps must be integers (seconds since epoch), got dtype {timestamps.dtype}")
            timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
        csr, dup = _pairs_to_csr(users, items, ratings, len(user_vocab), len(item_vocab))
        if dup is not None:
            a, b = dup
            raise ValueError(
                f"duplicate (user, item) pair: user {_py(user_vocab.ids[users[b]])!r}, item "
                f"{_py(item_vocab.ids[items[b]])!r} appears at rows {a} and {b}; remove duplicates "
                "first (e.g. Interactions.from_arrays(..., duplicates='keep_latest'))"
            )
        meta = _check_meta(len(item_vocab), len(user_vocab), item_genres, genre_names, titles, tags)
        self._init(users, items, ratings, timestamps, has_ratings, user_vocab, item_vocab, *meta)
        self._user_items = csr  # built while checking for duplicates

    # -- internal -------------------------------------------------------------
    def _init(self, users, items, ratings, timestamps, has_ratings, user_vocab, item_vocab,
              item_genres, genre_names, titles, tags):
        self._users = _readonly(users)
        self._items = _readonly(items)
        self._ratings = _readonly(ratings)
        self._timestamps = _readonly(timestamps)
        self._has_ratings = bool(has_ratings)
        self._user_vocab = user_vocab
        self._item_vocab = item_vocab
        self._item_genres = item_genres
        self._genre_names = genre_names
        self._titles = titles
        self._tags = tags
        self._user_items = None
        self._item_users = None
        self._global_mean = None

    @classmethod
    def _trusted(cls, users, items, ratings, timestamps, has_ratings, user_vocab, item_vocab,
                 item_genres=None, genre_names=None, titles=None, tags=None, user_items=None):
        """Build without validation (arrays already checked: subsets, loaders, cache loads)."""
        self = cls.__new__(cls)
        if ratings is None:
            ratings = np.ones(users.size, dtype=np.float32)
        self._init(users, items, ratings, timestamps, has_ratings, user_vocab, item_vocab,
                   item_genres, genre_names, titles, tags)
        self._user_items = user_items
        return self

    # -- constructors -----------------------------------------------------------
    @classmethod
    def from_arrays(cls, user_raw, item_raw, ratings=None, timestamps=None, *, duplicates="error",
                    user_ids=None, item_ids=None, **meta):
        """Build from raw-id arrays.

        Parameters
        ----------
        user_raw, item_raw : array (n,)
            Raw user / item ids (integers or strings).
        ratings : float array (n,) or None
            None for implicit feedback.
        timestamps : int array (n,) or None
        duplicates : {"error", "keep_latest"}
            A repeated (user, item) pair raises ValueError, or (``"keep_latest"``,
            needs ``timestamps``) keeps the row with the latest timestamp (the
            last such row on ties) and warns with the number dropped. Pairs are
            never summed.
        user_ids, item_ids : 1-D array or None
            Fixed vocabularies (e.g. every movie of a catalogue, rated or not).
            Raw ids not in them raise KeyError. ``None`` builds a sorted
            vocabulary from the ids present.
        **meta
            ``item_genres``, ``genre_names``, ``titles``, ``tags`` (see the class).
        """
        check_choice(duplicates, "duplicates", _DUPLICATE_MODES)
        users, uvocab = _encode_raw(user_raw, "user_raw", user_ids, "user")
        items, ivocab = _encode_raw(item_raw, "item_raw", item_ids, "item")
        if users.size != items.size:
            raise ValueError(f"user_raw has length {users.size} but item_raw has length {items.size}")
        if duplicates == "keep_latest" and _first_duplicate(users, items, len(uvocab), len(ivocab)) is not None:
            if timestamps is None:
                raise ValueError("duplicates='keep_latest' needs timestamps to decide which rating is the latest")
            ts = np.asarray(timestamps)
            if ts.shape != users.shape:
                raise ValueError(f"timestamps must have shape {users.shape}, got {ts.shape}")
            keep = _latest_rows(users, items, ts, len(ivocab))
            _warn_dropped(int((~keep).sum()), "from_arrays")
            users, items = users[keep], items[keep]
            timestamps = ts[keep]
            if ratings is not None:
                ratings = np.asarray(ratings)[keep]
        return cls(users, items, ratings, timestamps, user_ids=uvocab, item_ids=ivocab, **meta)

    @classmethod
    def from_dataframe(cls, df, user_col="userId", item_col="movieId", rating_col="rating",
                       timestamp_col="timestamp", *, duplicates="error", user_ids=None,
                       item_ids=None, **meta):
        """Build from a pandas (or polars) DataFrame with raw ids.

        ``rating_col=None`` means implicit feedback and ``timestamp_col=None``
        no timestamps; a named column that is missing raises KeyError. Other
        arguments as in :meth:`from_arrays`.
        """
        columns = list(df.columns)

        def column(name, what):
            if name is None:
                return None
            if name not in columns:
                raise KeyError(
                    f"{what}={name!r} is not a column of the DataFrame (columns: {columns})"
                    + ("; pass None if there is none" if what in ("rating_col", "timestamp_col") else "")
                )
            col = df[name]
            if hasattr(col, "to_numpy"):
                if type(df).__module__.split(".")[0] == "polars":
                    return col.to_numpy()
                if isinstance(col, pd.Series) and col.isna().any():
                    k = int(np.flatnonzero(col.isna().to_numpy())[0])
                    raise ValueError(f"column {name!r} has a missing value at row {k}")
                return col.to_numpy()
            return np.asarray(col)

        if not (isinstance(df, pd.DataFrame) or type(df).__module__.split(".")[0] == "polars"):
            raise TypeError(f"df must be a pandas or polars DataFrame, got {type(df).__name__}")
        u = column(user_col, "user_col")
        i = column(item_col, "item_col")
        r = column(rating_col, "rating_col")
        t = column(timestamp_col, "timestamp_col")
        return cls.from_arrays(u, i, r, t, duplicates=duplicates, user_ids=user_ids,
                               item_ids=item_ids, **meta)

    @classmethod
    def from_sparse(cls, matrix, user_ids=None, item_ids=None, *, implicit=False, **meta):
        """Build from a users x items scipy.sparse matrix.

        Every stored entry (explicit zeros included; call ``eliminate_zeros()``
        first to drop them) is one interaction; duplicate entries raise.
        ``user_ids`` / ``item_ids`` default to ``arange``. ``implicit=True``
        ignores the values (stored as ones, ``has_ratings`` False). Rows come
        out in CSR order (by user, then item).
        """
        csr = check_csr(matrix, "matrix", dtype=np.float32)  # structure first; refuses repeated entries
        n_users, n_items = csr.shape
        uvocab = _Vocabulary(np.arange(n_users, dtype=np.int64) if user_ids is None else user_ids, "user")
        ivocab = _Vocabulary(np.arange(n_items, dtype=np.int64) if item_ids is None else item_ids, "item")
        if len(uvocab) != n_users:
            raise ValueError(f"user_ids has {len(uvocab)} ids but matrix has {n_users} rows")
        if len(ivocab) != n_items:
            raise ValueError(f"item_ids has {len(ivocab)} ids but matrix has {n_items} columns")
        users = row_of_entry(csr.indptr)
        items = np.ascontiguousarray(csr.indices, dtype=np.int32)
        ratings = None if implicit else np.ascontiguousarray(csr.data, dtype=np.float32)
        finite = True if ratings is None else np.isfinite(ratings).all()
        if not finite:
            raise ValueError("matrix has non-finite values")
        meta_checked = _check_meta(n_items, n_users, meta.pop("item_genres", None), meta.pop("genre_names", None),
                                   meta.pop("titles", None), meta.pop("tags", None))
        if meta:
            raise TypeError(f"unexpected keyword argument(s): {sorted(meta)}")
        out = cls._trusted(users, items, ratings, None, not implicit, uvocab, ivocab, *meta_checked)
        return out

    # -- sizes ------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users in the vocabulary (including users without ratings)."""
        return len(self._user_vocab)

    @property
    def n_items(self) -> int:
        """Number of items in the vocabulary (including items without ratings)."""
        return len(self._item_vocab)

    @property
    def n_genres(self) -> int:
        return 0 if self._genre_names is None else len(self._genre_names)

    def __len__(self) -> int:
        return int(self._users.size)

    @property
    def has_ratings(self) -> bool:
        """False for implicit feedback (ratings stored as ones)."""
        return self._has_ratings

    # -- arrays -----------------------------------------------------------------
    @property
    def users(self) -> np.ndarray:
        """int32 (n,) user index of each rating (read-only)."""
        return self._users

    @property
    def items(self) -> np.ndarray:
        """int32 (n,) item index of each rating (read-only)."""
        return self._items

    @property
    def ratings(self) -> np.ndarray:
        """float32 (n,) ratings (ones for implicit feedback; read-only)."""
        return self._ratings

    @property
    def timestamps(self):
        """int64 (n,) seconds since epoch, or None (read-only)."""
        return self._timestamps

    @property
    def user_ids(self) -> np.ndarray:
        """Raw user ids (n_users,): ``user_ids[u]`` is the raw id of index u."""
        return self._user_vocab.ids

    @property
    def item_ids(self) -> np.ndarray:
        """Raw item ids (n_items,)."""
        return self._item_vocab.ids

    @property
    def item_genres(self):
        """float32 CSR (n_items, n_genres) multi-hot genres, or None."""
        return self._item_genres

    @property
    def genre_names(self):
        """list of str (n_genres,), or None."""
        return self._genre_names

    @property
    def titles(self):
        """object ndarray (n_items,) of str, or None."""
        return self._titles

    @property
    def tags(self):
        """DataFrame[user int32, item int32, tag str, timestamp int64], or None."""
        return self._tags

    @property
    def global_mean(self) -> float:
        """Mean rating, accumulated in float64 (NaN when there are no ratings)."""
        if self._global_mean is None:
            self._global_mean = float(np.mean(self._ratings, dtype=np.float64)) if len(self) else float("nan")
        return self._global_mean

    # -- vocabularies -----------------------------------------------------------
    def user_index(self, raw):
        """Index (int) of a raw user id, or int32 indices of an array; KeyError if unknown."""
        return self._user_vocab.lookup(raw)

    def item_index(self, raw):
        """Index (int) of a raw item id, or int32 indices of an array; KeyError if unknown."""
        return self._item_vocab.lookup(raw)

    def user_id(self, index):
        """Raw user id(s) of index/indices; IndexError if out of range."""
        return self._user_vocab.raw(index)

    def item_id(self, index):
        """Raw item id(s) of index/indices; IndexError if out of range."""
        return self._item_vocab.raw(index)

    # -- matrices ---------------------------------------------------------------
    def user_items(self) -> sp.csr_matrix:
        """Users x items CSR: float32 ratings, int32 sorted indices (cached, read-only use)."""
        if self._user_items is None:
            self._user_items = _csr_from_pairs(self._users, self._items, self._ratings,
                                               self.n_users, self.n_items)
        return self._user_items

    def item_users(self) -> sp.csr_matrix:
        """Items x users CSR: float32 ratings, int32 sorted indices (cached, read-only use)."""
        if self._item_users is None:
            if self._user_items is not None:
                t = self._user_items.T.tocsr()  # counting sort by column: indices come out sorted
                csr = sp.csr_matrix(
                    (t.data, t.indices.astype(np.int32, copy=False), t.indptr.astype(np.int32, copy=False)),
                    shape=t.shape, copy=False,
                )
                csr.has_sorted_indices = True
                csr.has_canonical_format = True
            else:
                csr = _csr_from_pairs(self._items, self._users, self._ratings, self.n_items, self.n_users)
            self._item_users = csr
        return self._item_users

    # -- derived ----------------------------------------------------------------
    def subset(self, rows) -> "Interactions":
        """Interactions restricted to some rating rows, sharing vocabularies and metadata.

        Parameters
        ----------
        rows : bool array (n,) or int array
            A mask over ratings, or row indices (kept in the given order; each
            row at most once).
        """
        rows_arr = np.asarray(rows)
        n = len(self)
        if rows_arr.dtype == bool:
            if rows_arr.shape != (n,):
                raise ValueError(f"rows mask must have shape ({n},), got {rows_arr.shape}")
            idx = np.flatnonzero(rows_arr)
        elif rows_arr.dtype.kind in "iu" and rows_arr.ndim == 1:
            idx = rows_arr.astype(np.intp, copy=False)
            if idx.size:
                lo, hi = int(idx.min()), int(idx.max())
                if lo < 0 or hi >= n:
                    raise IndexError(f"rows contains {lo if lo < 0 else hi}, out of range [0, {n})")
                seen = np.zeros(n, dtype=bool)
                seen[idx] = True
                if int(seen.sum()) != idx.size:
                    raise ValueError("rows contains a repeated row index (would duplicate a rating)")
        elif rows_arr.size == 0 and rows_arr.ndim == 1:
            idx = np.empty(0, dtype=np.intp)
        else:
            raise TypeError(f"rows must be a 1-D bool mask or integer index array, got dtype {rows_arr.dtype}")
        ts = None if self._timestamps is None else self._timestamps[idx]
        return Interactions._trusted(
            self._users[idx], self._items[idx], self._ratings[idx], ts, self._has_ratings,
            self._user_vocab, self._item_vocab, self._item_genres, self._genre_names,
            self._titles, self._tags,
        )

    def to_dataframe(self, user_col="userId", item_col="movieId", rating_col="rating",
                     timestamp_col="timestamp") -> pd.DataFrame:
        """DataFrame with raw ids (and ratings/timestamps when present), one row per rating."""
        data = {user_col: self.user_ids[self._users], item_col: self.item_ids[self._items]}
        if self._has_ratings:
            data[rating_col] = self._ratings.copy()
        if self._timestamps is not None:
            data[timestamp_col] = self._timestamps.copy()
        return pd.DataFrame(data)

    def __repr__(self):
        kind = "ratings" if self._has_ratings else "implicit interactions"
        extra = f", {self.n_genres} genres" if self._genre_names is not None else ""
        return f"<Interactions: {len(self):,} {kind}, {self.n_users:,} users, {self.n_items:,} items{extra}>"


def _warn_dropped(count, where):
    import warnings

    warnings.warn(
        f"{where}: dropped {count} duplicate (user, item) rating(s), keeping the latest by timestamp",
        UserWarning, stacklevel=3,
    )


def _check_meta(n_items, n_users, item_genres, genre_names, titles, tags):
    """Validate item metadata; return ``(item_genres, genre_names, titles, tags)``."""
    if item_genres is not None:
        if genre_names is None:
            raise ValueError("genre_names is required with item_genres")
        genre_names = [str(g) for g in genre_names]
        item_genres = check_csr(item_genres, "item_genres", dtype=np.float32, shape=(n_items, len(genre_names)))
        if item_genres.nnz and not np.all((item_genres.data == 0) | (item_genres.data == 1)):
            raise ValueError("item_genres must be a 0/1 multi-hot matrix")
        if len(set(genre_names)) != len(genre_names):
            raise ValueError(f"genre_names must be unique, got {genre_names}")
    elif genre_names is not None:
        raise ValueError("genre_names given without item_genres")
    if titles is not None:
        t = np.empty(len(titles), dtype=object)
        t[:] = list(titles)
        if t.size != n_items:
            raise ValueError(f"titles has {t.size} entries, expected n_items={n_items}")
        titles = _readonly(t)
    if tags is not None:
        if not isinstance(tags, pd.DataFrame):
            raise TypeError(f"tags must be a pandas DataFrame, got {type(tags).__name__}")
        missing = [c for c in ("user", "item", "tag", "timestamp") if c not in tags.columns]
        if missing:
            raise ValueError(f"tags is missing column(s) {missing} (needs user, item, tag, timestamp)")
        tu = _as_index(tags["user"].to_numpy(), "tags['user']", n_users, None)
        ti = _as_index(tags["item"].to_numpy(), "tags['item']", n_items, None)
        tt = tags["timestamp"].to_numpy()
        if tt.dtype.kind not in "iu":
            raise TypeError(f"tags['timestamp'] must be integers, got {tt.dtype}")
        tags = pd.DataFrame({"user": tu, "item": ti, "tag": tags["tag"].to_numpy(),
                             "timestamp": tt.astype(np.int64)})
    return item_genres, genre_names, titles, tags
