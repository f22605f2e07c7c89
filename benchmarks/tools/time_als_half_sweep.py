"""Kernel timing tool: mfcore._als.als_half_sweep on ML-32M-shaped synthetic data.

Run as a script (importing it does nothing)::

    python benchmarks/tools/time_als_half_sweep.py --k 64 --solver 0 --threads 2 --epochs 3
    python benchmarks/tools/time_als_half_sweep.py --k 64 --solver 1 --cg-steps 3
    python benchmarks/tools/time_als_half_sweep.py --sample 1000000 ...   # smaller problem

Data: 200,948 users (>= 20 ratings, heavy-tailed degrees), 87,585 items with
Zipf popularity (about half the items have <= 9 ratings), 32,000,204 float32
half-star ratings; generated once and cached in ``--cache`` (default /tmp).
Prints per-half-sweep and per-epoch seconds (median over epochs), the load
average and the process peak RSS.
"""

import argparse
import os
import resource
import time

import numpy as np
import scipy.sparse as sp

N_USERS, N_ITEMS, NNZ = 200_948, 87_585, 32_000_204


def _popularity(n_items, nnz, top_count=100_000.0, target_median=9.0):
    """Zipf-Mandelbrot p_i ~ (i + c)^-a: top item ~top_count ratings, median item ~target_median."""
    ranks = np.arange(n_items, dtype=np.float64)

    def probs(a):
        lo_c, hi_c = 0.0, 1e7                       # offset c giving p_0 = top_count / nnz
        for _ in range(80):
            c = 0.5 * (lo_c + hi_c)
            p = (ranks + 1.0 + c) ** -a
            p /= p.sum()
            if p[0] > top_count / nnz:
                lo_c = c
            else:
                hi_c = c
        return p

    lo, hi = 0.8, 4.0
    for _ in range(40):
        a = 0.5 * (lo + hi)
        if np.median(nnz * probs(a)) > target_median:
            lo = a
        else:
            hi = a
    return probs(a)


