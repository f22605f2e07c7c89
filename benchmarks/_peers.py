"""Adapters that run mfcore and peer libraries the same way, for ``compare.py`` and ``quality.py``.

Nothing here imports a peer library at module level: every adapter imports its
library inside the function and raises :class:`PeerUnavailable` when it is not
installed, so asv (which imports every module of ``benchmarks/``) and users
without the peers can import this module.

Two kinds of adapters:

* speed runners, ``RUNNERS[model][lib](user_items, spec) -> dict``: train one
  model on a users x items CSR and return per-epoch seconds plus how they were
  measured (see :func:`measure_mfcore` for the fields);
* rating predictors, ``RATING_MODELS[lib](train, params, num_threads) ->
  predict(users, items)``: used by the accuracy comparison.

Add a library or a model by writing one function and adding it to the table.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import scipy.sparse as sp

#: Distribution name of each library (for the version shown in reports).
DISTRIBUTIONS = {
    "mfcore": "mfcore",
    "cmfrec": "cmfrec",
    "implicit": "implicit",
    "lenskit": "lenskit",
    "surprise": "scikit-surprise",
    "lightfm": "lightfm",
    "cornac": "cornac",
}

#: Forks installed under another distribution name (lightfm 1.17 no longer builds with current setuptools;
#: lightfm-next is a maintained fork with the same ``lightfm`` module).
ALTERNATIVE_DISTRIBUTIONS = {"lightfm": ("lightfm-next",)}

#: Module imported to check that a library is usable.
MODULES = {
    "mfcore": "mfcore",
    "cmfrec": "cmfrec",
    "implicit": "implicit",
    "lenskit": "lenskit.als",
    "surprise": "surprise",
    "lightfm": "lightfm",
    "cornac": "cornac",
}


class PeerUnavailable(RuntimeError):
    """A library is not installed / not importable, or does not offer the requested variant."""


def library_status(lib: str):
    """Return ``(available, version_or_reason)`` for a library name of :data:`DISTRIBUTIONS`."""
    import importlib
    from importlib import metadata

    if lib not in MODULES:
        return False, f"unknown library {lib!r}; known: {', '.join(MODULES)}"
    try:
        importlib.import_module(MODULES[lib])
    except ImportError as exc:
        return False, f"not installed ({exc.__class__.__name__}: {exc})"
    except Exception as exc:  # a broken install (e.g. ABI mismatch) is reported, not raised
        return False, f"import failed ({exc.__class__.__name__}: {exc})"
    for dist in (DISTRIBUTIONS[lib],) + ALTERNATIVE_DISTRIBUTIONS.get(lib, ()):
        try:
            return True, (metadata.version(dist) if dist == DISTRIBUTIONS[lib]
                          else f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return True, "unknown version"


def _require(lib: str):
    ok, why = library_status(lib)
    if not ok:
        raise PeerUnavailable(f"{lib}: {why}")


def median(values):
    return float(statistics.median(values)) if len(values) else float("nan")


def _coo(user_items):
    coo = sp.coo_matrix(user_items)
    return coo


def _positives(user_items, threshold):
    """Binary users x items CSR (float32 ones) of the entries with value >= threshold."""
    csr = sp.csr_matrix(user_items, dtype=np.float32)
    keep = csr.data >= threshold if threshold is not None else np.ones(csr.nnz, dtype=bool)
    coo = csr.tocoo()
    out = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (coo.row[keep], coo.col[keep])), shape=csr.shape)
    out.sort_indices()
    return out


# --------------------------------------------------------------------------- speed runners
#
# spec keys: factors (int), threads (int), solver ("cholesky" | "cg"), epochs (int, timed epochs),
# warmup (int, untimed leading epochs), regularization (float), seed (int).
# A runner returns {"epoch_seconds": [...timed epochs...], "method": str, "fit_seconds": float
# (wall time of one whole fit of warmup + epochs epochs, setup included), "notes": str}.


def _per_epoch_result(per_epoch, warmup, fit_seconds, method, notes="", cpu=None):
    timed = [float(s) for s in per_epoch[warmup:]]
    out = {"epoch_seconds": timed, "all_epoch_seconds": [float(s) for s in per_epoch],
           "fit_seconds": float(fit_seconds), "method": method, "notes": notes}
    if cpu is not None:
        out["epoch_cpu_seconds"] = [float(c) for c in cpu[warmup:]]
    return out


class _CpuClock:
    """Process CPU seconds (all threads) between successive ``tick()`` calls."""

    def __init__(self):
        self.last = time.process_time()
        self.deltas = []

    def tick(self):
        now = time.process_time()
        self.deltas.append(now - self.last)
        self.last = now


def measure_mfcore(model, X, warmup):
    """Fit an mfcore model; per-epoch seconds are fit() wall time between epoch callbacks.

    Epoch e's wall time is the time from the previous epoch's callback (the start of ``fit``
    for the first) to its own: everything ``fit`` does for that epoch, training metrics
    included -- what a user waits for. ``history_``'s ``seconds`` (the kernel calls only)
    are kept as ``kernel_epoch_seconds``.
    """
    clock = _CpuClock()
    stamps = []

    def callback(*_):
        stamps.append(time.perf_counter())
        clock.tick()

    start = time.perf_counter()
    model.fit(X, show_progress=False, callback=callback)
    fit_seconds = time.perf_counter() - start
    per_epoch = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    out = _per_epoch_result(per_epoch, warmup, fit_seconds,
                            "mfcore fit() wall time between epoch callbacks (metrics included), median after "
                            "warm-up; kernel column: history_[e]['seconds']", cpu=clock.deltas)
    out["kernel_epoch_seconds"] = [float(rec["seconds"]) for rec in model.history_[warmup:]]
    return out


def run_mfcore_explicit(user_items, spec):
    from mfcore.models import ExplicitALS

    model = ExplicitALS(factors=spec["factors"], regularization=spec.get("regularization", 5.0),
                        bias_regularization=spec.get("regularization", 5.0),
                        iterations=spec["warmup"] + spec["epochs"], solver=spec["solver"], cg_steps=3,
                        dtype="float32", num_threads=spec["threads"], random_state=spec.get("seed", 0))
    return measure_mfcore(model, user_items, spec["warmup"])


def run_mfcore_implicit_als(user_items, spec):
    from mfcore.models import ImplicitALS

    pos = _positives(user_items, spec.get("positive_threshold", 4.0))
    model = ImplicitALS(factors=spec["factors"], regularization=spec.get("regularization", 0.05), alpha=1.0,
                        iterations=spec["warmup"] + spec["epochs"], solver=spec["solver"], cg_steps=3,
                        positive_threshold=None, binarize=True, dtype="float32", num_threads=spec["threads"],
                        random_state=spec.get("seed", 0),
                        # implicit's single lambda (the per-row scale costs nothing measurable, but the
                        # speed comparison keeps the same objective as the peers)
                        regularization_exponent=0.0, item_regularization_exponent=None)
    return measure_mfcore(model, pos, spec["warmup"])


def run_mfcore_bpr(user_items, spec):
    from mfcore.models import BPR

    if spec["solver"] != "sgd":
        raise PeerUnavailable("BPR has no solver choice (use --solvers sgd)")
    pos = _positives(user_items, spec.get("positive_threshold", 4.0))
    model = BPR(factors=spec["factors"], iterations=spec["warmup"] + spec["epochs"], positive_threshold=None,
                dtype="float32", num_threads=spec["threads"], random_state=spec.get("seed", 0))
    return measure_mfcore(model, pos, spec["warmup"])


def _cmfrec_fit_seconds(make, X, niter):
    model = make(niter)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(X)
    return time.perf_counter() - start, time.process_time() - cpu


def _difference_method(make, X, warmup, epochs, repeats, what, budget=None):
    """Per-epoch seconds as (t(warmup + epochs) - t(warmup)) / epochs over ``repeats`` pairs of fits.

    With ``budget`` (seconds), a slow library gets fewer timed epochs: after the first short fit the
    number of extra epochs k is cut to ``max(1, floor(budget / t_short) - 1)`` (and one pair of fits).
    """
    warmup = max(1, int(warmup))  # cmfrec needs niter >= 1
    estimates, cpu, long_fits = [], [], []
    for rep in range(max(1, int(repeats))):
        short, short_cpu = _cmfrec_fit_seconds(make, X, warmup)
        if budget and rep == 0 and short * (1 + epochs) > budget:
            epochs = max(1, int(budget // short) - 1)
            repeats = 1
        long, long_cpu = _cmfrec_fit_seconds(make, X, warmup + epochs)
        long_fits.append(long)
        estimates.append((long - short) / epochs)
        cpu.append((long_cpu - short_cpu) / epochs)
        if rep + 1 >= repeats:
            break
    return {"epoch_seconds": estimates, "all_epoch_seconds": estimates, "fit_seconds": median(long_fits),
            "epoch_cpu_seconds": cpu,
            "method": (f"{what}: (fit time with niter={warmup + epochs} minus with niter={warmup}) / {epochs}; "
                       f"median over {len(estimates)} pair(s) of fits"),
            "notes": ""}


def run_cmfrec_explicit(user_items, spec):
    _require("cmfrec")
    import cmfrec

    X = _coo(user_items)
    reg = spec.get("regularization", 5.0)

    def make(niter):
        return cmfrec.CMF(k=spec["factors"], lambda_=reg, method="als", use_cg=spec["solver"] == "cg",
                          max_cg_steps=3, finalize_chol=False, user_bias=True, item_bias=True, center=True,
                          niter=niter, precompute_for_predictions=False, use_float=True, nthreads=spec["threads"],
                          random_state=spec.get("seed", 0) + 1, verbose=False)

    return _difference_method(make, X, spec["warmup"], spec["epochs"], spec.get("repeats", 1),
                              "cmfrec has no per-epoch hook", budget=spec.get("budget"))


def run_cmfrec_implicit_als(user_items, spec):
    _require("cmfrec")
    import cmfrec

    X = _coo(_positives(user_items, spec.get("positive_threshold", 4.0)))

    def make(niter):
        return cmfrec.CMF_implicit(k=spec["factors"], lambda_=spec.get("regularization", 0.05), alpha=1.0,
                                   use_cg=spec["solver"] == "cg", max_cg_steps=3, finalize_chol=False, niter=niter,
                                   precompute_for_predictions=False, use_float=True, nthreads=spec["threads"],
                                   random_state=spec.get("seed", 0) + 1, verbose=False)

    return _difference_method(make, X, spec["warmup"], spec["epochs"], spec.get("repeats", 1),
                              "cmfrec has no per-epoch hook", budget=spec.get("budget"))


def _implicit_callback_run(model, X, warmup):
    per_epoch = []
    clock = _CpuClock()

    def callback(it, elapsed, *rest):
        clock.tick()
        per_epoch.append(float(elapsed))

    start = time.perf_counter()
    model.fit(X, show_progress=False, callback=callback)
    fit_seconds = time.perf_counter() - start
    return _per_epoch_result(per_epoch, warmup, fit_seconds,
                             "implicit fit(callback=...) elapsed time of each iteration, median after warm-up",
                             cpu=clock.deltas)


def run_implicit_als(user_items, spec):
    _require("implicit")
    from implicit.cpu.als import AlternatingLeastSquares

    X = _positives(user_items, spec.get("positive_threshold", 4.0))
    model = AlternatingLeastSquares(factors=spec["factors"], regularization=spec.get("regularization", 0.05),
                                    alpha=1.0, dtype=np.float32, use_native=True, use_cg=spec["solver"] == "cg",
                                    iterations=spec["warmup"] + spec["epochs"], calculate_training_loss=False,
                                    num_threads=spec["threads"], random_state=spec.get("seed", 0))
    return _implicit_callback_run(model, X, spec["warmup"])


def run_implicit_bpr(user_items, spec):
    _require("implicit")
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if spec["solver"] != "sgd":
        raise PeerUnavailable("BPR has no solver choice (use --solvers sgd)")
    X = _positives(user_items, spec.get("positive_threshold", 4.0))
    model = BayesianPersonalizedRanking(factors=spec["factors"], learning_rate=0.05, regularization=0.01,
                                        dtype=np.float32, iterations=spec["warmup"] + spec["epochs"],
                                        num_threads=spec["threads"], random_state=spec.get("seed", 0))
    return _implicit_callback_run(model, X, spec["warmup"])


_LENSKIT_THREADS = []


def _lenskit_init(threads):
    """Configure LensKit's thread pool once per process (it cannot be changed afterwards)."""
    if _LENSKIT_THREADS:
        if _LENSKIT_THREADS[0] != int(threads):
            raise PeerUnavailable(f"LensKit was already initialised with {_LENSKIT_THREADS[0]} threads in this process")
        return
    from lenskit.parallel import initialize

    initialize(threads=int(threads), backend_threads=1)
    _LENSKIT_THREADS.append(int(threads))


