"""mfcore.analysis.model_plots: each drawing is a Figure with the expected axes, labels and series."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure   # the report extra is part of the test extra: never skipped

from mfcore import BPR, ExplicitALS, GenreALS, temporal_split
from mfcore.analysis import model_plots as P
from mfcore.analysis import models as M
from mfcore.tuning import IntUniform, LogUniform, grid_search, random_search
from .study_data import tiny_movies



@pytest.fixture(scope="module")
def split():
    return temporal_split(tiny_movies(n_users=60))


@pytest.fixture(scope="module")
def als(split):
    return ExplicitALS(factors=3, regularization=1.0, iterations=4, num_threads=1).fit(
        split[0], eval_set=split[1], show_progress=False)


def _texts(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def _lines(ax, style):
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == style]


def test_learning_curve_plot(split, als):
    frame = M.learning_curve(als, label="ALS")
    fig = P.plot_learning_curve(frame, heldout_label="test")
    assert isinstance(fig, Figure)
    rmse, obj = fig.axes
    assert (rmse.get_xlabel(), rmse.get_ylabel()) == ("epoch", "RMSE (stars)")
    assert obj.get_ylabel().startswith("objective")
    assert len(_lines(rmse, "--")) == 1 and len(_lines(rmse, "-")) == 1 and len(obj.get_lines()) == 1
    labels = [t.get_text() for t in rmse.get_legend().get_texts()]
    assert labels[0].startswith("train (last") and labels[1].startswith("test (last")
    np.testing.assert_allclose(_lines(rmse, "-")[0].get_ydata(), frame["heldout_rmse"])


def test_learning_curve_plot_of_the_bias_baseline_and_several_models(split, als):
    frame = M.bias_baseline_curve(*split, iterations=3)
    both = pd.concat([frame, M.learning_curve(als, label="ALS")], ignore_index=True)
    fig = P.plot_learning_curve(both)
    rmse, obj = fig.axes
    assert len(rmse.get_lines()) == 4 and len(obj.get_lines()) == 2
    assert obj.get_legend() is not None


def test_generalization_gap_plot(split):
    frame = M.generalization_gap(ExplicitALS(iterations=3, num_threads=1), *split, factors=(1, 3))
    fig = P.plot_generalization_gap(frame, heldout_label="test")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "RMSE (stars)" and ax.get_xlabel() == "epoch"
    assert len(ax.get_lines()) == 4 and len(ax.collections) == 2       # 2 sizes x (train, test) + 2 gaps
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "K=1 train" in labels and "K=3 test" in labels and any(s.startswith("K=3 gap:") for s in labels)


@pytest.fixture(scope="module")
def lambda_grid(split):
    return grid_search(ExplicitALS(factors=2, iterations=3), {"regularization": [0.1, 1.0, 10.0]}, split[0],
                       show_progress=False, num_threads=1)


@pytest.fixture(scope="module")
def k_lambda_grid(split):
    return grid_search(ExplicitALS(iterations=3), {"factors": [1, 2], "regularization": [0.5, 5.0, 50.0]}, split[0],
                       show_progress=False, num_threads=1)


@pytest.fixture(scope="module")
def k_lambda_random(split):
    return random_search(ExplicitALS(iterations=3), {"factors": IntUniform(1, 5),
                                                     "regularization": LogUniform(0.1, 100)},
                         split[0], n_trials=8, show_progress=False, num_threads=1)


def test_lambda_sensitivity_plot(lambda_grid):
    fig = P.plot_lambda_sensitivity(lambda_grid)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "regularization λ (log scale)"
    assert ax.get_ylabel() == "RMSE (stars)"
    assert len(ax.get_lines()) == 3                      # validation, training, best marker
    assert "(K=2)" in ax.get_title()
    best = ax.get_lines()[2]
    assert best.get_xdata()[0] == lambda_grid.best_params["regularization"]


def test_lambda_sensitivity_plot_holds_other_parameters_at_their_best(k_lambda_grid):
    fig = P.plot_lambda_sensitivity(k_lambda_grid)
    (ax,) = fig.axes
    assert len(ax.get_lines()[0].get_xdata()) == 3       # one row of the grid
    assert f"K={k_lambda_grid.best_params['factors']}" in ax.get_title()


def test_random_search_plot(k_lambda_random):
    fig = P.plot_random_search(k_lambda_random)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "validation RMSE"
    assert len(ax.collections) == 2 and len(ax.collections[0].get_offsets()) == 8
    assert ax.get_legend().get_texts()[1].get_text().startswith("best: λ=")


def test_grid_heatmap_plot(k_lambda_grid):
    fig = P.plot_grid_heatmap(k_lambda_grid)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("regularization λ", "latent factors K")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "5", "50"]
    assert _texts(ax) == ["1", "2"]
    assert len(ax.texts) == 6 and len(ax.images) == 1 and len(ax.patches) == 1   # values, map, best outline
    assert fig.axes[1].get_ylabel() == "validation RMSE"                          # the colour bar


def test_search_2d_plot(k_lambda_random):
    fig = P.plot_search_2d(k_lambda_random)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("regularization λ (log scale)", "latent factors K")
    assert len(ax.collections) == 2        # trials coloured by RMSE + the best star
    assert fig.axes[1].get_ylabel() == "validation RMSE (lighter = better)"


def test_precision_curve_plot(split, als):
    bpr = BPR(factors=3, iterations=3, num_threads=1).fit(split[0], show_progress=False)
    frame = M.precision_curve({"BPR": bpr, "ExplicitALS": als}, *split, max_k=12, num_threads=1)
    fig = P.plot_precision_curve(frame)
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("list length K (log scale)", "Precision@K")
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    assert [ln.get_label() for ln in curves] == ["BPR", "ExplicitALS"]
    assert len(ax.texts) == 2                                     # P@10 written for each model


def test_score_decomposition_plot(split, als):
    frame = M.dummy_user_recommendations(als, split[0], N=4)
    fig = P.plot_score_decomposition(frame)
    assert len(fig.axes) == 2
    for ax, alpha in zip(fig.axes, (1.0, 0.05)):
        assert ax.get_title() == f"α = {alpha:g}"
        assert ax.get_xlabel() == "contribution to the ranking score (stars)"
        assert len(ax.patches) == 8                              # 4 items x (bias, dot)
        assert len(_texts(ax)) == 4
    assert "Matrix, The (1999)" in fig._suptitle.get_text()


def test_cold_start_plot(split):
    model = GenreALS(factors=3, iterations=3, num_threads=1).fit(split[0], show_progress=False)
    cold = M.cold_start(model, split[0])
    fig = P.plot_cold_start(cold)
    score, genre = fig.axes
    assert score.get_xlabel() == "cold-start score u·v (stars)" and len(score.patches) == 2
    assert len(genre.patches) == 4 and _texts(genre)[0] == "Toy Story 5: Children"


def test_polarizing_plot(split, als):
    frame = M.polarizing_items(als, split[0], n=5, min_ratings=1)
    fig = P.plot_polarizing(frame)
    left, right = fig.axes
    assert left.get_xlabel() == "vector norm ||v_i||" and right.get_xlabel() == "item bias b_i (stars)"
    assert len(left.patches) == 5 and len(right.patches) == 5


def test_item_map_plot(split, als):
    frame = M.item_map(als, split[0], n_items=10, genres=("Horror", "War"), min_ratings=1, num_threads=1)
    fig = P.plot_item_map(frame)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("other (") and {lab.split(" ")[0] for lab in labels[1:]} <= {"Horror", "War"}
    assert len(ax.collections) == frame["genre"].nunique()
    assert sum(len(c.get_offsets()) for c in ax.collections) == 10


def test_genre_similarity_plot(split, als):
    sim = M.genre_centroid_similarity(als, split[0], min_movies=1, min_ratings=1)
    fig = P.plot_genre_similarity(sim)
    ax = fig.axes[0]
    n = sim["genre_a"].nunique()
    assert _texts(ax) == sorted(sim["genre_a"].unique())
    assert len(ax.texts) == n * (n - 1)
    assert fig.axes[1].get_ylabel() == "cosine similarity of genre centroids"
