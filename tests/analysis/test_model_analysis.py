"""mfcore.analysis.models: every data function against hand-computed values on tiny problems."""

import copy
import types

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mfcore import ExplicitALS, GenreALS, Interactions, temporal_split
from mfcore._reference import bias_baseline
from mfcore.analysis import models as M
from mfcore.metrics import precision_at_k
from mfcore.tuning import SearchResult
from .study_data import tiny_movies

@pytest.fixture(scope="module")
def split():
    return temporal_split(tiny_movies())


@pytest.fixture(scope="module")
def als(split):
    return ExplicitALS(factors=3, regularization=1.0, iterations=5, num_threads=1).fit(
        split[0], eval_set=split[1], show_progress=False)


@pytest.fixture(scope="module")
def genre_als(split):
    return GenreALS(factors=3, regularization=1.0, iterations=5, num_threads=1).fit(split[0], show_progress=False)


# ----------------------------------------------------------------------------- learning curves
def test_learning_curve_is_the_history(als):
    frame = M.learning_curve(als, label="ALS")
    assert list(frame.columns) == ["model", "epoch", "train_rmse", "heldout_rmse", "objective", "seconds"]
    assert frame["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert frame["heldout_rmse"].tolist() == [h["eval_rmse"] for h in als.history_]
    assert frame["objective"].tolist() == [h["objective"] for h in als.history_]
    assert (frame["model"] == "ALS").all()


def test_bias_baseline_curve_matches_the_reference(split):
    train, test = split
    frame = M.bias_baseline_curve(train, test, regularization=2.0, iterations=6)
    mu, bu, bi = bias_baseline(train.user_items(), reg_user=2.0, reg_item=2.0, iterations=6)
    pred_train = mu + bu[train.users] + bi[train.items]
    pred_test = mu + bu[test.users] + bi[test.items]
    assert frame["train_rmse"].iloc[-1] == pytest.approx(np.sqrt(np.mean((train.ratings - pred_train) ** 2)), rel=1e-9)
    assert frame["heldout_rmse"].iloc[-1] == pytest.approx(np.sqrt(np.mean((test.ratings - pred_test) ** 2)),
                                                           rel=1e-9)
    sse = np.sum((train.ratings - pred_train) ** 2)
    assert frame["objective"].iloc[-1] == pytest.approx(sse + 2.0 * (bu @ bu + bi @ bi), rel=1e-9)
    # block coordinate descent: the objective never increases
    assert (np.diff(frame["objective"]) <= 1e-9 * frame["objective"].iloc[0]).all()
    assert frame["model"].iloc[0] == "bias baseline (lambda=2)"


def test_learning_curve_summary_by_hand():
    frame = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 2, "epoch": [1, 2, 3, 1, 2],
                          "train_rmse": [0.9, 0.8, 0.7, 1.0, 0.95], "heldout_rmse": [1.0, 0.9, 0.95, np.nan, np.nan],
                          "objective": [10.0, 9.0, 9.5, 5.0, 4.0], "seconds": [0.1] * 5})
    out = M.learning_curve_summary(frame)
    assert out["a"] == {"epochs": 3, "train_rmse": 0.7, "heldout_rmse": 0.95, "best_heldout_rmse": 0.9,
                        "best_epoch": 2, "gap": pytest.approx(0.25), "objective_decreasing": False}
    assert out["b"]["best_epoch"] == 0 and np.isnan(out["b"]["best_heldout_rmse"])
    assert out["b"]["objective_decreasing"] is True


def test_generalization_gap_fits_each_size(split):
    train, test = split
    frame = M.generalization_gap(ExplicitALS(regularization=1.0, iterations=3, num_threads=1), train, test, (1, 4))
    assert frame["model"].unique().tolist() == ["K=1", "K=4"]
    assert frame.groupby("factors").size().to_dict() == {1: 3, 4: 3}
    np.testing.assert_allclose(frame["gap"], frame["heldout_rmse"] - frame["train_rmse"])
    ref = ExplicitALS(factors=4, regularization=1.0, iterations=3, num_threads=1).fit(train, eval_set=test,
                                                                                    show_progress=False)
    assert frame[frame["factors"] == 4]["heldout_rmse"].tolist() == [h["eval_rmse"] for h in ref.history_]