def lenskit_dataset(user_items):
    """A LensKit Dataset whose user / item ids are the CSR row / column indices."""
    import pandas as pd
    from lenskit.data import from_interactions_df

    coo = sp.coo_matrix(user_items)
    df = pd.DataFrame({"user_id": coo.row.astype(np.int64), "item_id": coo.col.astype(np.int64),
                       "rating": coo.data.astype(np.float32)})
    return from_interactions_df(df, user_col="user_id", item_col="item_id", rating_col="rating")


def _lenskit_per_epoch(scorer, data, warmup, seed):
    from lenskit.training import TrainingOptions

    start = time.perf_counter()
    trainer = scorer.create_trainer(data, TrainingOptions(rng=seed))
    per_epoch, cpu = [], []
    for _ in range(scorer.config.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train_epoch()
        per_epoch.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    trainer.finalize()
    fit_seconds = time.perf_counter() - start
    return _per_epoch_result(per_epoch, warmup, fit_seconds,
                             "LensKit trainer.train_epoch() timed one by one, median after warm-up", cpu=cpu)


def run_lenskit_explicit(user_items, spec):
    _require("lenskit")
    if spec["solver"] != "cholesky":
        raise PeerUnavailable("LensKit's explicit ALS only solves by Cholesky")
    _lenskit_init(spec["threads"])
    from lenskit.als import BiasedMFScorer

    data = lenskit_dataset(user_items)
    scorer = BiasedMFScorer(embedding_size=spec["factors"], regularization=spec.get("lenskit_regularization", 0.1),
                            damping=5.0, epochs=spec["warmup"] + spec["epochs"])
    out = _lenskit_per_epoch(scorer, data, spec["warmup"], spec.get("seed", 0))
    out["notes"] = "biases fitted once before ALS (damped means), not re-solved per epoch"
    return out


def run_lenskit_implicit_als(user_items, spec):
    _require("lenskit")
    _lenskit_init(spec["threads"])
    from lenskit.als import ImplicitMFScorer

    if spec["solver"] != "cholesky":
        raise PeerUnavailable("LensKit's implicit ALS only solves by Cholesky")
    data = lenskit_dataset(_positives(user_items, spec.get("positive_threshold", 4.0)))
    scorer = ImplicitMFScorer(embedding_size=spec["factors"], regularization=spec.get("regularization", 0.05),
                              weight=1.0, epochs=spec["warmup"] + spec["epochs"])
    return _lenskit_per_epoch(scorer, data, spec["warmup"], spec.get("seed", 0))


def run_lightfm_bpr(user_items, spec):
    _require("lightfm")
    from lightfm import LightFM

    if spec["solver"] != "sgd":
        raise PeerUnavailable("BPR has no solver choice (use --solvers sgd)")
    X = sp.coo_matrix(_positives(user_items, spec.get("positive_threshold", 4.0)))
    model = LightFM(no_components=spec["factors"], loss="bpr", learning_schedule="adagrad",
                    random_state=spec.get("seed", 0))
    per_epoch, cpu = [], []
    start = time.perf_counter()
    for _ in range(spec["warmup"] + spec["epochs"]):
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit_partial(X, epochs=1, num_threads=spec["threads"])
        per_epoch.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    fit_seconds = time.perf_counter() - start
    return _per_epoch_result(per_epoch, spec["warmup"], fit_seconds,
                             "LightFM fit_partial(epochs=1) timed one by one, median after warm-up", cpu=cpu)


#: model -> library -> speed runner. "implicit" is listed only where it has a matching model.
RUNNERS = {
    "explicit": {
        "mfcore": run_mfcore_explicit,
        "cmfrec": run_cmfrec_explicit,
        "lenskit": run_lenskit_explicit,
    },
    "implicit-als": {
        "mfcore": run_mfcore_implicit_als,
        "implicit": run_implicit_als,
        "cmfrec": run_cmfrec_implicit_als,
        "lenskit": run_lenskit_implicit_als,
    },
    "bpr": {
        "mfcore": run_mfcore_bpr,
        "implicit": run_implicit_bpr,
        "lightfm": run_lightfm_bpr,
    },
}

#: What each model is called in each library (for the report).
MODEL_NAMES = {
    ("explicit", "mfcore"): "ExplicitALS",
    ("explicit", "cmfrec"): "CMF(method='als', user_bias, item_bias)",
    ("explicit", "lenskit"): "BiasedMFScorer",
    ("implicit-als", "mfcore"): "ImplicitALS",
    ("implicit-als", "implicit"): "implicit.cpu.als.AlternatingLeastSquares",
    ("implicit-als", "cmfrec"): "CMF_implicit",
    ("implicit-als", "lenskit"): "ImplicitMFScorer",
    ("bpr", "mfcore"): "BPR",
    ("bpr", "implicit"): "implicit.cpu.bpr.BayesianPersonalizedRanking",
    ("bpr", "lightfm"): "LightFM(loss='bpr')",
}


# --------------------------------------------------------------------------- rating predictors
#
# fit_<lib>(train_csr, params, num_threads) -> predict(users, items) -> float64 predictions,
# NaN where the library cannot predict (the caller fills those and counts them).


def fit_mfcore_explicit(train, params, num_threads):
    from mfcore.models import ExplicitALS

    model = ExplicitALS(factors=params["factors"], regularization=params["regularization"],
                        bias_regularization=params.get("bias_regularization", params["regularization"]),
                        iterations=params.get("iterations", 15),
                        regularization_scaling=params.get("regularization_scaling", "none"),
                        num_threads=num_threads, random_state=params.get("seed", 0))
    model.fit(train, show_progress=False)
    return lambda users, items: model.predict(users, items, clip=False)   # no library is clipped here


def fit_bias_baseline(train, params, num_threads):
    from mfcore._reference import bias_baseline

    reg = params.get("regularization", 5.0)
    mu, bu, bi = bias_baseline(train, reg_user=reg, reg_item=reg)
    return lambda users, items: mu + np.asarray(bu)[users] + np.asarray(bi)[items]


def fit_cmfrec_explicit(train, params, num_threads):
    _require("cmfrec")
    import cmfrec

    lam = params["regularization"]
    if "bias_regularization" in params:  # lambda_ order: user_bias, item_bias, A, B, C, D
        b = params["bias_regularization"]
        lam = np.array([b, b, lam, lam, lam, lam], dtype=np.float64)
    model = cmfrec.CMF(k=params["factors"], lambda_=lam, method="als", use_cg=False,
                       user_bias=True, item_bias=True, center=True, scale_lam=params.get("scale_lam", False),
                       niter=params.get("iterations", 15), use_float=True, nthreads=num_threads,
                       random_state=params.get("seed", 0) + 1, verbose=False)
    X = _coo(train)
    model.fit(X)
    # cmfrec returns garbage (|r| ~ 1e34, uninitialised memory) for a user or item that is inside the COO
    # shape but has no rating; such pairs are left to the caller's fallback.
    known_u = np.bincount(X.row, minlength=X.shape[0]) > 0
    known_i = np.bincount(X.col, minlength=X.shape[1]) > 0

    def predict(users, items):
        users, items = np.asarray(users), np.asarray(items)
        out = np.asarray(model.predict(user=users, item=items), dtype=np.float64)
        out[~(known_u[users] & known_i[items])] = np.nan
        return out

    return predict


def fit_lenskit_explicit(train, params, num_threads):
    _require("lenskit")
    _lenskit_init(num_threads)
    from lenskit.als import BiasedMFScorer
    from lenskit.data import ItemList
    from lenskit.training import TrainingOptions

    scorer = BiasedMFScorer(embedding_size=params["factors"], regularization=params["regularization"],
                            damping=params.get("damping", 5.0), epochs=params.get("iterations", 15))
    scorer.train(lenskit_dataset(train), TrainingOptions(rng=params.get("seed", 0)))

    def predict(users, items):
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.full(users.shape[0], np.nan)
        order = np.argsort(users, kind="stable")
        bounds = np.flatnonzero(np.diff(users[order])) + 1
        for rows in np.split(order, bounds):
            if rows.size == 0:
                continue
            wanted = items[rows].astype(np.int64)
            scored = scorer(int(users[rows[0]]), ItemList(item_ids=wanted))
            ids = np.asarray(scored.ids(), dtype=np.int64)
            vals = scored.scores()
            if vals is None:
                continue
            lookup = dict(zip(ids.tolist(), np.asarray(vals, dtype=np.float64).tolist()))
            out[rows] = [lookup.get(i, np.nan) for i in wanted.tolist()]
        return out

    return predict


def fit_surprise_svd(train, params, num_threads):
    _require("surprise")
    import pandas as pd
    from surprise import SVD, Dataset, Reader

    coo = sp.coo_matrix(train)
    df = pd.DataFrame({"u": coo.row, "i": coo.col, "r": coo.data.astype(np.float64)})
    trainset = Dataset.load_from_df(df[["u", "i", "r"]], Reader(rating_scale=(0.5, 5.0))).build_full_trainset()
    reg = params["regularization"]
    reg_b = params.get("bias_regularization", reg)
    algo = SVD(n_factors=params["factors"], n_epochs=params.get("iterations", 20), lr_all=params.get("lr", 0.005),
               reg_bu=reg_b, reg_bi=reg_b, reg_pu=reg, reg_qi=reg, random_state=params.get("seed", 0))
    algo.fit(trainset)

    def predict(users, items):
        # clip=False: the other libraries do not clip to the rating scale either.
        return np.array([algo.predict(int(u), int(i), clip=False).est for u, i in zip(users, items)])

    return predict


def fit_mfcore_genre(train, params, num_threads, item_genres=None):
    """mfcore GenreALS with the item genres; class defaults for every parameter not in ``params``."""
    from mfcore.models import GenreALS

    if item_genres is None:
        raise PeerUnavailable("GenreALS needs item_genres")
    params = {k: v for k, v in params.items() if k != "seed"}
    model = GenreALS(num_threads=num_threads, random_state=0, calculate_training_loss=False, **params)
    model.fit(train, item_genres=item_genres, show_progress=False)
    return lambda users, items: model.predict(users, items, clip=False)   # no library is clipped here


def fit_mfcore_explicit_params(train, params, num_threads, item_genres=None):
    """mfcore ExplicitALS; class defaults for every parameter not in ``params`` (the "defaults" row)."""
    from mfcore.models import ExplicitALS

    params = {k: v for k, v in params.items() if k != "seed"}
    model = ExplicitALS(num_threads=num_threads, random_state=0, calculate_training_loss=False, **params)
    model.fit(train, show_progress=False)
    return lambda users, items: model.predict(users, items, clip=False)   # no library is clipped here


def _compact(train, item_genres):
    """Drop users / items without a training rating (cmfrec mis-predicts empty rows, see above).

    Returns (COO over the kept rows/columns, user map, item map, genre rows of the kept items or None);
    a map holds the compact index of each original index, -1 where dropped.
    """
    coo = sp.coo_matrix(train)
    keep_u = np.bincount(coo.row, minlength=coo.shape[0]) > 0
    keep_i = np.bincount(coo.col, minlength=coo.shape[1]) > 0
    umap = np.full(coo.shape[0], -1, np.int64)
    imap = np.full(coo.shape[1], -1, np.int64)
    umap[keep_u] = np.arange(int(keep_u.sum()))
    imap[keep_i] = np.arange(int(keep_i.sum()))
    X = sp.coo_matrix((coo.data.astype(np.float64), (umap[coo.row], imap[coo.col])),
                      shape=(int(keep_u.sum()), int(keep_i.sum())))
    G = None
    if item_genres is not None:
        G = sp.csr_matrix(item_genres, dtype=np.float64)
    return X, umap, imap, G, keep_i


def _cmfrec_side_predict(model, umap, imap, G):
    """predict(users, items): known pairs by ``model.predict``; items without training ratings from their
    genres (``predict_new``, cmfrec's cold-start path); unknown users NaN (the caller's fallback)."""

    def predict(users, items):
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        out = np.full(users.shape[0], np.nan)
        cu, ci = umap[users], imap[items]
        warm = (cu >= 0) & (ci >= 0)
        if warm.any():
            out[warm] = np.asarray(model.predict(user=cu[warm], item=ci[warm]), dtype=np.float64)
        cold = (cu >= 0) & (ci < 0)
        if cold.any() and G is not None:
            rows = G[items[cold]].toarray()
            out[cold] = np.asarray(model.predict_new(user=cu[cold], I=rows), dtype=np.float64)
        return out

    return predict


def fit_cmfrec_genre(train, params, num_threads, item_genres=None):
    """cmfrec CMF (ALS, biases) with the genres as item attributes ``I`` (collective model: the item
    factors also reconstruct the genre matrix, weight ``w_item``); new items scored from their genres."""
    _require("cmfrec")
    import cmfrec

    X, umap, imap, G, keep_i = _compact(train, item_genres)
    lam = params["regularization"]
    if "bias_regularization" in params:
        b = params["bias_regularization"]
        lam = np.array([b, b, lam, lam, lam, lam], dtype=np.float64)
    model = cmfrec.CMF(k=params["factors"], lambda_=lam, method="als", use_cg=False, user_bias=True,
                       item_bias=True, center=True, scale_lam=params.get("scale_lam", False),
                       w_item=params.get("w_item", 1.0), niter=params.get("iterations", 15), use_float=True,
                       nthreads=num_threads, random_state=params.get("seed", 0) + 1, verbose=False)
    model.fit(X, I=G[keep_i].toarray())
    return _cmfrec_side_predict(model, umap, imap, G)


def fit_cmfrec_omf(train, params, num_threads, item_genres=None):
    """cmfrec OMF_explicit (offsets: B + I D, L-BFGS) with the genres as item attributes."""
    _require("cmfrec")
    import cmfrec

    X, umap, imap, G, keep_i = _compact(train, item_genres)
    model = cmfrec.OMF_explicit(k=params["factors"], lambda_=params["regularization"], method="lbfgs",
                                user_bias=True, item_bias=True, center=True,
                                maxiter=params.get("maxiter", 10000), use_float=False, nthreads=num_threads,
                                random_state=params.get("seed", 0) + 1, verbose=False)
    model.fit(X, I=G[keep_i].toarray())
    return _cmfrec_side_predict(model, umap, imap, G)


def fit_surprise_svdpp(train, params, num_threads, item_genres=None):
    """Surprise SVD++ (SGD; implicit feedback: which items each user rated)."""
    _require("surprise")
    import pandas as pd
    from surprise import SVDpp, Dataset, Reader

    coo = sp.coo_matrix(train)
    df = pd.DataFrame({"u": coo.row, "i": coo.col, "r": coo.data.astype(np.float64)})
    trainset = Dataset.load_from_df(df[["u", "i", "r"]], Reader(rating_scale=(0.5, 5.0))).build_full_trainset()
    reg = params["regularization"]
    reg_b = params.get("bias_regularization", reg)
    algo = SVDpp(n_factors=params["factors"], n_epochs=params.get("iterations", 20), lr_all=params.get("lr", 0.007),
                 reg_bu=reg_b, reg_bi=reg_b, reg_pu=reg, reg_qi=reg, reg_yj=reg,
                 random_state=params.get("seed", 0), cache_ratings=True)
    algo.fit(trainset)

    def predict(users, items):
        return np.array([algo.predict(int(u), int(i), clip=False).est for u, i in zip(users, items)])

    return predict


#: library -> (label, rating-model fit function)
RATING_MODELS = {
    "baseline": ("bias baseline (mfcore._reference)", fit_bias_baseline),
    "mfcore": ("mfcore ExplicitALS", fit_mfcore_explicit),
    "cmfrec": ("cmfrec CMF (ALS, biases)", fit_cmfrec_explicit),
    "lenskit": ("LensKit BiasedMFScorer", fit_lenskit_explicit),
    "surprise": ("Surprise SVD (SGD)", fit_surprise_svd),
    "mfcore-genre": ("mfcore GenreALS (genres)", fit_mfcore_genre),
    "mfcore-genre-years": ("mfcore GenreALS (genres + release-year buckets)", fit_mfcore_genre),
    "cmfrec-genre": ("cmfrec CMF (ALS, biases, genres as item attributes)", fit_cmfrec_genre),
    "cmfrec-omf": ("cmfrec OMF_explicit (offsets, genres as item attributes)", fit_cmfrec_omf),
    "surprise-svdpp": ("Surprise SVD++ (SGD)", fit_surprise_svdpp),
}

#: Rating models that take the item genres (``fit(train, params, threads, item_genres=G)``).
USES_GENRES = {"mfcore-genre", "mfcore-genre-years", "cmfrec-genre", "cmfrec-omf"}

#: Rating models given the genres with release-year buckets appended (``item_features_with_years``).
USES_YEARS = {"mfcore-genre-years"}

#: The library behind each rating-model key (for the version shown).
RATING_LIBRARY = {"baseline": "mfcore", "mfcore": "mfcore", "mfcore-genre": "mfcore", "mfcore-genre-years": "mfcore", "cmfrec": "cmfrec",
                  "cmfrec-genre": "cmfrec", "cmfrec-omf": "cmfrec", "lenskit": "lenskit", "surprise": "surprise",
                  "surprise-svdpp": "surprise"}


def rss_kib(field="VmHWM"):
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process in KiB, from /proc (None elsewhere)."""
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- ranking factor models
#
# rank_<lib>_<model>(train_csr, params, num_threads) -> (user_factors, item_factors, item_bias or None):
# float32, C-contiguous (n_users, K') / (n_items, K') / (n_items,) arrays such that
# ``user_factors[u] . item_factors[i] + item_bias[i]`` is the library's own ranking score of item i for
# user u (a per-user constant, e.g. a user bias, is left out: it does not change a user's ranking).
# Used by ``ranking_quality.py`` with ``mfcore.metrics.ranking_metrics``. ``train_csr`` holds explicit
# ratings (users x items); the implicit-feedback models train on the binarised entries >= 4.0
# (``params["positive_threshold"]``). ``params["seed"]`` seeds every library.


def _factor_arrays(user_factors, item_factors, item_bias=None):
    U = np.ascontiguousarray(user_factors, dtype=np.float32)
    V = np.ascontiguousarray(item_factors, dtype=np.float32)
    b = None if item_bias is None else np.ascontiguousarray(item_bias, dtype=np.float32)
    return U, V, b


def rank_mfcore_bpr(train, params, num_threads):
    from mfcore.models import BPR

    model = BPR(factors=params["factors"], learning_rate=params["learning_rate"],
                regularization=params["regularization"],
                bias_regularization=params.get("bias_regularization", params["regularization"]),
                iterations=params["iterations"], positive_threshold=params.get("positive_threshold", 4.0),
                num_threads=num_threads, random_state=params.get("seed", 0))
    model.fit(train, show_progress=False)
    return _factor_arrays(model.user_factors, model.item_factors, model.item_bias)


def rank_mfcore_bpr_genres(train, params, num_threads, item_genres=None):
    """mfcore BPR with its genre prior (``fit(item_genres=...)``); ``genre_share`` and the parameters not in
    ``params`` stay at the class defaults."""
    from mfcore.models import BPR

    if item_genres is None:
        raise PeerUnavailable("BPR with the genre prior needs item_genres")
    extra = {k: params[k] for k in ("learning_rate", "regularization", "bias_regularization", "iterations",
                                    "genre_share") if k in params}
    model = BPR(factors=params["factors"], positive_threshold=params.get("positive_threshold", 4.0),
                num_threads=num_threads, random_state=params.get("seed", 0), **extra)
    model.fit(train, item_genres=item_genres, show_progress=False)
    return _factor_arrays(model.user_factors, model.item_factors, model.item_bias)


def rank_mfcore_implicit_als(train, params, num_threads):
    """mfcore ImplicitALS: confidence 1 + alpha on the binarised positives."""
    from mfcore.models import ImplicitALS

    model = ImplicitALS(factors=params["factors"], regularization=params["regularization"], alpha=params["alpha"],
                        iterations=params.get("iterations", 15),
                        positive_threshold=params.get("positive_threshold", 4.0),
                        binarize=True, num_threads=num_threads, random_state=params.get("seed", 0))
    model.fit(train, show_progress=False)
    return _factor_arrays(model.user_factors, model.item_factors, model.item_bias)  # the popularity bias


def rank_mfcore_implicit_als_genres(train, params, num_threads, item_genres=None):
    """mfcore ImplicitALS with its genre prior: ``fit(item_genres=...)``; the parameters not in ``params``
    (``genre_share``, ``genre_regularization``, ``regularization``, ``alpha``) stay at the class defaults."""
    from mfcore.models import ImplicitALS

    if item_genres is None:
        raise PeerUnavailable("ImplicitALS with the genre prior needs item_genres")
    extra = {k: params[k] for k in ("regularization", "alpha", "iterations", "genre_share", "genre_regularization",
                                    "popularity_bias", "regularization_exponent", "item_regularization_exponent")
             if k in params}
    model = ImplicitALS(factors=params["factors"], positive_threshold=params.get("positive_threshold", 4.0),
                        binarize=True, num_threads=num_threads, random_state=params.get("seed", 0), **extra)
    model.fit(train, item_genres=item_genres, show_progress=False)
    return _factor_arrays(model.user_factors, model.item_factors, model.item_bias)


def rank_mfcore_explicit(train, params, num_threads):
    """mfcore ExplicitALS on the ratings; score u.v + b_i (the caller may weight b_i)."""
    from mfcore.models import ExplicitALS

    extra = {k: params[k] for k in ("regularization", "bias_regularization", "iterations") if k in params}
    model = ExplicitALS(factors=params["factors"], num_threads=num_threads, random_state=params.get("seed", 0),
                        **extra)
    model.fit(train, show_progress=False)
    return _factor_arrays(model.user_factors, model.item_factors, model.item_bias)


def rank_implicit_bpr(train, params, num_threads):
    """implicit BPR. Its factors carry the item bias as an extra column (users: a column of ones),
    so the plain dot product of the returned (K+1)-column matrices is implicit's own score."""
    _require("implicit")
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(factors=params["factors"], learning_rate=params["learning_rate"],
                                        regularization=params["regularization"], iterations=params["iterations"],
                                        dtype=np.float32, num_threads=num_threads,
                                        random_state=params.get("seed", 0))
    model.fit(_positives(train, params.get("positive_threshold", 4.0)), show_progress=False)
    U, V = np.asarray(model.user_factors), np.asarray(model.item_factors)
    if U.shape[1] != params["factors"] + 1 or not np.all(U[:, -1] == 1.0):
        raise RuntimeError(f"implicit BPR factors have an unexpected layout: user_factors {U.shape}, expected "
                           f"{params['factors'] + 1} columns with a last column of ones (item bias column)")
    return _factor_arrays(U, V)


def rank_implicit_als(train, params, num_threads):
    """implicit ALS. implicit's confidence is the matrix value itself (times its ``alpha``), so the binarised
    positives are given the value 1 + alpha (implicit's alpha left at 1): the same c = 1 + alpha as
    mfcore's ImplicitALS. ``alpha=0`` is implicit's own default on binary data (c = 1)."""
    _require("implicit")
    from implicit.cpu.als import AlternatingLeastSquares

    X = _positives(train, params.get("positive_threshold", 4.0))
    X.data[:] = 1.0 + float(params["alpha"])
    model = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"], alpha=1.0,
                                    iterations=params.get("iterations", 15), dtype=np.float32,
                                    calculate_training_loss=False, num_threads=num_threads,
                                    random_state=params.get("seed", 0))
    model.fit(X, show_progress=False)
    U, V = np.asarray(model.user_factors), np.asarray(model.item_factors)
    if U.shape[1] != params["factors"] or V.shape[1] != params["factors"]:
        raise RuntimeError(f"implicit ALS factors have {U.shape[1]} / {V.shape[1]} columns, "
                           f"expected {params['factors']}")
    return _factor_arrays(U, V)


