"""A child process that runs crash-prone cases for ``test_hostile_inputs.py``.

The test process sends one pickled request at a time on stdin (4-byte length
+ pickle) and reads one pickled answer on stdout: ``("ok", summary)`` or
``("error", exception type name, message, names of its base classes)``. A
request that crashes the interpreter (segfault, abort, heap corruption) ends
this process with a signal, which the test sees as a negative return code,
names the case and restarts the worker. Requests:

* ``("sparse", entry, fmt, shape, arrays)``: build a scipy.sparse matrix of
  format ``fmt`` whose raw arrays are ``arrays`` (assigned after
  construction, so SciPy checks nothing) and pass it to the public entry
  point ``entry``;
* ``("model", path)``: ``mfcore.load_model(path)`` and then every inference
  call on the loaded model.
"""

import os
import pickle
import struct
import sys
import warnings

import numpy as np
import scipy.sparse as sp

warnings.simplefilter("ignore")

import mfcore  # noqa: E402
from mfcore import metrics  # noqa: E402
from mfcore._ranking import top_n  # noqa: E402

N_USERS, N_ITEMS, N_GENRES = 12, 9, 4


def _base_matrix():
    rng = np.random.default_rng(0)
    dense = (rng.random((N_USERS, N_ITEMS)) < 0.45) * rng.integers(1, 11, (N_USERS, N_ITEMS)) / 2.0
    dense[np.arange(N_USERS), np.arange(N_USERS) % N_ITEMS] = 4.0
    return sp.csr_matrix(dense.astype(np.float32))


TRAIN = _base_matrix()
GENRES = sp.csr_matrix((np.arange(N_ITEMS * N_GENRES).reshape(N_ITEMS, N_GENRES) % 3 == 0).astype(np.float32))
MODELS = {
    "ExplicitALS": mfcore.ExplicitALS(factors=3, iterations=2, num_threads=1).fit(TRAIN, show_progress=False),
    "GenreALS": mfcore.GenreALS(factors=3, iterations=2, num_threads=1).fit(TRAIN, item_genres=GENRES,
                                                                             show_progress=False),
    "BPR": mfcore.BPR(factors=3, iterations=2, num_threads=1).fit(TRAIN, show_progress=False),
    "ImplicitALS": mfcore.ImplicitALS(factors=3, iterations=2, num_threads=1).fit(TRAIN, show_progress=False),
}


def build(fmt, shape, arrays):
    """A matrix of ``fmt`` with the given raw arrays, bypassing every SciPy check."""
    if fmt in ("csr", "csc"):
        m = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(shape, dtype=np.float32)
        m.data, m.indices, m.indptr = arrays["data"], arrays["indices"], arrays["indptr"]
    elif fmt == "coo":
        m = sp.coo_matrix(shape, dtype=np.float32)
        m.coords = (arrays["row"], arrays["col"])
        m.data = arrays["data"]
    elif fmt == "bsr":
        m = sp.bsr_matrix(shape, blocksize=arrays["blocksize"], dtype=np.float32)
        m.data, m.indices, m.indptr = arrays["data"], arrays["indices"], arrays["indptr"]
    else:
        raise ValueError(f"unknown format {fmt}")
    return m


