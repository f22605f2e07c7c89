"""Time and memory of the data figures (``mfcore.analysis.data``, paper Figs 1-11) at 32M scale.

Usage (from the repository root)::

    python benchmarks/data_figures.py                         # synthetic 32M shape, ml-32m movies if found
    python benchmarks/data_figures.py --data /path/to/ml-32m  # real MovieLens files
    python benchmarks/data_figures.py --scale 1m --repeat 5 --json out.json

What is measured
----------------
The dataset is prepared once (``make_movielens_like(scale=..., movies=...)``,
cached as an ``.npz`` in ``--cache-dir``, default ``$MFCORE_BENCH_CACHE`` or
the system temporary directory) in a child process. A second, fresh child
process then loads it into an ``mfcore.Interactions`` (with its users x items
CSR, as ``load_movielens`` returns it) and

1. runs every data function of ``mfcore.analysis.data.FIGURES`` in paper
   order, ``--repeat`` times; the figure reported is the median wall time per
   function and the median of the per-round totals (all figures together);
2. (after step 3) runs each function once more under ``tracemalloc`` (NumPy reports its
   buffers to it) to get the peak memory each function allocates on top of
   the dataset;
3. runs the data steps of ``mfcore report`` once (``run_report(data, tmp,
   steps=DATA_STEPS)``: every function, its drawing, the PNG, CSV, JSON and
   HTML files): the wall time a user waits for;
4. reports the process's peak resident set size (``ru_maxrss``), which
   covers the loaded dataset plus every figure: the number to hold against
   the 4 GB budget.

The synthetic generator has no tags, so for the synthetic data the child adds
a MovieLens-32M-sized tag table (2,000,072 applications of ~140,000 distinct
tag strings drawn from a Zipf law, seeded): Fig 10 then costs what it costs on
the real ml-32m. ``--data`` uses the real tags.

Importing this module has no side effects (asv imports every module of
``benchmarks/``); ``bench_analysis.py`` holds the asv suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_VERSION = 1
#: Tag applications and distinct tags of ml-32m's tags.csv (GroupLens README).
N_TAGS_32M = 2_000_072
N_DISTINCT_TAGS = 140_000


def _default_movies():
    home = os.environ.get("MFCORE_DATA_HOME") or str(ROOT.parent / "shared" / "data")
    path = Path(home) / "ml-32m" / "movies.csv"
    return path if path.is_file() else None


def _cache_path(cache_dir, scale, movies, seed):
    tag = "movies" if movies else "nomovies"
    return Path(cache_dir) / f"mfcore-figs-{scale}-{tag}-seed{seed}-v{DATA_VERSION}.npz"


# ----------------------------------------------------------------------------- child: generate
def _generate(path, scale, movies, seed):
    from mfcore import make_movielens_like

    data = make_movielens_like(scale=scale, movies=movies, random_state=seed)
    g = data.item_genres.tocsr()
    titles = np.asarray([str(t) for t in data.titles])
    arrays = dict(users=data.users, items=data.items, ratings=data.ratings, timestamps=data.timestamps,
                  user_ids=data.user_ids, item_ids=data.item_ids, titles=titles,
                  genre_indptr=g.indptr, genre_indices=g.indices, genre_shape=np.asarray(g.shape),
                  genre_names=np.asarray(list(data.genre_names)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _synthetic_tags(n_users, n_items, n_rows, seed):
    """A tag table shaped like ml-32m's: Zipf-distributed tag strings on random (user, item) pairs."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ranks = np.arange(1, N_DISTINCT_TAGS + 1, dtype=np.float64)
    p = ranks ** -1.0
    codes = rng.choice(N_DISTINCT_TAGS, size=n_rows, p=p / p.sum())
    vocab = np.array([f"tag {i}" if i % 3 else f"Tag {i} " for i in range(N_DISTINCT_TAGS)], dtype=object)
    return pd.DataFrame({"user": rng.integers(0, n_users, n_rows, dtype=np.int32),
                         "item": rng.integers(0, n_items, n_rows, dtype=np.int32),
                         "tag": vocab[codes], "timestamp": rng.integers(1.1e9, 1.7e9, n_rows, dtype=np.int64)})


def _load_npz(path, seed):
    import scipy.sparse as sp

    from mfcore import Interactions

    with np.load(path, allow_pickle=False) as z:
        genres = sp.csr_matrix((np.ones(z["genre_indices"].size, dtype=np.float32), z["genre_indices"],
                                z["genre_indptr"]), shape=tuple(int(v) for v in z["genre_shape"]))
        n_users, n_items = z["user_ids"].size, z["item_ids"].size
        return Interactions(z["users"], z["items"], z["ratings"], z["timestamps"], user_ids=z["user_ids"],
                            item_ids=z["item_ids"], item_genres=genres,
                            genre_names=[str(v) for v in z["genre_names"]], titles=z["titles"].astype(object),
                            tags=_synthetic_tags(n_users, n_items, N_TAGS_32M, seed))


