"""mfcore.evaluate's rating metrics score what ``predict`` returns (clipped by default)."""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore import evaluate
from mfcore.models import ExplicitALS


def _split(rng, n_users=60, n_items=40, density=0.3):
    # ratings on a 1..5 scale from a rank-2 model plus noise; a tiny regularization at K=8
    # over-fits, so some raw test predictions leave [1, 5] and clipping must matter
    U, V = rng.standard_normal((n_users, 2)), rng.standard_normal((n_items, 2))
    R = np.clip(np.rint(3 + U @ V.T + 0.5 * rng.standard_normal((n_users, n_items))), 1, 5)
    mask = rng.random((n_users, n_items)) < density
    test = mask & (rng.random((n_users, n_items)) < 0.25)
    train = sp.csr_matrix(np.where(mask & ~test, R, 0.0), dtype=np.float32)
    return train, sp.csr_matrix(np.where(test, R, 0.0), dtype=np.float32)


def _rmse_mae(model, test, clip):
    t = test.tocoo()
    err = t.data - model.predict(t.row, t.col, clip=clip)
    return np.sqrt(np.mean(err ** 2)), np.mean(np.abs(err))


def test_rating_metrics_match_predict_with_and_without_clipping():
    train, test = _split(np.random.default_rng(0))
    model = ExplicitALS(factors=8, regularization=0.01, iterations=10, num_threads=1, random_state=0)
    model.fit(train, show_progress=False)
    t = test.tocoo()
    raw = model.predict(t.row, t.col, clip=False)
    assert ((raw < 1) | (raw > 5)).any()                      # the clipped case is exercised
    for clip in (True, False):
        got = evaluate(model, train, test, clip=clip)
        want_rmse, want_mae = _rmse_mae(model, test, clip)
        assert got["rmse"] == pytest.approx(want_rmse, rel=1e-5)
        assert got["mae"] == pytest.approx(want_mae, rel=1e-5)
    assert evaluate(model, train, test)["rmse"] < evaluate(model, train, test, clip=False)["rmse"]


def test_eval_set_rmse_is_the_clipped_rmse():
    train, test = _split(np.random.default_rng(1))
    model = ExplicitALS(factors=8, regularization=0.01, iterations=4, num_threads=1, random_state=0)
    model.fit(train, eval_set=test, show_progress=False)
    assert model.history_[-1]["eval_rmse"] == pytest.approx(evaluate(model, train, test)["rmse"], rel=1e-5)
