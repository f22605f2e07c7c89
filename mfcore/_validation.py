"""Argument and array checks shared by the whole package.

Python validates, Cython computes: every public entry point checks its
arguments here, so compiled kernels only ever see C-contiguous arrays of the
right dtype and shape. Error messages name the argument and say what was
expected.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ._sparse import row_of_entry

_DTYPES = {"float32": np.float32, "float64": np.float64}


def check_int(value, name, *, min_value=None, max_value=None):
    """Return ``value`` as a Python int, checking type and range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_float(value, name, *, min_value=None, max_value=None, min_inclusive=True):
    """Return ``value`` as a finite Python float, checking type and range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None:
        if min_inclusive and value < min_value:
            raise ValueError(f"{name} must be >= {min_value}, got {value}")
        if not min_inclusive and value <= min_value:
            raise ValueError(f"{name} must be > {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)!r}, got {value!r}")
    return value


def check_dtype(dtype, name="dtype"):
    """Return np.float32 or np.float64 from a dtype-like (default float32 elsewhere)."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {resolved}")
    return resolved.type


def check_random_state(random_state, name="random_state"):
    """Return a ``numpy.random.Generator`` from None, an int seed, a Generator or a RandomState.

    A Generator is returned as is (drawing from it advances it, as scikit-learn does
    with a RandomState); a legacy RandomState seeds a new Generator with four 32-bit
    words drawn from it, so it advances too and equal states give equal results.
    """
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32, size=4, dtype=np.uint64))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"{name} must be None, an int seed, a numpy Generator or a RandomState, "
                        f"got {random_state!r}")
    if int(random_state) < 0:
        raise ValueError(f"{name} must be a non-negative seed, got {random_state}")
    return np.random.default_rng(int(random_state))


# ----------------------------------------------------------------------------
# sparse matrices: structure first, then values
# ----------------------------------------------------------------------------
#: Largest dimension / number of stored entries the kernels can index (int32).
INDEX_MAX = int(np.iinfo(np.int32).max)


def _check_index_array(array, name, what):
    arr = np.asarray(array)
    if arr.ndim != 1:
        raise ValueError(f"{name} has a {arr.ndim}-D {what} array; a sparse matrix stores 1-D arrays")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} has a {what} array of dtype {arr.dtype}; expected integers")
    return arr


def _out_of_range(values, bound):
    """True when some value is < 0 or >= ``bound``: one pass (negatives wrap to huge unsigned values)."""
    if values.size == 0:
        return False
    if values.dtype.kind == "i":
        values = values.view(np.dtype(f"u{values.dtype.itemsize}"))
    return int(values.max()) >= bound


def _first_out_of_range(values, bound):
    bad = (values < 0) | (values >= bound)
    k = int(np.flatnonzero(bad)[0])
    return k, int(values[k])


def _check_values_dtype(data, name):
    if data.dtype.kind == "c":
        raise TypeError(f"{name} holds complex values; only real numbers are accepted "
                        "(take .real explicitly if the imaginary part is meant to be dropped)")
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{name} holds values of dtype {data.dtype}; expected real numbers")


def _compressed_arrays(matrix, name, n_major, n_minor, major, minor, block=None):
    """Validated (indptr, indices, data) of a CSR / CSC (or BSR: ``block`` = (R, C)) matrix, trimmed to nnz.

    ``data`` is 1-D (one value per stored entry), or (n_blocks, R, C) for BSR.
    """
    indptr = _check_index_array(matrix.indptr, name, "indptr")
    indices = _check_index_array(matrix.indices, name, "indices")
    data = np.asarray(matrix.data)
    if block is None and data.ndim != 1:
        raise ValueError(f"{name} has a {data.ndim}-D data array")
    if block is not None and (data.ndim != 3 or data.shape[1:] != tuple(block)):
        raise ValueError(f"{name} has blocks of shape {data.shape[1:]}, expected {tuple(block)}")
    if indptr.size != n_major + 1:
        raise ValueError(f"{name} has an indptr of length {indptr.size}; a matrix with {n_major} {major}s "
                         f"needs {n_major + 1}")
    if indices.size != data.shape[0]:
        raise ValueError(f"{name} has {indices.size} indices but {data.shape[0]} values")
    if indptr[0] != 0:
        raise ValueError(f"{name} has indptr[0] = {int(indptr[0])}; it must be 0")
    steps = np.diff(indptr)
    if steps.size and int(steps.min()) < 0:
        k = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(f"{name} has a decreasing indptr at {major} {k} "
                         f"(indptr[{k}] = {int(indptr[k])} > indptr[{k + 1}] = {int(indptr[k + 1])})")
    nnz = int(indptr[-1])
    if nnz > indices.size:
        raise ValueError(f"{name} has indptr[-1] = {nnz} but only {indices.size} stored entries")
    indices, data = indices[:nnz], data[:nnz]
    if _out_of_range(indices, n_minor):
        k, value = _first_out_of_range(indices, n_minor)
        at = int(np.searchsorted(indptr, k, side="right") - 1)
        raise ValueError(f"{name} has {minor} index {value} in {major} {at}, outside [0, {n_minor})")
    return indptr, indices, data


