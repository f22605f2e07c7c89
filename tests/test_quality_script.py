"""benchmarks/quality.py: the new rows (GenreALS, class defaults, side-information peers) on synthetic data.

Nothing is timed and no peer library is needed: the peer adapters that need a
library are only checked for their index bookkeeping.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import _peers, quality
from mfcore import make_movielens_like
from mfcore.data.split import random_split, temporal_split
from mfcore.models import ExplicitALS, GenreALS


@pytest.fixture(scope="module")
def data():
    return make_movielens_like(n_users=60, n_items=80, n_ratings=1500, random_state=3)


def test_genre_adapter_is_genre_als_at_defaults(data):
    train, test = temporal_split(data, 0.2)
    u, i = np.asarray(test.users), np.asarray(test.items)
    pred = _peers.fit_mfcore_genre(train.user_items(), {}, 1, item_genres=data.item_genres)(u, i)
    model = GenreALS(num_threads=1, random_state=0).fit(train.user_items(), item_genres=data.item_genres,
                                                        show_progress=False)
    np.testing.assert_allclose(pred, model.predict(u, i, clip=False), rtol=1e-6)
    with pytest.raises(_peers.PeerUnavailable, match="item_genres"):
        _peers.fit_mfcore_genre(train.user_items(), {}, 1)


def test_explicit_defaults_adapter_uses_class_defaults(data):
    train, test = temporal_split(data, 0.2)
    u, i = np.asarray(test.users), np.asarray(test.items)
    pred = _peers.fit_mfcore_explicit_params(train.user_items(), {}, 1)(u, i)
    model = ExplicitALS(num_threads=1, random_state=0).fit(train.user_items(), show_progress=False)
    np.testing.assert_allclose(pred, model.predict(u, i), rtol=1e-6)


def test_evaluate_lib_passes_genres_and_scores_test(data, monkeypatch):
    train, test = random_split(data, 0.2, random_state=0)
    vtrain, valid = random_split(train, 0.2, random_state=1)
    monkeypatch.setitem(quality.GRIDS, "mfcore-genre", [{"regularization": 1.0, "genre_weight": 100.0},
                                                        {"regularization": 50.0, "genre_weight": 1.0}])
    monkeypatch.setitem(quality.STAGE2, "mfcore-genre", lambda best: [])
    res = quality.evaluate_lib("mfcore-genre", train, vtrain, valid, test, 1, lambda m: None,
                               item_genres=data.item_genres)
    assert res["grid_size"] == 2
    best = min(res["grid"], key=lambda g: g["valid_rmse"])
    assert res["best_params"] == best["params"]
    assert np.isfinite(res["test_rmse"]) and np.isfinite(res["test_mae"]) and res["test_mae"] <= res["test_rmse"]
    d = quality.evaluate_defaults("mfcore-genre", train, vtrain, valid, test, 1, lambda m: None,
                                  item_genres=data.item_genres)
    assert d["lib"] == "mfcore-genre-defaults" and np.isfinite(d["test_rmse"])


def test_compact_maps_drop_empty_rows_and_columns():
    X = sp.csr_matrix(np.array([[0, 4.0, 0, 3.0], [0, 0, 0, 0], [5.0, 0, 0, 1.0]]))
    G = sp.csr_matrix(np.eye(4))
    C, umap, imap, G2, keep_i = _peers._compact(X, G)
    assert C.shape == (2, 3)
    assert umap.tolist() == [0, -1, 1] and imap.tolist() == [0, 1, -1, 2]
    assert keep_i.tolist() == [True, True, False, True]
    dense = C.toarray()
    assert dense[0].tolist() == [0, 4.0, 3.0] and dense[1].tolist() == [5.0, 0, 1.0]


def test_parser_knows_the_new_options():
    args = quality.build_parser().parse_args(["--split", "random", "--seed", "7", "--cold-seeds", "42,1",
                                              "--libs", "mfcore,mfcore-genre"])
    assert args.split == "random" and args.seed == 7 and args.cold_seeds == "42,1"
    with pytest.raises(SystemExit):
        quality.build_parser().parse_args(["--split", "leave-one-out"])
    for lib in ("mfcore-genre", "cmfrec-genre", "cmfrec-omf", "surprise-svdpp"):
        assert lib in _peers.RATING_MODELS and lib in quality.GRIDS and lib in quality.STAGE2


def test_ranking_parser_and_genre_rows():
    from benchmarks import ranking_quality

    args = ranking_quality.build_parser().parse_args(["--split", "random", "--seed", "3"])
    assert args.split == "random" and args.seed == 3
    for key in ("lightfm-bpr-genres", "lightfm-warp-genres", "mfcore-ials-genres"):
        assert ranking_quality.ROWS[key][2] in _peers.RANKING_USES_GENRES and key in ranking_quality.DEFAULTS
    assert "cornac-bpr" in ranking_quality.DEFAULTS and ranking_quality.ROWS["cornac-bpr"][2] in _peers.RANKING_MODELS
    # the genre-prior row's defaults are the class defaults, shown by name
    assert "genre_share=" in ranking_quality._setting({"factors": 64}, "mfcore-ials-genres")


def test_mfcore_genre_prior_adapter_scores_unrated_items_from_genres(data):
    X = data.user_items().tolil()
    X[:, 0] = 0                                   # item 0: no training rating at all
    X = X.tocsr()
    X.eliminate_zeros()
    params = {"factors": 4, "iterations": 2, "genre_share": 0.5, "seed": 0}
    U, V, b = _peers.rank_mfcore_implicit_als_genres(X, params, 1, item_genres=data.item_genres)
    assert U.shape == (data.n_users, 4) and V.shape == (data.n_items, 4) and b.shape == (data.n_items,)
    assert b[0] == 0.0 and b.max() > 0                     # the popularity bias: none for the unrated item
    assert np.all(np.isfinite(V)) and np.any(V[0] != 0)   # the genre centroid reaches the unrated item
    with pytest.raises(_peers.PeerUnavailable, match="item_genres"):
        _peers.rank_mfcore_implicit_als_genres(X, params, 1)


def test_cornac_bpr_adapter_keeps_every_user_and_item(data):
    pytest.importorskip("cornac")
    X = data.user_items()
    U, V, b = _peers.rank_cornac_bpr(X, {"factors": 4, "iterations": 2, "learning_rate": 0.05,
                                         "regularization": 0.01, "seed": 0}, 1)
    assert U.shape == (data.n_users, 4) and V.shape == (data.n_items, 4) and b.shape == (data.n_items,)
    assert np.all(np.isfinite(U)) and np.all(np.isfinite(V)) and np.any(b != 0)


def test_lightfm_genre_adapter_scores_unrated_items_from_genres(data):
    pytest.importorskip("lightfm")
    X = data.user_items().tolil()
    X[:, 0] = 0                                   # item 0: no training rating at all
    X = X.tocsr()
    X.eliminate_zeros()
    U, V, b = _peers.rank_lightfm_genres(X, {"factors": 4, "loss": "warp", "epochs": 2, "seed": 0}, 1,
                                         item_genres=data.item_genres)
    assert U.shape == (data.n_users, 4) and V.shape == (data.n_items, 4) and b.shape == (data.n_items,)
    assert np.all(np.isfinite(V)) and np.any(V[0] != 0)   # the genre embeddings reach the unrated item


def test_year_rows_are_wired():
    assert "mfcore-genre-years" in _peers.USES_GENRES and "mfcore-genre-years" in _peers.USES_YEARS
    assert "mfcore-genre-years" in quality.DEFAULT_ROWS and "mfcore-genre-years" in quality.GRIDS


def test_genre_defaults_on_interactions_rows(data):
    # the "defaults" rows fit GenreALS on the Interactions itself (release-year buckets from the
    # titles, raw ids) and score index pairs: the same numbers as a direct fit predicting raw ids
    assert data.titles is not None
    train, test = random_split(data, 0.2, random_state=0)
    vtrain, valid = random_split(train, 0.2, random_state=1)
    d = quality.evaluate_defaults("mfcore-genre-years", train, vtrain, valid, test, 1, lambda m: None)
    model = GenreALS(num_threads=1, random_state=0).fit(train, show_progress=False)
    assert model.year_edges_ is not None
    u, i, y = quality._pairs(test)
    pred = model.predict(np.asarray(data.user_ids)[u], np.asarray(data.item_ids)[i], clip=False)
    assert d["test_rmse"] == pytest.approx(float(np.sqrt(np.mean((y - pred) ** 2))), rel=1e-6)
    cold = quality.cold_start(data, 1, lambda m: None, seed=0)
    names = [r["model"] for r in cold["rows"]]
    assert any("release-year buckets" in n for n in names) and any("cold_bias='prior'" in n for n in names)
