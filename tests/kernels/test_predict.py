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
