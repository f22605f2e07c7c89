"""How fit cost grows with the number of ratings: seconds per epoch and peak RSS, 1M..32M ratings.

Usage (from the repository root)::

    python benchmarks/scaling.py --sizes 1m,4m,16m,32m --threads 1,2 --json docs/figures/scaling.json \
        --plot docs/figures/scaling.png

Data: the ML-32M-shaped synthetic set (``make_movielens_like(scale="32m", movies=<ml-32m movies.csv>)``,
written once as a CSR ``.npz`` by ``compare.py``'s cache, ``--cache-dir``). A size of n ratings is the
first users of it (users are generated independently, so a prefix is a random sample of users) up to
n ratings: the catalogue stays at 87,585 items while users and ratings grow together, as a service's do.

Every (model, size, threads) point runs in a fresh child process, so its peak RSS (VmHWM) is its own:
interpreter + the CSR of that size + the fit. Seconds per epoch are the fit() wall time between epoch
callbacks (training metrics included, what a user waits for), median of ``--epochs`` epochs after
``--warmup``; the process CPU seconds per epoch (all threads) are recorded beside them, a figure that a
loaded machine distorts less (``--metric cpu`` plots and fits those). The fitted exponent b of ``seconds = a * ratings^b`` is least squares on log-log over the
sizes, per model and thread count (b = 1: linear).

Models: ExplicitALS (K=64, Cholesky), GenreALS (K=64, genres of the real ml-32m movies in movieId
order, the order the synthetic items have), ImplicitALS (K=64, CG, every rating a positive) and BPR
(K=64, every rating a positive, one SGD step per positive).

Importing this module has no side effects (asv imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {"1m": 1_000_000, "4m": 4_000_000, "16m": 16_000_000, "32m": 32_000_204}
MODELS = ("explicit", "genre", "implicit-als", "bpr")
LABELS = {"explicit": "ExplicitALS K=64 exact", "genre": "GenreALS K=64", "implicit-als": "ImplicitALS K=64 CG",
          "bpr": "BPR K=64"}


def _compare():
    try:
        from . import compare
    except ImportError:  # run as a script
        import compare
    return compare


def _vmhwm_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _genres(n_items):
    """Multi-hot genres of the real ml-32m movies in movieId order (None if unavailable or another size)."""
    import numpy as np
    import scipy.sparse as sp

    from mfcore.data.movielens import read_movies_file

    path = Path(os.environ.get("MFCORE_DATA_HOME", "/work/shared/data")) / "ml-32m" / "movies.csv"
    if not path.exists():
        return None
    ids, _, genres = read_movies_file(path)
    order = np.argsort(ids, kind="stable")
    if len(order) != n_items:
        return None
    names = sorted({g for s in genres for g in str(s).split("|") if g and g != "(no genres listed)"})
    col = {g: j for j, g in enumerate(names)}
    rows, cols = [], []
    for r, k in enumerate(order):
        for g in str(genres[k]).split("|"):
            if g in col:
                rows.append(r)
                cols.append(col[g])
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_items, len(names)))


def child(spec):
    """Fit one model on a prefix of the data; return per-epoch wall seconds and the peak RSS."""
    import numpy as np

    import mfcore

    X = _compare().load_csr(spec["size_path"])       # only this size's prefix: the RSS is this size's
    iters = spec["warmup"] + spec["epochs"]
    common = dict(factors=64, iterations=iters, num_threads=spec["threads"], random_state=0)
    extra = {}
    if spec["model"] == "explicit":
        model = mfcore.ExplicitALS(**common)
    elif spec["model"] == "genre":
        G = _genres(X.shape[1])
        if G is None:
            return {"status": "n/a", "error": "no ml-32m movies.csv matching the items"}
        model = mfcore.GenreALS(**common)
        extra = {"item_genres": G}
    elif spec["model"] == "implicit-als":
        model = mfcore.ImplicitALS(positive_threshold=None, **common)
    else:
        model = mfcore.BPR(positive_threshold=None, **common)
    stamps, cpu = [], []

    def callback(*_):
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())

    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(X, show_progress=False, callback=callback, **extra)
    walls = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    cpus = [b - a for a, b in zip([cpu_start] + cpu[:-1], cpu)]
    return {"status": "ok", "n_users": int(X.shape[0]), "n_items": int(X.shape[1]), "n_ratings": int(X.nnz),
            "epoch_wall_seconds": walls, "kernel_seconds": [float(h["seconds"]) for h in model.history_],
            "median_epoch_seconds": float(np.median(walls[spec["warmup"]:])),
            "epoch_cpu_seconds": cpus, "median_epoch_cpu_seconds": float(np.median(cpus[spec["warmup"]:])),
            "peak_rss_mib": _vmhwm_mib()}


def prefix_data(data_path, n_ratings, cache_dir):
    """Write (once) the CSR of the first users of ``data_path`` holding about ``n_ratings``; return its path."""
    import numpy as np

    compare = _compare()
    out = Path(cache_dir) / f"{Path(data_path).stem}-first{n_ratings}.npz"
    if out.exists():
        return out
    X = compare.load_csr(data_path)
    n_users = max(int(np.searchsorted(X.indptr, n_ratings, side="left")), 1)
    part = X[:n_users]
    part.sort_indices()
    compare._csr_to_npz(part, out)
    return out


def run_child(spec, timeout):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        path = fh.name
    try:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", path], capture_output=True,
                              text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            return {"status": "error", "error": proc.stderr[-1500:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"killed after {timeout:.0f} s"}
    finally:
        os.unlink(path)


def fit_exponent(points):
    """Least-squares slope b of log(seconds) on log(ratings) over (ratings, seconds) points (None if < 2)."""
    import numpy as np

    pts = [(n, s) for n, s in points if s and s > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def plot(results, path, caption, metric="both"):
    """Log-log plot of s/epoch vs ratings per (model, threads): wall, CPU, or both side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, LogLocator, NullLocator, StrMethodFormatter

    panels = ["wall", "cpu"] if metric == "both" else [metric]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.2), dpi=110, squeeze=False)
    markers = {"explicit": "o", "genre": "s", "implicit-als": "^", "bpr": "D"}
    colors = {"explicit": "C0", "genre": "C1", "implicit-als": "C2", "bpr": "C3"}   # one colour per model
    sizes = sorted({r["n_ratings"] for r in results if r.get("status") == "ok"})
    for ax, panel in zip(axes[0], panels):
        key = "median_epoch_seconds" if panel == "wall" else "median_epoch_cpu_seconds"
        for (model, threads), rows in _series(results).items():
            rows = sorted(rows, key=lambda r: r["n_ratings"])
            b = fit_exponent([(r["n_ratings"], r[key]) for r in rows])
            ax.plot([r["n_ratings"] / 1e6 for r in rows], [r[key] for r in rows],
                    marker=markers.get(model, "o"), color=colors.get(model), linestyle="-" if threads > 1 else "--",
                    label=f"{LABELS[model]}, {threads} thr" + (f" (b = {b:.2f})" if b is not None else ""))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator([s / 1e6 for s in sizes]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{s / 1e6:.0f}M" for s in sizes])
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))   # 0.1, 0.2, 0.5, 1, 2, 5, ...
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.yaxis.set_minor_formatter(StrMethodFormatter(""))
        ax.set_xlabel("training ratings (log scale)")
        ax.set_ylabel("fit() wall seconds per epoch (log scale)" if panel == "wall"
                      else "process CPU seconds per epoch, all threads (log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title(("fit() wall time" if panel == "wall" else "CPU time") + " per epoch; b = log-log slope",
                     fontsize=10)
    fig.text(0.01, 0.01, caption, fontsize=7.5, ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def _caption(epochs, warmup, up_start, up_end):
    load = lambda up: up.split("load average:")[-1].strip()  # noqa: E731
    return (f"s/epoch (median of {epochs} after {warmup} warm-up), prefixes of the 32M-shaped synthetic data "
            f"(87,585 items), 2-core VM shared with other jobs; load average (1, 5, 15 min) {load(up_start)} at "
            f"the start, {load(up_end)} at the end. Dashed: 1 thread, solid: 2.")


def _series(results):
    out = {}
    for r in results:
        if r.get("status") == "ok":
            out.setdefault((r["spec"]["model"], r["spec"]["threads"]), []).append(r)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="scaling.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Importing this module")[0])
    p.add_argument("--sizes", default="1m,4m,16m,32m", help=f"comma-separated, of {', '.join(SIZES)}")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up (default 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed leading epochs (default 1)")
    p.add_argument("--cache-dir", default=os.environ.get("MFCORE_COMPARE_CACHE", tempfile.gettempdir()))
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json", help="write every point to this file")
    p.add_argument("--plot", help="write the log-log plot (PNG) to this file")
    p.add_argument("--metric", choices=("wall", "cpu", "both"), default="both",
                   help="what the plot shows: fit() wall s/epoch, process CPU s/epoch, or both side by side "
                        "(default both)")
    p.add_argument("--from-json", help="re-plot from a JSON written earlier (no fits)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        with open(args.worker) as fh:
            print(json.dumps(child(json.load(fh))))
        return 0
    if args.from_json:
        with open(args.from_json) as fh:
            payload = json.load(fh)
        if args.plot:
            spec = next((r["spec"] for r in payload["results"] if "spec" in r), None)
            caption = (_caption(spec["epochs"], spec["warmup"], payload["uptime_start"], payload["uptime_end"])
                       if spec and "uptime_end" in payload else payload["caption"])
            plot(payload["results"], args.plot, caption, args.metric)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"--sizes: unknown size {s!r}; known: {', '.join(SIZES)}")
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"--models: unknown model {m!r}; known: {', '.join(MODELS)}")
    data_path, desc = _compare().prepare_data("synthetic-32m", args.cache_dir)
    up_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"# scaling.py {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n# {up_start}\n# data: {desc}", flush=True)
    results = []
    for model in models:
        for t in threads:
            for s in sizes:
                spec = {"model": model, "threads": t, "size": s, "ratings": SIZES[s], "epochs": args.epochs,
                        "warmup": args.warmup, "data_path": str(data_path),
                        "size_path": str(prefix_data(data_path, SIZES[s], args.cache_dir))}
                res = run_child(spec, args.timeout)
                res["spec"] = spec
                results.append(res)
                if res.get("status") == "ok":
                    print(f"{LABELS[model]:<24} {t} thr {s:>4} ({res['n_ratings']:>11,} ratings, {res['n_users']:>7,} "
                          f"users): {res['median_epoch_seconds']:7.3f} s/epoch, peak RSS {res['peak_rss_mib']:6.0f} MiB",
                          flush=True)
                else:
                    print(f"{LABELS[model]:<24} {t} thr {s:>4}: {res.get('status')}: {res.get('error', '')[:300]}",
                          flush=True)
    up_end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print("\n| model | threads | " + " | ".join(f"{s}: wall s/epoch (CPU s) / peak RSS" for s in sizes)
          + " | exponent b |")
    print("|---|---:|" + "---:|" * len(sizes) + "---:|")
    for (model, t), rows in _series(results).items():
        by = {r["spec"]["size"]: r for r in rows}
        b = fit_exponent([(r["n_ratings"], r["median_epoch_seconds"]) for r in rows])
        bc = fit_exponent([(r["n_ratings"], r["median_epoch_cpu_seconds"]) for r in rows])
        cells = [f"{by[s]['median_epoch_seconds']:.2f} s ({by[s]['median_epoch_cpu_seconds']:.2f} CPU) / "
                 f"{by[s]['peak_rss_mib']:.0f} MiB" if s in by else "-" for s in sizes]
        print(f"| {LABELS[model]} | {t} | " + " | ".join(cells)
              + (f" | {b:.2f} (CPU {bc:.2f}) |" if b is not None else " | - |"))
    caption = _caption(args.epochs, args.warmup, up_start, up_end)
    print(f"# start: {up_start}\n# end:   {up_end}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"uptime_start": up_start, "uptime_end": up_end, "argv": sys.argv, "caption": caption,
                       "results": results}, fh, indent=1)
    if args.plot:
        plot(results, args.plot, caption, args.metric)
    return 0


if __name__ == "__main__":
    sys.exit(main())