def rank_lightfm(train, params, num_threads):
    """LightFM (no features): score = user embedding . item embedding + item bias (+ user bias, dropped)."""
    _require("lightfm")
    from lightfm import LightFM

    model = LightFM(no_components=params["factors"], loss=params["loss"],
                    learning_rate=params.get("learning_rate", 0.05), random_state=params.get("seed", 0))
    X = sp.coo_matrix(_positives(train, params.get("positive_threshold", 4.0)))
    model.fit(X, epochs=params["epochs"], num_threads=num_threads)
    item_bias, item_emb = model.get_item_representations()
    _, user_emb = model.get_user_representations()
    return _factor_arrays(user_emb, item_emb, item_bias)


def rank_lightfm_genres(train, params, num_threads, item_genres=None):
    """LightFM with item features = [item id one-hot | genre multi-hot], each row normalised to sum 1 (as
    LightFM's own ``Dataset.build_item_features`` does). An item's representation is the sum of its features'
    embeddings, so an item without training positives is scored from its genres."""
    _require("lightfm")
    from lightfm import LightFM

    if item_genres is None:
        raise PeerUnavailable("LightFM with genre features needs item_genres")
    n_items = train.shape[1]
    G = sp.csr_matrix(item_genres, dtype=np.float32)
    F = sp.hstack([sp.identity(n_items, dtype=np.float32, format="csr"), G]).tocsr()
    sums = np.asarray(F.sum(axis=1)).ravel()
    F = sp.csr_matrix(sp.diags(1.0 / sums) @ F, dtype=np.float32)
    model = LightFM(no_components=params["factors"], loss=params["loss"],
                    learning_rate=params.get("learning_rate", 0.05), random_state=params.get("seed", 0))
    X = sp.coo_matrix(_positives(train, params.get("positive_threshold", 4.0)))
    model.fit(X, item_features=F, epochs=params["epochs"], num_threads=num_threads)
    item_bias, item_emb = model.get_item_representations(F)
    _, user_emb = model.get_user_representations()
    return _factor_arrays(user_emb, item_emb, item_bias)


