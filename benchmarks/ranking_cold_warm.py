"""ImplicitALS's and BPR's genre priors on warm and never-rated movies (MovieLens, per-user temporal 80/20).

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/ranking_cold_warm.py --data /work/shared/data/ml-latest-small

The test matrix is split by item: "cold" = test ratings on movies with no training rating at all,
"warm" = the rest; each part is scored by ``mfcore.metrics.ranking_metrics`` (relevant: rating >= 4;
candidates: every movie not in the user's training row) for ImplicitALS at its defaults without the
prior (``genre_share=0``), with it, with release-year buckets appended to the genres, and the last
configuration once more with ``popularity_bias=0`` (the others score ``u.v + b_i`` with the default
popularity bias; the factors do not depend on it); then BPR at its defaults without the prior and
with it (genres + release-year buckets, as ``BPR().fit`` builds them from an ``Interactions`` with
titles; score ``u.v + b_i``). ``--models`` picks the models.

Importing this module has no side effects (asv imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import sys


def _part(test, mask):
    import scipy.sparse as sp

    m = test.tocoo()
    keep = mask[m.col]
    return sp.csr_matrix((m.data[keep], (m.row[keep], m.col[keep])), shape=test.shape)


def main(argv=None):
    p = argparse.ArgumentParser(prog="ranking_cold_warm.py", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="MovieLens folder (e.g. ml-latest-small)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", default="ials,bpr", help="comma-separated: ials, bpr (default both)")
    args = p.parse_args(argv)

    import numpy as np

    from mfcore.data.features import item_features_with_years
    from mfcore.data.movielens import load_movielens
    from mfcore.data.split import temporal_split
    from mfcore.metrics import ranking_metrics
    from mfcore.models import BPR, ImplicitALS

    data = load_movielens(args.data, cache=False)
    train, test = temporal_split(data, 0.2)
    a, b = train.user_items(), test.user_items()
    rated = np.asarray((a != 0).sum(axis=0)).ravel() > 0
    parts = (("all", b), ("warm", _part(b, rated)), ("cold", _part(b, ~rated)))
    print(f"test ratings >= 4: {(b.data >= 4).sum()}, on movies never rated in train: "
          f"{(parts[2][1].data >= 4).sum()}")
    with_years, _ = item_features_with_years(data.item_genres, data.genre_names, data.titles)
    models = {m.strip() for m in args.models.split(",") if m.strip()}
    runs = []
    if "ials" in models:
        for name, share, features in (("no prior (genre_share 0)", 0.0, data.item_genres),
                                      ("genre prior (defaults)", None, data.item_genres),
                                      ("genre prior, genres + years", None, with_years),
                                      ("genre prior, genres + years, popularity_bias 0", -1.0, with_years)):
            extra = ({} if share is None else {"popularity_bias": 0.0} if share < 0 else {"genre_share": share})
            runs.append((f"ImplicitALS {name}", ImplicitALS(num_threads=args.threads, positive_threshold=4.0,
                                                            binarize=True, **extra), features))
    if "bpr" in models:
        runs += [(f"BPR {name}", BPR(num_threads=args.threads, positive_threshold=4.0,
                                     **({} if share is None else {"genre_share": share})), features)
                 for name, share, features in (("no prior (genre_share 0)", 0.0, None),
                                               ("genre prior (defaults), genres + years", None, with_years))]
    for name, model, features in runs:
        model.fit(a, item_genres=features, show_progress=False)
        cells = []
        for label, t in parts:
            r = ranking_metrics(model.user_factors, model.item_factors, a, t, k=10, threshold=4.0,
                                item_bias=model.item_bias, num_threads=args.threads)
            cells.append(f"{label}: AUC {r['auc']:.4f} NDCG@10 {r['ndcg']:.4f} P@10 {r['precision']:.4f} "
                         f"({r['n_users']} users)")
        print(f"{name} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
