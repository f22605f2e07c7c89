"""How ImplicitALS's ``regularization_exponent`` / ``item_regularization_exponent`` defaults were chosen.

Validation only (never a test split): on ml-latest-small, with the protocol of
``benchmarks/ranking_quality.py`` (ratings >= 4 binarised, K = 64, genre prior with
release-year buckets, the class's other defaults), a validation split is carved from
the train part of the per-user temporal 80/20 split (temporal again) and of the random
80/20 split (seed 42; validation seed 43). Each setting (nu_user, nu_item, lambda) is
fitted with seeds 0, 1, 2 and scored by validation NDCG@10 (mean over the seeds). The
pick is the setting with the smallest worst-case gap to each split's best. Run from the
repository root (about 10 minutes on one core)::

    PYTHONPATH=$PWD python benchmarks/tools/ials_regularization_exponent.py \
        --data /work/shared/data/ml-latest-small

``--test`` also prints the test NDCG@10 of the pick and of nu = 0 (for the record; not
used to choose).
"""

from __future__ import annotations

import argparse
import itertools
import sys

USERS = (0.0, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0)
ITEMS = (0.0, 0.0625, 0.125, 0.25)
LAMBDAS = (27.5, 30.0, 32.5)
SEEDS = (0, 1, 2)


def _splits(data, kind):
    from mfcore.data.split import random_split, temporal_split

    if kind == "temporal":
        train, test = temporal_split(data, 0.2)
        valid_train, valid = temporal_split(train, 0.2)
    else:
        train, test = random_split(data, 0.2, random_state=42)
        valid_train, valid = random_split(train, 0.2, random_state=43)
    return valid_train.user_items(), valid.user_items(), train.user_items(), test.user_items()


def _ndcg(X, E, features, params, seed, threads):
    from mfcore.metrics import ranking_metrics
    from mfcore.models import ImplicitALS

    model = ImplicitALS(factors=64, positive_threshold=4.0, binarize=True, num_threads=threads, random_state=seed,
                        **params)
    model.fit(X, item_genres=features, show_progress=False)
    return ranking_metrics(model.user_factors, model.item_factors, X, E, k=10, item_bias=model.item_bias,
                           threshold=4.0, num_threads=threads)["ndcg"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="ials_regularization_exponent.py", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="MovieLens folder (ml-latest-small)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--test", action="store_true", help="also print the test NDCG@10 of the pick and of nu = 0")
    args = p.parse_args(argv)

    import numpy as np
    from threadpoolctl import threadpool_limits

    from mfcore.data.features import item_features_with_years
    from mfcore.data.movielens import load_movielens

    data = load_movielens(args.data, cache=False)
    features, _ = item_features_with_years(data.item_genres, data.genre_names, data.titles)
    grid = [dict(regularization_exponent=u, item_regularization_exponent=i, regularization=lam)
            for u, i, lam in itertools.product(USERS, ITEMS, LAMBDAS)]
    scores, splits = {}, {}
    with threadpool_limits(limits=args.threads):
        for kind in ("temporal", "random"):
            splits[kind] = _splits(data, kind)
            vt, v = splits[kind][:2]
            for k, params in enumerate(grid):
                scores[kind, k] = float(np.mean([_ndcg(vt, v, features, params, s, args.threads) for s in SEEDS]))
                print(f"{kind} {params}: valid NDCG@10 {scores[kind, k]:.4f}", flush=True)
        best = {kind: max(scores[kind, k] for k in range(len(grid))) for kind in splits}
        gap = [max(best[kind] - scores[kind, k] for kind in splits) for k in range(len(grid))]
        order = np.argsort(gap, kind="stable")
        print("\nsmallest worst-case gaps to each split's best validation NDCG@10 "
              f"(best: temporal {best['temporal']:.4f}, random {best['random']:.4f}):")
        for k in order[:10]:
            print(f"  {grid[k]}: gap {gap[k]:.4f}  temporal {scores['temporal', k]:.4f}  "
                  f"random {scores['random', k]:.4f}")
        plain = next(k for k, g in enumerate(grid) if g["regularization_exponent"] == 0
                     and g["item_regularization_exponent"] == 0 and g["regularization"] == 30.0)
        print(f"  nu = 0, lambda 30: gap {gap[plain]:.4f}  temporal {scores['temporal', plain]:.4f}  "
              f"random {scores['random', plain]:.4f}")
        if args.test:
            for k in (order[0], plain):
                cells = []
                for kind in splits:
                    tr, te = splits[kind][2:]
                    cells.append(f"{kind} test NDCG@10 {_ndcg(tr, te, features, grid[k], 0, args.threads):.4f}")
                print(f"  {grid[k]} (seed 0): " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
