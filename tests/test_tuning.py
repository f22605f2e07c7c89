"""mfcore.tuning: planted optima are found, the test split is never seen, results are reproducible."""

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp

import mfcore
from mfcore import BPR, ExplicitALS, Interactions, temporal_split
from mfcore.tuning import IntUniform, LogUniform, Uniform, grid_search, random_search, validation_split


# ----------------------------------------------------------------------------- planted problems
def planted_biases(seed, n_users=800, n_items=500, tau=0.5, sigma=1.0, density=0.03):
    """r = 3 + b_u + b_i + noise with b ~ N(0, tau^2), noise ~ N(0, sigma^2): a Gaussian linear model.

    Its posterior mean (the best predictor in expected squared error) is the ridge
    solution with bias penalty sigma^2 / tau^2 = 4, which ALS reaches by block
    coordinate descent: the validation RMSE is smallest near bias_regularization = 4.
    """
    rng = np.random.default_rng(seed)
    bu, bi = rng.normal(0, tau, n_users), rng.normal(0, tau, n_items)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = 3.0 + bu[u] + bi[i] + rng.normal(0, sigma, u.size)
    return Interactions.from_arrays(u, i, r, rng.integers(0, 10**6, u.size))


def planted_rank(seed, n_users=300, n_items=200, k=3, density=0.3):
    """r = 3 + u . v + noise with rank-3 u, v: RMSE drops until K = 3 and rises after (overfitting)."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(0, 1, (n_users, k)), rng.normal(0, 1, (n_items, k))
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = 3.0 + np.einsum("ij,ij->i", U[u], V[i]) + rng.normal(0, 0.5, u.size)
    return Interactions.from_arrays(u, i, r, rng.integers(0, 10**6, u.size))


BIAS_ONLY = dict(factors=1, regularization=1e4, iterations=5)   # u . v pinned at ~0: only biases are learned


def test_grid_search_finds_the_planted_bias_penalty():
    train, _ = temporal_split(planted_biases(0))
    result = grid_search(ExplicitALS(**BIAS_ONLY), {"bias_regularization": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]},
                         train, show_progress=False, num_threads=1)
    assert result.best_params == {"bias_regularization": 4.0}
    rmse = result.trials["rmse"].to_numpy()
    assert rmse[0] > rmse[3] and rmse[-1] > rmse[3]      # a valley, not an edge


def test_random_search_lands_near_the_planted_bias_penalty():
    train, _ = temporal_split(planted_biases(1))
    result = random_search(ExplicitALS(**BIAS_ONLY), {"bias_regularization": LogUniform(1e-2, 1e3)}, train,
                           n_trials=25, random_state=0, show_progress=False, num_threads=1)
    assert 2.0 <= result.best_params["bias_regularization"] <= 8.0      # within a factor 2 of 4
    assert len(result.trials) == 25


def test_grid_search_finds_the_planted_rank():
    train, _ = temporal_split(planted_rank(0))
    result = grid_search(ExplicitALS(regularization=0.25, iterations=10), {"factors": [1, 2, 3, 6, 10]}, train,
                         show_progress=False, num_threads=1)
    assert result.best_params == {"factors": 3}


# ----------------------------------------------------------------------------- the test split is never seen
def _keys(matrix):
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


class _Spy:
    """Records the (user, item) pairs of every X and eval_set a model's fit receives."""

    seen = []

    def fit(self, X, *args, eval_set=None, **kwargs):
        _Spy.seen.append(("X", _keys(X.user_items())))
        if eval_set is not None:
            _Spy.seen.append(("eval_set", _keys(eval_set.user_items())))
        return super().fit(X, *args, eval_set=eval_set, **kwargs)


class SpyALS(_Spy, ExplicitALS):
    pass


class SpyBPR(_Spy, BPR):
    pass


@pytest.mark.parametrize("estimator, metric", [(SpyALS(factors=4, iterations=4), "rmse"),
                                               (SpyALS(factors=4, iterations=4), "ndcg"),
                                               (SpyBPR(factors=4, iterations=4), "ndcg")])
def test_search_never_sees_the_test_split(estimator, metric):
    data = planted_rank(2, n_users=120, n_items=80)
    train, test = temporal_split(data)
    test_pairs, train_pairs = _keys(test.user_items()), _keys(train.user_items())
    _Spy.seen = []
    dists = {"factors": IntUniform(2, 6)}
    random_search(estimator, dists, train, n_trials=3, metric=metric, threshold=None, early_stopping_rounds=1,
                  show_progress=False, num_threads=1)
    assert len([kind for kind, _ in _Spy.seen if kind == "X"]) == 3
    for _, pairs in _Spy.seen:
        assert not pairs & test_pairs
        assert pairs <= train_pairs
    # fit part and validation part are a partition of train, the validation part the users' latest ratings
    fit_part, val_part = validation_split(train)
    assert _keys(fit_part.user_items()) | _keys(val_part.user_items()) == train_pairs
    assert not _keys(fit_part.user_items()) & _keys(val_part.user_items())
    last_fit = np.full(train.n_users, -1)
    np.maximum.at(last_fit, fit_part.users, fit_part.timestamps)
    assert (val_part.timestamps >= last_fit[val_part.users]).all()