# ----------------------------------------------------------------------------- child: measure
def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _measure(source, repeat, seed):
    import tracemalloc

    from mfcore.analysis.data import FIGURES

    t0 = time.perf_counter()
    if source.endswith(".npz"):
        data = _load_npz(source, seed)
    else:
        from mfcore import load_movielens

        data = load_movielens(source)
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mib()
    names = [f"fig{num:02d}_{fn.__name__}" for num, fn in FIGURES]
    times = {name: [] for name in names}
    totals = []
    for _ in range(repeat):
        round_start = time.perf_counter()
        for name, (_, fn) in zip(names, FIGURES):
            t = time.perf_counter()
            fn(data)
            times[name].append(time.perf_counter() - t)
        totals.append(time.perf_counter() - round_start)
    # the public call: the data steps of `mfcore report` (compute + draw + PNG/CSV/JSON/HTML), once
    from mfcore.analysis.report import DATA_STEPS, run_report

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rep = run_report(data, tmp, steps=DATA_STEPS, source="benchmark", show_progress=False)
        report_s = time.perf_counter() - t
    rss_report = _rss_mib()
    peaks = {}
    tracemalloc.start()
    for name, (_, fn) in zip(names, FIGURES):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn(data)
        peaks[name] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    return {
        "data": repr(data), "load_s": load_s, "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": _rss_mib(), "repeat": repeat,
        "total_s_median": float(np.median(totals)), "total_s_all": totals,
        "report_s": report_s, "report_step_s": rep["timings"]["steps"], "peak_rss_after_report_mib": rss_report,
        "per_figure": {n: {"median_s": float(np.median(times[n])), "all_s": times[n],
                           "peak_alloc_mib": peaks[n]} for n in names},
    }


# ----------------------------------------------------------------------------- parent
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="a MovieLens directory (default: synthetic data of --scale)")
    p.add_argument("--scale", default="32m", help="synthetic preset: small, 1m, 32m (default 32m)")
    p.add_argument("--movies", default="auto",
                   help="movies.csv for the synthetic catalogue ('auto': ml-32m's when found, 'none')")
    p.add_argument("--cache-dir", default=os.environ.get("MFCORE_BENCH_CACHE") or tempfile.gettempdir())
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--_child", choices=["generate", "measure"], help=argparse.SUPPRESS)
    p.add_argument("--_path", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._child == "generate":
        movies = None if args.movies in ("none", "") else args.movies
        _generate(Path(args._path), args.scale, movies, args.seed)
        return 0
    if args._child == "measure":
        print(json.dumps(_measure(args._path, args.repeat, args.seed)))
        return 0

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if args.data:
        source, label = str(Path(args.data).resolve()), f"MovieLens files at {args.data}"
    else:
        movies = _default_movies() if args.movies == "auto" else (None if args.movies == "none" else Path(args.movies))
        path = _cache_path(args.cache_dir, args.scale, movies, args.seed)
        if not path.exists():
            print(f"generating make_movielens_like(scale={args.scale!r}, movies={movies}) -> {path}", file=sys.stderr)
            subprocess.run([sys.executable, __file__, "--_child", "generate", "--_path", str(path), "--scale",
                            args.scale, "--movies", str(movies or "none"), "--seed", str(args.seed)],
                           check=True, env=env)
        source = str(path)
        label = (f"make_movielens_like(scale={args.scale!r}, movies={movies}, random_state={args.seed}) "
                 f"+ {N_TAGS_32M:,} synthetic tags")
    out = subprocess.run([sys.executable, __file__, "--_child", "measure", "--_path", source,
                          "--repeat", str(args.repeat), "--seed", str(args.seed)],
                         check=True, env=env, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(source=label, machine=platform.node(), cpus=os.cpu_count(), load_average=os.getloadavg())
    print(f"data: {label}\n      {res['data']} (loaded in {res['load_s']:.1f} s, RSS {res['rss_after_load_mib']:,.0f} MiB)")
    print(f"load average: {', '.join(f'{v:.2f}' for v in res['load_average'])}; {res['repeat']} rounds\n")
    print(f"{'figure':<34} {'data s':>8} {'peak alloc MiB':>15} {'report step s':>14}")
    for name, r in res["per_figure"].items():
        print(f"{name:<34} {r['median_s']:>8.3f} {r['peak_alloc_mib']:>15.0f} "
              f"{res['report_step_s'].get(name, float('nan')):>14.2f}")
    print(f"{'all figures':<34} {res['total_s_median']:>8.2f} {'':>15} {res['report_s']:>14.2f}")
    print("\ndata s: median over rounds of the data function alone; report step s: the same figure as a step of\n"
          "mfcore report (data + drawing + PNG), once; last row: all data functions (median round) / run_report.")
    print(f"\npeak RSS of the process (dataset + all figures): {res['peak_rss_mib']:,.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
