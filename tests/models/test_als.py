"""ExplicitALS and GenreALS: wiring against the NumPy reference, and their own features (shared contract: test_contract.py)."""


import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info

from mfcore import _reference as ref
from mfcore.models import BiasBaseline, ExplicitALS, GenreALS

from tests.tolerances import TOLERANCES

MODELS = [ExplicitALS, GenreALS]


def _initial_items(model, n_items):
    rng = np.random.default_rng(model.random_state)
    return rng.standard_normal((n_items, model.factors)) * model.init_scale


@pytest.mark.parametrize("scaling", ["none", "count"])
def test_explicit_als_epochs_equal_reference_half_sweeps(planted, scaling):
    R, _ = planted
    model = ExplicitALS(factors=4, regularization=0.7, bias_regularization=0.3, iterations=2,
                        regularization_scaling=scaling, dtype="float64", random_state=3, num_threads=2)
    model.fit(R, show_progress=False)
    mu = R.data.mean(dtype=np.float64)
    V, bi = _initial_items(model, R.shape[1]), np.zeros(R.shape[1])
    count = scaling == "count"
    for _ in range(2):
        U, bu = ref.als_half_sweep(R, V, bi, mu, 0.7, 0.3, scale_by_count=count)
        V, bi = ref.als_half_sweep(R.T.tocsr(), U, bu, mu, 0.7, 0.3, scale_by_count=count)
    np.testing.assert_allclose(model.user_factors, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.user_bias, bu, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_bias, bi, rtol=1e-8, atol=1e-10)
    assert model.global_mean == pytest.approx(mu)
    # the logged objective is the reference objective
    obj = ref.als_objective(R, mu, U, bu, V, bi, 0.7, 0.3, scale_by_count=count)
    assert model.history_[-1]["objective"] == pytest.approx(obj, rel=1e-9)


@pytest.mark.parametrize("tau_b", [0.0, 2.0])
def test_genre_als_epochs_equal_reference(planted, tau_b):
    R, genres = planted
    model = GenreALS(factors=3, regularization=1.0, bias_regularization=0.5, iterations=2, dtype="float64",
                     genre_weight=3.0, genre_bias_weight=tau_b, genre_regularization=0.2, random_state=1)
    model.fit(R, item_genres=genres, show_progress=False)
    mu = R.data.mean(dtype=np.float64)
    G = ref.genre_centroid_matrix(genres)
    V, bi = _initial_items(model, R.shape[1]), np.zeros(R.shape[1])
    W, wb = ref.genre_projection(V, G, 0.2), ref.genre_bias_projection(bi, G, 0.2)
    for _ in range(2):
        U, bu = ref.als_half_sweep(R, V, bi, mu, 1.0, 0.5)
        V, bi = ref.als_half_sweep(R.T.tocsr(), U, bu, mu, 1.0, 0.5, prior=G @ W, prior_weight=3.0,
                                   bias_prior=G @ wb if tau_b else None, bias_prior_weight=tau_b)
        W, wb = ref.genre_projection(V, G, 0.2), ref.genre_bias_projection(bi, G, 0.2)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_bias, bi, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.genre_factors, W, rtol=1e-8, atol=1e-10)
    obj = ref.genre_als_objective(R, G, mu, U, bu, V, bi, W, wb if tau_b else None, 1.0, 0.5, 3.0, tau_b, 0.2)
    assert model.history_[-1]["objective"] == pytest.approx(obj, rel=1e-9)


@pytest.mark.parametrize("cls", MODELS)
def test_objective_never_rises_and_beats_bias_baseline(planted, cls):
    R, genres = planted
    model = cls(factors=3, regularization=1.0, iterations=8, num_threads=1, random_state=0)
    model.fit(R, show_progress=False, **({"item_genres": genres} if cls is GenreALS else {}))
    obj = [h["objective"] for h in model.history_]
    assert all(b <= a * (1 + 1e-5) for a, b in zip(obj, obj[1:])), obj   # float32 rounding slack only
    mu, bu, bi = ref.bias_baseline(R)
    users, items = R.nonzero()
    base_rmse = np.sqrt(np.mean((np.asarray(R[users, items]).ravel() - (mu + bu[users] + bi[items])) ** 2))
    assert model.history_[-1]["train_rmse"] < base_rmse


