"""Every data figure function against values computed by hand on the dataset of ``tiny_data``."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from .tiny_data import GENRES, genre_matrix, make_tiny

from mfcore import Interactions
from mfcore.analysis import data as A

SQRT_2PI = np.sqrt(2 * np.pi)


# ----------------------------------------------------------------------------- Fig 1
def test_rating_distribution(tiny):
    df = A.rating_distribution(tiny)
    assert df["rating"].tolist() == [0.5, 3.0, 4.0, 4.5, 5.0]
    assert df["count"].tolist() == [1, 2, 3, 1, 1]
    np.testing.assert_allclose(df["share"], np.array([1, 2, 3, 1, 1]) / 8)
    a = df.attrs
    assert a["n_ratings"] == 8 and a["mode"] == 4.0 and a["midpoint"] == 2.75
    assert a["share_above_midpoint"] == 7 / 8
    assert a["whole_star_share"] == 6 / 8          # 3.0 x2, 4.0 x3, 5.0 x1
    assert a["mean"] == pytest.approx(28.0 / 8)


def test_rating_distribution_off_the_half_star_grid():
    data = Interactions.from_arrays([1, 1, 2], [1, 2, 1], [0.3, 0.3, 2.7])
    df = A.rating_distribution(data)
    np.testing.assert_allclose(df["rating"], [0.3, 2.7], rtol=1e-6)
    assert df["count"].tolist() == [2, 1]
    assert df.attrs["whole_star_share"] is None and df.attrs["mode"] == pytest.approx(0.3)


def test_rating_distribution_mode_tie_takes_the_smaller_value():
    data = Interactions.from_arrays([1, 1, 2, 2], [1, 2, 1, 2], [3.0, 5.0, 5.0, 3.0])
    assert A.rating_distribution(data).attrs["mode"] == 3.0


# ----------------------------------------------------------------------------- Fig 2
def test_popularity_vs_rating(tiny):
    df = A.popularity_vs_rating(tiny)
    assert df["item"].tolist() == [10, 20, 30, 40]               # movie 50 has no rating
    assert df["n_ratings"].tolist() == [4, 2, 1, 1]
    assert df["mean_rating"].tolist() == [4.125, 4.0, 3.0, 0.5]
    assert df["title"].tolist() == ["Movie 10 (2000)", "Movie 20 (2000)", "Movie 30 (2000)", "Movie 40 (2000)"]
    a = df.attrs
    assert a["n_unrated"] == 1
    # ranks of log-counts [4, 3, 1.5, 1.5] and of means [4, 3, 2, 1]: r = 4.5 / sqrt(4.5 * 5)
    assert a["spearman"] == pytest.approx(4.5 / np.sqrt(22.5))
    one, two, three = a["funnel"]                                  # bins [1,2), [2,3), [3,5)
    assert (one["lo"], one["hi"], one["n_movies"], one["centre"]) == (1, 2, 2, 1.0)
    assert one["std"] == pytest.approx(1.25) and one["median"] == pytest.approx(1.75)
    assert one["p05"] == pytest.approx(0.5 + 0.05 * 2.5) and one["p95"] == pytest.approx(0.5 + 0.95 * 2.5)
    assert (two["lo"], two["hi"], two["median"], two["std"]) == (2, 3, 4.0, 0.0)
    assert (three["lo"], three["hi"], three["median"], three["centre"]) == (3, 5, 4.125, pytest.approx(4.0))


def test_one_two_five_bins():
    assert A._one_two_five_edges(1).tolist() == [1, 2]
    assert A._one_two_five_edges(5).tolist() == [1, 2, 3, 5, 10]
    assert A._one_two_five_edges(329).tolist() == [1, 2, 3, 5, 10, 20, 50, 100, 200, 500]


# ----------------------------------------------------------------------------- Fig 3
def test_ratings_per_month_counts_by_calendar_month(tiny):
    df = A.ratings_per_month(tiny)
    months = [f"{m:%Y-%m}" for m in df["month"]]
    assert months == ["1999-12", "2000-01", "2000-02", "2000-03", "2000-04"]
    assert df["count"].tolist() == [1, 2, 3, 0, 2]                # 23:59:59 and leap-day rows on the right side
    a = df.attrs
    assert (a["first_month"], a["last_month"], a["peak_month"], a["peak_count"]) == ("1999-12", "2000-04", "2000-02", 3)
    assert a["median_count"] == 2.0 and a["n_months"] == 5 and a["n_empty_months"] == 1


def test_ratings_per_month_before_1970():
    ts = np.array([np.datetime64(t, "s").astype(np.int64) for t in
                   ["1969-11-30T23:59:59", "1969-12-31T23:59:59", "1970-01-01T00:00:00"]])
    assert ts[1] == -1
    data = Interactions.from_arrays([1, 1, 2], [1, 2, 1], [3.0, 4.0, 5.0], ts)
    df = A.ratings_per_month(data)
    assert [f"{m:%Y-%m}" for m in df["month"]] == ["1969-11", "1969-12", "1970-01"]
    assert df["count"].tolist() == [1, 1, 1]


def test_ratings_per_month_needs_timestamps():
    with pytest.raises(A.MissingDataError, match="timestamps") as err:
        A.ratings_per_month(make_tiny(timestamps=False))
    assert err.value.missing == "timestamps" and err.value.figure == "ratings_per_month"


# ----------------------------------------------------------------------------- Fig 4
def test_fit_power_law_exact_data():
    ranks = np.arange(1, 5001)
    fit = A.fit_power_law(ranks, 500.0 * ranks ** -1.3)
    assert fit["exponent"] == pytest.approx(1.3, abs=1e-12)
    assert fit["constant"] == pytest.approx(500.0, rel=1e-10)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)
    assert fit["n_points"] == 5000
    sparse = np.array([1, 3, 10, 40, 200])                         # non-consecutive ranks: still exact
    assert A.fit_power_law(sparse, 7.0 * sparse ** -0.6)["exponent"] == pytest.approx(0.6, abs=1e-12)


def test_fit_power_law_weighs_decades_equally():
    """Slope 1 over three decades, 3 in the last: the fit weighs each decade equally, not each rank."""
    ranks = np.arange(1, 10001)
    counts = np.where(ranks <= 1000, 1e5 * ranks ** -1.0, 1e5 * 1000 ** -1.0 * (ranks / 1000.0) ** -3.0)
    fit = A.fit_power_law(ranks, counts)
    every = -np.polyfit(np.log10(ranks), np.log10(counts), 1)[0]
    # the continuous equal-weight answer: OLS with log10(rank) uniform over the cells [0.5, 10000.5]
    x = np.linspace(np.log10(0.5), np.log10(10000.5), 400_001)
    y = np.where(x <= 3, -x, -3 - 3 * (x - 3))
    uniform = -np.polyfit(x, y, 1)[0]
    assert fit["exponent"] == pytest.approx(uniform, abs=0.01)
    assert every > uniform + 0.8                                  # unweighted: dominated by the last decade


@pytest.mark.parametrize("ranks, counts, match", [([1], [3.0], "at least 2"), ([1, 2], [3.0, 0.0], "positive"),
                                                   ([2, 1], [3.0, 2.0], "increasing"), ([0, 1], [1.0, 1.0], ">= 1")])
def test_fit_power_law_rejects_bad_input(ranks, counts, match):
    with pytest.raises(ValueError, match=match):
        A.fit_power_law(ranks, counts)


def _exact_power_law_data(constant=2000.0, exponent=0.8, n_items=3000):
    """Item r (1-based, id r) rated by users 0 .. round(C r^-s) - 1, shuffled ids so rank != index."""
    ranks = np.arange(1, n_items + 1)
    counts = np.maximum(1, np.rint(constant * ranks ** -exponent)).astype(np.int64)
    perm = np.random.default_rng(0).permutation(n_items)          # item index of rank r
    items = np.repeat(perm, counts)
    users = np.concatenate([np.arange(c) for c in counts])
    return Interactions.from_arrays(users, items, np.full(items.size, 4.0)), perm, counts


def test_item_popularity_rank_recovers_the_exponent():
    data, perm, counts = _exact_power_law_data()
    df = A.item_popularity_rank(data)
    a = df.attrs
    # rounding counts to integers >= 10 moves log-counts by < 5 %: the slope stays within 0.005
    assert a["exponent"] == pytest.approx(0.8, abs=0.005)
    assert a["constant"] == pytest.approx(2000.0, rel=0.02)
    assert a["r2"] > 0.999
    assert a["fit_rank_min"] == 1 and a["fit_rank_max"] == int(np.count_nonzero(counts >= 10))
    assert a["degree_exponent"] == pytest.approx(1 + 1 / a["exponent"])
    assert df["n_ratings"].tolist() == sorted(counts.tolist(), reverse=True)
    assert df["rank"].tolist() == list(range(1, 3001))
    # the most rated item is the one planted at rank 1
    assert df["item"].iloc[0] == data.item_ids[perm[0]]
    assert df["in_fit"].sum() == a["fit_rank_max"]
    np.testing.assert_allclose(df["fitted"], a["constant"] * df["rank"] ** -a["exponent"])


def test_item_popularity_rank_ties_and_range(tiny):
    df = A.item_popularity_rank(tiny, min_count=1)
    assert df["item"].tolist() == [10, 20, 30, 40]               # 30 and 40 tie at 1: index order
    assert df.attrs["n_unrated"] == 1 and df.attrs["head_share"] == 4 / 8
    assert df.attrs["fit_rank_max"] == 4
    fixed = A.item_popularity_rank(tiny, fit_ranks=(1, 2))
    assert fixed.attrs["exponent"] == pytest.approx(1.0)          # counts 4, 2 at ranks 1, 2
    none = A.item_popularity_rank(tiny)                            # min_count=10: no item qualifies
    assert none.attrs["fit_rank_max"] is None and np.isnan(none.attrs["exponent"])
    assert none["fitted"].isna().all() and not none["in_fit"].any() and none["n_ratings"].tolist() == [4, 2, 1, 1]
    with pytest.raises(ValueError, match="fit_ranks"):
        A.item_popularity_rank(tiny, fit_ranks=(2, 9))


# ----------------------------------------------------------------------------- Fig 5
def test_user_degree_distribution(tiny):
    df = A.user_degree_distribution(tiny)
    assert df["n_ratings"].tolist() == [1, 2, 3]                  # u4: 1, u2 and u3: 2, u1: 3
    assert df["n_users"].tolist() == [1, 2, 1]
    np.testing.assert_allclose(df["share"], [0.25, 0.5, 0.25])
    np.testing.assert_allclose(df["ccdf"], [1.0, 0.75, 0.25])
    a = df.attrs
    assert a["n_users"] == 4 and a["n_users_without_ratings"] == 1      # u5
    assert (a["min"], a["median"], a["mean"], a["max"]) == (1, 2.0, 2.0, 3)
    assert a["top1_share"] == 3 / 8 and a["top10_share"] == 3 / 8      # ceil(1% of 4) = ceil(10%) = 1 user


# ----------------------------------------------------------------------------- Fig 6
def test_top_users_items(tiny):
    df = A.top_users_items(tiny, n_users=2, n_items=3)
    # users by count: u1 3, then u2 and u3 tie at 2 (smaller index u2); items 10 (4), 20 (2), 30/40 tie (30)
    assert df["user"].tolist() == ["u1"] * 3 + ["u2"] * 3
    assert df["item"].tolist() == [10, 20, 30] * 2
    assert df["user_rank"].tolist() == [1, 1, 1, 2, 2, 2] and df["item_rank"].tolist() == [1, 2, 3] * 2
    np.testing.assert_array_equal(df["rating"], [5.0, 4.0, 3.0, 4.0, 4.0, np.nan])
    a = df.attrs
    assert (a["n_cells"], a["n_observed"]) == (6, 5)
    assert a["density"] == 5 / 6 and a["mean_rating"] == 4.0 and a["overall_density"] == 8 / 25


def test_top_users_items_larger_than_the_data(tiny):
    df = A.top_users_items(tiny)                                  # 50 x 50 asked, 4 users x 4 items rated
    assert len(df) == 16 and df.attrs["n_observed"] == 8


# ----------------------------------------------------------------------------- Fig 7
def _reflected_density(values, x, lo, hi, h):
    """The reflected Gaussian KDE written out in full (no truncation)."""
    values = np.asarray(values, dtype=float)
    total = 0.0
    for c in (values, 2 * lo - values, 2 * hi - values):
        total += np.exp(-0.5 * ((x - c) / h) ** 2).sum()
    return total / (values.size * h * SQRT_2PI)


def test_average_rating_density_by_hand(tiny):
    df = A.average_rating_density(tiny, n_genres=2, min_ratings=1, bandwidth=0.5, grid_points=10)
    assert df.attrs["groups"] == ["All movies", "Drama", "Action"]   # Drama 3 movies, Action 2, Comedy 1
    grid = np.linspace(0.5, 5.0, 10)                                 # the observed rating scale
    members = {"All movies": [4.125, 4.0, 3.0, 0.5], "Drama": [4.125, 4.0, 3.0], "Action": [4.125, 0.5]}
    for name, values in members.items():
        part = df[df["group"] == name]
        np.testing.assert_allclose(part["rating"], grid)
        expected = [_reflected_density(values, x, 0.5, 5.0, 0.5) for x in grid]
        np.testing.assert_allclose(part["density"], expected, rtol=1e-12)
        st = df.attrs["stats"][name]
        assert st["n_movies"] == len(values) and st["median"] == pytest.approx(np.median(values))
        assert st["mean"] == pytest.approx(np.mean(values)) and st["bandwidth"] == 0.5


def test_average_rating_density_integrates_to_one_and_uses_scott(tiny):
    df = A.average_rating_density(tiny, n_genres=1, min_ratings=1, grid_points=4001)
    part = df[df["group"] == "All movies"]
    assert np.trapezoid(part["density"], part["rating"]) == pytest.approx(1.0, abs=1e-4)
    values = np.array([4.125, 4.0, 3.0, 0.5])
    assert df.attrs["stats"]["All movies"]["bandwidth"] == pytest.approx(values.std(ddof=1) * 4 ** -0.2)


def test_average_rating_density_min_ratings(tiny):
    df = A.average_rating_density(tiny, min_ratings=2, bandwidth=0.3)
    st = df.attrs["stats"]
    assert st["All movies"]["n_movies"] == 2 and st["All movies"]["median"] == pytest.approx(4.0625)
    assert st["Comedy"]["n_movies"] == 0 and df[df["group"] == "Comedy"]["density"].isna().all()
    assert df.attrs["min_ratings"] == 2


# ----------------------------------------------------------------------------- Fig 8
def test_genre_counts(tiny):
    df = A.genre_counts(tiny)
    assert df["genre"].tolist() == ["Drama", "Action", "Comedy"]
    assert df["n_movies"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(df["share"], [3 / 5, 2 / 5, 1 / 5])
    assert df.attrs == {"n_items": 5, "n_without_genre": 1, "mean_genres_per_movie": 6 / 5}


def test_genre_counts_ties_by_name():
    names = ["Zeta", "Alpha", "Mid"]
    g = genre_matrix([["Zeta"], ["Alpha"], ["Mid", "Zeta"], ["Alpha"]], names)
    data = Interactions.from_arrays([1], [0], [3.0], item_ids=np.arange(4), item_genres=g, genre_names=names)
    assert A.genre_counts(data)["genre"].tolist() == ["Alpha", "Zeta", "Mid"]


# ----------------------------------------------------------------------------- Fig 9
def _threshold_data():
    """Movies (id: ratings): 1: 4,4,4; 2: 5,4 (too few); 3: 4,4,4,4; 4: 5,3,4; 5: 3,3,3."""
    table = {1: [4, 4, 4], 2: [5, 4], 3: [4, 4, 4, 4], 4: [5, 3, 4], 5: [3, 3, 3]}
    users, items, ratings = [], [], []
    for movie, rs in table.items():
        users += list(range(len(rs)))
        items += [movie] * len(rs)
        ratings += rs
    return Interactions.from_arrays(users, items, np.array(ratings, dtype=float),
                                    titles=["one", "two", "three", "four", "five"])


def test_top_rated_movies_threshold_and_ties():
    data = _threshold_data()
    df = A.top_rated_movies(data, n=10, min_ratings=3)
    # movie 2 (4.5 from 2 ratings) is below the threshold; 3 = exactly the threshold qualifies;
    # 1, 3, 4 tie at 4.0: more ratings first (3), then the smaller id (1 before 4)
    assert df["item"].tolist() == [3, 1, 4, 5]
    assert df["title"].tolist() == ["three", "one", "four", "five"]
    assert df["mean_rating"].tolist() == [4.0, 4.0, 4.0, 3.0]
    assert df["n_ratings"].tolist() == [4, 3, 3, 3] and df["rank"].tolist() == [1, 2, 3, 4]
    assert df.attrs == {"min_ratings": 3, "n_eligible": 4}
    assert A.top_rated_movies(data, n=2, min_ratings=3)["item"].tolist() == [3, 1]
    assert A.top_rated_movies(data, min_ratings=2)["item"].tolist() == [2, 3, 1, 4, 5]
    assert A.top_rated_movies(data, min_ratings=4)["item"].tolist() == [3]


def test_top_rated_movies_default_threshold_is_50(tiny):
    df = A.top_rated_movies(tiny)
    assert len(df) == 0 and df.attrs == {"min_ratings": 50, "n_eligible": 0}


def test_top_rated_movies_without_titles_uses_ids():
    data = Interactions.from_arrays([1, 2], [7, 7], [4.0, 5.0])
    assert A.top_rated_movies(data, min_ratings=1)["title"].tolist() == ["7"]


# ----------------------------------------------------------------------------- Fig 10
def test_top_tags_normalised(tiny):
    df = A.top_tags(tiny)
    # funny x3 (movies 10, 20; users u1, u2), dark x2 (movie 30; u1, u3), then 1-1 ties in text order
    assert df["tag"].tolist() == ["funny", "dark", "atmospheric", "zany"]
    assert df["count"].tolist() == [3, 2, 1, 1]
    assert df["n_movies"].tolist() == [2, 1, 1, 1] and df["n_users"].tolist() == [2, 2, 1, 1]
    assert df.attrs == {"n_applications": 7, "n_distinct": 4, "n_empty": 1, "top_share": 1.0}
    top2 = A.top_tags(tiny, n=2)
    assert top2["tag"].tolist() == ["funny", "dark"] and top2.attrs["top_share"] == 5 / 7


def test_top_tags_exact_strings(tiny):
    df = A.top_tags(tiny, n=3, normalize=False)
    assert df["tag"].tolist() == ["  ", "Dark", "Funny"] and df["count"].tolist() == [1, 1, 1]
    assert df.attrs["n_distinct"] == 8 and df.attrs["n_empty"] == 0


def test_top_tags_needs_tags():
    with pytest.raises(A.MissingDataError, match="tags") as err:
        A.top_tags(make_tiny(tags=False))
    assert err.value.missing == "tags"


# ----------------------------------------------------------------------------- Fig 11
def test_genre_cooccurrence(tiny):
    df = A.genre_cooccurrence(tiny)
    assert df["genre_a"].tolist() == [g for g in GENRES for _ in GENRES]
    assert df["genre_b"].tolist() == GENRES * 3
    p = df.set_index(["genre_a", "genre_b"])["p_b_given_a"]
    # Action: movies 10, 40; Comedy: 30; Drama: 10, 20, 30
    assert p["Action", "Drama"] == 1 / 2 and p["Drama", "Action"] == 1 / 3
    assert p["Comedy", "Drama"] == 1.0 and p["Drama", "Comedy"] == 1 / 3
    assert p["Action", "Comedy"] == 0.0 and p["Comedy", "Action"] == 0.0
    assert all(p[g, g] == 1.0 for g in GENRES)
    assert df.set_index(["genre_a", "genre_b"])["n_both"]["Drama", "Action"] == 1
    assert df.attrs["n_pairs_never"] == 2                           # Action-Comedy both ways
    assert df.attrs["min_n_a"] == 10 and df.attrs["strongest"] == []  # no genre has 10 movies


def test_genre_cooccurrence_strongest_pairs_and_empty_genre():
    names = ["A", "B", "C", "Empty"]
    lists = [["A", "B"]] * 9 + [["A"]] + [["B", "C"]] * 3 + [["C"]] * 8
    data = Interactions.from_arrays([0], [0], [3.0], item_ids=np.arange(len(lists)),
                                    item_genres=genre_matrix(lists, names), genre_names=names)
    df = A.genre_cooccurrence(data)
    p = df.set_index(["genre_a", "genre_b"])["p_b_given_a"]
    assert p["A", "B"] == 0.9 and p["B", "A"] == 0.75 and p["C", "B"] == 3 / 11
    assert np.isnan(p["Empty", "A"]) and p["A", "Empty"] == 0.0
    # genres with >= 10 movies: A (10), B (12), C (11); pairs by P descending
    assert [(s["genre_a"], s["genre_b"]) for s in df.attrs["strongest"]] == [
        ("A", "B"), ("B", "A"), ("C", "B"), ("B", "C"), ("A", "C")]
    assert df.attrs["strongest"][0]["p"] == 0.9 and df.attrs["strongest"][0]["n_a"] == 10
    assert df.attrs["n_pairs_never"] == 2                           # A-C both ways; Empty excluded


# ----------------------------------------------------------------------------- missing data, summary
@pytest.mark.parametrize("fn", [A.genre_counts, A.genre_cooccurrence, A.average_rating_density])
def test_genre_figures_need_genres(fn):
    with pytest.raises(A.MissingDataError, match="genres"):
        fn(make_tiny(genres=False))


@pytest.mark.parametrize("fn", [A.rating_distribution, A.popularity_vs_rating, A.average_rating_density,
                                A.top_rated_movies])
def test_rating_figures_need_explicit_ratings(fn):
    with pytest.raises(A.MissingDataError, match="ratings") as err:
        fn(make_tiny(ratings=False))
    assert err.value.missing == "ratings"


def test_implicit_data_still_has_the_count_figures():
    data = make_tiny(ratings=False)
    assert A.user_degree_distribution(data)["n_users"].tolist() == [1, 2, 1]
    assert A.top_users_items(data, 1, 1)["rating"].tolist() == [1.0]
    assert A.top_users_items(data).attrs["has_ratings"] is False


@pytest.mark.parametrize("num_fn", A.FIGURES, ids=[fn.__name__ for _, fn in A.FIGURES])
def test_every_figure_refuses_an_empty_dataset(num_fn):
    empty = Interactions.from_arrays(np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([]),
                                     np.array([], dtype=np.int64), user_ids=[1], item_ids=[1],
                                     item_genres=sp.csr_matrix(np.ones((1, 1), dtype=np.float32)),
                                     genre_names=["G"], tags=pd.DataFrame({"user": [0], "item": [0], "tag": ["t"],
                                                                           "timestamp": [1]}))
    _, fn = num_fn
    if fn in (A.genre_counts, A.genre_cooccurrence, A.top_tags):
        fn(empty)                                                   # catalogue / tag figures need no ratings
    else:
        with pytest.raises(A.MissingDataError, match="no ratings"):
            fn(empty)


def test_dataset_summary(tiny):
    s = A.dataset_summary(tiny)
    assert s == {"n_ratings": 8, "n_users": 5, "n_items": 5, "n_rated_items": 4, "n_users_with_ratings": 4,
                 "density": 8 / 25, "has_ratings": True, "mean_rating": 3.5, "n_genres": 3, "has_timestamps": True,
                 "first_rating": "1999-12-31", "last_rating": "2000-04-30", "n_tags": 8}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_count_arguments_are_checked(tiny, bad):
    with pytest.raises((TypeError, ValueError), match="n"):
        A.top_rated_movies(tiny, n=bad)