def test_random_validation_rule_is_seeded_and_partitions_train():
    train, _ = temporal_split(planted_rank(3, n_users=60, n_items=40))
    a_fit, a_val = validation_split(train, "random", 0.25, random_state=5)
    b_fit, b_val = validation_split(train, "random", 0.25, random_state=5)
    assert _keys(a_val.user_items()) == _keys(b_val.user_items())
    assert len(a_val) == int(0.25 * len(train))
    assert _keys(a_fit.user_items()) | _keys(a_val.user_items()) == _keys(train.user_items())


@pytest.mark.parametrize("model, metric, grid", [
    (mfcore.GenreALS(factors=3, iterations=3), "rmse", {"genre_weight": [0.1, 10.0]}),
    (mfcore.ImplicitALS(factors=3, iterations=3), "ndcg", {"regularization": [0.1, 10.0]}),
    (BPR(factors=3, iterations=3), "ndcg", {"learning_rate": [0.01, 0.1]}),
])
def test_every_model_can_be_searched(model, metric, grid):
    data = planted_rank(11, n_users=80, n_items=50)
    rng = np.random.default_rng(0)
    genres = sp.csr_matrix((rng.random((data.n_items, 4)) < 0.4).astype(np.float32))
    data = Interactions(data.users, data.items, data.ratings, data.timestamps, user_ids=data.user_ids,
                        item_ids=data.item_ids, item_genres=genres, genre_names=["a", "b", "c", "d"])
    train, _ = temporal_split(data)
    result = grid_search(model, grid, train, metric=metric, threshold=None, early_stopping_rounds=2,
                         show_progress=False, num_threads=1)
    name = "rmse" if metric == "rmse" else "ndcg@10"
    assert result.metric == name and np.isfinite(result.trials[name]).all()
    assert type(result.best_model()) is type(model)


# ----------------------------------------------------------------------------- early stopping, threads, results
def test_early_stopping_scores_the_best_epoch():
    train, _ = temporal_split(planted_rank(4))
    result = grid_search(ExplicitALS(factors=10, iterations=30), {"regularization": [0.01]}, train,
                         early_stopping_rounds=2, show_progress=False, num_threads=1)
    row = result.trials.iloc[0]
    fit_part, val_part = validation_split(train)
    model = ExplicitALS(factors=10, iterations=30, regularization=0.01, num_threads=1)
    model.fit(fit_part, eval_set=val_part, show_progress=False)
    curve = np.array([h["eval_rmse"] for h in model.history_])
    best_epoch = int(np.argmin(curve[:row["epochs_run"]])) + 1
    assert row["epochs"] == best_epoch
    assert row["rmse"] == pytest.approx(curve[best_epoch - 1], rel=1e-12)
    assert row["epochs_run"] == best_epoch + 2 < 30       # stopped 2 epochs after the best one
    assert result.best_model().iterations == best_epoch


def test_trials_do_not_depend_on_n_jobs():
    """Two trials at once on one thread each give the trials of one at a time on one thread, bit for bit.

    (With two threads per fit the factors are still identical; only the float64
    error sums are reduced in another order, so the metric agrees to rounding.)
    """
    train, _ = temporal_split(planted_rank(5, n_users=150, n_items=100))
    dists = {"factors": IntUniform(2, 8), "regularization": LogUniform(0.05, 20)}
    kw = dict(n_trials=6, random_state=3, show_progress=False)
    serial = random_search(ExplicitALS(iterations=5), dists, train, n_jobs=1, num_threads=1, **kw)
    parallel = random_search(ExplicitALS(iterations=5), dists, train, n_jobs=2, num_threads=2, **kw)
    wide = random_search(ExplicitALS(iterations=5), dists, train, n_jobs=1, num_threads=2, **kw)
    cols = ["trial", "factors", "regularization", "rmse", "train_rmse", "epochs"]
    assert serial.trials[cols].equals(parallel.trials[cols])
    np.testing.assert_allclose(wide.trials["rmse"], serial.trials["rmse"], rtol=1e-12)
    assert parallel.threads == {"budget": 2, "n_jobs": 2, "per_fit": 1}
    assert wide.threads == {"budget": 2, "n_jobs": 1, "per_fit": 2}