def _coo_arrays(coo, name):
    rows = _check_index_array(coo.row, name, "row")
    cols = _check_index_array(coo.col, name, "col")
    data = np.asarray(coo.data)
    if data.ndim != 1 or not (rows.size == cols.size == data.size):
        raise ValueError(f"{name} has row, col and data arrays of different lengths "
                         f"({rows.size}, {cols.size}, {data.size})")
    for what, values, bound in (("row", rows, coo.shape[0]), ("column", cols, coo.shape[1])):
        if _out_of_range(values, bound):
            k, value = _first_out_of_range(values, bound)
            raise ValueError(f"{name} has {what} index {value} (stored entry {k}), outside [0, {bound})")
    return rows, cols, data


def _check_shape(matrix, name):
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {matrix.shape}")
    n_rows, n_cols = (int(s) for s in matrix.shape)
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"{name} has a negative dimension: shape {matrix.shape}")
    if max(n_rows, n_cols) > INDEX_MAX:
        raise ValueError(f"{name} has shape {matrix.shape}; dimensions above {INDEX_MAX} (int32) are not supported")
    return n_rows, n_cols


def _structurally_valid_csr(matrix, name):
    """A CSR matrix (int indices, no cached flags) built from ``matrix`` after bounds-checking its raw arrays.

    Every format is checked on its own arrays *before* SciPy converts it (SciPy's
    compiled conversions trust them and crash on out-of-range indices). The
    result may still have unsorted or repeated column indices; values are not
    inspected beyond their dtype.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix (users x items), got {type(matrix).__name__}")
    n_rows, n_cols = _check_shape(matrix, name)
    fmt = matrix.format
    if fmt in ("csr", "csc"):
        n_major, n_minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
        major, minor = ("row", "column") if fmt == "csr" else ("column", "row")
        indptr, indices, data = _compressed_arrays(matrix, name, n_major, n_minor, major, minor)
        _check_values_dtype(data, name)
        if indices.size > INDEX_MAX:
            raise ValueError(f"{name} has {indices.size} stored entries; more than {INDEX_MAX} (int32) "
                             "are not supported")
        compressed = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(
            (data, indices, indptr), shape=(n_rows, n_cols), copy=False)
        return compressed if fmt == "csr" else compressed.tocsr()
    if fmt == "bsr":
        R, C = matrix.blocksize
        if R < 1 or C < 1 or n_rows % R or n_cols % C:
            raise ValueError(f"{name} has block size {matrix.blocksize} that does not divide its shape {matrix.shape}")
        indptr, blocks, data = _compressed_arrays(matrix, name, n_rows // R, n_cols // C, "block row",
                                                  "block column", block=(R, C))
        _check_values_dtype(data, name)
        if data.size > INDEX_MAX:
            raise ValueError(f"{name} has {data.size} stored entries; more than {INDEX_MAX} (int32) "
                             "are not supported")
        return sp.bsr_matrix((data, blocks, indptr), shape=(n_rows, n_cols)).tocsr()
    if fmt != "coo":
        try:  # lil / dok / dia: SciPy converts these in NumPy, so out-of-range entries raise instead of crashing
            matrix = matrix.tocoo()
        except Exception as exc:  # noqa: BLE001 - any failure is a malformed matrix
            raise ValueError(f"{name} is a malformed {fmt} matrix ({type(exc).__name__}: {exc})") from None
    rows, cols, data = _coo_arrays(matrix, name)
    _check_values_dtype(data, name)
    if data.size > INDEX_MAX:
        raise ValueError(f"{name} has {data.size} stored entries; more than {INDEX_MAX} (int32) are not supported")
    # COO -> CSR would sum repeated (row, col) entries: refuse them first
    keys = rows.astype(np.int64) * max(n_cols, 1) + cols
    order = np.argsort(keys, kind="stable")
    same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if same.size:
        k = int(order[same[0] + 1])
        raise ValueError(
            f"{name} has duplicate entries, e.g. row {int(rows[k])}, column {int(cols[k])}; "
            "combine them explicitly before passing the matrix"
        )
    return sp.coo_matrix((data, (rows, cols)), shape=(n_rows, n_cols)).tocsr()


def _fresh_csr(data, indices, indptr, shape):
    """A CSR over these arrays without any cached sortedness flag (SciPy recomputes it in C++)."""
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


def check_csr(matrix, name, *, dtype=np.float32, shape=None):
    """Return a canonical CSR matrix: int32 sorted indices, no duplicates, finite ``dtype`` data.

    The structure of any scipy.sparse input (indptr monotone and of the right
    length, every index inside the shape, matching array lengths) is checked
    on its raw arrays before SciPy or a compiled kernel touches it; complex
    values are refused. Raises instead of summing duplicate entries or
    dropping non-finite values. Cost: a few passes over the stored entries.
    """
    csr = _structurally_valid_csr(matrix, name)
    if shape is not None and tuple(csr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {csr.shape}")
    csr = _fresh_csr(csr.data, csr.indices, csr.indptr, csr.shape)
    if csr.nnz and not csr.has_canonical_format:
        csr = csr.copy()
        csr.sort_indices()
        row_of = row_of_entry(csr.indptr, np.int64)
        dup = (np.diff(csr.indices) == 0) & (np.diff(row_of) == 0)
        if dup.any():
            k = int(np.flatnonzero(dup)[0])
            raise ValueError(
                f"{name} has duplicate entries, e.g. row {row_of[k]}, column {csr.indices[k]}; "
                "combine them explicitly before passing the matrix"
            )
    data = np.asarray(csr.data)
    if data.size and not np.all(np.isfinite(data)):
        bad = int(np.flatnonzero(~np.isfinite(data))[0])
        row = int(np.searchsorted(csr.indptr, bad, side="right") - 1)
        raise ValueError(f"{name} has a non-finite value at row {row}, column {csr.indices[bad]}")
    out = sp.csr_matrix(
        (data.astype(dtype, copy=False), csr.indices.astype(np.int32, copy=False), csr.indptr.astype(np.int32, copy=False)),
        shape=csr.shape,
    )
    out.has_sorted_indices = True
    return out


def check_csr_pattern(matrix, name, *, shape):
    """Return ``(indptr, indices)`` int32 of a sparse matrix whose *pattern* matters (values ignored).

    Every stored entry counts, including explicit zeros. The structure is
    checked as in :func:`check_csr`; indices come back sorted within each row
    (a sorted copy is made if needed); duplicate entries are harmless for a
    pattern and are kept. Raises if the shape differs from ``shape``.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2 or tuple(matrix.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {matrix.shape}")
    csr = _structurally_valid_csr(matrix, name)
    indptr, indices = np.asarray(csr.indptr), np.asarray(csr.indices)
    if indices.size:
        probe = _fresh_csr(indices, indices, indptr, csr.shape)  # no cached flag: sortedness computed in C++
        if not probe.has_sorted_indices:
            probe = sp.csr_matrix((np.zeros(indices.size, np.int8), indices.copy(), indptr.copy()), shape=csr.shape)
            probe.sort_indices()
            indices = np.asarray(probe.indices)
    return indptr.astype(np.int32, copy=False), indices.astype(np.int32, copy=False)


# ----------------------------------------------------------------------------
# one user's ratings (fold-in)
# ----------------------------------------------------------------------------
def check_fold_in(item_index, ratings, *, required=True):
    """Validate one user's fold-in input, the same way for every model.

    Parameters
    ----------
    item_index : array of int, shape (n,)
        The user's items, already translated to model indices.
    ratings : array-like of real numbers, shape (n,), or None
        Their ratings / interaction strengths; None is allowed when not ``required``.

    Returns
    -------
    item_index : numpy.ndarray of int64, shape (n,)
    ratings : numpy.ndarray of float64, shape (n,), or None

    Raises
    ------
    ValueError, TypeError
        ``items`` not 1-D or listing an item twice (ratings are never summed or
        de-duplicated), ``ratings`` missing, of another length, not real
        numbers (complex and boolean values are refused), or not finite.
    """
    idx = np.asarray(item_index)
    if idx.ndim != 1:
        raise ValueError(f"items must be a 1-D list of item ids, got shape {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    order = np.argsort(idx, kind="stable")
    same = np.flatnonzero(idx[order][1:] == idx[order][:-1])
    if same.size:
        a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise ValueError(f"items lists the same item at positions {a} and {b}; give each item once "
                         "(ratings are never summed or de-duplicated)")
    if ratings is None:
        if required:
            raise TypeError("ratings are required: one rating per item")
        return idx, None
    r = np.asarray(ratings)
    if r.dtype.kind not in "iuf":
        what = "complex" if r.dtype.kind == "c" else str(r.dtype)
        raise TypeError(f"ratings must be real numbers, got {what} values")
    r = r.astype(np.float64, copy=False).reshape(-1) if r.ndim <= 1 else r
    if r.shape != idx.shape:
        raise ValueError(f"items and ratings must have the same length, got {idx.shape[0]} items and "
                         f"ratings of shape {np.shape(ratings)}")
    bad = ~np.isfinite(r)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"ratings must be finite, got {float(r[k])!r} at position {k}")
    return idx, r


def rows_sorted_unique(indptr, indices, shape):
    """True when every row's indices strictly increase (CSR arrays already bounds-checked).

    One pass in SciPy's C++ (``csr_has_canonical_format``) over a fresh matrix,
    so no cached flag is trusted.
    """
    if indices.size < 2:
        return True
    return bool(_fresh_csr(indices, indices, indptr, shape).has_canonical_format)
