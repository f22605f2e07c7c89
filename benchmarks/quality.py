"""Rating-prediction accuracy of mfcore next to peer libraries on MovieLens ml-latest-small.

Usage (from the repository root)::

    MFCORE_DATA_HOME=/work/shared/data python benchmarks/quality.py
    python benchmarks/quality.py --data /work/shared/data/ml-latest-small --libs baseline,mfcore,cmfrec

Protocol
--------
Warm start: a per-user temporal 80/20 split (``temporal_split(data, 0.2)``: the
latest 20% of each user's ratings are the test set). Hyper-parameters are chosen
on a validation split carved from train in the same way (the latest 20% of each
user's *training* ratings), by validation RMSE over a small grid per library
(stage 1: K and the penalty, bias penalty tied to it; stage 2: the bias penalty
alone around the stage-1 best);
the best setting is refitted on the whole training set and scored once on test
(RMSE and MAE). Predictions are not clipped to the rating scale for any library.
A test pair that a library cannot score (e.g. an item with no training rating
in LensKit) gets the bias-baseline prediction; the count of such pairs is shown.

Item cold start: ``item_cold_start_split(data, 0.1)`` holds out 10% of the
rated movies with all their ratings. The bias baseline predicts ``mu + b_u`` for
them; ExplicitALS likewise (a movie without ratings has a zero vector and bias);
GenreALS predicts from the movie's genres, with the genre prior on item vectors
only (``genre_bias_weight=0``) or on vectors and biases. Weights are chosen on a
validation cold-start split of the training movies (another 10%).

Importing this module has no side effects and imports no peer library (asv
imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_LIBS = "baseline,mfcore,cmfrec,lenskit,surprise"

#: Stage 1: library -> parameter dicts tried on the validation split (bias penalty tied to the factor penalty).
GRIDS = {
    "baseline": [{"regularization": r} for r in (1.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0)],
    "mfcore": (
        [{"factors": k, "regularization": lam, "regularization_scaling": "none"}
         for k, lam in itertools.product((8, 16, 32, 64), (2.0, 5.0, 10.0, 20.0))]
        + [{"factors": k, "regularization": lam, "regularization_scaling": "count"}
           for k, lam in itertools.product((8, 16, 32, 64), (0.02, 0.05, 0.1, 0.2))]
    ),
    "cmfrec": (
        [{"factors": k, "regularization": lam, "scale_lam": False}
         for k, lam in itertools.product((8, 16, 32, 64), (10.0, 20.0, 40.0))]
        + [{"factors": k, "regularization": lam, "scale_lam": True}
           for k, lam in itertools.product((8, 16, 32, 64), (0.05, 0.1, 0.2))]
    ),
    # LensKit scales the ALS penalty by each row's rating count; its biases are damped means (damping).
    "lenskit": [{"factors": k, "regularization": lam}
                for k, lam in itertools.product((8, 16, 32, 64), (0.03, 0.1, 0.3, 1.0))],
    "surprise": [{"factors": k, "regularization": reg, "lr": lr, "iterations": 20}
                 for k, reg, lr in itertools.product((16, 50, 100), (0.02, 0.05, 0.1), (0.005, 0.01))],
    # Side information (genres) and implicit information: grids kept small (cmfrec with I and SVD++ are slow).
    "mfcore-genre": [{"regularization": lam, "genre_weight": tau}
                     for lam, tau in itertools.product((0.5, 1.0, 2.0, 5.0), (30.0, 100.0, 300.0))],
    "mfcore-genre-years": [{"regularization": lam, "genre_weight": tau}
                           for lam, tau in itertools.product((0.5, 1.0, 2.0, 5.0), (30.0, 100.0, 300.0))],
    "cmfrec-genre": [{"factors": k, "regularization": lam, "scale_lam": True}
                     for k, lam in itertools.product((16, 32, 64), (0.05, 0.1, 0.2))]
                    + [{"factors": 32, "regularization": lam, "scale_lam": False} for lam in (10.0, 20.0, 40.0)],
    "cmfrec-omf": [{"factors": 32, "regularization": lam, "maxiter": 200} for lam in (10.0, 30.0)],
    # SVD++ takes minutes per fit here: its own default K = 20, three penalties.
    "surprise-svdpp": [{"factors": 20, "regularization": reg, "lr": 0.007, "iterations": 20}
                       for reg in (0.02, 0.05, 0.1)],
}

#: Rows scored at the library's own defaults (class defaults; no tuning), next to the tuned row.
#: ``mfcore-genre-years`` is fitted on the training ``Interactions`` itself, as a user would: GenreALS then
#: adds the release-year buckets from the titles (``release_years=True``); ``mfcore-genre`` is given the genres
#: as ``item_genres=`` (genres only).
DEFAULT_ROWS = {"mfcore": ("mfcore ExplicitALS at its defaults", "mfcore-defaults"),
                "mfcore-genre": ("mfcore GenreALS at its defaults, genres only (item_genres=)",
                                 "mfcore-genre-defaults"),
                "mfcore-genre-years": ("mfcore GenreALS at its defaults on the Interactions (genres + "
                                       "release-year buckets from the titles)", "mfcore-genre-years-defaults")}


def _bias_stage(best):
    lam = best["regularization"]
    return [dict(best, bias_regularization=round(lam * f, 6)) for f in (0.1, 0.2, 0.5, 2.0)]


#: Stage 2: library -> function(best stage-1 params) -> more parameter dicts (the bias penalty on its own).
STAGE2 = {
    "baseline": lambda best: [],
    "mfcore": _bias_stage,
    "cmfrec": _bias_stage,
    "lenskit": lambda best: [dict(best, damping=d) for d in (0.5, 2.0, 10.0, 25.0)],
    "surprise": _bias_stage,
    "mfcore-genre": lambda best: [dict(best, bias_regularization=b, genre_bias_weight=gb)
                                  for b, gb in ((1.0, 10.0), (5.0, 10.0), (2.0, 30.0), (2.0, 100.0))],
    "mfcore-genre-years": lambda best: [dict(best, bias_regularization=b, genre_bias_weight=gb)
                                        for b, gb in ((1.0, 10.0), (5.0, 10.0), (2.0, 30.0), (2.0, 100.0))],
    "cmfrec-genre": lambda best: [dict(best, w_item=w) for w in (0.1, 0.3, 3.0, 10.0)],
    "cmfrec-omf": lambda best: [],
    "surprise-svdpp": lambda best: [],
}

#: Fixed settings shared by all grid points (iterations: epochs of the ALS models).
FIXED = {"baseline": {}, "mfcore": {"iterations": 15}, "cmfrec": {"iterations": 15},
         "lenskit": {"iterations": 15, "damping": 5.0}, "surprise": {}, "mfcore-genre": {}, "mfcore-genre-years": {},
         "cmfrec-genre": {"iterations": 15}, "cmfrec-omf": {}, "surprise-svdpp": {}}

COLD_GRID_VECTORS = [{"genre_weight": w, "genre_bias_weight": 0.0} for w in (1.0, 3.0, 10.0, 30.0, 100.0)]
COLD_GRID_BIASES = [{"genre_weight": w, "genre_bias_weight": b}
                    for w, b in itertools.product((3.0, 10.0, 30.0, 100.0), (3.0, 10.0, 30.0, 100.0))]


def _peers():
    try:
        from . import _peers as peers
    except ImportError:  # run as a script: benchmarks/ is sys.path[0]
        import _peers as peers
    return peers


def _pairs(inter):
    import numpy as np

    return (np.asarray(inter.users, dtype=np.int64), np.asarray(inter.items, dtype=np.int64),
            np.asarray(inter.ratings, dtype=np.float64))


def _scores(y, pred):
    from mfcore.metrics import mae, rmse

    return rmse(y, pred), mae(y, pred)


def _fill(pred, fallback):
    import numpy as np

    pred = np.asarray(pred, dtype=np.float64)
    bad = ~np.isfinite(pred)
    if bad.any():
        pred = np.where(bad, fallback, pred)
    return pred, int(bad.sum())


def evaluate_lib(lib, train, valid_train, valid, test, threads, log, item_genres=None):
    """Grid on (valid_train -> valid), refit best on train, score on test. Returns a result dict."""
    peers = _peers()
    label, fit0 = peers.RATING_MODELS[lib]
    if lib in peers.USES_GENRES:
        def fit(X, params, threads):
            return fit0(X, params, threads, item_genres=item_genres)
    else:
        fit = fit0
    tu, ti, ty = _pairs(valid)
    su, si, sy = _pairs(test)
    vt_csr, tr_csr = valid_train.user_items(), train.user_items()
    fb_valid = peers.fit_bias_baseline(vt_csr, {}, threads)(tu, ti)
    fb_test = peers.fit_bias_baseline(tr_csr, {}, threads)(su, si)
    grid = []
    start = time.perf_counter()

    def run(params):
        pred, n_fill = _fill(fit(vt_csr, params, threads)(tu, ti), fb_valid)
        grid.append((_scores(ty, pred)[0], params, n_fill))

    for params in GRIDS[lib]:
        run(dict(FIXED[lib], **params))
    for params in STAGE2[lib](min(grid, key=lambda g: g[0])[1]):
        run(params)
    grid_seconds = time.perf_counter() - start
    best_rmse, best, _ = min(grid, key=lambda g: g[0])
    t0 = time.perf_counter()
    predict = fit(tr_csr, best, threads)
    fit_seconds = time.perf_counter() - t0
    pred, n_fill = _fill(predict(su, si), fb_test)
    rmse, mae = _scores(sy, pred)
    log(f"  {label}: best {best} valid RMSE {best_rmse:.4f} -> test RMSE {rmse:.4f} MAE {mae:.4f} "
        f"({len(grid)} grid fits in {grid_seconds:.1f} s; refit {fit_seconds:.2f} s; {n_fill} test pairs filled)")
    return {"lib": lib, "label": label, "best_params": best, "valid_rmse": best_rmse, "test_rmse": rmse,
            "test_mae": mae, "n_filled": n_fill, "grid_size": len(grid), "grid_seconds": grid_seconds,
            "refit_seconds": fit_seconds, "grid": [{"valid_rmse": g[0], "params": g[1], "n_filled": g[2]}
                                                    for g in grid]}


def evaluate_defaults(lib, train, valid_train, valid, test, threads, log, item_genres=None):
    """An mfcore model at its class defaults (nothing tuned): validation and test RMSE/MAE."""
    peers = _peers()
    label, key = DEFAULT_ROWS[lib]
    fit = peers.fit_mfcore_genre if lib in peers.USES_GENRES else peers.fit_mfcore_explicit_params
    out = {}
    for name, X, part in (("valid", valid_train, valid), ("test", train, test)):
        u, i, y = _pairs(part)
        if lib == "mfcore-genre-years":
            pred = _genre_defaults_on_interactions(X, threads).predict
        else:
            pred = fit(X.user_items(), {}, threads, item_genres=item_genres)
        out[name] = _scores(y, pred(u, i))
    log(f"  {label}: valid RMSE {out['valid'][0]:.4f} -> test RMSE {out['test'][0]:.4f} MAE {out['test'][1]:.4f}")
    return {"lib": key, "label": label, "best_params": {"(class defaults)": True}, "valid_rmse": out["valid"][0],
            "test_rmse": out["test"][0], "test_mae": out["test"][1], "n_filled": 0, "status": "ok"}


class _IndexPredictor:
    """A model fitted on an ``Interactions`` (raw ids), predicting (user index, item index) pairs."""

    def __init__(self, model, X):
        import numpy as np

        self.model, self.user_ids, self.item_ids = model, np.asarray(X.user_ids), np.asarray(X.item_ids)

    def predict(self, users, items):
        import numpy as np

        return self.model.predict(self.user_ids[np.asarray(users)], self.item_ids[np.asarray(items)], clip=False)


def _genre_defaults_on_interactions(X, threads, **params):
    """GenreALS at its class defaults (but ``params``) fitted on an ``Interactions`` (it reads genres and
    titles itself); ``.predict`` takes index pairs."""
    from mfcore.models import GenreALS

    model = GenreALS(num_threads=threads, random_state=0, calculate_training_loss=False, **params)
    return _IndexPredictor(model.fit(X, show_progress=False), X)


# --------------------------------------------------------------------------- cold start


def _cold_genre_fit(train_csr, genres, params, threads):
    from mfcore.models import GenreALS

    model = GenreALS(num_threads=threads, random_state=0, **params)
    model.fit(train_csr, item_genres=genres, show_progress=False)
    return model


#: Cold-start grids of the side-information peers (run when their library is in ``--libs``).
COLD_PEER_GRIDS = {
    "cmfrec-genre": [{"factors": 32, "regularization": lam, "scale_lam": True, "w_item": w, "iterations": 15}
                     for lam, w in itertools.product((0.05, 0.1, 0.2), (1.0, 10.0))],
    # OMF's L-BFGS fit takes minutes here (~6 min under load at maxiter 200): two points only.
    "cmfrec-omf": [{"factors": 32, "regularization": lam, "maxiter": 200} for lam in (10.0, 30.0)],
}


def cold_start(data, threads, log, item_fraction=0.1, seed=0, libs=()):
    """Bias baseline vs ExplicitALS vs GenreALS (vector prior / vector + bias prior) on held-out movies.

    ``seed`` seeds the held-out movies (``item_cold_start_split(..., random_state=seed)``); the
    validation movies are drawn from train with ``seed + 1``. Side-information peers in ``libs``
    (``cmfrec-genre``, ``cmfrec-omf``) are tuned on the same validation movies.
    """
    import numpy as np

    from mfcore.data.split import item_cold_start_split
    from mfcore.models import ExplicitALS

    peers = _peers()
    train, test = item_cold_start_split(data, item_fraction=item_fraction, random_state=seed)
    vtrain, valid = item_cold_start_split(train, item_fraction=item_fraction, random_state=seed + 1)
    genres = data.item_genres
    tr_csr, vt_csr = train.user_items(), vtrain.user_items()
    tu, ti, ty = _pairs(valid)
    su, si, sy = _pairs(test)
    n_cold = int(np.unique(si).size)
    log(f"  cold start: {n_cold} held-out movies with {len(sy):,} ratings; train {len(train):,} ratings; "
        f"validation: {int(np.unique(ti).size)} movies / {len(ty):,} ratings")
    rows = []

    def tune(name, grid, fit_predict):
        start = time.perf_counter()
        scored = []
        for params in grid:
            scored.append((_scores(ty, fit_predict(vt_csr, params)(tu, ti))[0], params))
        best_valid, best = min(scored, key=lambda s: s[0])
        pred = fit_predict(tr_csr, best)(su, si)
        rmse, mae = _scores(sy, pred)
        log(f"  {name}: best {best} valid RMSE {best_valid:.4f} -> held-out RMSE {rmse:.4f} MAE {mae:.4f} "
            f"({len(grid)} grid fits, {time.perf_counter() - start:.1f} s)")
        rows.append({"model": name, "best_params": best, "valid_rmse": best_valid, "test_rmse": rmse,
                     "test_mae": mae, "grid": [{"valid_rmse": s[0], "params": s[1]} for s in scored]})

    tune("bias baseline (mu + b_u)", GRIDS["baseline"],
         lambda X, p: peers.fit_bias_baseline(X, p, threads))

    def explicit(X, p):
        model = ExplicitALS(num_threads=threads, random_state=0, **p).fit(X, show_progress=False)
        return functools.partial(model.predict, clip=False)        # no library is clipped here

    tune("ExplicitALS (no genres)", [{"factors": 32, "regularization": lam, "bias_regularization": lam}
                                     for lam in (2.0, 5.0, 10.0)], explicit)

    def genre(X, p):
        return functools.partial(_cold_genre_fit(X, genres, p, threads).predict, clip=False)

    tune("GenreALS, genre prior on vectors only (genre_bias_weight=0)", COLD_GRID_VECTORS, genre)
    tune("GenreALS, genre prior on vectors and biases", COLD_GRID_BIASES, genre)
    tune("GenreALS at its defaults, genres only (item_genres=)", [{}], genre)
    if getattr(data, "titles", None) is not None:
        def genre_years(X, p):     # tune() passes tr_csr or vt_csr: fit on the Interactions they came from
            return _genre_defaults_on_interactions(train if X is tr_csr else vtrain, threads).predict

        tune("GenreALS at its defaults on the Interactions (genres + release-year buckets from the titles)",
             [{}], genre_years)

        def genre_years_prior(X, p):
            return _genre_defaults_on_interactions(train if X is tr_csr else vtrain, threads,
                                                   cold_bias="prior").predict

        tune("GenreALS as above with cold_bias='prior' (the cold bias from the genre prior, as before issue 12)",
             [{}], genre_years_prior)

        def genre_years_no_offset(X, p):
            return _genre_defaults_on_interactions(train if X is tr_csr else vtrain, threads,
                                                   cold_user_bias=None).predict

        tune("GenreALS at its defaults on the Interactions with cold_user_bias=None (no per-user offset for "
             "unrated movies, as before)", [{}], genre_years_no_offset)
    for lib in libs:
        if lib not in COLD_PEER_GRIDS:
            continue
        ok, info = peers.library_status(peers.RATING_LIBRARY[lib])
        if not ok:
            log(f"  cold start: {lib} skipped: {info}")
            continue
        fit = peers.RATING_MODELS[lib][1]

        def side(X, p, fit=fit):
            fb = peers.fit_bias_baseline(X, {}, threads)
            pred = fit(X, p, threads, item_genres=genres)

            def predict(users, items):
                out = pred(users, items)
                return _fill(out, fb(users, items))[0]

            return predict

        tune(peers.RATING_MODELS[lib][0], COLD_PEER_GRIDS[lib], side)
    return {"n_cold_items": n_cold, "n_test_ratings": int(len(sy)), "rows": rows, "seed": seed,
            "note": "GenreALS other settings at their defaults: " + _class_defaults()}


def _class_defaults():
    import inspect

    from mfcore.models import GenreALS

    sig = inspect.signature(GenreALS)
    names = ("factors", "regularization", "bias_regularization", "genre_weight", "genre_bias_weight",
             "genre_regularization", "iterations", "cold_user_bias")
    return ", ".join(f"{n} {sig.parameters[n].default}" for n in names)


# --------------------------------------------------------------------------- main


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def default_data():
    home = os.environ.get("MFCORE_DATA_HOME")
    return str(Path(home) / "ml-latest-small") if home else None


def build_parser():
    p = argparse.ArgumentParser(prog="quality.py", description="Test RMSE/MAE of mfcore and peers on MovieLens.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Importing this module")[0])
    p.add_argument("--data", default=None,
                   help="MovieLens folder (default $MFCORE_DATA_HOME/ml-latest-small)")
    p.add_argument("--libs", default=DEFAULT_LIBS, help=f"libraries (default {DEFAULT_LIBS})")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per library (default 1: the data are small and the machine may be shared)")
    p.add_argument("--split", choices=("temporal", "random"), default="temporal",
                   help="warm-start split: per-user temporal 80/20 (default) or random 80/20 (seeded by --seed); "
                        "the validation split is carved from train by the same rule")
    p.add_argument("--seed", type=int, default=42, help="seed of the random split (default 42)")
    p.add_argument("--cold-seeds", default="0",
                   help="comma-separated seeds of the item cold-start split (default 0; the issue's target uses 42)")
    p.add_argument("--no-warm", action="store_true", help="skip the warm-start comparison")
    p.add_argument("--no-cold-start", action="store_true", help="skip the item cold-start comparison")
    p.add_argument("--json", help="write all results (grids included) to this file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    peers = _peers()
    data_path = args.data or default_data()
    if not data_path:
        raise SystemExit("--data not given and MFCORE_DATA_HOME is not set")
    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    for lib in libs:
        if lib not in peers.RATING_MODELS:
            raise SystemExit(f"--libs: unknown library {lib!r}; known: {', '.join(peers.RATING_MODELS)}")

    from mfcore.data.movielens import load_movielens
    from mfcore.data.split import random_split, temporal_split

    up_start = _uptime()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    log(f"# quality.py  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n# {up_start}\n# python "
        f"{platform.python_version()}, threads {args.threads}")
    versions, missing = {}, {}
    for lib in libs:
        if lib == "baseline":
            continue
        ok, info = peers.library_status(peers.RATING_LIBRARY.get(lib, lib))
        (versions if ok else missing)[lib] = info
        log(f"#   {lib}: {info}")

    data = load_movielens(data_path, cache=False)
    if args.split == "temporal":
        train, test = temporal_split(data, test_fraction=0.2)
        valid_train, valid = temporal_split(train, test_fraction=0.2)
        split_text = "per-user temporal 80/20 split"
    else:
        train, test = random_split(data, test_fraction=0.2, random_state=args.seed)
        valid_train, valid = random_split(train, test_fraction=0.2, random_state=args.seed + 1)
        split_text = f"random 80/20 split (seed {args.seed}; validation: random 20% of train, seed {args.seed + 1})"
    log(f"# data: {data_path}: {data.n_users} users, {data.n_items} movies, {len(data):,} ratings; "
        f"train {len(train):,} / test {len(test):,}; validation: {len(valid_train):,} / {len(valid):,}")

    results = []
    for lib in ([] if args.no_warm else libs):
        side = data.item_genres
        if lib in peers.USES_YEARS:
            from mfcore.data import item_features_with_years

            side = item_features_with_years(data.item_genres, data.genre_names, list(data.titles))[0]
        if lib in DEFAULT_ROWS:
            results.append(evaluate_defaults(lib, train, valid_train, valid, test, args.threads, log,
                                             item_genres=side))
        if lib in missing:
            results.append({"lib": lib, "label": lib, "status": "n/a", "error": missing[lib]})
            continue
        try:
            res = evaluate_lib(lib, train, valid_train, valid, test, args.threads, log, item_genres=side)
            res["status"] = "ok"
        except Exception as exc:  # one library failing must not hide the others
            res = {"lib": lib, "label": peers.RATING_MODELS[lib][0], "status": "error",
                   "error": f"{exc.__class__.__name__}: {exc}"}
            log(f"  {lib}: error: {res['error']}")
        results.append(res)

    cold_seeds = [int(x) for x in args.cold_seeds.split(",") if x.strip()]
    colds = [] if args.no_cold_start else [cold_start(data, args.threads, log, seed=sd, libs=libs)
                                           for sd in cold_seeds]
    cold = colds[0] if colds else None

    print()
    print(f"Warm start: {Path(data_path).name}, {split_text} ({len(train):,} train / "
          f"{len(test):,} test ratings); hyper-parameters by validation RMSE (latest 20% of each user's "
          f"train ratings), refit on all of train.")
    print()
    print("| model | version | best setting (validation) | valid RMSE | test RMSE | test MAE | filled |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in results:
        ver = versions.get(r["lib"], "mfcore" if r["lib"].startswith(("baseline", "mfcore")) else "")
        if r.get("status") != "ok":
            print(f"| {r['label']} | {ver} | {r.get('status')}: {r.get('error', '')[:80]} | | | | |")
            continue
        setting = ", ".join(f"{k}={v}" for k, v in r["best_params"].items())
        print(f"| {r['label']} | {ver} | {setting} | {r['valid_rmse']:.4f} | {r['test_rmse']:.4f} | "
              f"{r['test_mae']:.4f} | {r['n_filled']} |")
    for cold in colds:
        print()
        print(f"Item cold start (seed {cold['seed']}): {cold['n_cold_items']} movies (10%) held out with their "
              f"{cold['n_test_ratings']:,} ratings; RMSE/MAE on those ratings. {cold['note']}.")
        print()
        print("| model | best setting (validation) | valid RMSE | held-out RMSE | held-out MAE |")
        print("|---|---|---:|---:|---:|")
        for r in cold["rows"]:
            setting = ", ".join(f"{k}={v}" for k, v in r["best_params"].items()) or "(class defaults)"
            print(f"| {r['model']} | {setting} | {r['valid_rmse']:.4f} | {r['test_rmse']:.4f} | "
                  f"{r['test_mae']:.4f} |")
    if len(colds) > 1:
        print()
        print(f"Mean held-out RMSE over cold-start seeds {cold_seeds}:")
        for j, r in enumerate(colds[0]["rows"]):
            vals = [c["rows"][j]["test_rmse"] for c in colds if j < len(c["rows"])]
            print(f"- {r['model']}: {sum(vals) / len(vals):.4f}")
    up_end = _uptime()
    print(f"\n# start: {up_start}\n# end:   {up_end}")
    print(f"# command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"data": data_path, "split": args.split, "versions": versions, "missing": missing,
                       "warm": results, "cold": cold, "cold_all": colds,
                       "uptime_start": up_start, "uptime_end": up_end, "argv": sys.argv}, fh, indent=1)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
