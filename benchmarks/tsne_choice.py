"""Which t-SNE for the item map (Fig 22): scikit-learn's ``TSNE`` or openTSNE, on 10,000 item vectors.

Usage (from the repository root)::

    python benchmarks/tsne_choice.py --items 10000 --factors 64 --threads 2 --repeats 3

The item vectors are real ALS factors, not random points: a MovieLens-shaped
synthetic set (``make_movielens_like``, 12,000 items) is fitted with
``ExplicitALS(factors=64)`` and the ``--items`` most rated items are embedded,
rows scaled to unit length as :func:`mfcore.analysis.models.item_map` does.
Each repeat runs every contender once, in turn (interleaved A/B), with the same
thread count; the table gives the median wall time of ``fit`` and the
trustworthiness of the map (the fraction of each point's 10 nearest neighbours
in the map that are among its neighbours in the 64-d space, scikit-learn's
``trustworthiness``), so a faster map is not a worse one.

Importing this module has no side effects (asv imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def item_vectors(n_items, factors, threads, seed=0):
    import numpy as np

    from mfcore import ExplicitALS, make_movielens_like

    data = make_movielens_like(n_users=20_000, n_items=max(n_items + 2_000, 3_000), n_ratings=2_000_000,
                               random_state=seed)
    model = ExplicitALS(factors=factors, iterations=8, num_threads=threads).fit(data, show_progress=False)
    counts = np.bincount(data.items, minlength=data.n_items)
    top = np.argsort(-counts, kind="stable")[:n_items]
    V = model.item_factors[top].astype(np.float64)
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)


def contenders(threads, seed):
    def sklearn_bh(X):
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", learning_rate="auto", perplexity=30.0, random_state=seed,
                    n_jobs=threads).fit_transform(X)

    def opentsne(method):
        def run(X):
            from openTSNE import TSNE

            return TSNE(n_components=2, perplexity=30.0, initialization="pca", negative_gradient_method=method,
                        random_state=seed, n_jobs=threads, verbose=False).fit(X)
        return run

    return {"sklearn TSNE (barnes_hut)": sklearn_bh, "openTSNE (fft)": opentsne("fft"),
            "openTSNE (bh)": opentsne("bh")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import numpy as np
    from sklearn.manifold import trustworthiness

    X = item_vectors(args.items, args.factors, args.threads, args.seed)
    runs = contenders(args.threads, args.seed)
    times = {name: [] for name in runs}
    trust = {}
    for rep in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            Y = np.asarray(fn(X))
            times[name].append(time.perf_counter() - start)
            if rep == 0:
                trust[name] = trustworthiness(X, Y, n_neighbors=10)
            print(f"repeat {rep + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    print(f"\n{args.items} items x {args.factors} factors, {args.threads} threads, load {os.getloadavg()[0]:.2f}")
    print(f"{'method':28s} {'median s':>9s} {'min s':>7s} {'trustworthiness@10':>19s}")
    for name in runs:
        print(f"{name:28s} {statistics.median(times[name]):9.1f} {min(times[name]):7.1f} {trust[name]:19.3f}")


if __name__ == "__main__":
    main()
