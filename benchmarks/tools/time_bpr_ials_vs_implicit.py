"""Kernel timing tool: mfcore BPR / implicit-ALS kernels vs the `implicit` package.

Not part of the test suite and not an asv suite; run by hand:

    MFCORE_BENCH_THREADS=2 python benchmarks/tools/time_bpr_ials_vs_implicit.py [bpr] [ials] [--no-implicit]

Data: a random power-law users x items CSR with the shape of MovieLens-32M
(200,948 users, 84,432 items, ~32.0M interactions), cached in
``$MFCORE_BENCH_CACHE`` (default /tmp/mfcore_bench_ml32m_like.npz). `implicit`
is optional: when it is not installed its rows are skipped.
"""

import os
import resource
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

N_USERS, N_ITEMS, NNZ = 200_948, 84_432, 32_000_204


def make_ml32m_like(seed=0, n_users=N_USERS, n_items=N_ITEMS, nnz=NNZ):
    """Random users x items CSR (float32 ones, int32 sorted indices, no duplicates).

    User activity: Pareto-like counts >= 20 (like MovieLens), scaled to ~nnz.
    Item popularity: Zipf-like p_i ~ 1 / (rank + 20) ** 1.1, ranks shuffled.
    Duplicates drawn for a user are dropped, so nnz is slightly below target.
    """
    rng = np.random.default_rng(seed)
    raw = rng.pareto(1.3, n_users) + 1.0
    # target 15% above nnz: duplicate draws of popular items are dropped below
    target = int(nnz * 1.15)
    counts = 20 + raw / raw.sum() * (target - 20 * n_users)
    counts = np.minimum(np.round(counts).astype(np.int64), n_items // 2)
    pop = 1.0 / (np.arange(n_items) + 20.0) ** 1.1
    pop = pop[rng.permutation(n_items)]
    cdf = np.cumsum(pop / pop.sum())
    # oversample by 35% to make up for duplicates
    draw = np.round(counts * 1.35).astype(np.int64)
    users = np.repeat(np.arange(n_users, dtype=np.int64), draw)
    items = np.searchsorted(cdf, rng.random(users.shape[0]), side="right")
    np.minimum(items, n_items - 1, out=items)
    keys = np.unique(users * n_items + items)
    users = keys // n_items
    items = keys % n_items
    del keys
    # trim each user back to its target count (keep a random subset order-free:
    # the first `counts` after unique-sorting are biased to low ids, so shuffle)
    order = np.lexsort((rng.random(users.shape[0]), users))
    users, items = users[order], items[order]
    start = np.searchsorted(users, np.arange(n_users))
    rank = np.arange(users.shape[0]) - start[users]
    keep = rank < counts[users]
    users, items = users[keep], items[keep]
    m = sp.csr_matrix((np.ones(users.shape[0], np.float32),
                       (users.astype(np.int32), items.astype(np.int32))),
                      shape=(n_users, n_items))
    m.sort_indices()
    m.indptr = m.indptr.astype(np.int32)
    m.indices = m.indices.astype(np.int32)
    return m


def load_data():
    path = os.environ.get("MFCORE_BENCH_CACHE", "/tmp/mfcore_bench_ml32m_like.npz")
    if os.path.exists(path):
        z = np.load(path)
        m = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    else:
        t = time.perf_counter()
        m = make_ml32m_like()
        print(f"generated data in {time.perf_counter() - t:.1f}s", flush=True)
        np.savez(path, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))
    m.indptr = m.indptr.astype(np.int32)
    m.indices = m.indices.astype(np.int32)
    return m


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load():
    return os.getloadavg()


def _cpu():
    return time.process_time()


