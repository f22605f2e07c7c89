"""Structural checks of a model file, run once by ``FactorModel.load`` before any model exists.

:mod:`mfcore._persist` guarantees a readable container: every array listed in
the header, of the declared dtype and shape, checksum-verified. The checksums
live inside the file, so they stop accidents, not edits. This module checks
what the compiled kernels and the inference code rely on, so that an edited
(or hostile) file raises :class:`ModelFileError` instead of crashing the
process or returning garbage later:

* parameters are JSON scalars; ``dtype`` is float32/float64 and every factor
  and bias array has exactly that little-endian dtype; ``factors`` equals K;
  ``num_threads`` is in range; ``global_mean`` is a finite number;
* shapes agree with each other and with the id maps: user factors (n_users, K),
  item factors (n_items, K), biases (n_users,) / (n_items,), ids (n,) unique,
  of integer or string type; n_users, n_items >= 1 and within int32;
* every factor, bias and weight is finite;
* the seen-items CSR: int32, indptr of length n_users + 1 starting at 0,
  non-decreasing, ending at nnz; indices in [0, n_items), strictly increasing
  within each row;
* model extras (GenreALS: the genre CSR, names, projections; ImplicitALS fitted with
  the genre prior: the same without the bias projection, all or none; BPR fitted with
  the genre prior: the same with it, all or none) the same way;
* no array or attribute the model does not know.

Every check is vectorised and at most one pass over an array, so loading a
32M-rating model costs a few tens of milliseconds more than reading it.
"""

from __future__ import annotations

import math

import numpy as np

from ._persist import ModelFileError, load_arrays
from ._threads import MAX_THREADS
from ._validation import INDEX_MAX, rows_sorted_unique

_FLOAT_DTYPES = {"float32": "<f4", "float64": "<f8"}
_BASE_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias")
_OPTIONAL_ARRAYS = ("user_ids", "item_ids", "seen_indptr", "seen_indices")
_ATTRIBUTES = ("global_mean",)
#: rating_scale: [low, high] of a rating model's training ratings; input_kind: what fit got;
#: positive_count_means: [users, items], ImplicitALS's mean positives per row (regularization_exponent != 0)
_OPTIONAL_ATTRIBUTES = ("rating_scale", "input_kind", "positive_count_means")


class _Checker:
    """Raises ModelFileError prefixed with the file name."""

    def __init__(self, path, arrays):
        self.path = path
        self.arrays = arrays

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}")

    def array(self, name, dtype, shape):
        """``arrays[name]`` after checking its dtype string and shape (None = any length)."""
        arr = self.arrays[name]
        if arr.dtype.str != dtype:
            self.fail(f"array {name!r} has dtype {arr.dtype.str}, expected {dtype}")
        if len(arr.shape) != len(shape) or any(want is not None and got != want for got, want in zip(arr.shape, shape)):
            want = tuple("n" if s is None else s for s in shape)
            self.fail(f"array {name!r} has shape {arr.shape}, expected {want}")
        return arr

    def finite(self, name):
        arr = self.arrays[name]
        # min and max propagate NaN and reach +-inf: two reductions, no temporary array
        if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            k = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
            self.fail(f"array {name!r} has a non-finite value at flat position {k}")

    def ids(self, name, n):
        arr = self.arrays[name]
        if arr.dtype.kind not in "iuUS" or arr.dtype.byteorder == ">":
            self.fail(f"array {name!r} has dtype {arr.dtype.str}; ids are integers or strings")
        if arr.shape != (n,):
            self.fail(f"array {name!r} has shape {arr.shape}, expected ({n},) to match the factors")
        srt = np.sort(arr)
        if n > 1 and np.any(srt[1:] == srt[:-1]):
            k = int(np.flatnonzero(srt[1:] == srt[:-1])[0])
            self.fail(f"array {name!r} lists id {srt[k].item()!r} twice")

    def csr(self, prefix, indptr_name, indices_name, indptr_dtype, n_rows, n_cols):
        """Check a saved CSR pattern; returns (indptr, indices)."""
        indptr = self.array(indptr_name, indptr_dtype, (n_rows + 1,))
        indices = self.array(indices_name, "<i4", (None,))
        if indptr[0] != 0 or indptr[-1] != indices.size:
            self.fail(f"{prefix}: indptr must start at 0 and end at {indices.size}, got {int(indptr[0])} and "
                      f"{int(indptr[-1])}")
        if n_rows and int(np.diff(indptr).min()) < 0:
            k = int(np.flatnonzero(np.diff(indptr) < 0)[0])
            self.fail(f"{prefix}: indptr decreases at row {k}")
        if indices.size and int(indices.view(np.uint32).max()) >= n_cols:
            bad = int(indices[np.flatnonzero((indices < 0) | (indices >= n_cols))[0]])
            self.fail(f"{prefix}: index {bad} outside [0, {n_cols})")
        if not rows_sorted_unique(indptr, indices, (n_rows, n_cols)):
            self.fail(f"{prefix}: indices must strictly increase within each row")
        return indptr, indices


