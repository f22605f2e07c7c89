"""Quality bands of the compiled models on ml-latest-small, per-user temporal 80/20 split.

The bands come from measuring five seeds (random_state 0..4) with the settings below
(one thread; the numbers do not depend on the thread count except BPR's Hogwild order):

=============  ==================  ===============  ================
model          test RMSE           NDCG@10          fit, 1 thread
=============  ==================  ===============  ================
BiasBaseline   0.8947              0.0289           0.04 s
ExplicitALS    0.8799 - 0.8808     0.042 - 0.044    0.4 - 0.7 s
GenreALS       0.8770 - 0.8772     0.060 - 0.061    0.5 - 0.9 s
BPR (40 ep.)   -                   0.091 - 0.099    0.4 - 0.7 s
ImplicitALS    -                   0.112 - 0.117    0.2 - 0.3 s
=============  ==================  ===============  ================

So the tests ask for what held on every seed with a margin of about half the measured
gap: the rating models beat the baseline's RMSE by > 0.01 (measured 0.014 and 0.018),
GenreALS is at least as good as ExplicitALS, and the ranking models reach > 2.5x the
baseline's NDCG@10 (measured 3.1x and 3.9x) inside bands ~20% wider than the seed range.
Upper bounds catch a leak of test items into training (a leak gives far higher scores).

The GenreALS and ImplicitALS rows were measured with their former defaults (GenreALS
lambda 10, tau 10; ImplicitALS lambda 10, alpha 1). Issue 12 changed them (GenreALS
lambda 0.25, lambda_b 0.3, tau 300, tau_b 3, 25 epochs, then lambda 0.02, lambda_b 0.7,
tau 7500; ImplicitALS lambda 30, alpha 4): both are better at the new defaults, and the
assertions below, which are bands and orderings rather than exact values, still hold.
"""

import pytest

import mfcore
from mfcore import evaluate


@pytest.fixture(scope="module")
def ml_small_split(ml_small_path):
    data = mfcore.load_movielens(ml_small_path)
    return mfcore.temporal_split(data, test_fraction=0.2)


@pytest.fixture(scope="module")
def baseline(ml_small_split):
    train, test = ml_small_split
    scores = evaluate(mfcore.BiasBaseline(num_threads=1).fit(train, show_progress=False), train, test, k=10)
    assert 0.88 < scores["rmse"] < 0.91 and 0.02 < scores["ndcg@10"] < 0.04, scores
    return scores


def _scores(model, split):
    train, test = split
    return evaluate(model.fit(train, show_progress=False), train, test, k=10)


def test_rating_models_beat_the_bias_baseline(ml_small_split, baseline):
    als = _scores(mfcore.ExplicitALS(iterations=10, num_threads=1, random_state=0), ml_small_split)
    genre = _scores(mfcore.GenreALS(iterations=10, num_threads=1, random_state=0), ml_small_split)
    assert 0.85 < als["rmse"] < baseline["rmse"] - 0.01, (als["rmse"], baseline["rmse"])
    assert 0.85 < genre["rmse"] < baseline["rmse"] - 0.01, (genre["rmse"], baseline["rmse"])
    assert genre["rmse"] <= als["rmse"]
    assert als["ndcg@10"] > baseline["ndcg@10"] and genre["ndcg@10"] > baseline["ndcg@10"]


@pytest.mark.parametrize("model, band", [
    (mfcore.BPR(iterations=40, num_threads=1, random_state=0), (0.075, 0.115)),
    (mfcore.ImplicitALS(iterations=10, num_threads=1, random_state=0), (0.095, 0.135)),
], ids=["BPR", "ImplicitALS"])
def test_ranking_models_ndcg_band(ml_small_split, baseline, model, band):
    ndcg = _scores(model, ml_small_split)["ndcg@10"]
    assert band[0] < ndcg < band[1], ndcg
    assert ndcg > 2.5 * baseline["ndcg@10"], (ndcg, baseline["ndcg@10"])