def bench_bpr(m, threads, K, epochs, use_implicit):
    """Epochs of mfcore and implicit interleaved (ours, theirs, ours, ...) so both
    see the same machine load; wall and process CPU seconds per epoch."""
    from mfcore._bpr import bpr_epoch
    from mfcore._sparse import row_of_entry
    rng = np.random.default_rng(1)
    n_users, n_items = m.shape
    U = (rng.standard_normal((n_users, K)) * 0.01).astype(np.float32)
    V = (rng.standard_normal((n_items, K)) * 0.01).astype(np.float32)
    b = np.zeros(n_items, np.float32)
    # row of every interaction, computed once per fit (like implicit's userids)
    nnz_rows = row_of_entry(m.indptr)
    model = None
    if use_implicit:
        try:
            from implicit.cpu.bpr import BayesianPersonalizedRanking
            model = BayesianPersonalizedRanking(factors=K, learning_rate=0.05, regularization=0.01,
                                                iterations=1, num_threads=threads,
                                                random_state=1, dtype=np.float32)
        except ImportError:
            print("  implicit not installed: skipped")
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    for e in range(epochs):
        t, c = time.perf_counter(), _cpu()
        loss, skipped = bpr_epoch(m.indptr, m.indices, U, V, b, m.nnz, 0.05, 0.01, 0.01, 0.01,
                                  1000 + e, threads, None, nnz_rows)
        ours.append(time.perf_counter() - t)
        ours_cpu.append(_cpu() - c)
        print(f"  mfcore BPR epoch {e}: {ours[-1]:.2f}s (cpu {ours_cpu[-1]:.2f}s)  "
              f"{m.nnz / ours[-1] / 1e6:.2f} M samples/s  loss {loss:.4f} skipped {skipped}  "
              f"load {load()[0]:.2f}", flush=True)
        if model is not None:
            stamps = []

            def cb(*args):
                stamps.append((time.perf_counter(), _cpu()))

            # fit() keeps existing factors, so each call is one more epoch; the
            # epoch is timed from before the call to its callback (includes
            # implicit's per-call setup: a CSR transpose-free check and the
            # sampling arrays, small next to the epoch).
            t, c = time.perf_counter(), _cpu()
            model.fit(m, show_progress=False, callback=cb)
            theirs.append(stamps[-1][0] - t)
            theirs_cpu.append(stamps[-1][1] - c)
            print(f"  implicit BPR epoch {e}: {theirs[-1]:.2f}s (cpu {theirs_cpu[-1]:.2f}s)  "
                  f"{m.nnz / theirs[-1] / 1e6:.2f} M samples/s  load {load()[0]:.2f}", flush=True)
    res = {"mfcore_bpr_samples_per_s": m.nnz / statistics.median(ours),
           "mfcore_bpr_cpu_s_per_M": statistics.median(ours_cpu) / m.nnz * 1e6}
    t = time.perf_counter()
    bpr_epoch(m.indptr, m.indices, U, V, b, m.nnz, 0.05, 0.01, 0.01, 0.01, 999, threads)
    dt = time.perf_counter() - t
    res["mfcore_bpr_samples_per_s_no_nnz_rows_1epoch"] = m.nnz / dt
    print(f"  mfcore BPR epoch without nnz_rows: {dt:.2f}s  {m.nnz / dt / 1e6:.2f} M samples/s"
          f"  load {load()[0]:.2f}", flush=True)
    if theirs:
        res["implicit_bpr_samples_per_s"] = m.nnz / statistics.median(theirs)
        res["implicit_bpr_cpu_s_per_M"] = statistics.median(theirs_cpu) / m.nnz * 1e6
        res["bpr_ratio_wall"] = statistics.median(theirs) / statistics.median(ours)
        res["bpr_ratio_cpu"] = statistics.median(theirs_cpu) / statistics.median(ours_cpu)
    return res