def _check_params(chk, params, K):
    for name, value in params.items():
        if not (value is None or isinstance(value, (bool, int, str))
                or (isinstance(value, float) and math.isfinite(value))):
            chk.fail(f"parameter {name!r} must be a JSON scalar (finite number, string, bool or null), got {value!r:.80}")
    dtype = params.get("dtype", "float32")
    if dtype not in _FLOAT_DTYPES:
        chk.fail(f"parameter 'dtype' must be 'float32' or 'float64', got {dtype!r}")
    if "factors" in params and (isinstance(params["factors"], bool) or params["factors"] != K):
        chk.fail(f"parameter 'factors' is {params['factors']!r} but the factor matrices have K = {K}")
    threads = params.get("num_threads", 0)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= MAX_THREADS:
        chk.fail(f"parameter 'num_threads' must be an integer in [0, {MAX_THREADS}], got {threads!r}")
    return _FLOAT_DTYPES[dtype]


def _check_genre_arrays(chk, n_items, K, bias=True):
    """GenreALS: genre CSR (n_items x n_genres), names, projections W (n_genres, K) and w_b (``bias``)."""
    names = chk.arrays["genre_names"]
    if names.dtype.kind != "U" or names.ndim != 1:
        chk.fail(f"array 'genre_names' must be 1-D strings, got {names.dtype.str}{list(names.shape)}")
    n_genres = names.shape[0]
    chk.ids("genre_names", n_genres)
    chk.array("genre_factors", "<f8", (n_genres, K))
    chk.finite("genre_factors")
    if bias:
        chk.array("genre_bias", "<f8", (n_genres,))
        chk.finite("genre_bias")
    _, indices = chk.csr("genre matrix", "genre_indptr", "genre_indices", "<i8", n_items, n_genres)
    data = chk.array("genre_data", "<f4", (indices.size,))
    if data.size and not (np.isfinite(data).all() and data.min() >= 0):
        chk.fail("array 'genre_data' must hold finite non-negative weights")
    if "genre_cold_bias" in chk.arrays:
        chk.array("genre_cold_bias", "<f8", (n_genres,))
        chk.finite("genre_cold_bias")
    if ("user_cold_bias" in chk.arrays) != ("cold_items" in chk.arrays):
        chk.fail("arrays 'user_cold_bias' and 'cold_items' must both be present or both absent")
    if "user_cold_bias" in chk.arrays:  # GenreALS(cold_user_bias=...): per-user offsets for items without ratings
        chk.array("user_cold_bias", "<f8", (chk.arrays["user_factors"].shape[0],))
        chk.finite("user_cold_bias")
        cold = chk.array("cold_items", "|u1", (n_items,))
        if cold.size and cold.max() > 1:
            chk.fail("array 'cold_items' must hold 0 or 1 per item")
    if "year_edges" in chk.arrays:      # release-year buckets: the last len(edges) + 1 feature columns
        edges = chk.array("year_edges", "<f8", (None,))
        chk.finite("year_edges")
        if edges.size == 0 or edges.size + 1 > n_genres or np.any(np.diff(edges) <= 0):
            chk.fail(f"array 'year_edges' must be 1 to {n_genres - 1} increasing numbers (its buckets are the "
                     f"last feature columns), got {edges.size} values")


#: Arrays each model class adds to the base ones, and their checker.
_EXTRA_ARRAYS = {
    "GenreALS": (("genre_factors", "genre_bias", "genre_indptr", "genre_indices", "genre_data", "genre_names"),
                 _check_genre_arrays),
}

#: Arrays a model class may add (checked by the class's checker when present).
_OPTIONAL_EXTRA_ARRAYS = {"GenreALS": ("year_edges", "genre_cold_bias", "user_cold_bias", "cold_items"),
                          "BPR": ("year_edges",)}

#: Groups of arrays a model class may add, all or none, in place of its extras, and their checker
#: (ImplicitALS fitted with the genre prior: the prior's state).
_OPTIONAL_EXTRA_GROUPS = {
    "ImplicitALS": (("genre_factors", "genre_indptr", "genre_indices", "genre_data", "genre_names"),
                    lambda chk, n_items, K: _check_genre_arrays(chk, n_items, K, bias=False)),
    "BPR": (("genre_factors", "genre_bias", "genre_indptr", "genre_indices", "genre_data", "genre_names"),
            _check_genre_arrays),
}

#: Models whose factor matrices have K = 0 columns.
_NO_FACTORS = frozenset({"BiasBaseline"})


