"""asv: inference latency of fitted models -- top-N for every user and fold-in of a new user.

``setup_cache`` fits, per enabled size, an ExplicitALS (CG solver), a BPR and
an ImplicitALS with K = 64 for one epoch (inference speed does not depend on
how converged the factors are) and saves them with ``model.save``; ``setup``
reloads them with ``mfcore.load_model``. The saved models keep their training
interactions, so ``recommend`` filters already-rated items by default.

``TopN.time_recommend_all_users``
    ``model.recommend(all user ids, N=10)`` with seen-item filtering: the
    public batch path (id lookup, seen rows, ``mfcore._ranking.top_n`` in user
    batches, score offsets). Throughput = n_users / time (6,040 users at 1m,
    200,948 at 32m).
``FoldIn.time_fold_in``
    ``model.fold_in(items, ratings)`` for a new user with 20 ratings (the 20
    first ratings of the first training user with at least 20 ratings, of
    which BPR keeps those >= 4 as positives).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mfcore

from ._datasets import SIZES, bench_timeout, enabled_sizes, make_interactions, require, threads

FACTORS = 64
N_FOLD_IN = 20
MODELS = ["ExplicitALS", "BPR", "ImplicitALS"]


def _fold_in_query(user_items, n):
    """(item indices, ratings) of the first n ratings of the first user with >= n ratings."""
    counts = np.diff(user_items.indptr)
    rows = np.flatnonzero(counts >= n)
    if rows.size == 0:
        raise ValueError(f"no user has {n} ratings")
    lo = user_items.indptr[rows[0]]
    return user_items.indices[lo:lo + n].astype(np.int64), user_items.data[lo:lo + n].astype(np.float64)


class _Fitted:
    timeout = bench_timeout()

    def setup_cache(self):
        out = {}
        for size in enabled_sizes():
            X = make_interactions(size).user_items()
            items, ratings = _fold_in_query(X, N_FOLD_IN)
            np.savez(f"fold-in-{size}.npz", items=items, ratings=ratings)
            entry = {"query": str(Path(f"fold-in-{size}.npz").resolve())}
            for name in MODELS:
                kwargs = {"solver": "cg"} if name == "ExplicitALS" else {}
                model = getattr(mfcore, name)(factors=FACTORS, iterations=1, num_threads=threads(),
                                              random_state=0, **kwargs)
                model.fit(X, show_progress=False)
                entry[name] = str(Path(model.save(f"{name}-{size}.npz")).resolve())
            out[size] = entry
        return out

    setup_cache.timeout = bench_timeout()


class TopN(_Fitted):
    params = (SIZES,)
    param_names = ["size"]
    number = 1
    repeat = (1, 10, 60.0)
    warmup_time = 0.0

    def setup(self, cache, size):
        require(size)
        self.model = mfcore.load_model(cache[size]["ExplicitALS"])
        self.users = np.arange(self.model.n_users)

    def time_recommend_all_users(self, cache, size):
        self.model.recommend(self.users, N=10)


class FoldIn(_Fitted):
    params = (SIZES, MODELS)
    param_names = ["size", "model"]

    def setup(self, cache, size, model):
        require(size)
        self.model = mfcore.load_model(cache[size][model])
        with np.load(cache[size]["query"]) as z:
            self.items, self.ratings = z["items"], z["ratings"]

    def time_fold_in(self, cache, size, model):
        self.model.fold_in(self.items, self.ratings)