def bench_ials(m, threads, K, iterations, use_implicit, cg_steps=3, reg=0.01, alpha=1.0):
    """Iterations (both half-sweeps) of mfcore and implicit CG, interleaved."""
    from mfcore._implicit_als import implicit_als_half_sweep
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(2)
    Cui = m.copy()
    Cui.data = (alpha * Cui.data).astype(np.float32)   # c - 1 = alpha * r
    Ciu = Cui.T.tocsr()
    Ciu.sort_indices()
    for c in (Cui, Ciu):
        c.indptr = c.indptr.astype(np.int32)
        c.indices = c.indices.astype(np.int32)
    n_users, n_items = m.shape
    U = (rng.random((n_users, K), dtype=np.float32) * 0.01)
    V = (rng.random((n_items, K), dtype=np.float32) * 0.01)
    model = None
    if use_implicit:
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            model = AlternatingLeastSquares(factors=K, regularization=reg, alpha=alpha,
                                            iterations=1, use_cg=True, num_threads=threads,
                                            random_state=2, calculate_training_loss=False,
                                            dtype=np.float32)
            model.cg_steps = cg_steps  # implicit's default is 3; not a constructor argument
        except ImportError:
            print("  implicit not installed: skipped")
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    with threadpool_limits(1):
        for it in range(iterations):
            t, c0 = time.perf_counter(), _cpu()
            for C, X, Y in ((Cui, U, V), (Ciu, V, U)):
                YtY = Y.T @ Y            # float32 (K, K), once per half-sweep
                st = implicit_als_half_sweep(C.indptr, C.indices, C.data, Y, X, YtY, reg,
                                             1, cg_steps, threads)
                if st != -1:
                    raise RuntimeError(f"row {st} failed")
            ours.append(time.perf_counter() - t)
            ours_cpu.append(_cpu() - c0)
            print(f"  mfcore iALS-CG iteration {it}: {ours[-1]:.2f}s (cpu {ours_cpu[-1]:.2f}s)"
                  f"  load {load()[0]:.2f}", flush=True)
            if model is not None:
                got = []

                def cb(i, elapsed, loss):
                    got.append((elapsed, _cpu()))

                c0 = _cpu()
                # the callback's elapsed covers the two solver calls only (not
                # implicit's per-fit transpose), in its favour
                model.fit(m, show_progress=False, callback=cb)
                theirs.append(got[-1][0])
                theirs_cpu.append(got[-1][1] - c0)
                print(f"  implicit ALS-CG iteration {it}: {theirs[-1]:.2f}s "
                      f"(cpu incl. transpose {theirs_cpu[-1]:.2f}s)  load {load()[0]:.2f}",
                      flush=True)
    res = {"mfcore_ials_cg_s_per_iter": statistics.median(ours),
           "mfcore_ials_cg_cpu_s_per_iter": statistics.median(ours_cpu)}
    if theirs:
        res["implicit_ials_cg_s_per_iter"] = statistics.median(theirs)
        res["implicit_ials_cg_cpu_s_per_iter_incl_transpose"] = statistics.median(theirs_cpu)
        res["ials_speedup_wall"] = statistics.median(theirs) / statistics.median(ours)
    return res


if __name__ == "__main__":
    args = sys.argv[1:]
    threads = int(os.environ.get("MFCORE_BENCH_THREADS", "2"))
    K = int(os.environ.get("MFCORE_BENCH_K", "64"))
    use_implicit = "--no-implicit" not in args
    which = [a for a in args if not a.startswith("--")] or ["bpr", "ials"]
    print(f"uptime load at start: {load()}  threads={threads} K={K}", flush=True)
    m = load_data()
    print(f"data: {m.shape[0]} users x {m.shape[1]} items, nnz={m.nnz}, "
          f"max user row {np.diff(m.indptr).max()}, "
          f"max item col {np.bincount(m.indices, minlength=m.shape[1]).max()}", flush=True)
    results = {}
    if "bpr" in which:
        results.update(bench_bpr(m, threads, K, 3, use_implicit))
    if "ials" in which:
        results.update(bench_ials(m, threads, K, 3, use_implicit))
    print(f"uptime load at end: {load()}")
    print(f"peak RSS: {rss_mb():.0f} MB")
    for k, v in results.items():
        print(f"{k}: {v:.4g}")