def check_model_state(path, header, arrays):
    """Raise :class:`ModelFileError` unless the file's arrays and header form a consistent model."""
    chk = _Checker(path, arrays)
    extras, check_extras = _EXTRA_ARRAYS.get(header["model"], ((), None))
    optional, check_optional = _OPTIONAL_EXTRA_GROUPS.get(header["model"], ((), None))
    present = [name for name in optional if name in arrays]
    if present and len(present) < len(optional):
        chk.fail(f"array {next(n for n in optional if n not in arrays)!r} is missing (the {header['model']} "
                 f"arrays {list(optional)} come all or none)")
    if present:
        extras, check_extras = optional, check_optional
    else:
        stray = [name for name in _OPTIONAL_EXTRA_ARRAYS.get(header["model"], ()) if name in arrays]
        if optional and stray:
            chk.fail(f"array {stray[0]!r} belongs with the {header['model']} arrays {list(optional)}, "
                     "which are absent")
    missing = [name for name in _BASE_ARRAYS + extras if name not in arrays]
    if missing:
        chk.fail(f"array {missing[0]!r} is missing")
    unknown = sorted(set(arrays) - set(_BASE_ARRAYS) - set(_OPTIONAL_ARRAYS) - set(extras)
                     - set(_OPTIONAL_EXTRA_ARRAYS.get(header["model"], ())))
    if unknown:
        chk.fail(f"unexpected array(s) {unknown} for a {header['model']} model")
    if ("seen_indptr" in arrays) != ("seen_indices" in arrays):
        chk.fail("seen_indptr and seen_indices must both be present or both absent")
    attributes = header["attributes"]
    if not set(_ATTRIBUTES) <= set(attributes) <= set(_ATTRIBUTES) | set(_OPTIONAL_ATTRIBUTES):
        chk.fail(f"attributes must be {list(_ATTRIBUTES)} and optionally {list(_OPTIONAL_ATTRIBUTES)}, "
                 f"got {sorted(attributes)}")
    scale = attributes.get("rating_scale")
    if scale is not None and not (isinstance(scale, list) and len(scale) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scale)
            and scale[0] <= scale[1]):
        chk.fail(f"attribute 'rating_scale' must be [low, high], two finite numbers with low <= high, got {scale!r:.80}")
    means = attributes.get("positive_count_means")
    if means is not None and not (isinstance(means, list) and len(means) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in means)):
        chk.fail(f"attribute 'positive_count_means' must be [users, items], two finite numbers >= 0, "
                 f"got {means!r:.80}")
    if attributes.get("input_kind", "ratings") not in ("ratings", "interactions", "sparse"):
        chk.fail(f"attribute 'input_kind' must be 'ratings', 'interactions' or 'sparse', "
                 f"got {attributes['input_kind']!r:.80}")
    mu = attributes["global_mean"]
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu):
        chk.fail(f"attribute 'global_mean' must be a finite number, got {mu!r}")

    uf, vf = arrays["user_factors"], arrays["item_factors"]
    if uf.ndim != 2 or vf.ndim != 2:
        chk.fail(f"factor matrices must be 2-D, got shapes {uf.shape} and {vf.shape}")
    n_users, K = uf.shape
    n_items = vf.shape[0]
    # the bias baseline has no factors (K = 0); every other model at least one
    K_min, K_max = (0, 0) if header["model"] in _NO_FACTORS else (1, None)
    if not (1 <= n_users <= INDEX_MAX and 1 <= n_items <= INDEX_MAX and K >= K_min and (K_max is None or K <= K_max)):
        what = "no factors" if K_max == 0 else "at least one factor"
        chk.fail(f"factor shapes {uf.shape} and {vf.shape} of a {header['model']} need at least one user, one item "
                 f"and {what}, and at most {INDEX_MAX} users / items")
    dtype = _check_params(chk, header["params"], K)
    chk.array("user_factors", dtype, (n_users, K))
    chk.array("item_factors", dtype, (n_items, K))
    chk.array("user_bias", dtype, (n_users,))
    chk.array("item_bias", dtype, (n_items,))
    for name in _BASE_ARRAYS:
        chk.finite(name)
    if "user_ids" in arrays:
        chk.ids("user_ids", n_users)
    if "item_ids" in arrays:
        chk.ids("item_ids", n_items)
    if "seen_indptr" in arrays:
        chk.csr("seen items", "seen_indptr", "seen_indices", "<i4", n_users, n_items)
    if check_extras is not None:
        check_extras(chk, n_items, K)


def read_model_file(path, *, expected_model=None):
    """Read a model file and check every structural invariant; returns ``(header, arrays)``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        The file is unreadable (see :func:`mfcore._persist.load_arrays`) or its
        contents do not form a consistent model (see the module docstring).
    """
    header, arrays = load_arrays(path, expected_model=expected_model)
    check_model_state(path, header, arrays)
    return header, arrays