def make_ml32m_like(n_users=N_USERS, n_items=N_ITEMS, nnz=NNZ, seed=0):
    """Users x items float32 CSR with int32 sorted indices, exactly nnz entries, no duplicates."""
    rng = np.random.default_rng(seed)
    # log-normal user degrees >= 20 (median ~70, mean nnz / n_users), capped
    deg = 20 + rng.lognormal(np.log(50.0), 1.35, n_users)
    deg = np.minimum(deg * (nnz / deg.sum()), 25_000)
    deg = np.maximum(20, np.floor(deg * (nnz / deg.sum()))).astype(np.int64)
    if nnz > deg.sum():
        deg[np.argsort(-deg)[: nnz - deg.sum()]] += 1
    excess = deg.sum() - nnz
    if excess > 0:
        big = np.argsort(-deg)[:excess]
        deg[big] -= 1
    cdf = np.cumsum(_popularity(n_items, nnz))
    perm = rng.permutation(n_items)              # popularity not correlated with item id
    keys = np.empty(0, dtype=np.int64)
    missing = deg.copy()
    for rnd in range(4):                         # draw, drop duplicate pairs, top up (x1.3)
        want = missing if rnd == 0 else np.ceil(missing * 1.3).astype(np.int64)
        users = np.repeat(np.arange(n_users, dtype=np.int64), want)
        items = perm[np.minimum(np.searchsorted(cdf, rng.random(users.size)), n_items - 1)]
        keys = np.unique(np.concatenate([keys, users * n_items + items]))
        missing = np.maximum(deg - np.bincount(keys // n_items, minlength=n_users), 0)
        if keys.size >= nnz:
            break
    if keys.size > nnz:                          # drop random extras to hit nnz exactly
        keys = np.sort(rng.choice(keys, nnz, replace=False))
    users = (keys // n_items).astype(np.int32)
    items = (keys % n_items).astype(np.int32)
    ratings = rng.choice(np.arange(0.5, 5.01, 0.5), size=keys.size,
                         p=np.array([1, 2, 2, 5, 5, 16, 12, 26, 14, 17]) / 100).astype(np.float32)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    m = sp.csr_matrix((ratings, items, indptr.astype(np.int32)), shape=(n_users, n_items))
    m.has_sorted_indices = True
    return m


def load(cache, sample):
    path = os.path.join(cache, "als_bench_ml32m.npz")
    if os.path.exists(path):
        ui = sp.load_npz(path).tocsr()
    else:
        t = time.perf_counter()
        ui = make_ml32m_like()
        sp.save_npz(path, ui, compressed=False)
        print(f"generated {ui.nnz:,} ratings in {time.perf_counter() - t:.1f}s -> {path}")
    if sample and sample < ui.nnz:
        # keep a random subset of users with about `sample` ratings in total
        rng = np.random.default_rng(1)
        frac = sample / ui.nnz
        keep = np.sort(rng.choice(ui.shape[0], int(round(ui.shape[0] * frac)), replace=False))
        ui = ui[keep]
    ui.indices = ui.indices.astype(np.int32)
    ui.indptr = ui.indptr.astype(np.int32)
    iu = ui.T.tocsr()
    iu.indices = iu.indices.astype(np.int32)
    iu.indptr = iu.indptr.astype(np.int32)
    return ui, iu


def aligned_copy(a, align=64):
    """Copy of ``a`` whose data pointer is a multiple of ``align`` bytes."""
    buf = np.empty(a.nbytes + align, dtype=np.uint8)
    off = (-buf.ctypes.data) % align
    out = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def describe(ui, iu):
    du, di = np.diff(ui.indptr), np.diff(iu.indptr)
    return (f"users {ui.shape[0]:,} (deg min {du.min()} median {np.median(du):.0f} max {du.max()}), "
            f"items {ui.shape[1]:,} (median deg {np.median(di):.0f}, <=9: {np.mean(di <= 9):.2f}, "
            f"max {di.max()}), nnz {ui.nnz:,}")


def main(argv=None):
    from threadpoolctl import threadpool_limits

    from mfcore._als import als_half_sweep

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--solver", type=int, default=0)
    ap.add_argument("--cg-steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--sample", type=int, default=0, help="approximate nnz of a user subsample")
    ap.add_argument("--dual-threshold", type=int, default=-1)
    ap.add_argument("--chunk-rows", type=int, default=256)
    ap.add_argument("--lapack", action="store_true")
    ap.add_argument("--scale-by-count", action="store_true")
    ap.add_argument("--cache", default="/tmp")
    ap.add_argument("--align", action="store_true", help="64-byte-aligned factor arrays")
    ap.add_argument("--reference", action="store_true",
                    help="also time mfcore._reference.als_half_sweep (user side, float64) on this data "
                         "against the kernel on 1 thread, and print the ratio")
    args = ap.parse_args(argv)

    dtype = np.dtype(args.dtype).type
    ui, iu = load(args.cache, args.sample)
    print(describe(ui, iu))
    ratings_u = ui.data.astype(dtype)
    ratings_i = iu.data.astype(dtype)
    mu = float(ui.data.mean(dtype=np.float64))
    rng = np.random.default_rng(0)
    n_users, n_items = ui.shape
    U = (0.1 * rng.standard_normal((n_users, args.k))).astype(dtype)
    V = (0.1 * rng.standard_normal((n_items, args.k))).astype(dtype)
    if args.align:
        U, V = aligned_copy(U), aligned_copy(V)
    bu = np.zeros(n_users, dtype)
    bi = np.zeros(n_items, dtype)
    kw = dict(dual_threshold=args.dual_threshold, chunk_rows=args.chunk_rows, use_lapack=args.lapack)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    with threadpool_limits(1):
        for epoch in range(args.epochs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            st_u = als_half_sweep(ui.indptr, ui.indices, ratings_u, V, bi, mu, U, bu, 0.05, 0.01,
                                  args.scale_by_count, None, 0.0, None, 0.0, args.solver, args.cg_steps,
                                  args.threads, **kw)
            t1 = time.perf_counter()
            st_i = als_half_sweep(iu.indptr, iu.indices, ratings_i, U, bu, mu, V, bi, 0.05, 0.01,
                                  args.scale_by_count, None, 0.0, None, 0.0, args.solver, args.cg_steps,
                                  args.threads, **kw)
            t2 = time.perf_counter()
            cpu = time.process_time() - c0
            times.append((t1 - t0, t2 - t1, t2 - t0, cpu))
            print(f"epoch {epoch}: users {t1 - t0:.3f}s items {t2 - t1:.3f}s epoch {t2 - t0:.3f}s "
                  f"status {st_u},{st_i}  load {os.getloadavg()[0]:.2f}", flush=True)
    if args.reference:
        from mfcore import _reference
        with threadpool_limits(1):
            U64, V64, bi64 = U.astype(np.float64), V.astype(np.float64), bi.astype(np.float64)
            t0 = time.perf_counter()
            _reference.als_half_sweep(ui, V64, bi64, mu, 0.05, 0.01)
            t_ref = time.perf_counter() - t0
            F, B = U64.copy(), np.zeros(n_users)
            t0 = time.perf_counter()
            als_half_sweep(ui.indptr, ui.indices, ui.data.astype(np.float64), V64, bi64, mu, F, B,
                           0.05, 0.01, False, None, 0.0, None, 0.0, 0, 0, 1)
            t_k64 = time.perf_counter() - t0
            F32, B32 = U.copy(), np.zeros(n_users, np.float32)
            t0 = time.perf_counter()
            als_half_sweep(ui.indptr, ui.indices, ui.data.astype(np.float32), V.astype(np.float32),
                           bi.astype(np.float32), mu, F32, B32, 0.05, 0.01, False, None, 0.0, None, 0.0,
                           0, 0, 1)
            t_k32 = time.perf_counter() - t0
        print(f"REFERENCE user half-sweep, 1 thread: numpy {t_ref:.3f}s, kernel float64 {t_k64:.3f}s "
              f"({t_ref / t_k64:.0f}x), kernel float32 {t_k32:.3f}s ({t_ref / t_k32:.0f}x)")
    med = np.median(np.array(times), axis=0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"MEDIAN K={args.k} solver={args.solver} cg={args.cg_steps} threads={args.threads} "
          f"{args.dtype}: users {med[0]:.3f}s items {med[1]:.3f}s epoch {med[2]:.3f}s "
          f"(process cpu {med[3]:.3f}s, cpu/threads {med[3] / args.threads:.3f}s); "
          f"peak RSS {rss1 / 1024:.0f} MiB (before sweeps {rss0 / 1024:.0f} MiB); "
          f"loadavg {os.getloadavg()}")


if __name__ == "__main__":
    main()