def test_result_table_best_model_and_json():
    train, _ = temporal_split(planted_rank(6, n_users=100, n_items=60))
    result = grid_search(ExplicitALS(iterations=3, bias_regularization=3.0),
                         {"factors": [2, 4], "regularization": [0.5, 5.0]}, train, show_progress=False, num_threads=1)
    t = result.trials
    assert list(t.columns) == ["trial", "factors", "regularization", "rmse", "train_rmse", "epochs", "epochs_run",
                               "seconds", "error"]
    assert t[["factors", "regularization"]].values.tolist() == [[2, 0.5], [2, 5.0], [4, 0.5], [4, 5.0]]
    assert (t["epochs"] == 3).all() and (t["seconds"] > 0).all() and (t["train_rmse"] > 0).all()
    best = t.loc[t["rmse"].idxmin()]
    assert result.best_score == best["rmse"]
    assert result.best_params == {"factors": int(best["factors"]), "regularization": float(best["regularization"])}
    model = result.best_model()
    assert (model.factors, model.regularization, model.bias_regularization) == (
        best["factors"], best["regularization"], 3.0)
    assert result.param_names == ["factors", "regularization"]
    json.dumps(result.to_dict())


def test_draws_stay_in_range_and_are_log_uniform():
    rng = np.random.default_rng(0)
    draws = np.array([LogUniform(0.01, 100).sample(rng) for _ in range(4000)])
    assert draws.min() >= 0.01 and draws.max() <= 100
    assert abs(np.mean(draws < 1.0) - 0.5) < 0.03      # half the draws below the geometric midpoint
    ints = {IntUniform(2, 4).sample(rng) for _ in range(200)}
    assert ints == {2, 3, 4}
    u = np.array([Uniform(1, 3).sample(rng) for _ in range(2000)])
    assert abs(np.mean(u < 2.0) - 0.5) < 0.04


def test_progress_is_one_line_per_trial_off_a_terminal():
    train, _ = temporal_split(planted_rank(7, n_users=60, n_items=40))
    out = io.StringIO()
    grid_search(ExplicitALS(iterations=2), {"factors": [2, 3, 4]}, train, progress_file=out, num_threads=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("trial 1/3  factors=2  rmse=") and "best rmse=" in lines[-1]


def test_numerically_failed_trial_is_recorded_not_raised():
    train, _ = temporal_split(planted_rank(8, n_users=60, n_items=40))
    result = grid_search(ExplicitALS(factors=20, iterations=2, bias_regularization=0.0, solver="cholesky"),
                         {"regularization": [0.0, 1.0]}, train, show_progress=False, num_threads=1)
    failed = result.trials[result.trials["error"] != ""]
    assert result.best_params == {"regularization": 1.0}
    assert failed["rmse"].isna().all()


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small_train():
    return temporal_split(planted_rank(9, n_users=40, n_items=30))[0]


def test_unknown_parameter_names_the_model_parameters(small_train):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['lambda_'\] of ExplicitALS.*regularization"):
        random_search(ExplicitALS, {"lambda_": LogUniform(1, 10)}, small_train)


def test_num_threads_is_not_searchable(small_train):
    with pytest.raises(ValueError, match="num_threads is set by the search"):
        grid_search(ExplicitALS, {"num_threads": [1, 2]}, small_train)


def test_rmse_needs_a_rating_model(small_train):
    with pytest.raises(ValueError, match="metric='rmse' needs a rating model.*BPR"):
        grid_search(BPR(iterations=1), {"factors": [2]}, small_train)


def test_temporal_validation_needs_timestamps():
    m = planted_rank(10, n_users=40, n_items=30).user_items()
    no_time = Interactions.from_sparse(m)
    with pytest.raises(ValueError, match="validation='temporal' needs timestamps.*validation='random'"):
        grid_search(ExplicitALS(iterations=1), {"factors": [2]}, no_time)
    result = grid_search(ExplicitALS(iterations=1), {"factors": [2]}, no_time, validation="random",
                         show_progress=False)
    assert result.validation["rule"] == "random"


def test_bad_distributions_and_grids(small_train):
    with pytest.raises(TypeError, match=r"param_distributions\['factors'\] must be"):
        random_search(ExplicitALS, {"factors": 5}, small_train)
    with pytest.raises(TypeError, match=r"param_grid\['factors'\] must be a non-empty list"):
        grid_search(ExplicitALS, {"factors": []}, small_train)
    with pytest.raises(ValueError, match="LogUniform needs low > 0"):
        LogUniform(0, 1)
    with pytest.raises(TypeError, match="estimator must be an mfcore model"):
        grid_search(object(), {"factors": [2]}, small_train)
    with pytest.raises(ValueError, match=r"fit_kwargs may not set \['eval_set'\]"):
        grid_search(ExplicitALS, {"factors": [2]}, small_train, fit_kwargs={"eval_set": small_train})


def test_public_names():
    assert mfcore.tuning.random_search is random_search