def run_sparse(entry, m):
    """Pass ``m`` to one public entry point; return a short summary of the result."""
    als = MODELS["ExplicitALS"]
    if entry == "fit_explicit":
        model = mfcore.ExplicitALS(factors=2, iterations=1, num_threads=1).fit(m, show_progress=False)
        return ("fit", model.user_factors.shape, bool(np.isfinite(model.user_factors).all()))
    if entry == "fit_implicit":
        model = mfcore.ImplicitALS(factors=2, iterations=1, num_threads=1, positive_threshold=None)
        model.fit(m, show_progress=False)
        return ("fit", model.user_factors.shape)
    if entry == "fit_bpr":
        model = mfcore.BPR(factors=2, iterations=1, num_threads=1, positive_threshold=None)
        model.fit(m, show_progress=False)
        return ("fit", model.user_factors.shape)
    if entry == "fit_genre_item_genres":
        model = mfcore.GenreALS(factors=2, iterations=1, num_threads=1)
        model.fit(TRAIN, item_genres=m, show_progress=False)
        return ("fit", model.item_factors.shape)
    if entry == "eval_set":
        mfcore.ExplicitALS(factors=2, iterations=1, num_threads=1).fit(TRAIN, eval_set=m, show_progress=False)
        return ("fit",)
    if entry == "eval_set_bpr":
        mfcore.BPR(factors=2, iterations=1, num_threads=1).fit(TRAIN, eval_set=m, show_progress=False)
        return ("fit",)
    if entry == "recommend_user_items":
        ids, _ = als.recommend(np.arange(m.shape[0]), user_items=m, N=3)
        return ("recommend", ids.shape)
    if entry == "recalculate_user":
        for name in ("ExplicitALS", "BPR", "ImplicitALS"):
            MODELS[name].recommend(np.arange(m.shape[0]), user_items=m, N=3, recalculate_user=True)
        return ("recommend",)
    if entry == "evaluate_test":
        return ("evaluate", sorted(mfcore.evaluate(als, TRAIN, m, k=3)))
    if entry == "evaluate_train":
        return ("evaluate", sorted(mfcore.evaluate(als, m, TRAIN, k=3)))
    if entry == "ranking_metrics_train":
        return ("metrics", sorted(metrics.ranking_metrics(als.user_factors, als.item_factors, m, TRAIN, k=3)))
    if entry == "from_sparse":
        return ("interactions", len(mfcore.Interactions.from_sparse(m)))
    if entry == "top_n_exclude":
        ids, _ = top_n(als.user_factors, als.item_factors, exclude=m, N=3)
        return ("top_n", ids.shape)
    if entry == "auc_relevant":
        scores = np.zeros(m.shape, dtype=np.float32)
        return ("auc", metrics.auc_scores(scores, m).shape)
    if entry == "hit_matrix_relevant":
        rec = np.tile(np.arange(3), (m.shape[0], 1))
        return ("hits", metrics.hit_matrix(rec, m).shape)
    if entry == "add_items_genres":
        model = MODELS["GenreALS"]
        model.item_factors_from_genres(m)
        return ("genres",)
    raise ValueError(f"unknown entry {entry}")


def run_model(path):
    """Load a model file and exercise every inference path on it."""
    model = mfcore.load_model(path)
    users = model.user_ids if model.user_ids is not None else np.arange(model.n_users)
    items = model.item_ids if model.item_ids is not None else np.arange(model.n_items)
    u, i = users[0], items[0]
    out = [model.n_users, model.n_items]
    ids, scores = model.recommend(u, N=5)
    out.append(len(ids))
    model.recommend(users[: min(3, len(users))], N=3)
    model.recommend(u, N=3, filter_already_liked_items=False)
    out.append(float(model.predict(u, i)))
    model.predict(users[:2], np.resize(items, 2))
    model.similar_items(i, N=3)
    model.similar_users(u, N=3)
    ratings = np.full(min(3, len(items)), 4.0)
    model.fold_in(items[: len(ratings)], ratings)
    if isinstance(model, mfcore.ImplicitALS):          # implicit's form: the user's interactions given
        row = sp.csr_matrix((ratings, (np.zeros(len(ratings), int), np.arange(len(ratings)))),
                            shape=(1, model.n_items))
        model.explain(u, row, i)
    elif hasattr(model, "explain"):
        model.explain(u, i)
    if getattr(model, "genre_factors", None) is not None:   # GenreALS; ImplicitALS fitted with genres
        model.item_factors_from_genres(sp.csr_matrix(np.eye(1, model.genre_factors.shape[0])))
    return tuple(out)


def handle(request):
    kind = request[0]
    if kind == "sparse":
        _, entry, fmt, shape, arrays = request
        return run_sparse(entry, build(fmt, shape, arrays))
    if kind == "model":
        return run_model(request[1])
    if kind == "ping":
        return ("pong",)
    raise ValueError(f"unknown request {kind}")


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        request = pickle.loads(stdin.read(struct.unpack("<I", head)[0]))
        try:
            answer = ("ok", handle(request))
        except Exception as exc:  # noqa: BLE001 - reported to the test, which judges it
            answer = ("error", type(exc).__name__, str(exc), [c.__name__ for c in type(exc).__mro__])
        data = pickle.dumps(answer)
        stdout.write(struct.pack("<I", len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