@pytest.mark.parametrize("cls, params", [(ExplicitALS, dict(factors=3)), (GenreALS, dict(factors=3)),
                                         (BiasBaseline, {})], ids=["ExplicitALS", "GenreALS", "BiasBaseline"])
def test_training_loss_can_be_switched_off(planted, cls, params, monkeypatch):
    from mfcore.models import _training

    R, genres = planted
    held_out = R[: R.shape[0] // 2]
    held_out = sp.vstack([held_out, sp.csr_matrix((R.shape[0] - held_out.shape[0], R.shape[1]), dtype=R.dtype)]).tocsr()
    options = {"item_genres": genres} if cls is GenreALS else {}
    passes = []                                              # lengths of the rating passes (training: R.nnz)
    counted = lambda model, pairs, threads, **kw: passes.append(len(pairs[0])) or squared_error(model, pairs, threads, **kw)  # noqa: E731
    squared_error = _training.squared_error
    monkeypatch.setattr(_training, "squared_error", counted)
    on = cls(**params, iterations=3, num_threads=1).fit(R, eval_set=held_out, show_progress=False, **options)
    # BiasBaseline's training loss is a pass over the ratings; the ALS models' comes from the kernel
    assert passes.count(R.nnz) == (3 if cls is BiasBaseline else 0) and passes.count(held_out.nnz) == 3
    assert all({"train_rmse", "objective", "eval_rmse"} <= set(h) for h in on.history_)
    passes.clear()
    off = cls(**params, iterations=3, num_threads=1, calculate_training_loss=False).fit(
        R, eval_set=held_out, show_progress=False, **options)
    assert passes == [held_out.nnz] * 3                      # no pass over the training ratings
    assert all(set(h) == {"epoch", "seconds", "eval_rmse"} for h in off.history_)
    assert [h["eval_rmse"] for h in off.history_] == [h["eval_rmse"] for h in on.history_]
    assert np.array_equal(on.item_factors, off.item_factors) and np.array_equal(on.user_bias, off.user_bias)


def test_blas_is_single_threaded_during_fit(planted):
    R, _ = planted
    seen = []

    def callback(epoch, record, model):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])

    ExplicitALS(factors=3, iterations=2).fit(R, callback=callback, show_progress=False)
    assert seen and all(threads and all(t == 1 for t in threads) for threads in seen), seen


def test_callback_can_stop_and_history_fields(planted):
    R, _ = planted
    eval_set = R.copy()
    model = ExplicitALS(factors=3, iterations=10, num_threads=1).fit(R, eval_set=eval_set, show_progress=False,
                                                      callback=lambda e, rec, m: e == 3)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3]
    for h in model.history_:
        assert set(h) >= {"epoch", "seconds", "train_rmse", "eval_rmse", "objective"}
        assert h["eval_rmse"] == pytest.approx(h["train_rmse"], rel=1e-5)


def test_failed_factorization_names_row_and_epoch():
    # user 1 rated a single item; with no regularization its 2x2 augmented system
    # [v v^T, v; v^T, 1] is singular -> Cholesky fails for that user in epoch 1.
    R = sp.csr_matrix(np.array([[4.0, 3.0, 5.0], [0.0, 2.0, 0.0], [1.0, 0.0, 4.0]], np.float32))
    model = ExplicitALS(factors=1, regularization=0.0, bias_regularization=0.0, iterations=1, dtype="float64")
    with pytest.raises(FloatingPointError, match=r"epoch 1: .* failed for user 1 \(index 1\)"):
        model.fit(R, show_progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"factors": 0}, "factors must be >= 1"),
    ({"factors": 2.5}, "factors must be an integer"),
    ({"regularization": -1.0}, "regularization must be >= 0"),
    ({"solver": "qr"}, "solver must be one of"),
    ({"iterations": -1}, "iterations must be >= 0"),
    ({"regularization_scaling": "log"}, "regularization_scaling must be one of"),
    ({"cg_steps": 0}, "cg_steps must be >= 1"),
    ({"num_threads": -2}, "num_threads must be >= 0"),
])
def test_bad_hyperparameters(planted, kwargs, match):
    R, _ = planted
    with pytest.raises((ValueError, TypeError), match=match):
        ExplicitALS(**kwargs).fit(R, show_progress=False)