def rank_cornac_bpr(train, params, num_threads):
    """cornac BPR (item bias on). The dataset is built with identity id maps over ALL users and items, so
    cornac's indices are ours and items without training positives are still sampled as negatives (as in
    mfcore and implicit). cornac runs single-threaded whenever it is seeded (its own rule), whatever
    ``num_threads`` says. Score: u . v_i + b_i (cornac's own ``score``)."""
    _require("cornac")
    from collections import OrderedDict

    from cornac.data import Dataset
    from cornac.models import BPR

    X = _positives(train, params.get("positive_threshold", 4.0)).tocoo()
    n_users, n_items = X.shape
    users = OrderedDict((u, u) for u in range(n_users))
    items = OrderedDict((i, i) for i in range(n_items))
    data = list(zip(X.row.tolist(), X.col.tolist(), [1.0] * X.nnz))
    ds = Dataset.build(data, global_uid_map=users, global_iid_map=items, seed=params.get("seed", 0))
    if ds.num_items != n_items or ds.num_users != n_users:
        raise RuntimeError(f"cornac dataset has {ds.num_users} users / {ds.num_items} items, expected "
                           f"{n_users} / {n_items}")
    model = BPR(k=params["factors"], max_iter=params["iterations"], learning_rate=params["learning_rate"],
                lambda_reg=params["regularization"], num_threads=num_threads, seed=params.get("seed", 0))
    model.fit(ds)
    return _factor_arrays(model.u_factors, model.i_factors, model.i_biases)


