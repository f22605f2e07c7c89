"""Tests for mfcore.data.synthetic: shape invariants, determinism, planted structure, CSV writer."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mfcore.data.interactions import Interactions
from mfcore.data.synthetic import GENRES, PRESETS, make_movielens_like, write_ratings_csv

SMALL = {"n_users": 300, "n_items": 400, "n_ratings": 24_000}
HALF_STARS = np.arange(1, 11) / 2


@pytest.fixture(scope="module")
def small():
    return make_movielens_like(**SMALL, random_state=7, return_truth=True)


def _arrays(d):
    return d.users, d.items, d.ratings, d.timestamps


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_data():
    a = make_movielens_like(**SMALL, random_state=3)
    b = make_movielens_like(**SMALL, random_state=3)
    for x, y in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(x, y)
    assert (a.item_genres != b.item_genres).nnz == 0
    assert list(a.titles) == list(b.titles)


def test_different_seed_gives_different_data():
    a = make_movielens_like(**SMALL, random_state=3)
    b = make_movielens_like(**SMALL, random_state=4)
    assert len(a) == len(b)
    assert not np.array_equal(a.items, b.items)
    assert not np.array_equal(a.ratings, b.ratings)
    assert not np.array_equal(a.timestamps, b.timestamps)


def test_generator_seed_accepted_and_none_is_fresh():
    a = make_movielens_like(**SMALL, random_state=np.random.default_rng(5))
    b = make_movielens_like(**SMALL, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a.ratings, b.ratings)
    c = make_movielens_like(**SMALL, random_state=None)
    d = make_movielens_like(**SMALL, random_state=None)
    assert not np.array_equal(c.items, d.items)


# ----------------------------------------------------------------------------- shape invariants


def test_default_is_the_small_preset():
    d = make_movielens_like()
    assert (d.n_users, d.n_items, len(d)) == (2_000, 1_500, 150_000)
    assert isinstance(d, Interactions)
    assert d.users.dtype == np.int32 and d.items.dtype == np.int32
    assert d.ratings.dtype == np.float32 and d.timestamps.dtype == np.int64
    np.testing.assert_array_equal(d.user_ids, np.arange(1, 2_001))
    np.testing.assert_array_equal(d.item_ids, np.arange(1, 1_501))


def test_presets():
    assert PRESETS["32m"] == {"n_users": 200_948, "n_items": 87_585, "n_ratings": 32_000_204}
    assert PRESETS["small"] == {"n_users": 2_000, "n_items": 1_500, "n_ratings": 150_000}
    d = make_movielens_like(scale="small", n_users=100, n_ratings=3_000)  # explicit values override
    assert (d.n_users, d.n_items, len(d)) == (100, 1_500, 3_000)


def test_counts_and_pairs(small):
    d, _ = small
    assert (d.n_users, d.n_items, len(d)) == (300, 400, 24_000)
    per_user = np.bincount(d.users, minlength=d.n_users)
    assert per_user.min() >= 20
    assert per_user.max() <= 200  # max_user_fraction=0.5 of 400 items
    key = d.users.astype(np.int64) * d.n_items + d.items
    assert np.unique(key).size == key.size  # no duplicate (user, item)
    assert np.all(np.diff(key) > 0)  # sorted by (user, item) like ratings.csv


@pytest.fixture(scope="module")
def sparse():
    return make_movielens_like(n_users=1_000, n_items=3_000, n_ratings=60_000, random_state=1)


def test_user_activity_is_heavy_tailed(sparse):
    d = sparse
    per_user = np.bincount(d.users, minlength=d.n_users)
    assert per_user.max() >= 4 * np.median(per_user)
    assert np.mean(per_user) > np.median(per_user)  # right-skewed


def test_ratings_are_half_stars_with_mode_four(small):
    d, _ = small
    assert np.all(np.isin(d.ratings, HALF_STARS))
    counts = np.array([(d.ratings == v).sum() for v in HALF_STARS])
    assert HALF_STARS[np.argmax(counts)] == 4.0
    share = dict(zip(HALF_STARS, counts / counts.sum()))
    # MovieLens: 4.0 > 3.0 > {5.0, 3.5} > the rest; whole stars are preferred.
    assert share[4.0] > share[3.0] > share[4.5]
    assert share[3.0] > share[3.5] and share[3.0] > share[2.5]
    assert 3.3 < d.global_mean < 3.8


def test_timestamps_in_range(small):
    d, _ = small
    lo = np.datetime64("1995-01-01T00:00:00", "s").astype(np.int64)
    hi = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64)
    assert d.timestamps.min() >= lo and d.timestamps.max() < hi
    # per-user windows: most users rate within a much shorter span than the whole range
    order = np.lexsort((d.timestamps, d.users))
    u, t = d.users[order], d.timestamps[order]
    first = np.r_[0, np.flatnonzero(np.diff(u)) + 1]
    last = np.r_[first[1:] - 1, len(u) - 1]
    spans = t[last] - t[first]
    assert np.median(spans) < 0.1 * (hi - lo)
    # ratings before MovieLens introduced half stars (2003-02) are whole stars
    early = d.timestamps < np.datetime64("2003-02-11", "s").astype(np.int64)
    assert early.any() and np.all(d.ratings[early] == np.round(d.ratings[early]))


def test_item_popularity_is_skewed(sparse):
    d = sparse
    counts = np.sort(np.bincount(d.items, minlength=d.n_items))[::-1]
    top1 = counts[: d.n_items // 100].sum() / counts.sum()
    top10 = counts[: d.n_items // 10].sum() / counts.sum()
    assert top1 > 0.08  # 8x their uniform share
    assert top10 > 0.35


def test_genres(small):
    d, _ = small
    assert d.genre_names == list(GENRES) and len(GENRES) == 19
    g = sp.csr_matrix(d.item_genres)
    assert g.shape == (d.n_items, 19)
    assert np.all(g.data == 1.0)
    per_item = np.diff(g.indptr)
    assert per_item.min() >= 0 and np.mean(per_item >= 1) > 0.9
    assert np.mean(per_item >= 2) > 0.2  # multi-genre items
    assert all(t.startswith("Synthetic Movie ") for t in d.titles)


# ----------------------------------------------------------------------------- planted structure


def _bias_fit(users, items, ratings, n_users, n_items, reg=5.0, sweeps=10):
    mu = ratings.mean(dtype=np.float64)
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    cu = np.bincount(users, minlength=n_users)
    ci = np.bincount(items, minlength=n_items)
    r = ratings.astype(np.float64) - mu
    for _ in range(sweeps):
        bu = np.bincount(users, r - bi[items], minlength=n_users) / (cu + reg)
        bi = np.bincount(items, r - bu[users], minlength=n_items) / (ci + reg)
    return mu, bu, bi


def test_bias_model_beats_global_mean(small):
    d, _ = small
    rng = np.random.default_rng(0)
    test = rng.random(len(d)) < 0.2
    tr = ~test
    mu, bu, bi = _bias_fit(d.users[tr], d.items[tr], d.ratings[tr], d.n_users, d.n_items)
    y = d.ratings[test].astype(np.float64)
    rmse_mean = np.sqrt(np.mean((y - d.ratings[tr].mean(dtype=np.float64)) ** 2))
    rmse_bias = np.sqrt(np.mean((y - (mu + bu[d.users[test]] + bi[d.items[test]])) ** 2))
    assert rmse_bias < 0.93 * rmse_mean


def test_truth_explains_ratings(small):
    d, truth = small
    pred = (truth["mu"] + truth["user_bias"][d.users] + truth["item_bias"][d.items]
            + np.einsum("ij,ij->i", truth["user_factors"][d.users], truth["item_factors"][d.items]))
    pred = np.clip(pred, 0.5, 5.0)
    y = d.ratings.astype(np.float64)
    rmse_truth = np.sqrt(np.mean((y - pred) ** 2))
    rmse_mean = np.sqrt(np.mean((y - y.mean()) ** 2))
    assert rmse_truth < 0.75 * rmse_mean
    # the noise (default 0.5) plus the rounding to stars bounds how well the truth can do
    assert rmse_truth > 0.4
    assert truth["user_factors"].shape == (d.n_users, 8)
    assert truth["item_factors"].shape == (d.n_items, 8)
    p = truth["item_popularity"]
    assert p.shape == (d.n_items,) and abs(p.sum() - 1) < 1e-9 and p.min() > 0


def test_item_vectors_sit_near_their_genre_centroid(small):
    d, truth = small
    g = sp.csr_matrix(d.item_genres).astype(np.float64)
    has = np.diff(g.indptr) > 0
    # least-squares fit of item vectors on genre indicators (the genre-centroid prior)
    q = truth["item_factors"][has].astype(np.float64)
    gm = g[has].toarray()
    coef, *_ = np.linalg.lstsq(gm, q, rcond=None)
    explained = 1 - ((q - gm @ coef) ** 2).sum() / ((q - q.mean(0)) ** 2).sum()
    assert explained > 0.5  # genre_strength=0.7 by default
    weak = make_movielens_like(**SMALL, random_state=7, genre_strength=0.0, return_truth=True)[1]
    qw = weak["item_factors"][has].astype(np.float64)
    coef, *_ = np.linalg.lstsq(gm, qw, rcond=None)
    explained_weak = 1 - ((qw - gm @ coef) ** 2).sum() / ((qw - qw.mean(0)) ** 2).sum()
    assert explained_weak < 0.2


def test_noise_zero_and_factors():
    d, truth = make_movielens_like(**SMALL, random_state=2, noise=0.0, factors=3, return_truth=True)
    assert truth["user_factors"].shape == (300, 3)
    pred = (truth["mu"] + truth["user_bias"][d.users] + truth["item_bias"][d.items]
            + np.einsum("ij,ij->i", truth["user_factors"][d.users], truth["item_factors"][d.items]))
    # without noise the only error left is rounding to (half) stars and clipping to the scale
    inside = (pred > 1.25) & (pred < 4.75)
    assert np.max(np.abs(d.ratings[inside] - pred[inside])) <= 0.5 + 1e-5


# ----------------------------------------------------------------------------- real movies


def test_movies_csv_real_ids_titles_genres(ml_small_path):
    movies = pd.read_csv(ml_small_path / "movies.csv")
    d = make_movielens_like(n_users=150, n_ratings=6_000, movies=ml_small_path / "movies.csv", random_state=0)
    assert d.n_items == len(movies) == 9_742
    np.testing.assert_array_equal(d.item_ids, movies["movieId"].to_numpy())
    assert list(d.titles) == movies["title"].tolist()
    g = sp.csr_matrix(d.item_genres)
    for k in [0, 1, 100, 5000, len(movies) - 1]:
        got = sorted(d.genre_names[j] for j in g.indices[g.indptr[k]:g.indptr[k + 1]])
        want = movies["genres"].iloc[k]
        assert got == ([] if want == "(no genres listed)" else sorted(want.split("|")))
    no_genre = (movies["genres"] == "(no genres listed)").to_numpy()
    assert no_genre.any() and np.all(np.diff(g.indptr)[no_genre] == 0)
    # ratings only reference real movies; every user still has >= 20
    assert np.bincount(d.users).min() >= 20


def test_movies_dataframe_and_first_n_items(ml_small_path):
    movies = pd.read_csv(ml_small_path / "movies.csv")
    d = make_movielens_like(n_users=50, n_items=500, n_ratings=2_000, movies=movies, random_state=0)
    assert d.n_items == 500
    np.testing.assert_array_equal(d.item_ids, movies["movieId"].to_numpy()[:500])
    with pytest.raises(ValueError, match="n_items=20000 is larger than the 9742 movies"):
        make_movielens_like(n_users=50, n_items=20_000, n_ratings=2_000, movies=movies)


def test_movies_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        make_movielens_like(movies=tmp_path / "nope.csv")
    bad = tmp_path / "movies.csv"
    bad.write_text("movieId,title\n1,A\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['genres'\]"):
        make_movielens_like(movies=bad)
    bad.write_text("movieId,title,genres\n1,A,Drama\n2,B,Comedy\n1,C,Drama\n")
    with pytest.raises(ValueError, match=r"movies.csv, line 4: duplicate movieId 1 \(first defined at line 2\)"):
        make_movielens_like(movies=bad)
    with pytest.raises(TypeError, match="movies must be"):
        make_movielens_like(movies=42)


def test_unknown_genre_names_are_appended():
    movies = pd.DataFrame({"movieId": np.arange(1, 61), "title": [f"m{i}" for i in range(60)],
                           "genres": ["Drama|Space Opera"] * 30 + ["(no genres listed)"] * 30})
    d = make_movielens_like(n_users=40, n_ratings=1_000, movies=movies, random_state=0)
    assert d.genre_names == list(GENRES) + ["Space Opera"]
    assert sp.csr_matrix(d.item_genres)[0].toarray()[0, [7, 19]].tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_users": 100, "n_ratings": 1_999}, ValueError, "n_ratings=1999 is too small"),
    ({"n_users": 10, "n_items": 100, "n_ratings": 501}, ValueError, "n_ratings=501 is too large"),
    ({"n_items": 30}, ValueError, "min_user_ratings=20 exceeds"),
    ({"scale": "huge"}, ValueError, "scale must be one of"),
    ({"n_users": 0}, ValueError, "n_users must be >= 1"),
    ({"n_users": 2.5}, TypeError, "n_users must be an integer"),
    ({"noise": -1.0}, ValueError, "noise must be >= 0"),
    ({"random_state": "x"}, TypeError, "random_state"),
    ({"random_state": -1}, ValueError, "random_state"),
    ({"genre_strength": 1.5}, ValueError, "genre_strength"),
    ({"max_user_fraction": 0.0}, ValueError, "max_user_fraction"),
    ({"end_year": 1990}, ValueError, "end_year"),
])
def test_argument_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_movielens_like(**kwargs)


def test_uniform_top_up_path_keeps_pairs_distinct():
    # a very steep popularity law: light users cannot find enough distinct items by popularity
    # draws alone, so the sampler completes them uniformly from their unrated items
    import mfcore.data.synthetic as synthetic

    before = synthetic._STATS["uniform"]
    d = make_movielens_like(n_users=60, n_items=3_000, n_ratings=60 * 25, popularity_exponent=6.0,
                            popularity_offset=0.5, random_state=0)
    assert synthetic._STATS["uniform"] > before
    assert np.all(np.bincount(d.users, minlength=60) >= 20) and len(d) == 1_500
    key = d.users.astype(np.int64) * d.n_items + d.items
    assert np.unique(key).size == key.size


def test_dense_extreme_still_exact():
    # every user rates exactly half of a tiny catalogue: forces the uniform top-up path
    d = make_movielens_like(n_users=40, n_items=40, n_ratings=800, random_state=0)
    assert np.all(np.bincount(d.users, minlength=40) == 20)
    key = d.users.astype(np.int64) * 40 + d.items
    assert np.unique(key).size == 800
    d = make_movielens_like(n_users=30, n_items=25, n_ratings=30 * 25, max_user_fraction=1.0, random_state=0)
    assert len(d) == 750  # the complete matrix


# ----------------------------------------------------------------------------- CSV writer


def _read_back(path):
    return pd.read_csv(path, dtype={"userId": "int64", "movieId": "int64", "rating": "float64",
                                    "timestamp": "int64"})


def test_write_ratings_csv_round_trip(tmp_path, ml_small_path):
    d = make_movielens_like(n_users=120, n_ratings=5_000, movies=ml_small_path / "movies.csv", random_state=1)
    out = write_ratings_csv(d, tmp_path / "synth", chunk_size=777)  # many chunk boundaries
    assert out["ratings"] == tmp_path / "synth" / "ratings.csv"
    assert out["movies"] == tmp_path / "synth" / "movies.csv"
    text = out["ratings"].read_text()
    assert text.startswith("userId,movieId,rating,timestamp\n")
    assert text.count("\n") == len(d) + 1 and text.endswith("\n")
    df = _read_back(out["ratings"])
    np.testing.assert_array_equal(df["userId"], d.user_ids[d.users])
    np.testing.assert_array_equal(df["movieId"], d.item_ids[d.items])
    np.testing.assert_array_equal(df["rating"], d.ratings.astype(np.float64))
    np.testing.assert_array_equal(df["timestamp"], d.timestamps)
    assert all(len(v) == 3 for v in text.splitlines()[1:][:2000:7] for v in [v.split(",")[2]])  # "4.0", "3.5"
    movies_out = pd.read_csv(out["movies"])
    movies_in = pd.read_csv(ml_small_path / "movies.csv")
    pd.testing.assert_frame_equal(movies_out[["movieId", "title"]], movies_in[["movieId", "title"]])  # quoting
    # genre order within a row follows genre_names (MovieLens puts IMAX last): compare as sets
    assert [set(g.split("|")) for g in movies_out["genres"]] == [set(g.split("|")) for g in movies_in["genres"]]


def test_write_ratings_csv_loads_with_load_movielens(tmp_path):
    from mfcore.data.movielens import load_movielens

    d = make_movielens_like(n_users=60, n_items=200, n_ratings=3_000, random_state=4)
    write_ratings_csv(d, tmp_path)
    back = load_movielens(tmp_path, cache=False)
    assert len(back) == len(d)
    a = d.to_dataframe().sort_values(["userId", "movieId"]).reset_index(drop=True)
    b = back.to_dataframe().sort_values(["userId", "movieId"]).reset_index(drop=True)
    np.testing.assert_array_equal(a["userId"], b["userId"])
    np.testing.assert_array_equal(a["movieId"], b["movieId"])
    np.testing.assert_array_equal(a["rating"], b["rating"])
    np.testing.assert_array_equal(a["timestamp"], b["timestamp"])
    assert back.genre_names is not None
    assert list(back.titles[:3]) == list(d.titles[:3])


def test_write_ratings_csv_general_path_and_file_name(tmp_path):
    d = Interactions(
        np.array([0, 0, 1], dtype=np.int32), np.array([1, 0, 1], dtype=np.int32),
        np.array([3.25, 10.0, 0.5], dtype=np.float32), np.array([5, 1_700_000_000, 0], dtype=np.int64),
        user_ids=np.array(["ann", "bob"]), item_ids=np.array([7, 9]),
    )
    out = write_ratings_csv(d, tmp_path / "r.csv")
    assert out["movies"] == tmp_path / "r.movies.csv"
    df = pd.read_csv(out["ratings"])
    assert df["userId"].tolist() == ["ann", "ann", "bob"]
    assert df["movieId"].tolist() == [9, 7, 9]
    assert df["rating"].tolist() == [3.25, 10.0, 0.5]
    assert df["timestamp"].tolist() == [5, 1_700_000_000, 0]
    movies = pd.read_csv(out["movies"], keep_default_na=False)
    assert movies["genres"].tolist() == ["(no genres listed)"] * 2
    assert write_ratings_csv(d, tmp_path / "x.csv", movies_path=None)["movies"] is None
    assert not (tmp_path / "x.movies.csv").exists()


def test_write_ratings_csv_needs_timestamps(tmp_path):
    d = Interactions(np.array([0], dtype=np.int32), np.array([0], dtype=np.int32), np.array([4.0]),
                     user_ids=np.array([1]), item_ids=np.array([1]))
    with pytest.raises(ValueError, match="no timestamps"):
        write_ratings_csv(d, tmp_path)
    assert not (tmp_path / "ratings.csv").exists()