def test_bad_training_input():
    with pytest.raises(TypeError, match="must be an mfcore.Interactions or a scipy.sparse"):
        ExplicitALS().fit(np.ones((3, 3)), show_progress=False)
    R = sp.csr_matrix(np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="non-finite value at row 0, column 1"):
        ExplicitALS().fit(R, show_progress=False)
    with pytest.raises(ValueError, match="X has no ratings"):
        ExplicitALS().fit(sp.csr_matrix((2, 2), dtype=np.float32), show_progress=False)
    with pytest.raises(ValueError, match="GenreALS needs item genres"):
        GenreALS().fit(sp.csr_matrix(np.eye(3, dtype=np.float32)), show_progress=False)


def test_genre_input_is_checked_before_the_model_changes(planted):
    R, genres = planted
    model = GenreALS(factors=3, iterations=2, num_threads=1)
    with pytest.raises(ValueError, match="item_genres must have one row per item"):
        model.fit(R, item_genres=genres[:-1], show_progress=False)
    assert model.item_factors is None                        # no half-built model
    model.fit(R, item_genres=genres, show_progress=False)
    before = model.item_factors.copy()
    with pytest.raises(ValueError, match="non-negative finite weights"):
        model.fit(R, item_genres=-genres, show_progress=False)
    assert np.array_equal(model.item_factors, before)       # the fitted model is kept


# ----------------------------------------------------------------- contract
@pytest.fixture(params=MODELS, ids=lambda c: c.__name__)
def fitted(request, planted_with_ids):
    # one thread: these tiny fits only slow down from OpenMP hand-offs on a busy machine
    model = request.param(factors=4, regularization=1.0, iterations=6, num_threads=1, random_state=0)
    return model.fit(planted_with_ids, show_progress=False), planted_with_ids


def test_recommend_batch_items_filter_and_bias_weight(fitted):
    model, data = fitted
    users = data.user_ids[[1, 2, 3]]
    ids, scores = model.recommend(users, N=5)
    assert ids.shape == scores.shape == (3, 5)
    for row, uid in enumerate(users):
        single, _ = model.recommend(uid, N=5)
        np.testing.assert_array_equal(ids[row], single)
    allowed = data.item_ids[:10]
    ids, _ = model.recommend(users[0], N=20, items=allowed, filter_already_liked_items=False)
    assert set(ids.tolist()) == set(allowed.tolist())        # only 10 candidates: list is cut
    blocked = model.recommend(users[0], N=5)[0][:2]
    ids, _ = model.recommend(users[0], N=5, filter_items=blocked)
    assert not set(blocked.tolist()) & set(ids.tolist())
    # bias_weight=0 ranks by the dot product alone
    ids0, scores0 = model.recommend(users[0], N=5, bias_weight=0.0)
    u = model.user_index(users[0])
    dots = model.item_factors.astype(np.float64) @ model.user_factors[u]
    R = data.user_items()
    dots[R.indices[R.indptr[u]:R.indptr[u + 1]]] = -np.inf
    np.testing.assert_array_equal(model.item_index(ids0), np.argsort(-dots, kind="stable")[:5])


def test_recommend_with_user_items_and_recalculate(fitted):
    model, data = fitted
    R = data.user_items()
    u = 4
    row = R[u]
    ids_a, _ = model.recommend(data.user_ids[u], user_items=row, N=6)
    ids_b, _ = model.recommend(data.user_ids[u], N=6)
    np.testing.assert_array_equal(ids_a, ids_b)
    ids_c, scores_c = model.recommend(data.user_ids[u], user_items=row, N=6, recalculate_user=True)
    assert len(ids_c) == 6 and np.all(np.isfinite(scores_c))
    with pytest.raises(ValueError, match="one row per requested user"):
        model.recommend(data.user_ids[u], user_items=R, N=6)


def test_fold_in_reproduces_user_half_sweep(fitted):
    model, data = fitted
    R = data.user_items()
    # one more user half-sweep against the final items, in float64, is what fold-in must give
    U, bu = ref.als_half_sweep(R, model.item_factors, model.item_bias, model.global_mean,
                               model.regularization, model.bias_regularization)
    for u in (0, 9, 33):
        lo, hi = R.indptr[u], R.indptr[u + 1]
        vec, bias = model.fold_in(data.item_ids[R.indices[lo:hi]], R.data[lo:hi])
        np.testing.assert_allclose(vec, U[u], rtol=2e-3, atol=2e-4)
        assert bias == pytest.approx(bu[u], rel=2e-3, abs=2e-4)
        # and after convergence it is close to the trained vector
        np.testing.assert_allclose(vec, model.user_factors[u], atol=0.05)
    with pytest.raises(ValueError, match="same length"):
        model.fold_in(data.item_ids[:3], [4.0, 5.0])
    with pytest.raises(KeyError, match="unknown item"):
        model.fold_in([123456], [4.0])