#: (library, model) -> ranking factor adapter
RANKING_MODELS = {
    ("mfcore", "BPR"): rank_mfcore_bpr,
    ("mfcore", "BPR+genres+years"): rank_mfcore_bpr_genres,
    ("mfcore", "ImplicitALS"): rank_mfcore_implicit_als,
    ("mfcore", "ImplicitALS+genres"): rank_mfcore_implicit_als_genres,
    ("mfcore", "ImplicitALS+genres+years"): rank_mfcore_implicit_als_genres,
    ("mfcore", "ExplicitALS"): rank_mfcore_explicit,
    ("implicit", "BayesianPersonalizedRanking"): rank_implicit_bpr,
    ("implicit", "AlternatingLeastSquares"): rank_implicit_als,
    ("lightfm", "LightFM"): rank_lightfm,
    ("lightfm", "LightFM+genres"): rank_lightfm_genres,
    ("cornac", "BPR"): rank_cornac_bpr,
}

#: Ranking adapters that take ``item_genres=``.
RANKING_USES_GENRES = {("lightfm", "LightFM+genres"), ("mfcore", "ImplicitALS+genres"),
                       ("mfcore", "ImplicitALS+genres+years"), ("mfcore", "BPR+genres+years")}

#: Ranking adapters given the genres with release-year buckets appended (``mfcore.data.features``).
RANKING_USES_YEARS = {("mfcore", "ImplicitALS+genres+years"), ("mfcore", "BPR+genres+years")}
