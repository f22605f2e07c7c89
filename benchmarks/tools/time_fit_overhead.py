"""Timing tool: what ``fit()`` costs beyond the kernels, with the training loss on and off.

For each model, ``fit()`` wall time is set against the sum of the per-epoch
``seconds`` in ``history_`` (the epoch's kernel calls only). ExplicitALS, GenreALS and
ImplicitALS are fitted with ``calculate_training_loss=True`` and ``False``, interleaved
(on, off, on, off, ...) so both see the same machine load. Prints medians over ``--repeats``
and the load average. Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/tools/time_fit_overhead.py --size 1m --threads 2
    MFCORE_BENCH_CACHE=/work/cache32m PYTHONPATH=$PWD python benchmarks/tools/time_fit_overhead.py \
        --size 32m --models ExplicitALS --epochs 3 --repeats 2

Data: ``benchmarks/_datasets.make_interactions(size)`` (synthetic MovieLens shapes;
cached in ``$MFCORE_BENCH_CACHE`` when set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))     # the repository root: benchmarks._datasets
    from benchmarks._datasets import make_interactions

    import mfcore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m", choices=["1m", "32m"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="", help="only configurations whose name contains this text")
    args = parser.parse_args(argv)

    data = make_interactions(args.size)
    print(f"data: {args.size}: {len(data):,} ratings, {data.n_users:,} users, {data.n_items:,} items; "
          f"threads={args.threads}, K={args.factors}, epochs={args.epochs}, repeats={args.repeats}")
    common = dict(factors=args.factors, iterations=args.epochs, num_threads=args.threads)
    configs = [
        ("ExplicitALS loss on", lambda: mfcore.ExplicitALS(**common)),
        ("ExplicitALS loss off", lambda: mfcore.ExplicitALS(calculate_training_loss=False, **common)),
        ("GenreALS loss on", lambda: mfcore.GenreALS(**common)),
        ("GenreALS loss off", lambda: mfcore.GenreALS(calculate_training_loss=False, **common)),
        ("ImplicitALS loss on", lambda: mfcore.ImplicitALS(calculate_training_loss=True, **common)),
        ("ImplicitALS loss off", lambda: mfcore.ImplicitALS(**common)),
    ]
    configs = [(name, make) for name, make in configs if args.models in name]
    results = {name: [] for name, _ in configs}
    load = []
    for _ in range(args.repeats):
        for name, make in configs:
            model = make()
            start = time.perf_counter()
            model.fit(data, show_progress=False)
            wall = time.perf_counter() - start
            kernel = sum(h["seconds"] for h in model.history_)
            results[name].append((wall / args.epochs, kernel / args.epochs))
            load.append(os.getloadavg()[0])
    print(f"{'model':<22} {'fit wall s/epoch':>17} {'kernel s/epoch':>15} {'wall / kernel':>14}")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        kernel = statistics.median(r[1] for r in rows)
        print(f"{name:<22} {wall:>17.3f} {kernel:>15.3f} {wall / kernel:>14.2f}")
    print(f"1-min load average during the runs: {min(load):.1f} - {max(load):.1f} (median {statistics.median(load):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