# ----------------------------------------------------------------------------- tuning tables
def _grid_result(greater=False):
    trials = pd.DataFrame({"trial": range(6), "factors": [10, 10, 10, 30, 30, 30],
                           "regularization": [1.0, 5.0, 15.0, 1.0, 5.0, 15.0],
                           "rmse": [0.81, 0.80, 0.79, 0.83, np.nan, 0.78],
                           "train_rmse": [0.72, 0.75, 0.79, 0.65, np.nan, 0.75], "epochs": [5] * 6,
                           "epochs_run": [5] * 6, "seconds": [0.1] * 6, "error": [""] * 4 + ["failed", ""]})
    return SearchResult(trials=trials, metric="rmse", greater_is_better=greater, best_params={}, best_score=0.78,
                        best_epochs=5, base_params={"factors": 10}, estimator_class=ExplicitALS, search="grid",
                        early_stopping_rounds=None)


def test_grid_table_and_search_table():
    result = _grid_result()
    grid = M.grid_table(result)
    assert grid.index.tolist() == [10, 30] and grid.columns.tolist() == [1.0, 5.0, 15.0]
    assert grid.loc[30, 15.0] == 0.78 and np.isnan(grid.loc[30, 5.0]) and grid.loc[10, 5.0] == 0.80
    table = M.search_table(result)
    assert table.loc[table["best"], ["factors", "regularization"]].values.tolist() == [[30, 15.0]]
    assert table["best"].sum() == 1
    with pytest.raises(ValueError, match="'alpha' was not searched"):
        M.grid_table(result, rows="alpha")


# ----------------------------------------------------------------------------- precision curve
def _planted_ranking():
    """A K=1 model ranking items 0 > 1 > ... > 5 for every user, and a split with known hits."""
    model = types.SimpleNamespace(user_factors=np.ones((3, 1), np.float32),
                                  item_factors=np.arange(6, 0, -1, dtype=np.float32)[:, None],
                                  item_bias=np.zeros(6, np.float32), n_users=3, n_items=6)
    ids = np.arange(6)
    #        user 0: trained on item 0; test items 1 and 3 liked (5, 4.5), item 4 disliked (2)
    #        user 1: trained on item 2; test item 5 liked;  user 2: only a disliked test item
    train = Interactions.from_arrays([0, 1, 2], [0, 2, 1], [4.0, 4.0, 4.0], user_ids=[0, 1, 2], item_ids=ids)
    test = Interactions.from_arrays([0, 0, 0, 1, 2], [1, 3, 4, 5, 0], [5.0, 4.5, 2.0, 4.0, 1.0], user_ids=[0, 1, 2],
                                    item_ids=ids)
    return model, train, test


def test_precision_curve_on_a_planted_ranking():
    model, train, test = _planted_ranking()
    frame = M.precision_curve({"planted": model}, train, test, max_k=6, threshold=4.0, num_threads=1)
    # user 0 sees [1, 2, 3, 4, 5, -]: hits 1,0,1,0,0,0; user 1 sees [0, 1, 3, 4, 5, -]: hit at rank 5
    user0 = np.array([1 / 1, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 2 / 6])
    user1 = np.array([0, 0, 0, 0, 1 / 5, 1 / 6])
    np.testing.assert_allclose(frame["precision"], (user0 + user1) / 2)
    assert frame["k"].tolist() == list(range(1, 7)) and (frame["n_users"] == 2).all()
    assert M.precision_summary(frame, ks=(1, 5, 100)) == {"planted": {1: 0.5, 5: pytest.approx(0.3)}}


def test_precision_curve_agrees_with_metrics(split, als):
    train, test = split
    frame = M.precision_curve({"ALS": als}, train, test, max_k=8, num_threads=1)
    from mfcore.metrics import relevant_items
    from mfcore.tuning import top_items

    rel = relevant_items(test.user_items(), 4.0)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    rec = top_items(als, train.user_items(), users, 8)
    for k in (1, 3, 8):
        assert frame.loc[frame["k"] == k, "precision"].item() == pytest.approx(precision_at_k(rec, rel[users], k))


