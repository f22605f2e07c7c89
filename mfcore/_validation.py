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


def check_csr(matrix, name, *, dtype=np.float32, shape=None):
    """Return a canonical CSR matrix: int32 sorted indices, no duplicates, finite ``dtype`` data.

    Raises instead of summing duplicate entries or dropping non-finite values.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix (users x items), got {type(matrix).__name__}")
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {matrix.shape}")
    if shape is not None and tuple(matrix.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {matrix.shape}")
    if matrix.format == "coo":
        # COO -> CSR conversion sums repeated (row, col) entries: check before converting
        coo = matrix
        keys = np.asarray(coo.row, np.int64) * coo.shape[1] + np.asarray(coo.col, np.int64)
        uniq, counts = np.unique(keys, return_counts=True)
        if uniq.size != keys.size:
            dup = int(uniq[np.flatnonzero(counts > 1)[0]])
            raise ValueError(
                f"{name} has duplicate entries, e.g. row {dup // coo.shape[1]}, column {dup % coo.shape[1]}; "
                "combine them explicitly before passing the matrix"
            )
    csr = sp.csr_matrix(matrix)  # copies COO/CSC; a CSR input is shared until we convert
    if csr.nnz and not csr.has_canonical_format:
        csr = csr.copy()
        csr.sort_indices()
        row_of = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
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

    Every stored entry counts, including explicit zeros. Indices come back sorted
    within each row (a sorted copy is made if needed); duplicate entries are
    harmless for a pattern and are kept. Raises if the shape differs from
    ``shape`` or the matrix does not fit int32 indexing.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2 or tuple(matrix.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {matrix.shape}")
    if matrix.nnz > np.iinfo(np.int32).max or max(shape) > np.iinfo(np.int32).max:
        raise ValueError(f"{name} is too large for int32 indexing (shape {matrix.shape}, nnz {matrix.nnz})")
    csr = matrix if matrix.format == "csr" else sp.csr_matrix(matrix)
    indptr = np.asarray(csr.indptr)
    indices = np.asarray(csr.indices)
    if indptr[0] != 0 or indptr[-1] > indices.size or np.any(np.diff(indptr) < 0):
        raise ValueError(f"{name} has an invalid CSR indptr")
    indices = indices[: indptr[-1]]
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= shape[1]:
            raise ValueError(f"{name} has a column index {lo if lo < 0 else hi} outside [0, {shape[1]})")
        # A fresh matrix has no cached flag, so scipy computes sortedness from the arrays (C++).
        probe = sp.csr_matrix((indices, indices, indptr), shape=csr.shape)
        if not probe.has_sorted_indices:
            probe = sp.csr_matrix(
                (np.zeros(indices.size, np.int8), indices.copy(), indptr.copy()), shape=csr.shape
            )
            probe.sort_indices()
            indices = np.asarray(probe.indices)
    return indptr.astype(np.int32, copy=False), indices.astype(np.int32, copy=False)
