"""Top-10 ranking quality of mfcore next to implicit and LightFM on MovieLens ml-latest-small.

Usage (from the repository root, in an environment with the peers installed)::

    MFCORE_DATA_HOME=/work/shared/data python benchmarks/ranking_quality.py
    python benchmarks/ranking_quality.py --data /work/shared/data/ml-latest-small --threads 1 --json out.json

Protocol
--------
Per-user temporal 80/20 split (``temporal_split(data, 0.2)``; ``--split random``:
``random_split(data, 0.2, random_state=--seed)``, validation likewise). For every user,
the relevant items are the test items rated >= 4; the candidates are the items
not in the user's training set (any training rating). Every model is scored by
the same code, ``mfcore.metrics.ranking_metrics(U, V, train, test, k=10,
item_bias=b, threshold=4.0)`` on the float32 factor matrices of the trained
model (``train`` / ``test`` = ``Interactions.user_items()``): Precision, Recall,
NDCG and MAP at 10, and AUC over the candidates.

LightFM's ``-genres`` rows give it item features (item id one-hot and the genre
multi-hot, rows normalised), so it can score never-rated movies from their genres.
``mfcore-ials-genres`` is ImplicitALS with its genre prior (``fit(item_genres=...)``;
item vectors pulled toward their genres' centroid, so never-liked movies get one);
its defaults row is the class defaults; ``-years`` gives it the genres with release-year
buckets appended (``mfcore.data.features.item_features_with_years``): what ImplicitALS
builds itself at its defaults (``release_years=True``) when fitted on an ``Interactions``
with titles, so that row's defaults are ``ImplicitALS().fit(train)``'s figures. ``cornac-bpr`` is cornac's BPR (item bias on;
its defaults: learning rate 0.001, lambda 0.01, 100 epochs), on the same BPR grid.

Implicit-feedback models (BPR, implicit ALS, LightFM) train on the training
ratings >= 4, binarised, with K = 64. ExplicitALS trains on all training
ratings and ranks by ``u.v + b_i`` (and, as a second row, by ``u.v`` alone,
``bias_weight=0``).

Tuning: each library's grid (the same size for mfcore and its peer) is fitted on
a validation split carved from train the same way (``temporal_split(train,
0.2)``), scored by validation NDCG@10 (candidates: items not in the validation
training set), and the best setting is refitted on all of train and scored on
test. Each library is also reported at its defaults (K = 64), scored the same
way. ALS confidence is ``c = 1 + alpha`` on positives for both mfcore and
implicit (implicit is given the values ``1 + alpha``; its own default on binary
data is c = 1, i.e. ``alpha = 0`` here).

mfcore's ImplicitALS rows score ``u.v + b_i`` with the model's own fixed item bias
(``popularity_bias``: ``b_i = beta log(1 + n_i)``, n_i the item's training ratings; the
class default applies in every row and grid); implicit's ALS has no item bias. Likewise every mfcore
ImplicitALS row and grid point uses the class's frequency-scaled regularization
(``regularization_exponent`` / ``item_regularization_exponent``) unless the row's parameters set it.

Everything is seeded (``seed`` below) and runs with the same thread count for
every library (``--threads``, default 1: results are then reproducible).

Importing this module has no side effects and imports no peer library (asv
imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

K = 64
SEED = 0

#: Library defaults (K fixed at 64). implicit ALS alpha=0 means c = 1 (implicit's own default on binary data).
#: LightFM's fit() defaults to 1 epoch; 30 (the smaller grid value) is used as its "default".
DEFAULTS = {
    "mfcore-bpr": {"factors": K, "learning_rate": 0.05, "regularization": 0.005, "bias_regularization": 0.001,
                   "iterations": 400},
    "mfcore-bpr-genres-years": {"factors": K},
    "implicit-bpr": {"factors": K, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    "mfcore-ials": {"factors": K, "regularization": 30.0, "alpha": 4.0, "iterations": 15},
    "implicit-als": {"factors": K, "regularization": 0.01, "alpha": 0.0, "iterations": 15},
    "cornac-bpr": {"factors": K, "learning_rate": 0.001, "regularization": 0.01, "iterations": 100},
    "mfcore-ials-genres": {"factors": K},
    "mfcore-ials-genres-years": {"factors": K},
    "mfcore-explicit": {"factors": K},
    "mfcore-explicit-nobias": {"factors": K},
    "lightfm-bpr": {"factors": K, "loss": "bpr", "learning_rate": 0.05, "epochs": 30},
    "lightfm-warp": {"factors": K, "loss": "warp", "learning_rate": 0.05, "epochs": 30},
    "lightfm-bpr-genres": {"factors": K, "loss": "bpr", "learning_rate": 0.05, "epochs": 30},
    "lightfm-warp-genres": {"factors": K, "loss": "warp", "learning_rate": 0.05, "epochs": 30},
}

_BPR_GRID = [{"factors": K, "learning_rate": lr, "regularization": reg, "iterations": 100}
             for lr, reg in itertools.product((0.01, 0.05), (0.01, 0.001))]
_ALS_GRID = [{"factors": K, "regularization": reg, "alpha": a, "iterations": 15}
             for reg, a in itertools.product((1.0, 10.0, 30.0), (1.0, 4.0, 10.0))]
_ALS_GENRE_GRID = [{"factors": K, "regularization": reg, "alpha": 4.0, "genre_share": s, "iterations": 15}
                   for reg, s in itertools.product((20.0, 30.0, 45.0), (0.7, 0.9, 0.95))]
_EXPLICIT_GRID = [{"factors": K, "regularization": reg, "bias_regularization": breg}
                  for reg, breg in itertools.product((5.0, 10.0, 20.0), (2.0, 10.0))]

#: row key -> (library, model label, adapter key in _peers.RANKING_MODELS, grid, bias_weight)
ROWS = {
    "mfcore-bpr": ("mfcore", "BPR", ("mfcore", "BPR"), _BPR_GRID, 1.0),
    "mfcore-bpr-genres-years": ("mfcore", "BPR, genre prior, genres + release-year buckets",
                                ("mfcore", "BPR+genres+years"), _BPR_GRID, 1.0),
    "implicit-bpr": ("implicit", "BayesianPersonalizedRanking", ("implicit", "BayesianPersonalizedRanking"),
                     _BPR_GRID, 1.0),
    "mfcore-ials": ("mfcore", "ImplicitALS", ("mfcore", "ImplicitALS"), _ALS_GRID, 1.0),
    "implicit-als": ("implicit", "AlternatingLeastSquares", ("implicit", "AlternatingLeastSquares"), _ALS_GRID, 1.0),
    "mfcore-ials-genres": ("mfcore", "ImplicitALS, genre prior", ("mfcore", "ImplicitALS+genres"), _ALS_GENRE_GRID,
                           1.0),
    "mfcore-ials-genres-years": ("mfcore", "ImplicitALS, genre prior, genres + release-year buckets",
                                 ("mfcore", "ImplicitALS+genres+years"), _ALS_GENRE_GRID, 1.0),
    "cornac-bpr": ("cornac", "BPR", ("cornac", "BPR"), _BPR_GRID, 1.0),
    "lightfm-bpr": ("lightfm", "LightFM(loss='bpr')", ("lightfm", "LightFM"),
                    [{"factors": K, "loss": "bpr", "learning_rate": 0.05, "epochs": e} for e in (30, 100)], 1.0),
    "lightfm-warp": ("lightfm", "LightFM(loss='warp')", ("lightfm", "LightFM"),
                     [{"factors": K, "loss": "warp", "learning_rate": 0.05, "epochs": e} for e in (30, 100)], 1.0),
    "lightfm-bpr-genres": ("lightfm", "LightFM(loss='bpr'), item features: id + genres",
                           ("lightfm", "LightFM+genres"),
                           [{"factors": K, "loss": "bpr", "learning_rate": 0.05, "epochs": e} for e in (30, 100)], 1.0),
    "lightfm-warp-genres": ("lightfm", "LightFM(loss='warp'), item features: id + genres",
                            ("lightfm", "LightFM+genres"),
                            [{"factors": K, "loss": "warp", "learning_rate": 0.05, "epochs": e} for e in (30, 100)],
                            1.0),
    "mfcore-explicit": ("mfcore", "ExplicitALS, score u.v + b_i", ("mfcore", "ExplicitALS"), _EXPLICIT_GRID, 1.0),
    "mfcore-explicit-nobias": ("mfcore", "ExplicitALS, score u.v (bias_weight 0)", ("mfcore", "ExplicitALS"),
                               _EXPLICIT_GRID, 0.0),
}
DEFAULT_ROWS = ",".join(ROWS)


def _quality():
    try:
        from . import quality
    except ImportError:  # run as a script: benchmarks/ is sys.path[0]
        import quality
    return quality


def _score(factors, train_csr, test_csr, bias_weight, threads):
    from mfcore.metrics import ranking_metrics

    U, V, b = factors
    return ranking_metrics(U, V, train_csr, test_csr, k=10, item_bias=b, bias_weight=bias_weight,
                           threshold=4.0, num_threads=threads)


def evaluate_row(key, splits, threads, log, fit_cache, item_genres=None):
    """Defaults and tuned best of one row: grid on validation by NDCG@10, refit on train, score on test."""
    peers = _quality()._peers()
    lib, label, adapter_key, grid, bias_weight = ROWS[key]
    fit = peers.RANKING_MODELS[adapter_key]
    if adapter_key in peers.RANKING_USES_GENRES:
        fit0 = fit

        def fit(X, params, threads):
            return fit0(X, params, threads, item_genres=item_genres)
    vt_csr, v_csr, tr_csr, te_csr = splits

    def factors(which, params):
        # ExplicitALS rows share fits (only bias_weight differs): cache by adapter, split and params.
        ck = (adapter_key, which, json.dumps(params, sort_keys=True))
        if ck not in fit_cache:
            t0 = time.perf_counter()
            fit_cache[ck] = (fit(vt_csr if which == "valid" else tr_csr, dict(params, seed=SEED), threads),
                             time.perf_counter() - t0)
        return fit_cache[ck]

    start = time.perf_counter()
    grid_scores = []
    for params in grid:
        f, secs = factors("valid", params)
        m = _score(f, vt_csr, v_csr, bias_weight, threads)
        grid_scores.append({"params": params, "valid": m, "fit_seconds": secs})
        log(f"    {key} {params}: valid NDCG@10 {m['ndcg']:.4f} P@10 {m['precision']:.4f} ({secs:.1f} s)")
    best = max(grid_scores, key=lambda g: g["valid"]["ndcg"])
    f, refit_secs = factors("train", best["params"])
    test = _score(f, tr_csr, te_csr, bias_weight, threads)
    tuned = {"row": key, "lib": lib, "model": label, "kind": "tuned", "params": best["params"],
             "valid": best["valid"], "test": test, "refit_seconds": refit_secs, "grid": grid_scores,
             "grid_seconds": time.perf_counter() - start}
    dparams = DEFAULTS[key]
    dvalid = _score(factors("valid", dparams)[0], vt_csr, v_csr, bias_weight, threads)
    dfac, dsecs = factors("train", dparams)
    defaults = {"row": key, "lib": lib, "model": label, "kind": "defaults", "params": dparams, "valid": dvalid,
                "test": _score(dfac, tr_csr, te_csr, bias_weight, threads), "refit_seconds": dsecs}
    for r in (tuned, defaults):
        log(f"  {lib} {label} [{r['kind']}] {r['params']}: valid NDCG@10 {r['valid']['ndcg']:.4f} -> test "
            f"P@10 {r['test']['precision']:.4f} NDCG@10 {r['test']['ndcg']:.4f} AUC {r['test']['auc']:.4f}")
    return [tuned, defaults]


def _setting(params, row=None):
    if (row in ("mfcore-explicit", "mfcore-explicit-nobias", "mfcore-ials-genres", "mfcore-ials-genres-years",
                "mfcore-bpr-genres-years") and set(params) == {"factors"}):
        import inspect

        from mfcore.models import BPR, ExplicitALS, ImplicitALS

        if row == "mfcore-bpr-genres-years":
            sig = inspect.signature(BPR)
            names = ("learning_rate", "regularization", "bias_regularization", "iterations", "genre_share")
        elif row in ("mfcore-ials-genres", "mfcore-ials-genres-years"):
            sig = inspect.signature(ImplicitALS)
            names = ("regularization", "alpha", "genre_share", "genre_regularization", "popularity_bias",
                     "regularization_exponent", "item_regularization_exponent", "iterations")
        else:
            sig = inspect.signature(ExplicitALS)
            names = ("regularization", "bias_regularization", "iterations")
        params = {k: sig.parameters[k].default for k in names}
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "factors")


def build_parser():
    q = _quality()
    p = argparse.ArgumentParser(prog="ranking_quality.py",
                                description="Top-10 ranking quality of mfcore, implicit and LightFM on MovieLens.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Importing this module")[0])
    p.add_argument("--data", default=q.default_data(),
                   help="MovieLens folder (default $MFCORE_DATA_HOME/ml-latest-small)")
    p.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated rows (default: all: {DEFAULT_ROWS})")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for every library, BLAS included (default 1: reproducible; the machine is shared)")
    p.add_argument("--split", choices=("temporal", "random"), default="temporal",
                   help="per-user temporal 80/20 (default) or random 80/20 (seed --seed); validation carved from "
                        "train by the same rule")
    p.add_argument("--seed", type=int, default=42, help="seed of the random split (default 42)")
    p.add_argument("--json", help="write all results (grids included) to this file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    q = _quality()
    peers = q._peers()
    if not args.data:
        raise SystemExit("--data not given and MFCORE_DATA_HOME is not set")
    rows = [s.strip() for s in args.rows.split(",") if s.strip()]
    for key in rows:
        if key not in ROWS:
            raise SystemExit(f"--rows: unknown row {key!r}; known: {DEFAULT_ROWS}")
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")

    from threadpoolctl import threadpool_limits

    from mfcore.data.movielens import load_movielens
    from mfcore.data.split import random_split, temporal_split

    up_start = q._uptime()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    log(f"# ranking_quality.py  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n# {up_start}\n# python "
        f"{platform.python_version()}, threads {args.threads} for every library (BLAS limited likewise), seed {SEED}")
    versions, missing = {}, {}
    for lib in sorted({ROWS[k][0] for k in rows}):
        ok, info = peers.library_status(lib)
        (versions if ok else missing)[lib] = info
        log(f"#   {lib}: {info}")

    data = load_movielens(args.data, cache=False)
    if args.split == "temporal":
        train, test = temporal_split(data, 0.2)
        valid_train, valid = temporal_split(train, 0.2)
        split_text = "per-user temporal 80/20 split"
    else:
        train, test = random_split(data, 0.2, random_state=args.seed)
        valid_train, valid = random_split(train, 0.2, random_state=args.seed + 1)
        split_text = f"random 80/20 split (seed {args.seed}; validation seed {args.seed + 1})"
    splits = (valid_train.user_items(), valid.user_items(), train.user_items(), test.user_items())
    log(f"# data: {args.data}: {data.n_users} users, {data.n_items} movies, {len(data):,} ratings; "
        f"train {len(train):,} ({int((splits[2].data >= 4).sum()):,} >= 4) / test {len(test):,} "
        f"({int((splits[3].data >= 4).sum()):,} relevant); validation {len(valid_train):,} / {len(valid):,}")

    from mfcore.data.features import item_features_with_years

    with_years = None
    if any(ROWS[k][2] in peers.RANKING_USES_YEARS for k in rows):
        with_years, _ = item_features_with_years(data.item_genres, data.genre_names, data.titles)
    results, fit_cache = [], {}
    t_all = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        for key in rows:
            lib = ROWS[key][0]
            if lib in missing:
                results.append({"row": key, "lib": lib, "model": ROWS[key][1], "status": "n/a",
                                "error": missing[lib]})
                continue
            try:
                features = with_years if ROWS[key][2] in peers.RANKING_USES_YEARS else data.item_genres
                for r in evaluate_row(key, splits, args.threads, log, fit_cache, item_genres=features):
                    r["status"] = "ok"
                    results.append(r)
            except Exception as exc:  # one library failing must not hide the others
                results.append({"row": key, "lib": lib, "model": ROWS[key][1], "status": "error",
                                "error": f"{exc.__class__.__name__}: {exc}"})
                log(f"  {key}: error: {results[-1]['error']}")
    total = time.perf_counter() - t_all

    print()
    print(f"{Path(args.data).name}, {split_text}; relevant = test rating >= 4, candidates = items "
          f"not in the user's train set; K = {K}; metrics by mfcore.metrics.ranking_metrics for every library; "
          f"tuned = best validation NDCG@10 (80/20 of train, same rule), refitted on train; {args.threads} thread(s), "
          f"seed {SEED}.")
    print()
    print("| library | model | best setting | valid NDCG@10 | test P@10 | test NDCG@10 | test Recall@10 | "
          "test AUC | test MAP@10 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ver = versions.get(r["lib"], "")
        name = f"{r['lib']} {ver}".strip()
        if r.get("status") != "ok":
            print(f"| {name} | {r['model']} | {r.get('status')}: {r.get('error', '')[:80]} | | | | | | |")
            continue
        t = r["test"]
        setting = ("tuned: " if r["kind"] == "tuned" else "defaults: ") + _setting(r["params"], r["row"])
        print(f"| {name} | {r['model']} | {setting} | {r['valid']['ndcg']:.4f} | {t['precision']:.4f} | "
              f"{t['ndcg']:.4f} | {t['recall']:.4f} | {t['auc']:.4f} | {t['map']:.4f} |")
    n_users = next((r["test"]["n_users"] for r in results if r.get("status") == "ok"), None)
    print(f"\n(test users with a relevant item: {n_users}; total time {total:.0f} s)")

    def find(row, kind):
        return next((r for r in results if r["row"] == row and r.get("kind") == kind and r.get("status") == "ok"),
                    None)

    bpr, als, als0 = find("mfcore-bpr", "tuned"), find("mfcore-explicit", "tuned"), find("mfcore-explicit-nobias",
                                                                                          "tuned")
    if bpr and als:
        p_bpr, p_als = bpr["test"]["precision"], als["test"]["precision"]
        extra = f"; ExplicitALS with bias_weight 0: {als0['test']['precision']:.4f}" if als0 else ""
        dbpr, dals = find("mfcore-bpr", "defaults"), find("mfcore-explicit", "defaults")
        if dbpr and dals:
            extra += (f"; at defaults: BPR {dbpr['test']['precision']:.4f} vs ExplicitALS "
                      f"{dals['test']['precision']:.4f}")
        print(f"\nDoes BPR beat ExplicitALS on Precision@10 here? {'Yes' if p_bpr > p_als else 'No'}: "
              f"mfcore BPR {p_bpr:.4f} vs ExplicitALS (u.v + b_i) {p_als:.4f} (tuned, test){extra}. "
              f"(Reference paper, ML-32M: BPR 0.24 vs ALS 0.21.)")
    up_end = q._uptime()
    print(f"\n# start: {up_start}\n# end:   {up_end}")
    print(f"# command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"data": args.data, "threads": args.threads, "seed": SEED, "versions": versions,
                       "missing": missing, "results": results, "uptime_start": up_start, "uptime_end": up_end,
                       "argv": sys.argv}, fh, indent=1, default=float)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