# ----------------------------------------------------------------------------- finding movies, the dummy user
def test_find_movies_by_title_and_id(split):
    train = split[0]
    found = M.find_movies(train, ["The Matrix", "terminator 2", "Blade Runner (1982)", "Heat", 61])
    assert found["title"].tolist() == ["Matrix, The (1999)", "Terminator 2: Judgment Day (1991)",
                                       "Blade Runner (1982)", "Heat (1995)", "Platoon (1986)"]
    assert found["item_id"].tolist() == [1, 11, 21, 81, 61]


def test_unknown_movie_is_named_with_close_titles(split):
    with pytest.raises(KeyError, match=r"movie 'The Matrx' is not in the data; closest titles: 'the matrix'"):
        M.find_movies(split[0], ["The Matrx"])
    with pytest.raises(KeyError, match="movie id 999 is not in the data"):
        M.find_movies(split[0], [999])
    with pytest.raises(KeyError, match="'Solaris' is not in the data"):
        M.dummy_user_recommendations(_quick_model(split), split[0], ratings={"The Matrix": 5, "Solaris": 4})


def _quick_model(split):
    return ExplicitALS(factors=2, iterations=1, num_threads=1).fit(split[0], show_progress=False)


def test_default_dummy_user_keeps_the_movies_present(split, als):
    user = M.dummy_user(als, split[0])
    assert user.rated["title"].tolist() == ["Matrix, The (1999)", "Terminator 2: Judgment Day (1991)",
                                            "Blade Runner (1982)"]
    vec, bias = als.fold_in([1, 11, 21], [5.0, 5.0, 5.0])
    np.testing.assert_allclose(user.vector, vec, rtol=1e-6)
    assert user.bias == pytest.approx(bias)


def test_default_dummy_user_skips_absent_movies_but_explicit_ones_must_exist(split, als):
    train = split[0]
    titles = np.array(train.titles, dtype=object)
    titles[2] = "Some Other Film (1982)"                 # no Blade Runner in this catalogue
    renamed = Interactions(train.users, train.items, train.ratings, train.timestamps, user_ids=train.user_ids,
                           item_ids=train.item_ids, item_genres=train.item_genres, genre_names=train.genre_names,
                           titles=titles)
    assert M.dummy_user(als, renamed).rated["query"].tolist() == ["The Matrix", "Terminator 2"]
    with pytest.raises(KeyError, match="movie 'Blade Runner' is not in the data"):
        M.dummy_user(als, renamed, ratings={"The Matrix": 5.0, "Blade Runner": 5.0})
    titles[[0, 1]] = ["A (1990)", "B (1991)"]
    none_left = Interactions(train.users, train.items, train.ratings, user_ids=train.user_ids,
                             item_ids=train.item_ids, titles=titles)
    with pytest.raises(KeyError, match="none of the default dummy user's movies"):
        M.dummy_user(als, none_left)


def test_default_dummy_user_on_ml_latest_small(ml_small_path):
    from mfcore import load_movielens

    data = load_movielens(ml_small_path)
    found = M.find_movies(data, list(M.DEFAULT_DUMMY_RATINGS))
    assert found["title"].tolist() == ["Matrix, The (1999)", "Terminator 2: Judgment Day (1991)",
                                       "Blade Runner (1982)"]
    assert found["item_id"].tolist() == [2571, 589, 541]


def test_dummy_user_scores_decompose_and_match_recommend(split, als):
    train = split[0]
    frame = M.dummy_user_recommendations(als, train, bias_weights=(1.0, 0.05), N=5)
    user = M.dummy_user(als, train)
    np.testing.assert_allclose(frame["score"], frame["weighted_bias"] + frame["dot"], rtol=1e-12)
    np.testing.assert_allclose(frame["weighted_bias"], frame["bias_weight"] * frame["item_bias"], rtol=1e-12)
    np.testing.assert_allclose(frame["prediction"],
                               als.global_mean + user.bias + frame["item_bias"] + frame["dot"], rtol=1e-12)
    assert not set(frame["item_id"]) & {1, 11, 21}
    row = sp.csr_matrix((np.full(3, 5.0, np.float32), [0, 1, 2], [0, 3]), shape=(1, als.n_items))
    for alpha, part in frame.groupby("bias_weight"):
        ids, scores = als.recommend(0, user_items=row, recalculate_user=True, N=5, bias_weight=alpha)
        assert part["item_id"].tolist() == ids.tolist()
        np.testing.assert_allclose(part["score"] + als.global_mean + user.bias, scores, rtol=1e-5)
    assert frame.attrs["rated"][0]["title"] == "Matrix, The (1999)"


