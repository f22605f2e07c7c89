"""Validation grid behind GenreALS's defaults (issue 12): worst-case gap to each split's best.

Usage (from the repository root; 1 thread per process, results appended to a JSON-lines file so a run
can be resumed or split over processes)::

    D=/work/shared/data/ml-latest-small
    python benchmarks/tools/genre_als_default_grid.py run --data $D --grid union --splits temporal,random \\
        --out /tmp/grid_warm.jsonl
    python benchmarks/tools/genre_als_default_grid.py run --data $D --grid union --splits cold43,cold44,cold45 \\
        --out /tmp/grid_cold.jsonl
    python benchmarks/tools/genre_als_default_grid.py summary /tmp/grid_warm.jsonl /tmp/grid_cold.jsonl

Protocol (validation splits only; no test set is ever scored here). Three outer splits of
ml-latest-small, as in ``benchmarks/quality.py``; a validation split is carved from each outer train set
by the same rule:

- ``temporal``: per-user temporal 80/20 of the temporal 80/20 train set;
- ``random``: random 80/20 (seed 43) of the random 80/20 train set (seed 42);
- ``cold43``, ``cold44``, ``cold45``: 10% of the movies (seeds 43, 44, 45) held out with all their ratings
  from the train set of the seed-42 item cold-start split; the cold-start figure is the mean of the three
  RMSEs.

``GenreALS`` is fitted on the inner train ``Interactions`` (genres and release-year buckets from the titles,
as a user gets them), 1 thread, ``random_state=0``, every other argument at its class default except the four
of the grid -- ``regularization`` (lambda), ``genre_weight`` (tau), ``bias_regularization`` (lambda_b),
``genre_bias_weight`` (tau_b) -- and the validation RMSE is taken on unclipped predictions. ``summary``
takes each split's best RMSE over every grid point in the files, the gap of every point to it, and ranks the
points by their largest gap (temporal, random, cold-start mean).

Grids: ``third`` is the third pass's 144 points (docs/accuracy.md), ``outward`` extends it past its edges
(smaller lambda, larger tau), ``union`` is both; ``diagonal`` follows the valley of the first two (lambda *
tau ~ 150-300) to smaller lambda and larger tau; ``refine`` is a finer grid around the best of those
three, and ``far`` goes further along the valley around the best of the four; ``all`` is the five (the grid
behind the defaults, docs/accuracy.md, fourth pass).

Importing this module runs nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

#: The third pass's grid: lambda x tau x lambda_b x tau_b.
THIRD = list(itertools.product((0.15, 0.25, 0.5, 1.0), (100.0, 300.0, 1000.0), (0.3, 1.0, 3.0),
                               (1.0, 3.0, 10.0, 30.0)))
#: Past the third pass's edges (its optimum sat at lambda 0.15, the smallest, and tau 1000, the largest).
OUTWARD = list(itertools.product((0.08, 0.1, 0.15, 0.2), (1000.0, 2000.0, 5000.0), (0.5, 1.0, 2.0),
                                 (1.0, 3.0, 10.0)))
#: Further along the valley the first two show (validation RMSE is lowest where lambda * tau ~ 150-300):
#: smaller lambda with larger tau, to check that the pick is not at an edge of the searched region.
DIAGONAL = list(itertools.product(((0.03, 5000.0), (0.05, 2000.0), (0.05, 3000.0), (0.05, 5000.0),
                                   (0.08, 3000.0), (0.03, 3000.0), (0.12, 1500.0)),
                                  (0.5, 1.0, 2.0), (1.0, 3.0, 10.0)))
DIAGONAL = [(lam, tau, lb, tb) for (lam, tau), lb, tb in DIAGONAL]
#: Around the best of the three (lambda 0.1, tau 1000, lambda_b 0.5, tau_b 3), with lambda_b and tau_b
#: between and below the earlier values (lambda_b 0.5 was the smallest of the outward grid).
REFINE = list(itertools.product((0.08, 0.1, 0.12), (1000.0, 1500.0), (0.2, 0.3, 0.5, 0.7), (2.0, 3.0, 5.0)))
#: Further still along the valley, and finer in lambda_b / tau_b, around the best of the four above
#: (lambda 0.03, tau 5000, lambda_b 1, tau_b 3, at the edge of ``diagonal``).
FAR = [(lam, tau, lb, tb) for (lam, tau), lb, tb in itertools.product(
    ((0.01, 15000.0), (0.02, 7500.0), (0.02, 5000.0), (0.03, 7500.0), (0.03, 5000.0), (0.04, 4000.0)),
    (0.7, 1.0, 1.5), (2.0, 3.0, 5.0))]
GRIDS = {"third": THIRD, "outward": OUTWARD, "diagonal": DIAGONAL, "refine": REFINE, "far": FAR,
         "union": list(dict.fromkeys(THIRD + OUTWARD)),
         "all": list(dict.fromkeys(THIRD + OUTWARD + DIAGONAL + REFINE + FAR))}
SPLITS = ("temporal", "random", "cold43", "cold44", "cold45")
COLD = ("cold43", "cold44", "cold45")
KEYS = ("regularization", "genre_weight", "bias_regularization", "genre_bias_weight")


def validation_splits(data, names=SPLITS):
    """``{name: (inner_train, validation)}`` for the requested validation splits (``Interactions``)."""
    from mfcore.data.split import item_cold_start_split, random_split, temporal_split

    out = {}
    if "temporal" in names:
        out["temporal"] = temporal_split(temporal_split(data, test_fraction=0.2)[0], test_fraction=0.2)
    if "random" in names:
        out["random"] = random_split(random_split(data, test_fraction=0.2, random_state=42)[0],
                                     test_fraction=0.2, random_state=43)
    cold = [n for n in names if n.startswith("cold")]
    if cold:
        outer = item_cold_start_split(data, item_fraction=0.1, random_state=42)[0]
        for n in cold:
            out[n] = item_cold_start_split(outer, item_fraction=0.1, random_state=int(n[4:]))
    return out


def validation_rmse(params, inner, valid):
    """Validation RMSE (unclipped) of GenreALS fitted on ``inner`` with ``params``."""
    import numpy as np
    from mfcore.metrics import rmse
    from mfcore.models import GenreALS

    model = GenreALS(num_threads=1, random_state=0, calculate_training_loss=False, **params)
    model.fit(inner, show_progress=False)
    users = np.asarray(inner.user_ids)[np.asarray(valid.users)]
    items = np.asarray(inner.item_ids)[np.asarray(valid.items)]
    return float(rmse(np.asarray(valid.ratings, dtype=np.float64), model.predict(users, items, clip=False)))


def _key(params):
    return tuple(float(params[k]) for k in KEYS)


def run(args):
    from mfcore.data.movielens import load_movielens

    names = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = sorted(set(names) - set(SPLITS))
    if bad:
        raise SystemExit(f"unknown splits {bad}; choose from {SPLITS}")
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as fh:
            done = {(r["split"], _key(r["params"])) for r in map(json.loads, fh)}
    splits = validation_splits(load_movielens(args.data, cache=False), names)
    grid = GRIDS[args.grid]
    with open(args.out, "a") as fh:
        for point in grid:
            params = dict(zip(KEYS, point))
            for name in names:
                if (name, point) in done:
                    continue
                start = time.perf_counter()
                value = validation_rmse(params, *splits[name])
                fh.write(json.dumps({"split": name, "params": params, "rmse": value,
                                     "seconds": round(time.perf_counter() - start, 3)}) + "\n")
                fh.flush()
                print(f"{name:9s} {params} {value:.5f}", flush=True)


def summarize(paths, top=20, defaults=None):
    """Rows ``(worst_gap, gaps, rmses, params)`` sorted by worst gap, over points scored on all five splits."""
    table = {}
    for path in paths:
        with open(path) as fh:
            for r in map(json.loads, fh):
                table.setdefault(_key(r["params"]), {})[r["split"]] = r["rmse"]
    complete = {k: v for k, v in table.items() if all(s in v for s in SPLITS)}
    if not complete:
        raise SystemExit("no grid point is scored on all five splits yet")
    rows = {}
    for k, v in complete.items():
        rows[k] = (v["temporal"], v["random"], sum(v[c] for c in COLD) / len(COLD))
    best = [min(r[j] for r in rows.values()) for j in range(3)]
    argbest = [min(rows, key=lambda k, j=j: rows[k][j]) for j in range(3)]
    ranked = sorted(((max(r[j] - best[j] for j in range(3)), tuple(r[j] - best[j] for j in range(3)), r, k)
                     for k, r in rows.items()), key=lambda t: (t[0], sum(t[1])))
    return {"n_points": len(rows), "best": best, "argbest": argbest, "ranked": ranked[:top],
            "all": {k: (max(r[j] - best[j] for j in range(3)), r) for k, r in rows.items()}}


def _fmt(k):
    return "lambda {:g}, tau {:g}, lambda_b {:g}, tau_b {:g}".format(*k)


def summary(args):
    s = summarize(args.files, top=args.top)
    print(f"{s['n_points']} grid points scored on all five validation splits")
    for name, b, k in zip(("temporal", "random", "cold start (mean of 3)"), s["best"], s["argbest"]):
        print(f"  best {name}: {b:.4f} ({_fmt(k)})")
    print("\n| lambda | tau | lambda_b | tau_b | temporal | random | cold (mean) | gaps | worst gap |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    shown = list(s["ranked"])
    for extra in args.also:
        k = tuple(float(x) for x in extra.split(","))
        if k in s["all"] and all(k != row[3] for row in shown):
            worst, r = s["all"][k]
            shown.append((worst, tuple(r[j] - s["best"][j] for j in range(3)), r, k))
    for worst, gaps, r, k in shown:
        print("| {:g} | {:g} | {:g} | {:g} | ".format(*k) + " | ".join(f"{x:.4f}" for x in r)
              + " | " + " / ".join(f"{g:.4f}" for g in gaps) + f" | {worst:.4f} |")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="score grid points on validation splits (appends to --out)")
    r.add_argument("--data", required=True, help="ml-latest-small directory")
    r.add_argument("--grid", choices=sorted(GRIDS), default="union")
    r.add_argument("--splits", default=",".join(SPLITS), help=f"comma-separated subset of {SPLITS}")
    r.add_argument("--out", required=True, help="JSON-lines file (appended; points already in it are skipped)")
    s = sub.add_parser("summary", help="rank the scored points by their worst-case gap")
    s.add_argument("files", nargs="+")
    s.add_argument("--top", type=int, default=20)
    s.add_argument("--also", action="append", default=[],
                   help="also show this point: lambda,tau,lambda_b,tau_b (repeatable)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    (run if args.command == "run" else summary)(args)


if __name__ == "__main__":
    sys.exit(main())
