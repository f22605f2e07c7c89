"""asv: model quality on MovieLens ml-latest-small, tracked beside speed.

Data: ``$MFCORE_DATA_HOME/ml-latest-small``, else ``../shared/data/ml-latest-small``
beside the clone (read with
``load_movielens(..., cache=False)``, so nothing is written beside the data).
When it is missing every benchmark here is skipped (``NotImplementedError``
in ``setup``). Split: ``temporal_split(data, test_fraction=0.2)`` (each user's
latest 20 % of ratings are the test set). Metrics from
``mfcore.evaluate(model, train, test, k=10)``: ``rmse`` on all test ratings,
``ndcg@10`` with test ratings >= 4 relevant and the user's training items
excluded from the candidates.

Models use the library defaults (K = 64; ExplicitALS/GenreALS 15 epochs,
BPR 30, ImplicitALS 15) with ``random_state=0``. BPR runs single-threaded so
its (Hogwild) result is reproducible; the ALS models are thread-count invariant.

All fits happen once in ``setup_cache`` (a few seconds); the ``track_``
methods return the stored numbers, so a failed fit fails every benchmark here.
"""

from __future__ import annotations

import os
from pathlib import Path

import mfcore

from ._datasets import threads


#: The real MovieLens files beside a clone of the repository (used when MFCORE_DATA_HOME is unset).
_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _ml_small_dir():
    home = os.environ.get("MFCORE_DATA_HOME", "").strip()
    path = (Path(home).expanduser() if home else _SHARED_DATA) / "ml-latest-small"
    return path if (path / "ratings.csv").exists() else None


class MovieLensSmall:
    timeout = 600.0

    def setup_cache(self):
        path = _ml_small_dir()
        if path is None:
            # not None: asv would then call setup() without the argument
            return {}
        data = mfcore.load_movielens(path, cache=False)
        train, test = mfcore.temporal_split(data, test_fraction=0.2)
        models = {
            "ExplicitALS": mfcore.ExplicitALS(random_state=0, num_threads=threads()),
            "GenreALS": mfcore.GenreALS(random_state=0, num_threads=threads()),
            "BPR": mfcore.BPR(random_state=0, num_threads=1),
            "ImplicitALS": mfcore.ImplicitALS(random_state=0, num_threads=threads()),
        }
        out = {}
        for name, model in models.items():
            model.fit(train, show_progress=False)
            out[name] = mfcore.evaluate(model, train, test, k=10)
        return out

    setup_cache.timeout = 600.0

    def setup(self, scores):
        if not scores:
            raise NotImplementedError(
                "ml-latest-small not found: set MFCORE_DATA_HOME to a directory holding ml-latest-small/")

    def track_rmse_explicit_als(self, scores):
        return scores["ExplicitALS"]["rmse"]

    track_rmse_explicit_als.unit = "RMSE"

    def track_rmse_genre_als(self, scores):
        return scores["GenreALS"]["rmse"]

    track_rmse_genre_als.unit = "RMSE"

    def track_ndcg10_explicit_als(self, scores):
        return scores["ExplicitALS"]["ndcg@10"]

    track_ndcg10_explicit_als.unit = "NDCG@10"

    def track_ndcg10_bpr(self, scores):
        return scores["BPR"]["ndcg@10"]

    track_ndcg10_bpr.unit = "NDCG@10"

    def track_ndcg10_implicit_als(self, scores):
        return scores["ImplicitALS"]["ndcg@10"]

    track_ndcg10_implicit_als.unit = "NDCG@10"