def test_decomposition_summary_by_hand():
    frame = pd.DataFrame({"bias_weight": [1.0, 1.0, 0.5], "rank": [2, 1, 1], "title": ["b", "a", "c"],
                          "item_bias": [0.8, 0.6, 0.4], "weighted_bias": [0.8, 0.6, 0.2], "dot": [0.2, -0.2, 0.0]})
    out = M.decomposition_summary(frame)
    assert out[1.0]["bias_share"] == pytest.approx((0.8 / 1.0 + 0.6 / 0.8) / 2)
    assert out[1.0]["titles"] == ["a", "b"] and out[1.0]["mean_item_bias"] == pytest.approx(0.7)
    assert out[0.5]["bias_share"] == 1.0


# ----------------------------------------------------------------------------- cold start
def test_cold_start_contributions_sum_to_the_score(split, genre_als):
    cold = M.cold_start(genre_als, split[0])
    assert cold.movies["movie"].tolist() == ["Toy Story 5", "Alien: Romulus"]
    sums = cold.contributions.groupby("movie", sort=False)[["dot", "bias"]].sum()
    np.testing.assert_allclose(sums["dot"], cold.movies["dot"])
    np.testing.assert_allclose(sums["bias"], cold.movies["item_bias"])
    user = M.dummy_user(genre_als, split[0])
    vecs, biases = genre_als.item_factors_from_genres([["Children", "Comedy"], ["Horror", "Sci-Fi"]])
    np.testing.assert_allclose(cold.movies["dot"], vecs.astype(np.float64) @ user.vector, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cold.movies["item_bias"], biases, rtol=1e-5, atol=1e-7)


def test_cold_start_for_a_training_user_matches_add_items_and_explain(split, genre_als):
    train = split[0]
    user_id = train.user_ids[3]
    new = {"New A": ["War", "Comedy"], "New B": ["Horror"]}
    cold = M.cold_start(genre_als, train, new_movies=new, user=user_id)
    grown = copy.deepcopy(genre_als).add_items([1001, 1002], [["War", "Comedy"], ["Horror"]])
    np.testing.assert_allclose(grown.predict([user_id, user_id], [1001, 1002]), cold.movies["prediction"],
                               rtol=1e-5)
    # explain() gives each genre's share of u . c (the centroid); the cold vector is s * c
    s = genre_als.genre_weight / (genre_als.regularization + genre_als.genre_weight)
    shares = grown.explain(user_id, 1001)["genre_dot"]
    part = cold.contributions[cold.contributions["movie"] == "New A"].set_index("genre")["dot"]
    for genre, value in shares.items():
        assert part[genre] == pytest.approx(s * value, rel=1e-5, abs=1e-9)


def test_cold_start_rejects_unknown_genres_and_plain_models(split, genre_als, als):
    with pytest.raises(KeyError, match=r"new movie 'X': unknown genre\(s\) \['Western'\]"):
        M.cold_start(genre_als, split[0], new_movies={"X": ["Western"]})
    with pytest.raises(TypeError, match="cold_start needs a GenreALS model"):
        M.cold_start(als, split[0])


