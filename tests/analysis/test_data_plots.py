"""Every plot function returns a Figure with the expected labels, scales and number of series."""

import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from mfcore.analysis import data as A
from mfcore.analysis import data_plots as P


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _main_axes(fig):
    """The plotting Axes (colorbars are extra Axes)."""
    return fig.axes[0]


def _bars(ax):
    containers = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(containers) == 1
    return containers[0]


def test_rating_distribution(tiny):
    fig = P.plot_rating_distribution(A.rating_distribution(tiny))
    assert isinstance(fig, Figure)
    ax = _main_axes(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("rating (stars)", "number of ratings")
    assert [r.get_height() for r in _bars(ax)] == [1, 2, 3, 1, 1]
    assert [t.get_text() for t in ax.texts] == ["12.5%", "25.0%", "37.5%", "12.5%", "12.5%"]
    assert "8 ratings" in ax.get_title()


def test_popularity_vs_rating(tiny):
    fig = P.plot_popularity_vs_rating(A.popularity_vs_rating(tiny))
    ax = _main_axes(fig)
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "average rating (stars)"
    assert ax.get_xlabel() == "number of ratings of the movie (log scale)"
    scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == 4 and len(bands) == 1
    assert len(ax.lines) == 1 and list(ax.lines[0].get_ydata()) == [1.75, 4.0, 4.125]   # bin medians
    assert len(ax.get_legend().get_texts()) == 3


def test_ratings_per_month(tiny):
    fig = P.plot_ratings_per_month(A.ratings_per_month(tiny))
    ax = _main_axes(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("year", "ratings per month")
    series, peak = ax.lines
    assert list(series.get_ydata()) == [1, 2, 3, 0, 2] and list(peak.get_ydata()) == [3]
    assert ax.texts[0].get_text() == "peak 2000-02: 3"


def test_item_popularity_rank(tiny):
    df = A.item_popularity_rank(tiny, min_count=1)
    ax = _main_axes(P.plot_item_popularity_rank(df))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "movie rank by number of ratings (log scale)"
    assert ax.get_ylabel() == "number of ratings (log scale)"
    observed, fitted = ax.lines
    assert list(observed.get_ydata()) == [4, 2, 1, 1] and len(fitted.get_xdata()) == 4
    assert f"{df.attrs['exponent']:.2f}" in ax.get_legend().get_texts()[1].get_text()


def test_user_degree_distribution(tiny):
    ax = _main_axes(P.plot_user_degree_distribution(A.user_degree_distribution(tiny)))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("ratings per user, k (log scale)", "number of users (log scale)")
    assert len(ax.collections) == 1 and len(ax.lines) == 1


def test_log_binned_average():
    # per_decade=1 over k in [1, 11): edges floor(geomspace(1, 11, 3)) = 1, 3, 11
    centres, means = P._log_binned(np.array([1, 10]), np.array([10.0, 5.0]), per_decade=1)
    np.testing.assert_allclose(means, [10.0 / 2, 5.0 / 8])          # users per unit of k in [1, 3) and [3, 11)
    np.testing.assert_allclose(centres, [np.sqrt(1 * 2), np.sqrt(3 * 10)])


def test_top_users_items(tiny):
    fig = P.plot_top_users_items(A.top_users_items(tiny, n_users=2, n_items=3))
    ax = _main_axes(fig)
    assert len(ax.images) == 1
    img = ax.images[0].get_array()
    assert img.shape == (2, 3) and img.mask.tolist() == [[False] * 3, [False, False, True]]
    assert ax.get_xlabel().startswith("top 3 movies") and ax.get_ylabel().startswith("top 2 users")
    assert fig.axes[1].get_ylabel() == "rating (stars)"           # the colorbar


def test_average_rating_density(tiny):
    df = A.average_rating_density(tiny, n_genres=2, min_ratings=1, bandwidth=0.5)
    ax = _main_axes(P.plot_average_rating_density(df))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("average rating of a movie (stars)", "density (per star)")
    assert len(ax.collections) == 1 and len(ax.lines) == 2       # all movies (area) + 2 genres
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("All movies (4 movies") and labels[1].startswith("Drama")


def test_genre_counts(tiny):
    ax = _main_axes(P.plot_genre_counts(A.genre_counts(tiny)))
    assert ax.get_xlabel().startswith("number of movies") and ax.get_ylabel() == "genre"
    assert [r.get_width() for r in _bars(ax)] == [3, 2, 1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Drama", "Action", "Comedy"]


def test_top_rated_movies(tiny):
    df = A.top_rated_movies(tiny, n=3, min_ratings=1)
    ax = _main_axes(P.plot_top_rated_movies(df))
    assert ax.get_xlabel().startswith("average rating (stars")
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == [4.125, 4.0, 3.0]
    assert sum(isinstance(c, LineCollection) for c in ax.collections) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Movie 10 (2000)", "Movie 20 (2000)", "Movie 30 (2000)"]


def test_long_titles_are_wrapped():
    assert P._wrap("Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1964)") == \
        "Dr. Strangelove or: How I Learned to\nStop Worrying and Love the Bomb (1964)"
    assert P._wrap("x" * 100, 10, 1) == "x" * 9 + "…"


def test_top_tags(tiny):
    ax = _main_axes(P.plot_top_tags(A.top_tags(tiny)))
    assert ax.get_xlabel() == "times applied (tag applications)" and ax.get_ylabel() == "tag"
    assert [r.get_width() for r in _bars(ax)] == [3, 2, 1, 1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["funny", "dark", "atmospheric", "zany"]


def test_genre_cooccurrence(tiny):
    fig = P.plot_genre_cooccurrence(A.genre_cooccurrence(tiny))
    ax = _main_axes(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("genre B", "genre A (given)")
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (3, 3)
    # row Action: P(Action|Action)=1, P(Comedy|Action)=0, P(Drama|Action)=.5
    assert [t.get_text() for t in ax.texts[:3]] == ["1", "0", ".50"]
    assert fig.axes[1].get_ylabel().startswith("P(B | A)")


def test_every_data_function_has_a_plot():
    assert sorted(P.PLOTS) == sorted(fn.__name__ for _, fn in A.FIGURES)


FRAME_ARGS = {"item_popularity_rank": {"min_count": 1}, "top_rated_movies": {"min_ratings": 1}}


def test_plots_without_matplotlib_name_the_extra(tiny, monkeypatch):
    frames = {fn.__name__: fn(tiny, **FRAME_ARGS.get(fn.__name__, {})) for _, fn in A.FIGURES}
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # makes `import matplotlib` fail
    for name, plot in P.PLOTS.items():
        with pytest.raises(ImportError, match=r'pip install "mfcore\[report\]"'):
            plot(frames[name])
