"""Distributed (Dask LocalCluster) vs local ALS fit: per-epoch time and routed bytes, in one run.

What is measured
----------------
A MovieLens-32M-shaped synthetic set (``make_movielens_like``; ``--ratings`` scales users,
items and ratings of the 32M preset together) is written as Parquet partitions, then

* local: ``model.fit(Interactions)`` with ``num_threads = workers x threads_per_worker``
  (the same cores);
* distributed: ``mfcore.distributed.fit(model, dd.read_parquet(...))`` on a
  ``LocalCluster(n_workers, threads_per_worker, processes=True)``, kernel
  ``num_threads = threads_per_worker``.

The local fit runs before and after the distributed one (the load of a shared machine
drifts); both report the median of ``history_[e]["seconds"]`` over the epochs (the epoch's
maths; for the distributed fit that includes routing the factor rows, the block
solves in the workers and gathering the results). Also printed: the one-off setup of
the distributed fit (partition checks + building the blocks), routed bytes per epoch
(``nbytes`` of the routed factor rows and biases) and as Dask serialises them, other
bytes per epoch (CG warm starts, genre centroids, Y^T Y), and whether the factors are
bit-identical (exact solver).

Usage::

    nice -n 5 python benchmarks/distributed.py --ratings 4000000 --factors 64 --iterations 3
    nice -n 5 python benchmarks/distributed.py --ratings 32000204          # the full 32M shape

Target (issue 14): distributed per-epoch time <= 1.5 x local.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE_32M = (200_948, 87_585, 32_000_204)


def make_data(n_ratings, seed):
    import mfcore

    f = n_ratings / SHAPE_32M[2]
    n_users = max(100, int(round(SHAPE_32M[0] * f)))
    n_items = max(100, int(round(SHAPE_32M[1] * f ** 0.5)))   # catalogues grow slower than ratings
    return mfcore.make_movielens_like(n_users=n_users, n_items=n_items, n_ratings=n_ratings, random_state=seed)


def write_parquet(df, directory, n_parts):
    directory.mkdir(parents=True, exist_ok=True)
    for k, rows in enumerate(np.array_split(np.arange(len(df)), n_parts)):
        df.iloc[rows].to_parquet(directory / f"part.{k:04d}.parquet", index=False)


def make_model(name, factors, iterations, threads):
    import mfcore

    common = dict(factors=factors, iterations=iterations, num_threads=threads)
    if name == "explicit":
        return mfcore.ExplicitALS(**common, calculate_training_loss=False)
    if name == "genre":
        return mfcore.GenreALS(**common, calculate_training_loss=False)
    return mfcore.ImplicitALS(**common, solver="cholesky")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", type=int, default=4_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=None, help="P = Q (default 2 x workers)")
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--models", default="explicit,implicit")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import mfcore.distributed as mdist

    print(f"load: {os.getloadavg()}, cores: {os.cpu_count()}")
    t = time.perf_counter()
    data = make_data(args.ratings, args.seed)
    print(f"data: {data.n_users} users, {data.n_items} items, {len(data)} ratings "
          f"({time.perf_counter() - t:.1f} s to generate)")
    total_threads = args.workers * args.threads_per_worker
    with tempfile.TemporaryDirectory(prefix="mfcore-dist-bench-") as tmp:
        path = Path(tmp) / "ratings"
        write_parquet(data.to_dataframe(), path, args.partitions)
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker, processes=True,
                          dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
            for name in args.models.split(","):
                opts = ({"item_genres": data.item_genres, "genre_names": data.genre_names}
                        if name == "genre" else {})
                def local_fit():
                    m = make_model(name, args.factors, args.iterations, total_threads)
                    return m.fit(data, show_progress=False,
                                 **({"item_genres": data.item_genres} if name == "genre" else {}))

                local = local_fit()          # local fits before and after: the load of a shared machine drifts
                t = time.perf_counter()
                dist = mdist.fit(make_model(name, args.factors, args.iterations, args.threads_per_worker),
                                 dd.read_parquet(path), client=client, n_user_blocks=args.blocks,
                                 n_item_blocks=args.blocks, keep_seen=False, **opts)
                wall = time.perf_counter() - t
                local2 = local_fit()
                loc_runs = [statistics.median(r["seconds"] for r in m.history_) for m in (local, local2)]
                loc_s = statistics.median(r["seconds"] for m in (local, local2) for r in m.history_)
                dist_s = statistics.median(r["seconds"] for r in dist.history_)
                setup = wall - sum(r["seconds"] for r in dist.history_)
                st = dist.distributed_stats_
                same = all(np.array_equal(getattr(dist, a), getattr(local, a))
                           for a in ("user_factors", "item_factors", "user_bias", "item_bias"))
                print(f"{name:9s} K={args.factors} P={st.n_user_blocks} Q={st.n_item_blocks}: "
                      f"local {loc_s:.2f} s/epoch ({total_threads} threads; before/after {loc_runs[0]:.2f}/{loc_runs[1]:.2f}), "
                      f"distributed {dist_s:.2f} s/epoch ({args.workers} workers x {args.threads_per_worker}), "
                      f"ratio {dist_s / loc_s:.2f}; setup {setup:.1f} s; "
                      f"routed {st.routed_bytes[0] / 1e6:.1f} MB/epoch ({st.routed_rows_per_epoch} rows), "
                      f"serialized {st.serialized_bytes[0] / 1e6:.1f} MB (+{st.serialized_bytes[0] - st.routed_bytes[0]}"
                      f" B), other {st.other_bytes[0] / 1e6:.2f} MB; bit-identical: {same}", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    # as a script, sys.path[0] is benchmarks/, where this file would shadow the `distributed` package;
    # run the checkout's mfcore (asv imports this module too: it defines no benchmark and changes nothing)
    here = Path(__file__).resolve()
    if sys.path and Path(sys.path[0] or ".").resolve() == here.parent:
        sys.path[0] = str(here.parents[1])
    main()