# ----------------------------------------------------------------------------- polarization
def test_polarizing_items_order(split):
    train = split[0]
    model = ExplicitALS(factors=2, iterations=1, num_threads=1).fit(train, show_progress=False)
    n = model.n_items
    V = np.zeros((n, 2), np.float32)
    V[:, 0] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 30, 3, 5]   # item 9 (3 ratings) would win without min_ratings
    model.item_factors = V
    model.item_bias = np.array([0.1, 0.9, 0.2, 0.9, 0.3, 0.0, 0.5, 0.4, 0.6, 2.0, 0.7, 0.8], np.float32)
    frame = M.polarizing_items(model, train, n=4, min_ratings=5)
    norm = frame[frame["ranking"] == "norm"]
    bias = frame[frame["ranking"] == "bias"]
    assert norm["item"].tolist() == [5, 7, 4, 8]        # norms 9, 6, 5, 5 (tie: lower index first)
    assert bias["item"].tolist() == [1, 3, 11, 10]      # biases .9, .9 (tie), .8, .7
    assert norm["rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(norm["norm"], [9, 6, 5, 5])
    assert (frame["n_ratings"] >= 5).all()
    assert M.polarizing_items(model, train, n=1, min_ratings=0)["item"].tolist() == [9, 9]


# ----------------------------------------------------------------------------- latent space
def _hand_model(train, vectors):
    model = ExplicitALS(factors=2, iterations=1, num_threads=1).fit(train, show_progress=False)
    model.item_factors = np.asarray(vectors, np.float32)
    return model


def test_genre_centroid_similarity_by_hand(split):
    train = split[0]
    vectors = np.zeros((12, 2))
    vectors[[4, 5]] = [1, 0]          # Horror movies point along x
    vectors[[3]] = [0, 2]             # the only Children movie points along y
    vectors[[6]] = [-1, 0]            # War points against Horror
    sim = M.genre_centroid_similarity(_hand_model(train, vectors), train, n_items=12, center=False, min_movies=1, min_ratings=1)
    cos = sim.set_index(["genre_a", "genre_b"])["cosine"]
    assert cos["Horror", "War"] == pytest.approx(-1.0)
    assert cos["Horror", "Children"] == pytest.approx(0.0, abs=1e-12)
    assert cos["War", "Horror"] == pytest.approx(-1.0)
    # Thriller: movies 0, 2, 4, 8, 11 -> centroid (1/5, 0): same direction as Horror
    assert cos["Horror", "Thriller"] == pytest.approx(1.0)
    assert sim.set_index(["genre_a", "genre_b"]).loc[("Horror", "Thriller"), ["n_a", "n_b"]].tolist() == [2, 5]
    summary = M.genre_pair_summary(sim, pairs=[("Horror", "Thriller"), ("War", "Horror")], n=2)
    assert summary["pairs"]["War/Horror"]["cosine"] == pytest.approx(-1.0)
    assert summary["farthest"][0][1] == pytest.approx(-1.0)
    assert summary["n_pairs"] == 21


def test_centering_removes_the_shared_direction(split):
    train = split[0]
    rng = np.random.default_rng(1)
    vectors = np.array([10.0, 0.0]) + rng.normal(0, 1, (12, 2))
    model = _hand_model(train, vectors)
    raw = M.genre_centroid_similarity(model, train, n_items=12, center=False, min_movies=1, min_ratings=1)
    centred = M.genre_centroid_similarity(model, train, n_items=12, center=True, min_movies=1, min_ratings=1)
    assert raw["cosine"].min() > 0.9              # everything shares the offset
    assert centred["cosine"].min() < 0            # what is left differs between genres
    V = model.item_factors.astype(np.float64)
    V = V - V.mean(0)
    horror = V[[4, 5]].mean(0)
    war = V[[6]].mean(0)
    expected = horror @ war / np.linalg.norm(horror) / np.linalg.norm(war)
    assert centred.set_index(["genre_a", "genre_b"])["cosine"]["Horror", "War"] == pytest.approx(expected)


def test_genre_labels_pick_the_rarest_highlighted_genre(split):
    train = split[0]
    items = np.arange(12)
    labels, present = M._genre_labels(train, items, ("Horror", "Thriller", "War", "Western"))
    assert present == ["Horror", "Thriller", "War"]
    # Horror|Thriller movies count as Horror (2 Horror movies vs 5 Thriller)
    assert labels[4] == "Horror" and labels[0] == "Thriller" and labels[6] == "War" and labels[3] == "other"


def test_item_map_embeds_the_most_rated(split, als):
    train = split[0]
    frame = M.item_map(als, train, n_items=8, min_ratings=1, num_threads=1)
    counts = np.bincount(train.items, minlength=train.n_items)
    assert len(frame) == 8
    assert set(frame["item"]) == set(np.argsort(-counts, kind="stable")[:8])
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert frame["x"].std() > 0
    again = M.item_map(als, train, n_items=8, min_ratings=1, num_threads=1)
    np.testing.assert_array_equal(frame[["x", "y"]], again[["x", "y"]])     # seeded