def test_similar_items_and_users(fitted):
    model, data = fitted
    ids, sims = model.similar_items(data.item_ids[3], N=5)
    assert data.item_ids[3] not in ids and len(ids) == 5
    unit = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    cos = unit @ unit[3]
    cos[3] = -np.inf
    np.testing.assert_allclose(sims, np.sort(cos)[::-1][:5], rtol=1e-5)
    uids, _ = model.similar_users(data.user_ids[0], N=3)
    assert data.user_ids[0] not in uids and len(uids) == 3


def test_explain_sums_to_prediction(fitted):
    model, data = fitted
    uid, iid = data.user_ids[2], data.item_ids[5]
    parts = model.explain(uid, iid)
    assert parts["prediction"] == pytest.approx(model.predict(uid, iid), rel=1e-5)
    if isinstance(model, GenreALS):
        total = sum(parts["genre_dot"].values()) + parts["residual_dot"]
        assert total == pytest.approx(parts["dot"], rel=1e-5, abs=1e-6)
        assert set(parts["genre_dot"]) <= set(data.genre_names)


def test_genre_als_cold_items(planted_with_ids):
    data = planted_with_ids
    model = GenreALS(factors=4, iterations=5, genre_weight=2.0, genre_bias_weight=2.0, num_threads=1).fit(data, show_progress=False)
    vec, bias = model.item_factors_from_genres([["G0", "G2"], ["G1"]])
    assert vec.shape == (2, 4) and np.all(np.isfinite(vec)) and np.all(np.isfinite(bias))
    model.add_items([9001, 9002], [["G0", "G2"], ["G1"]])
    scores = model.predict([data.user_ids[0]] * 2, [9001, 9002])
    assert np.all(np.isfinite(scores))
    np.testing.assert_allclose(model.item_factors[-2:], vec)
    ids, _ = model.recommend(data.user_ids[0], N=model.n_items)
    assert {9001, 9002} <= set(ids.tolist())
    with pytest.raises(KeyError, match="unknown genre 'Nope'"):
        model.item_factors_from_genres([["Nope"]])
    with pytest.raises(ValueError, match="already in the model"):
        model.add_items([9001], [["G0"]])
    # a refused call leaves the model as it was (the ids are checked before anything grows)
    n = model.n_items
    with pytest.raises(ValueError, match="must be unique"):
        model.add_items([9003, 9003], [["G0"], ["G1"]])
    assert model.n_items == n and model.item_factors.shape[0] == n and model.item_bias.shape[0] == n
    assert model._G.shape[0] == n


