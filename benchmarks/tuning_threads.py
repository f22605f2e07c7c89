"""How a search should share its thread budget: all threads per fit, or several trials at once?

Usage (from the repository root)::

    python benchmarks/tuning_threads.py --data ml-latest-small --budget 2 --trials 8 --repeats 3
    python benchmarks/tuning_threads.py --data synthetic-1m --budget 2 --trials 4 --repeats 3

For every way of splitting ``--budget`` threads (``n_jobs`` trials at once,
``budget // n_jobs`` OpenMP threads per fit) the same random search
(ExplicitALS, K in [8, 64], lambda log-uniform in [1, 50], 10 epochs, fixed
seed, temporal validation split) runs once per repeat, the splits in turn
(interleaved A/B), and the table gives the median wall time of the whole
``random_search`` call. The trials are identical across splits (see
``tests/test_tuning.py::test_trials_do_not_depend_on_n_jobs``), so only the
time differs.

Importing this module has no side effects (asv imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def load(name):
    import mfcore

    if name == "synthetic-1m":
        return mfcore.make_movielens_like(scale="1m", random_state=0)
    home = os.environ.get("MFCORE_DATA_HOME", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    return mfcore.load_movielens(os.path.join(home, name) if not os.path.isdir(name) else name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-latest-small", help="ml-latest-small (in $MFCORE_DATA_HOME), a path, "
                                                             "or synthetic-1m")
    p.add_argument("--budget", type=int, default=2)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    import mfcore
    from mfcore.tuning import IntUniform, LogUniform, random_search

    train, _ = mfcore.temporal_split(load(args.data))
    splits = [j for j in range(1, args.budget + 1) if args.budget % j == 0]
    times = {j: [] for j in splits}
    for rep in range(args.repeats):
        for n_jobs in splits:
            start = time.perf_counter()
            random_search(mfcore.ExplicitALS(iterations=10), {"factors": IntUniform(8, 64),
                                                              "regularization": LogUniform(1, 50)},
                          train, n_trials=args.trials, random_state=0, num_threads=args.budget, n_jobs=n_jobs,
                          show_progress=False)
            times[n_jobs].append(time.perf_counter() - start)
            print(f"repeat {rep + 1}: n_jobs={n_jobs}: {times[n_jobs][-1]:.2f} s (load {os.getloadavg()[0]:.2f})",
                  flush=True)
    print(f"\n{args.data}: {len(train):,} training ratings, {args.trials} trials, budget {args.budget} threads")
    print(f"{'n_jobs':>6s} {'threads/fit':>11s} {'median s':>9s} {'min s':>7s}")
    for j in splits:
        print(f"{j:6d} {args.budget // j:11d} {statistics.median(times[j]):9.2f} {min(times[j]):7.2f}")


if __name__ == "__main__":
    main()
