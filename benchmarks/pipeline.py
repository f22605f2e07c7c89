"""The whole study pipeline, timed stage by stage, as the paper runs it.

Usage (from the repository root)::

    python benchmarks/pipeline.py                      # real ml-32m if its ratings.csv exists, else synthetic 32M
    python benchmarks/pipeline.py --ratings /path/to/ml-32m --threads 2 --json out.json
    python benchmarks/pipeline.py --scale 1m           # a quick run on the MovieLens-1M shape

Stages (each timed with ``time.perf_counter``, with the process CPU seconds of all threads beside it,
a load-robust figure on a shared machine; the peak RSS is the process's VmHWM at the end):

1. ``parse (uncached)``      ``load_movielens(dir, cache=False)``: parse ratings.csv + movies.csv.
2. ``parse + write cache``   ``load_movielens(dir, cache_dir=<fresh temp dir>)``: a cold cache.
3. ``load (warm cache)``     the same call again: the binary cache is read.
4. ``temporal split``        ``temporal_split(data, 0.2)``: per user, the latest 20% go to test.
5. ``fit ExplicitALS``       ``ExplicitALS(factors, iterations=15).fit(train)`` with its defaults
                             (training RMSE logged each epoch).
6. ``test RMSE``             ``model.predict`` on every test rating (raw ids), then ``metrics.rmse``.
7. ``top-10 all users``      ``model.recommend(every user, N=10)``, seen (train) items filtered
                             (``--compare-gemm``: again with the bf16 screening off, outside the totals).
8. ``P@10 / NDCG@10``        ``precision_at_k`` / ``ndcg_at_k`` against the test ratings >= 4.

"total (warm cache)" is stages 3-8: what re-running the study costs once the cache exists;
"total (cold)" is stages 2 + 4-8. Without real ratings, a synthetic ratings.csv of the
requested shape (``make_movielens_like``, the real ml-32m movies when available) is written
once into ``--workdir`` and reused; writing it is not a pipeline stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA_HOME = Path(os.environ.get("MFCORE_DATA_HOME", "/work/shared/data"))


def _vmhwm_mib():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def ratings_dir(args):
    """The MovieLens folder to run on: --ratings, the real ml-32m, or a synthetic one written once."""
    if args.ratings:
        path = Path(args.ratings)
        if not (path / "ratings.csv").exists() and not (path / "ratings.dat").exists():
            raise SystemExit(f"--ratings: no ratings.csv / ratings.dat in {path}")
        return path, f"{path} (given)"
    real = DATA_HOME / "ml-32m"
    if args.scale == "32m" and (real / "ratings.csv").exists():
        return real, f"{real} (real MovieLens 32M)"
    from mfcore.data.synthetic import make_movielens_like
    from mfcore.data.writer import write_ratings_csv

    movies = real / "movies.csv" if (real / "movies.csv").exists() and args.scale == "32m" else None
    out = Path(args.workdir) / f"synthetic-{args.scale}-seed{args.seed}"
    if not (out / "ratings.csv").exists():
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        data = make_movielens_like(scale=args.scale, movies=movies, random_state=args.seed)
        write_ratings_csv(data, out / "ratings.csv")
        del data
        print(f"# wrote {out / 'ratings.csv'} in {time.perf_counter() - start:.1f} s (setup, not a stage)", flush=True)
    return out, (f"synthetic make_movielens_like(scale={args.scale!r}, movies={str(movies) if movies else None!r}, "
                 f"random_state={args.seed}) written to {out}")


def run(args):
    import numpy as np

    import mfcore
    from mfcore.data.split import temporal_split
    from mfcore.metrics import ndcg_at_k, precision_at_k, relevant_items, rmse

    src, desc = ratings_dir(args)
    stages, cpu = {}, {}

    def timed(name, fn):
        start, cpu_start = time.perf_counter(), time.process_time()
        value = fn()
        stages[name] = time.perf_counter() - start
        cpu[name] = time.process_time() - cpu_start
        print(f"{name:<22} {stages[name]:8.2f} s wall {cpu[name]:8.2f} s CPU  (VmHWM {_vmhwm_mib():,.0f} MiB)",
              flush=True)
        return value

    cache_dir = Path(tempfile.mkdtemp(prefix="mfcore-pipeline-cache-", dir=args.workdir))
    try:
        if not args.skip_uncached:
            data = timed("parse (uncached)", lambda: mfcore.load_movielens(src, cache=False))
            del data
        timed("parse + write cache", lambda: mfcore.load_movielens(src, cache_dir=cache_dir))
        data = timed("load (warm cache)", lambda: mfcore.load_movielens(src, cache_dir=cache_dir))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"# data: {desc}: {data.n_users:,} users x {data.n_items:,} items, {len(data):,} ratings", flush=True)

    train, test = timed("temporal split", lambda: temporal_split(data, test_fraction=0.2))
    model = mfcore.ExplicitALS(factors=args.factors, iterations=args.iterations, num_threads=args.threads,
                               random_state=args.seed)
    timed("fit ExplicitALS", lambda: model.fit(train, show_progress=False))
    kernel = sum(h["seconds"] for h in model.history_)

    users_raw = train.user_id(test.users)
    items_raw = train.item_id(test.items)
    test_rmse = timed("test RMSE", lambda: rmse(test.ratings, model.predict(users_raw, items_raw)))

    all_users = train.user_ids
    rec_raw, _ = timed("top-10 all users", lambda: model.recommend(all_users, N=10))
    if args.compare_gemm:
        # the same stage on the float32 gemm path (bf16 screening off), not part of the totals
        from mfcore import _topk

        if _topk._bf16_screening():
            _topk._bf16_screening(False)
            try:
                rec_gemm, _ = timed("top-10 (gemm path)", lambda: model.recommend(all_users, N=10))
            finally:
                _topk._bf16_screening(True)
            print(f"# gemm path lists equal to the bf16 path's: {float(np.mean(rec_gemm == rec_raw)):.6f} "
                  "of entries (float32 near-ties may order differently)", flush=True)

    def ranking():
        rec = np.where(rec_raw == -1, -1, 0)         # padding stays -1 (only if a user had < 10 candidates)
        valid = rec_raw != -1
        rec[valid] = train.item_index(rec_raw[valid])
        relevant = relevant_items(test.user_items(), threshold=4.0)
        return precision_at_k(rec, relevant, 10), ndcg_at_k(rec, relevant, 10)

    p10, ndcg10 = timed("P@10 / NDCG@10", ranking)
    extra = ("parse (uncached)", "parse + write cache", "top-10 (gemm path)")
    warm = sum(v for k, v in stages.items() if k not in extra)
    cold = warm - stages["load (warm cache)"] + stages["parse + write cache"]
    return {"data": desc, "n_users": data.n_users, "n_items": data.n_items, "n_ratings": len(data),
            "stages_seconds": stages, "stages_cpu_seconds": cpu, "total_warm_seconds": warm, "total_cold_seconds": cold,
            "fit_kernel_seconds": kernel, "fit_epochs": len(model.history_),
            "test_rmse": float(test_rmse), "precision@10": float(p10), "ndcg@10": float(ndcg10),
            "train_rmse_last": float(model.history_[-1]["train_rmse"]), "peak_rss_mib": _vmhwm_mib()}


def build_parser():
    p = argparse.ArgumentParser(prog="pipeline.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--ratings", help="a MovieLens folder (ratings.csv + movies.csv); default: see above")
    p.add_argument("--scale", default="32m", help="synthetic shape when no real data is used (default 32m)")
    p.add_argument("--seed", type=int, default=0, help="data and model seed (default 0)")
    p.add_argument("--factors", type=int, default=64, help="K of ExplicitALS (default 64, the library default)")
    p.add_argument("--iterations", type=int, default=15, help="ALS epochs (default 15)")
    p.add_argument("--threads", type=int, default=2, help="num_threads of the model (default 2)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mfcore-pipeline"),
                   help="where the synthetic ratings.csv and the temporary cache go (default /tmp/mfcore-pipeline)")
    p.add_argument("--skip-uncached", action="store_true", help="do not time the uncached parse")
    p.add_argument("--compare-gemm", action="store_true",
                   help="also time top-10 for all users on the float32 gemm path (bf16 screening off); "
                        "not counted in the totals")
    p.add_argument("--json", help="also write the results to this file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    up_start = _uptime()
    print(f"# pipeline.py {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n# {up_start}\n# threads {args.threads}, "
          f"ExplicitALS K={args.factors}, {args.iterations} epochs", flush=True)
    res = run(args)
    res["uptime_start"], res["uptime_end"] = up_start, _uptime()
    res["argv"] = sys.argv
    print(f"total (warm cache)     {res['total_warm_seconds']:8.2f} s   (stages from the cached load on)")
    print(f"total (cold cache)     {res['total_cold_seconds']:8.2f} s   (parse + write cache instead)")
    print(f"fit: {res['fit_epochs']} epochs, kernel {res['fit_kernel_seconds']:.2f} s of "
          f"{res['stages_seconds']['fit ExplicitALS']:.2f} s wall; train RMSE {res['train_rmse_last']:.4f}, "
          f"test RMSE {res['test_rmse']:.4f}, P@10 {res['precision@10']:.4f}, NDCG@10 {res['ndcg@10']:.4f}")
    print(f"peak RSS (VmHWM) {res['peak_rss_mib']:,.0f} MiB\n# {res['uptime_end']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
