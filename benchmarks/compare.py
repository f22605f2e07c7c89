"""Training speed and memory of mfcore next to peer libraries, on the same data and thread count.

Usage (from the repository root, in an environment that has the peers installed)::

    python benchmarks/compare.py --data synthetic-1m --factors 13,64 --threads 2
    python benchmarks/compare.py --data synthetic-32m --factors 13,64 --threads 2 --json out.json
    python benchmarks/compare.py --data /path/to/ml-32m --models explicit,implicit-als,bpr

Every (model, library, K, solver) fit runs in a fresh child process, one after
another, so that the peak resident set size (``ru_maxrss`` of that child, from
``os.wait4``) belongs to that library alone and libraries cannot disturb each
other's thread pools. The child loads the users x items CSR from an ``.npz``
that the parent wrote once (synthetic data is cached between runs in
``--cache-dir``), converts it to what the library wants, trains, and reports
the seconds of each epoch.

Seconds per epoch are the median over ``--epochs`` timed epochs after
``--warmup`` untimed ones, measured as directly as each library allows (the
method is printed with every row): for mfcore the fit() wall time between two
epoch callbacks (what a user waits for, training metrics included; the kernel
time of ``history_`` is shown beside it), implicit's fit callback, LensKit's ``train_epoch()`` and LightFM's ``fit_partial`` time each
epoch; cmfrec has no per-epoch hook, so its epoch time is the difference of two
fits, ``(t(warmup + epochs) - t(warmup)) / epochs``. The "fit wall" column is
the wall time of one whole fit of ``warmup + epochs`` epochs including each
library's setup.

Importing this module has no side effects and imports no peer library (asv
imports every module of ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_LIBS = "mfcore,cmfrec,implicit,lenskit"
SYNTHETIC = {"synthetic-1m": "1m", "synthetic-32m": "32m"}
#: BLAS pools are held to one thread in the children: every library here parallelises over rows itself.
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BLIS_NUM_THREADS": "1"}


def _peers():
    try:
        from . import _peers as peers
    except ImportError:  # run as a script: benchmarks/ is sys.path[0]
        import _peers as peers
    return peers


# --------------------------------------------------------------------------- data


def _csr_to_npz(csr, path):
    import numpy as np

    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, indptr=csr.indptr, indices=csr.indices, data=csr.data, shape=np.asarray(csr.shape, np.int64))
    os.replace(tmp, path)


def load_csr(path):
    """The users x items float32 CSR written by :func:`prepare_data`."""
    import numpy as np
    import scipy.sparse as sp

    with np.load(path, allow_pickle=False) as z:
        csr = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(int(s) for s in z["shape"]))
    csr.has_sorted_indices = True
    return csr


def _default_movies():
    home = os.environ.get("MFCORE_DATA_HOME", "/work/shared/data")
    path = Path(home) / "ml-32m" / "movies.csv"
    return path if path.exists() else None


def prepare_data(data, cache_dir, seed=0, movies=None):
    """Write (or reuse) the CSR of ``data`` as an ``.npz`` in ``cache_dir``; return (path, description)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if data in SYNTHETIC:
        scale = SYNTHETIC[data]
        movies = movies if movies is not None else (_default_movies() if scale == "32m" else None)
        tag = "movies" if movies is not None else "nomovies"
        path = cache_dir / f"mfcore-compare-{data}-seed{seed}-{tag}.npz"
        desc = f"make_movielens_like(scale={scale!r}, movies={str(movies) if movies else None!r}, random_state={seed})"
        if not path.exists():
            from mfcore.data.synthetic import make_movielens_like

            start = time.perf_counter()
            inter = make_movielens_like(scale=scale, movies=movies, random_state=seed)
            csr = inter.user_items()
            del inter
            _csr_to_npz(csr, path)
            print(f"generated {data} in {time.perf_counter() - start:.1f} s -> {path}", flush=True)
        else:
            print(f"reusing cached {data}: {path}", flush=True)
        return path, desc
    src = Path(data)
    if not src.exists():
        raise SystemExit(f"--data: {data!r} is neither synthetic-1m / synthetic-32m nor an existing path")
    ratings = next((src / n for n in ("ratings.csv", "ratings.dat") if (src / n).exists()), src)
    stat = ratings.stat()
    key = hashlib.sha256(f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    path = cache_dir / f"mfcore-compare-{src.name}-{key}.npz"
    if not path.exists():
        from mfcore.data.movielens import load_movielens

        _csr_to_npz(load_movielens(src).user_items(), path)
    return path, f"load_movielens({str(src)!r})"


# --------------------------------------------------------------------------- child process


def worker(spec_path):
    """Child side: load the CSR, run one runner, write the result JSON next to the spec."""
    peers = _peers()
    with open(spec_path) as fh:
        spec = json.load(fh)
    out = {"spec": spec}
    try:
        csr = load_csr(spec["data_path"])
        out["rss_after_load_mib"] = (peers.rss_kib("VmRSS") or 0) / 1024
        runner = peers.RUNNERS[spec["model"]][spec["lib"]]
        res = runner(csr, spec)
        out.update(res)
        out["status"] = "ok"
    except peers.PeerUnavailable as exc:
        out["status"] = "n/a"
        out["error"] = str(exc)
    except Exception as exc:  # reported in the table, the run goes on with the next library
        import traceback

        out["status"] = "error"
        out["error"] = f"{exc.__class__.__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    out["vmhwm_mib"] = (peers.rss_kib("VmHWM") or 0) / 1024
    with open(spec["result_path"], "w") as fh:
        json.dump(out, fh)
    return 0


def run_child(spec, workdir, timeout):
    """Run one spec in a fresh interpreter; add the child's peak RSS (``ru_maxrss``) to its result."""
    tag = f"{spec['model']}-{spec['lib']}-K{spec['factors']}-{spec['solver']}"
    spec = dict(spec, result_path=str(Path(workdir) / f"{tag}.result.json"))
    spec_path = Path(workdir) / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    for k, v in CHILD_ENV.items():
        env.setdefault(k, v)
    log_path = Path(workdir) / f"{tag}.log"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", str(spec_path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        status, rusage = None, None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                _, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                return {"spec": spec, "status": "timeout", "error": f"killed after {timeout:.0f} s"}
            time.sleep(0.2)
    wall = time.perf_counter() - start
    try:
        with open(spec["result_path"]) as fh:
            res = json.load(fh)
    except (OSError, ValueError):
        tail = log_path.read_text()[-2000:] if log_path.exists() else ""
        res = {"spec": spec, "status": "error", "error": f"child exited with {proc.returncode}: {tail}"}
    # ru_maxrss survives execve on Linux (it would report the parent's peak when that is larger), so the
    # child's own VmHWM is the figure shown; ru_maxrss is kept in the JSON as a cross-check.
    res["ru_maxrss_mib"] = rusage.ru_maxrss / 1024  # Linux: KiB
    res["peak_rss_mib"] = res.get("vmhwm_mib") or res["ru_maxrss_mib"]
    res["child_wall_seconds"] = wall
    return res


# --------------------------------------------------------------------------- report


def _fmt(x, nd=2):
    if x is None:
        return "-"
    if x != x:
        return "nan"
    return f"{x:.{nd}f}" if abs(x) < 1000 else f"{x:.0f}"


def summarise(results):
    """Add ``median_epoch_seconds`` and ``ratio_vs_mfcore`` to every result (in place)."""
    peers = _peers()
    base = {}
    for r in results:
        s = r["spec"]
        if r.get("status") == "ok":
            r["median_epoch_seconds"] = peers.median(r["epoch_seconds"])
            if r.get("kernel_epoch_seconds"):
                r["median_kernel_epoch_seconds"] = peers.median(r["kernel_epoch_seconds"])
            if r.get("epoch_cpu_seconds"):
                r["median_epoch_cpu_seconds"] = peers.median(r["epoch_cpu_seconds"])
            if s["lib"] == "mfcore":
                base[(s["model"], s["factors"], s["solver"])] = r["median_epoch_seconds"]
    for r in results:
        s = r["spec"]
        m = base.get((s["model"], s["factors"], s["solver"]))
        if r.get("status") == "ok" and m:
            r["ratio_vs_mfcore"] = r["median_epoch_seconds"] / m
    return results


def markdown_table(results, versions):
    methods = []
    lines = ["| model | library | K | solver | s/epoch (median) | x mfcore | kernel s/epoch | CPU s/epoch | "
             "fit wall (s) | peak RSS (MiB) | timing |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    peers = _peers()
    for r in results:
        s = r["spec"]
        name = peers.MODEL_NAMES.get((s["model"], s["lib"]), s["model"])
        lib = f"{s['lib']} {versions.get(s['lib'], '')}".strip()
        if r.get("status") != "ok":
            why = r.get("error", r.get("status", "?")).splitlines()[0][:90]
            lines.append(f"| {name} | {lib} | {s['factors']} | {s['solver']} | {r.get('status')} | | | | | | {why} |")
            continue
        if r["method"] not in methods:
            methods.append(r["method"])
        ratio = r.get("ratio_vs_mfcore")
        lines.append(
            f"| {name} | {lib} | {s['factors']} | {s['solver']} | {_fmt(r['median_epoch_seconds'], 3)} | "
            f"{_fmt(ratio, 2) if ratio is not None else '-'} | {_fmt(r.get('median_kernel_epoch_seconds'), 3)} | "
            f"{_fmt(r.get('median_epoch_cpu_seconds'), 3)} | "
            f"{_fmt(r['fit_seconds'], 1)} | "
            f"{_fmt(r['peak_rss_mib'], 0)} | [{methods.index(r['method']) + 1}] |")
    notes = [f"[{i + 1}] {m}" for i, m in enumerate(methods)]
    extra = sorted({r["notes"] for r in results if r.get("status") == "ok" and r.get("notes")})
    return "\n".join(lines), notes + extra


def _loadavg():
    try:
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()
    except OSError:
        return "load average unavailable"


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return _loadavg()


def _kernel_stamps():
    """Modification times of mfcore's compiled modules (the kernels measured are a snapshot)."""
    import importlib.util

    spec = importlib.util.find_spec("mfcore")
    if spec is None or not spec.submodule_search_locations:
        return ""
    root = Path(list(spec.submodule_search_locations)[0])
    stamps = [f"{p.name.split('.')[0]} {time.strftime('%H:%M:%S', time.gmtime(p.stat().st_mtime))}"
              for p in sorted(root.glob("_*.so"))]
    return ", ".join(stamps)


def build_parser():
    p = argparse.ArgumentParser(
        prog="compare.py", description="Seconds per epoch and peak RSS of mfcore and peer libraries.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("Importing this module")[0])
    p.add_argument("--data", default="synthetic-1m",
                   help="synthetic-32m | synthetic-1m | PATH to a MovieLens folder (default synthetic-1m)")
    p.add_argument("--factors", default="13,64", help="comma-separated latent sizes K (default 13,64)")
    p.add_argument("--threads", type=int, default=2, help="threads given to every library (default 2)")
    p.add_argument("--solvers", default="cholesky,cg",
                   help="ALS solvers to run (default cholesky,cg); BPR always runs its SGD")
    p.add_argument("--libs", default=DEFAULT_LIBS, help=f"libraries (default {DEFAULT_LIBS}; also lightfm)")
    p.add_argument("--models", default="explicit", help="explicit, implicit-als, bpr (default explicit)")
    p.add_argument("--positive-threshold", default="4",
                   help="implicit-feedback models (implicit-als, bpr): ratings >= this are the positives; "
                        "'none' = every rating (default 4)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed leading epochs (default 1)")
    p.add_argument("--repeats", type=int, default=1,
                   help="pairs of fits for libraries timed by the difference method (default 1)")
    p.add_argument("--seed", type=int, default=0, help="data and initialisation seed (default 0)")
    p.add_argument("--cache-dir", default=os.environ.get("MFCORE_COMPARE_CACHE", tempfile.gettempdir()),
                   help="where the CSR .npz is cached between runs (default $MFCORE_COMPARE_CACHE or /tmp)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per library run for the difference method: a library whose first fit is slow "
                        "gets fewer timed epochs (at least 1; the method column says how many)")
    p.add_argument("--skip", default="",
                   help="comma-separated lib:K:solver combinations not to run, e.g. cmfrec:64:cholesky")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before a child fit is killed")
    p.add_argument("--json", help="write every measurement (per-epoch seconds included) to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker(args.worker)
    peers = _peers()
    factors = [int(k) for k in args.factors.split(",") if k.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    models = [s.strip() for s in args.models.split(",") if s.strip()]
    for m in models:
        if m not in peers.RUNNERS:
            raise SystemExit(f"--models: unknown model {m!r}; known: {', '.join(peers.RUNNERS)}")
    if args.epochs < 1 or args.warmup < 0:
        raise SystemExit("--epochs must be >= 1 and --warmup >= 0")
    try:
        positive_threshold = None if args.positive_threshold.lower() == "none" else float(args.positive_threshold)
    except ValueError:
        raise SystemExit(f"--positive-threshold: expected a number or 'none', got {args.positive_threshold!r}")
    for s in solvers:
        if s not in ("cholesky", "cg"):
            raise SystemExit(f"--solvers: unknown solver {s!r}; known: cholesky, cg")

    versions, missing = {}, {}
    for lib in libs:
        ok, info = peers.library_status(lib)
        (versions if ok else missing)[lib] = info
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    up_start = _uptime()
    print(f"# compare.py  {started}\n# {up_start}\n# python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, threads per library: {args.threads}, child env: {CHILD_ENV}")
    for lib, v in versions.items():
        print(f"#   {lib} {v}")
    kernels = _kernel_stamps()
    if kernels:
        print(f"#   mfcore compiled modules (mtime UTC): {kernels}")
    for lib, why in missing.items():
        print(f"#   {lib}: {why}")

    data_path, data_desc = prepare_data(args.data, args.cache_dir, seed=args.seed)
    shape_csr = load_csr(data_path)
    shape = (shape_csr.shape[0], shape_csr.shape[1], shape_csr.nnz)
    del shape_csr
    print(f"# data: {args.data} = {data_desc}: {shape[0]:,} users x {shape[1]:,} items, {shape[2]:,} ratings")

    results, skipped = [], set()
    with tempfile.TemporaryDirectory(prefix="mfcore-compare-") as workdir:
        for model in models:
            model_solvers = ["sgd"] if model == "bpr" else solvers
            for K in factors:
                for solver in model_solvers:
                    for lib in ["mfcore"] + [x for x in libs if x != "mfcore"]:
                        if lib not in libs:
                            continue
                        spec = {"model": model, "lib": lib, "factors": K, "solver": solver, "threads": args.threads,
                                "epochs": args.epochs, "warmup": args.warmup, "repeats": args.repeats,
                                "budget": args.budget, "seed": args.seed, "data_path": str(data_path),
                                "positive_threshold": positive_threshold}
                        if f"{lib}:{K}:{solver}" in skip:
                            skipped.add(f"{lib} K={K} {solver} (--skip)")
                            continue
                        if lib not in peers.RUNNERS[model]:
                            skipped.add(f"{lib} has no {model} model here")
                            continue
                        if lib in missing:
                            results.append({"spec": spec, "status": "n/a", "error": missing[lib]})
                            continue
                        print(f"... {model} {lib} K={K} {solver}", end="", flush=True)
                        res = run_child(spec, workdir, args.timeout)
                        res["spec"] = {k: v for k, v in spec.items() if k != "result_path"}
                        results.append(res)
                        if res.get("status") == "ok":
                            print(f": {peers.median(res['epoch_seconds']):.3f} s/epoch "
                                  f"(epochs {', '.join(f'{s:.3f}' for s in res['all_epoch_seconds'])}), "
                                  f"peak RSS {res['peak_rss_mib']:.0f} MiB "
                                  f"({res['rss_after_load_mib']:.0f} after loading the CSR)", flush=True)
                        else:
                            print(f": {res.get('status')}: {str(res.get('error', ''))[:300]}", flush=True)
    summarise(results)
    table, notes = markdown_table(results, versions)
    up_end = _uptime()
    print()
    print(f"Data: {args.data} ({shape[0]:,} users x {shape[1]:,} items, {shape[2]:,} ratings), "
          f"{args.threads} threads per library, float32, {args.warmup} warm-up + {args.epochs} timed epochs; "
          f"implicit-feedback positives: {'every rating' if positive_threshold is None else f'ratings >= {positive_threshold:g}'}; "
          f"'x mfcore' = library s/epoch / mfcore s/epoch for the same model, K and solver (>1: mfcore faster).")
    print()
    print(table)
    print()
    for n in notes:
        print(n)
    print("\nPeak RSS = VmHWM of the fresh child process that ran the fit (interpreter + library imports + "
          "CSR loading + the library's data conversion + training).")
    for lib in sorted(skipped):
        print(f"Not run: {lib}")
    print(f"# start: {up_start}\n# end:   {up_end}")
    print(f"# command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    if args.json:
        payload = {"started": started, "uptime_start": up_start, "uptime_end": up_end, "argv": sys.argv,
                   "data": {"name": args.data, "description": data_desc, "n_users": shape[0], "n_items": shape[1],
                            "n_ratings": shape[2]},
                   "versions": versions, "missing": missing, "child_env": CHILD_ENV, "mfcore_kernels": kernels, "results": results,
                   "markdown": table, "notes": notes}
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