@pytest.mark.parametrize("cold_bias", ["prior", "ratings"])
def test_genre_als_zero_rating_item_equals_formula(planted_with_ids, cold_bias):
    # An item with no ratings gets v = tau c / (lambda + tau) from the half-sweep itself, with c the centroid
    # of the W refreshed at the end of the previous epoch; its bias is b = tau_b d / (lambda_b + tau_b) likewise
    # ("prior"), or G_i w_cold, the map fitted against the rating loss after the last epoch ("ratings").
    data = planted_with_ids
    R = data.user_items().tolil()
    R[:, 0] = 0
    R = R.tocsr()
    R.eliminate_zeros()
    data0 = type(data)(R, data.user_ids, data.item_ids, data.item_genres, data.genre_names)
    snapshots = []
    model = GenreALS(factors=3, iterations=3, dtype="float64", genre_weight=2.0, regularization=1.5, num_threads=1,
                     genre_bias_weight=1.0, bias_regularization=0.5, cold_bias=cold_bias)
    model.fit(data0, show_progress=False,
              callback=lambda e, rec, m: snapshots.append((m.genre_factors.copy(), m.genre_bias.copy())))
    G = ref.genre_centroid_matrix(data.item_genres)
    g = G[0]
    W_prev, wb_prev = snapshots[-2]
    np.testing.assert_allclose(model.item_factors[0], 2.0 / 3.5 * (g @ W_prev), rtol=1e-8)
    vec, bias = model.item_factors_from_genres(data.item_genres[0])
    # item_factors_from_genres applies the same formula with the final W
    np.testing.assert_allclose(vec[0], 2.0 / 3.5 * (g @ model.genre_factors), rtol=1e-8)
    if cold_bias == "prior":
        assert model.genre_cold_bias_ is None
        assert model.item_bias[0] == pytest.approx(1.0 / 1.5 * (g @ wb_prev), rel=1e-8)
        assert bias[0] == pytest.approx(1.0 / 1.5 * (g @ model.genre_bias), rel=1e-8)
        return
    # the reference solves the rating-loss ridge regression with one design row per training rating
    w = ref.genre_cold_bias(R, model.global_mean, model.user_factors, model.user_bias, G,
                            2.0 / 3.5 * (G @ model.genre_factors), 1.0)
    np.testing.assert_allclose(model.genre_cold_bias_, w, rtol=1e-8, atol=1e-10)
    assert model.item_bias[0] == pytest.approx(g @ w, rel=1e-8)
    assert bias[0] == pytest.approx(g @ w, rel=1e-8)
    # rated items keep the bias of the last half-sweep: the same as with the prior rule
    other = GenreALS(**{**model.get_params(), "cold_bias": "prior"}).fit(data0, show_progress=False)
    np.testing.assert_array_equal(model.item_bias[1:], other.item_bias[1:])
    np.testing.assert_array_equal(model.item_factors, other.item_factors)
    assert model.item_bias[0] != other.item_bias[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("cls", MODELS)
def test_in_kernel_training_loss_equals_a_pass_over_the_ratings(planted, cls, solver, dtype):
    # train_rmse of epoch t (from the item half-sweep's SSE) is the RMSE of the factors the
    # epoch ends with, recomputed here from every training rating with the NumPy reference.
    R, genres = planted
    tol = TOLERANCES[dtype]
    recomputed = []

    def callback(epoch, record, model):
        users, items = R.nonzero()
        r = np.asarray(R[users, items]).ravel()
        pred = ref.predict(model.global_mean, model.user_factors, model.user_bias, model.item_factors,
                           model.item_bias, users, items)
        recomputed.append(float(np.sqrt(np.mean((r - pred) ** 2))))

    model = cls(factors=4, regularization=1.0, iterations=4, num_threads=2, solver=solver, dtype=dtype.__name__)
    model.fit(R, callback=callback, show_progress=False, **({"item_genres": genres} if cls is GenreALS else {}))
    in_kernel = [h["train_rmse"] for h in model.history_]
    assert len(in_kernel) == 4 and len(set(in_kernel)) == 4       # one value per epoch, and they move
    np.testing.assert_allclose(in_kernel, recomputed, rtol=tol["rtol"], atol=0)


def _with_titles(data, years):
    titles = [f"Movie {i} ({y})" if y else f"Movie {i}" for i, y in enumerate(years)]
    return type(data)(data.user_items(), data.user_ids, data.item_ids, data.item_genres, data.genre_names, titles)


def test_genre_als_release_years_from_titles_equal_explicit_features(planted_with_ids):
    # Fitted on data with titles, GenreALS appends the release-year buckets itself: the same model
    # as one given item_features_with_years(...) explicitly (bit for bit), and release_years=False
    # (or item_genres= passed) gives the genres-only model.
    from mfcore._item_features import DEFAULT_YEAR_EDGES
    from mfcore.data import item_features_with_years

    base = planted_with_ids
    n_items = base.user_items().shape[1]
    years = [(1940 + 7 * i) if i % 5 else None for i in range(n_items)]
    data = _with_titles(base, years)
    params = dict(factors=3, iterations=3, genre_weight=2.0, genre_bias_weight=1.0, num_threads=1)
    auto = GenreALS(**params).fit(data, show_progress=False)
    features, names = item_features_with_years(base.item_genres, base.genre_names, data.titles)
    manual = GenreALS(**params).fit(base, item_genres=features, show_progress=False)
    assert auto.genre_names == names and auto.year_edges_ == list(DEFAULT_YEAR_EDGES)
    assert auto.genre_factors.shape[0] == len(base.genre_names) + len(DEFAULT_YEAR_EDGES) + 1
    np.testing.assert_array_equal(auto.item_factors, manual.item_factors)
    np.testing.assert_array_equal(auto.item_bias, manual.item_bias)
    off = GenreALS(release_years=False, **params).fit(data, show_progress=False)
    plain = GenreALS(**params).fit(base, show_progress=False)
    passed = GenreALS(**params).fit(data, item_genres=base.item_genres, show_progress=False)
    for other in (off, passed):
        assert other.year_edges_ is None and other.genre_names[:1] in (["G0"], ["genre_0"])
        np.testing.assert_array_equal(other.item_factors, plain.item_factors)
    assert not np.array_equal(auto.item_factors, plain.item_factors)
    # titles without a year: nothing is appended
    none = GenreALS(**params).fit(_with_titles(base, [None] * n_items), show_progress=False)
    assert none.year_edges_ is None
    np.testing.assert_array_equal(none.item_factors, plain.item_factors)
    with pytest.raises(TypeError, match="release_years must be True or False"):
        GenreALS(release_years="yes", **params).fit(data, show_progress=False)


def test_genre_als_new_items_from_titles_and_save_load(planted_with_ids, tmp_path):
    from mfcore.models import FactorModel

    base = planted_with_ids
    n_items = base.user_items().shape[1]
    data = _with_titles(base, [1950 + i for i in range(n_items)])
    model = GenreALS(factors=3, iterations=2, genre_weight=2.0, genre_bias_weight=1.0, num_threads=1)
    model.fit(data, show_progress=False)
    n_genres = len(base.genre_names)
    # a 1994 drama: the genre column plus the year bucket column "year1990-1994"
    full = np.zeros((1, len(model.genre_names)))
    full[0, 0] = 1.0
    full[0, model.genre_names.index("year1990-1994")] = 1.0
    expected = model.item_factors_from_genres(full)
    for got in (model.item_factors_from_genres(full[:, :n_genres], titles=["New (1994)"]),
                model.item_factors_from_genres([["G0"]], titles=["New (1994)"]),
                model.item_factors_from_genres([["G0", "year1990-1994"]])):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    no_year = model.item_factors_from_genres([["G0"]], titles=["New"])
    assert not np.array_equal(no_year[0], expected[0])
    with pytest.raises(ValueError, match=r"release-year buckets: pass titles="):
        model.item_factors_from_genres(full[:, :n_genres])
    with pytest.raises(ValueError, match="titles has 2 entries, genres 1 rows"):
        model.item_factors_from_genres([["G0"]], titles=["A (1990)", "B (1991)"])
    with pytest.raises(ValueError, match="with titles=, genres must have the"):
        model.item_factors_from_genres(full, titles=["New (1994)"])
    path = model.save(tmp_path / "m.npz")
    loaded = FactorModel.load(path)
    assert loaded.year_edges_ == model.year_edges_ and loaded.genre_names == model.genre_names
    loaded.add_items([99991], [["G0"]], titles=["New (1994)"])
    np.testing.assert_array_equal(loaded.item_factors[-1], expected[0][0])
    plain = GenreALS(factors=3, iterations=2, num_threads=1).fit(base, show_progress=False)
    with pytest.raises(ValueError, match="titles= applies only to a model fitted with release-year"):
        plain.item_factors_from_genres([["G0"]], titles=["New (1994)"])


@pytest.mark.parametrize("edges, message", [([1990.0, 1980.0], "increasing"), (np.arange(40.0), "1 to "),
                                            ([], "1 to "), ([1990.0, np.nan], "non-finite")])
def test_genre_als_model_file_refuses_bad_year_edges(planted_with_ids, edges, message):
    from mfcore._model_file import check_model_state
    from mfcore._persist import ModelFileError

    base = planted_with_ids
    data = _with_titles(base, [1950 + i for i in range(base.user_items().shape[1])])
    model = GenreALS(factors=3, iterations=1, num_threads=1).fit(data, show_progress=False)
    header = {"model": "GenreALS", "params": {"factors": 3}, "attributes": {"global_mean": model.global_mean}}
    arrays = {"user_factors": model.user_factors, "item_factors": model.item_factors,
              "user_bias": model.user_bias, "item_bias": model.item_bias, **model._extra_arrays()}
    check_model_state("m.npz", header, arrays)          # the arrays as saved pass
    arrays["year_edges"] = np.asarray(edges, dtype=np.float64)
    with pytest.raises(ModelFileError, match=message):
        check_model_state("m.npz", header, arrays)
