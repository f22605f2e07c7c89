"""Tests of the pointwise prediction kernels (mfcore._predict) against mfcore._reference."""

import numpy as np
import pytest

from mfcore import _reference as ref
from mfcore._predict import predict_pairs, squared_error_sums


def _problem(rng, dtype, n_users=40, n_items=30, K=7, n=500):
    U = rng.standard_normal((n_users, K)).astype(dtype)
    V = rng.standard_normal((n_items, K)).astype(dtype)
    bu = rng.standard_normal(n_users).astype(dtype)
    bi = rng.standard_normal(n_items).astype(dtype)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.uniform(0.5, 5.0, n).astype(dtype)
    return U, bu, V, bi, users, items, ratings


@pytest.mark.parametrize("threads", [1, 2])
def test_predict_pairs_matches_reference(rng, dtype, tol, threads):
    U, bu, V, bi, users, items, _ = _problem(rng, dtype)
    out = np.empty(len(users), dtype=dtype)
    predict_pairs(users, items, U, bu, V, bi, 3.5, out, threads)
    np.testing.assert_allclose(out, ref.predict(3.5, U, bu, V, bi, users, items), **tol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("clip", [None, (1.0, 5.0)])
def test_squared_error_sums_matches_reference(rng, dtype, tol, threads, clip):
    U, bu, V, bi, users, items, ratings = _problem(rng, dtype)
    lo, hi = (-np.inf, np.inf) if clip is None else clip
    sse, sae = squared_error_sums(users, items, ratings, U, bu, V, bi, 3.5, lo, hi, threads)
    want_sse, want_sae = ref.squared_error_sums(3.5, U, bu, V, bi, users, items, ratings, clip=clip)
    np.testing.assert_allclose([sse, sae], [want_sse, want_sae], **tol)


def test_squared_error_sums_clips_predictions(rng, dtype):
    # standard-normal factors at K=7 put most raw predictions outside [1, 5]: clipping must change the sums
    U, bu, V, bi, users, items, ratings = _problem(rng, dtype)
    raw = squared_error_sums(users, items, ratings, U, bu, V, bi, 3.5, -np.inf, np.inf, 1)
    clipped = squared_error_sums(users, items, ratings, U, bu, V, bi, 3.5, 1.0, 5.0, 1)
    assert clipped[0] < raw[0] and clipped[1] < raw[1]


def test_empty_pairs(rng, dtype):
    U, bu, V, bi, *_ = _problem(rng, dtype)
    none = np.empty(0, dtype=np.int32)
    out = np.empty(0, dtype=dtype)
    predict_pairs(none, none, U, bu, V, bi, 1.0, out, 1)
    assert squared_error_sums(none, none, np.empty(0, dtype=dtype), U, bu, V, bi, 1.0, -np.inf, np.inf, 1) == (0.0, 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_row_residual_sums_matches_reference(rng, dtype, threads):
    import scipy.sparse as sp

    from mfcore._predict import row_residual_sums

    n_rows, n_cols, K = 30, 40, 5
    dense = rng.uniform(0.5, 5.0, (n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.3)
    dense[3] = 0.0                                   # an empty row sums to 0
    dense[4] = 0.0
    dense[4, 7] = 4.0                                # a one-entry row
    R = sp.csr_matrix(dense.astype(dtype))
    F = rng.standard_normal((n_cols, K)).astype(dtype)
    b = rng.standard_normal(n_cols).astype(dtype)
    X = rng.standard_normal((n_rows, K))             # float64, as the model passes them
    out = np.full(n_rows, np.nan)
    row_residual_sums(R.indptr, R.indices, R.data, F, b, X, 3.5, out, threads)
    # Both sides take the same float32/float64 inputs and accumulate in float64: only the
    # summation order differs, so the float64 tolerance holds for either dtype.
    np.testing.assert_allclose(out, ref.row_residual_sums(R, 3.5, F, b, X), rtol=1e-10, atol=1e-10)
    assert out[3] == 0.0
    assert out[4] == pytest.approx(4.0 - 3.5 - float(b[7]) - float(F[7].astype(np.float64) @ X[4]), rel=1e-12)
    again = np.empty(n_rows)
    row_residual_sums(R.indptr, R.indices, R.data, F, b, X, 3.5, again, 3 - threads)
    np.testing.assert_array_equal(out, again)        # one thread per row: same bits for any thread count
    with pytest.raises(ValueError, match="indptr must have n_rows"):
        row_residual_sums(R.indptr[:-1], R.indices, R.data, F, b, X, 3.5, out, 1)
    with pytest.raises(ValueError, match="col_factors must have K columns"):
        row_residual_sums(R.indptr, R.indices, R.data, np.ascontiguousarray(F[:, :2]), b, X, 3.5, out, 1)
