"""pytest-benchmark: every compiled kernel beside its NumPy twin from ``mfcore._reference``.

Not part of the normal test run (``testpaths = ["tests"]``). Run::

    pytest benchmarks/pytest --benchmark-only -p no:cacheprovider
    pytest benchmarks/pytest --benchmark-only -k "als and K64"        # one group
    MFCORE_BENCH_THREADS=2 pytest benchmarks/pytest --benchmark-only  # multi-threaded kernels

Each benchmark *group* holds the kernel (float32 and float64) and its reference
computing the same math on the same data; every benchmark also checks that its
output agrees with the reference output (float64: rel. error <= 1e-8 as in
tests/conftest.py; float32: rel. Frobenius error <= 1e-3), so a fast kernel
can never silently benchmark garbage.

Data: ``make_movielens_like(scale="1m", random_state=0)`` -- 6,040 users x 3,706
items, 1,000,209 ratings -- and seeded random factors (scale 0.1).

Threads: kernels get ``num_threads = $MFCORE_BENCH_THREADS`` (default 1) and
the references' BLAS is limited to the same count (threadpoolctl), so the ratio
kernel / reference is a like-for-like, per-core figure by default.

Groups
------
``als-half-sweep-K13`` / ``-K64``
    ``mfcore._als.als_half_sweep`` (Cholesky, user side: 6,040 rows, 1M
    ratings) vs ``_reference.als_half_sweep``.
``implicit-als-half-sweep-K13`` / ``-K64``
    ``mfcore._implicit_als.implicit_als_half_sweep`` (Cholesky, user side,
    confidence c - 1 = 1 on all 1M interactions) vs
    ``_reference.implicit_als_half_sweep``.
``bpr-20k-triples``
    ``mfcore._bpr.bpr_sgd_triples`` vs ``_reference.bpr_sgd`` (a Python loop,
    ~40 us/triple) on the same 20,000 triples from ``_reference.bpr_sample``;
    ``extra_info["ns_per_triple"]`` normalises per sample.
``bpr-epoch-1M``
    ``mfcore._bpr.bpr_epoch`` with 1,000,209 samples (its own sampler);
    compare its ``ns_per_sample`` with the reference's ``ns_per_triple``. The
    kernel's agreement check replays the triples it logs (``sample_log``) for
    a 20,000-sample epoch through the reference.
``top-n``
    ``mfcore._ranking.top_n`` (N = 10, item bias, the 1M training pairs
    excluded, all 6,040 users) vs ``_reference.top_n``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("pytest_benchmark")

from threadpoolctl import threadpool_limits  # noqa: E402

import mfcore  # noqa: E402
from mfcore import _als, _bpr, _implicit_als, _reference as ref  # noqa: E402
from mfcore._ranking import top_n  # noqa: E402

THREADS = int(os.environ.get("MFCORE_BENCH_THREADS", "1") or "1")
REF_ROUNDS = 3          # slow references: pedantic rounds
KERNEL_ROUNDS = 5
REG, REG_BIAS = 5.0, 5.0
N_TRIPLES = 20_000
DTYPES = {"float32": np.float32, "float64": np.float64}


@pytest.fixture(scope="module", autouse=True)
def _limit_blas():
    with threadpool_limits(limits=THREADS, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def ratings():
    """users x items CSR, float64 ratings, int32 sorted indices (1,000,209 entries)."""
    X = mfcore.make_movielens_like(scale="1m", random_state=0).user_items()
    X = sp.csr_matrix((X.data.astype(np.float64), X.indices, X.indptr), shape=X.shape)
    X.sort_indices()
    return X


def _rel_err(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def _assert_agrees(actual, expected, dtype, what):
    limit = 1e-3 if dtype == "float32" else 1e-8
    err = _rel_err(actual, expected)
    assert np.all(np.isfinite(actual)), f"{what}: non-finite output"
    assert err <= limit, f"{what}: relative error {err:.3g} vs the reference exceeds {limit:g}"


def _info(benchmark, impl, dtype, **extra):
    benchmark.extra_info.update({"impl": impl, "dtype": dtype, "threads": THREADS, **extra})


def _median_ns_per(benchmark, n):
    """Median seconds of the benchmark / n, in ns (None under --benchmark-disable)."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median / n * 1e9


# ----------------------------------------------------------------------------- explicit ALS


@pytest.fixture(scope="module")
def als_problem(ratings):
    cache = {}

    def get(K):
        if K not in cache:
            rng = np.random.default_rng(K)
            n_items = ratings.shape[1]
            V = rng.standard_normal((n_items, K)) * 0.1
            bv = rng.standard_normal(n_items) * 0.1
            mu = float(ratings.data.mean())
            expected = ref.als_half_sweep(ratings, V, bv, mu, REG, REG_BIAS)
            cache[K] = (V, bv, mu, expected)
        return cache[K]

    return get


@pytest.mark.parametrize("K", [13, 64], ids=lambda k: f"K{k}")
@pytest.mark.parametrize("impl", ["kernel-float32", "kernel-float64", "reference"])
def test_als_half_sweep(benchmark, ratings, als_problem, impl, K):
    benchmark.group = f"als-half-sweep-K{K}"
    V, bv, mu, (F_ref, b_ref) = als_problem(K)
    n_rows = ratings.shape[0]
    if impl == "reference":
        _info(benchmark, impl, "float64", nnz=ratings.nnz)
        F, b = benchmark.pedantic(ref.als_half_sweep, args=(ratings, V, bv, mu, REG, REG_BIAS),
                                  rounds=REF_ROUNDS, iterations=1)
        _assert_agrees(F, F_ref, "float64", "reference factors")
        return
    dtype = impl.split("-")[1]
    dt = DTYPES[dtype]
    indptr, indices = ratings.indptr.astype(np.int32), ratings.indices.astype(np.int32)
    data, Vd, bvd = ratings.data.astype(dt), np.ascontiguousarray(V, dtype=dt), bv.astype(dt)
    F = np.zeros((n_rows, K), dt)
    b = np.zeros(n_rows, dt)

    def run():
        return _als.als_half_sweep(indptr, indices, data, Vd, bvd, mu, F, b, REG, REG_BIAS, False,
                                   None, 0.0, None, 0.0, 0, 1, THREADS)

    _info(benchmark, impl, dtype, nnz=ratings.nnz)
    status = benchmark.pedantic(run, rounds=KERNEL_ROUNDS, iterations=1, warmup_rounds=1)
    assert status == -1, f"als_half_sweep reported a failed factorization at row {status}"
    _assert_agrees(F, F_ref, dtype, "als_half_sweep factors")
    _assert_agrees(b, b_ref, dtype, "als_half_sweep biases")


# ----------------------------------------------------------------------------- implicit ALS


@pytest.fixture(scope="module")
def ials_problem(ratings):
    conf = sp.csr_matrix((np.ones(ratings.nnz), ratings.indices, ratings.indptr), shape=ratings.shape)
    cache = {}

    def get(K):
        if K not in cache:
            rng = np.random.default_rng(100 + K)
            Y = rng.standard_normal((ratings.shape[1], K)) * 0.1
            cache[K] = (Y, ref.implicit_als_half_sweep(conf, Y, 0.05))
        return conf, cache[K][0], cache[K][1]

    return get


@pytest.mark.parametrize("K", [13, 64], ids=lambda k: f"K{k}")
@pytest.mark.parametrize("impl", ["kernel-float32", "kernel-float64", "reference"])
def test_implicit_als_half_sweep(benchmark, ials_problem, impl, K):
    benchmark.group = f"implicit-als-half-sweep-K{K}"
    conf, Y, X_ref = ials_problem(K)
    if impl == "reference":
        _info(benchmark, impl, "float64", nnz=conf.nnz)
        X = benchmark.pedantic(ref.implicit_als_half_sweep, args=(conf, Y, 0.05), rounds=REF_ROUNDS, iterations=1)
        _assert_agrees(X, X_ref, "float64", "reference factors")
        return
    dtype = impl.split("-")[1]
    dt = DTYPES[dtype]
    indptr, indices = conf.indptr.astype(np.int32), conf.indices.astype(np.int32)
    data, Yd = conf.data.astype(dt), np.ascontiguousarray(Y, dtype=dt)
    YtY = np.ascontiguousarray(Yd.T @ Yd)
    X = np.zeros((conf.shape[0], K), dt)

    def run():
        return _implicit_als.implicit_als_half_sweep(indptr, indices, data, Yd, X, YtY, 0.05, 0, 1, THREADS)

    _info(benchmark, impl, dtype, nnz=conf.nnz)
    status = benchmark.pedantic(run, rounds=KERNEL_ROUNDS, iterations=1, warmup_rounds=1)
    assert status == -1, f"implicit_als_half_sweep reported a failed solve at row {status}"
    _assert_agrees(X, X_ref, dtype, "implicit_als_half_sweep factors")


# ----------------------------------------------------------------------------- BPR

BPR_K, BPR_LR, BPR_REG, BPR_REG_BIAS = 64, 0.05, 0.01, 0.01


def _bpr_start(n_users, n_items, dtype):
    rng = np.random.default_rng(7)
    U = (rng.standard_normal((n_users, BPR_K)) * 0.1 / np.sqrt(BPR_K)).astype(dtype)
    V = (rng.standard_normal((n_items, BPR_K)) * 0.1 / np.sqrt(BPR_K)).astype(dtype)
    return U, V, np.zeros(n_items, dtype)


@pytest.fixture(scope="module")
def bpr_problem(ratings):
    users, pos, neg = ref.bpr_sample(ratings, N_TRIPLES, 0)
    U, V, b = _bpr_start(*ratings.shape, np.float64)
    loss = ref.bpr_sgd(U, V, b, users, pos, neg, BPR_LR, BPR_REG, BPR_REG, BPR_REG_BIAS)
    return (users, pos, neg), (U, V, b, loss)


@pytest.mark.parametrize("impl", ["kernel-float32", "kernel-float64", "reference"])
def test_bpr_triples(benchmark, ratings, bpr_problem, impl):
    benchmark.group = "bpr-20k-triples"
    (users, pos, neg), (U_ref, V_ref, b_ref, loss_ref) = bpr_problem
    dtype = "float64" if impl == "reference" else impl.split("-")[1]
    dt = DTYPES[dtype]
    fn = ref.bpr_sgd if impl == "reference" else None

    def setup():
        U, V, b = _bpr_start(*ratings.shape, dt)
        if impl == "reference":
            return (U, V, b, users, pos, neg, BPR_LR, BPR_REG, BPR_REG, BPR_REG_BIAS), {}
        return (users, pos, neg, U, V, b, BPR_LR, BPR_REG, BPR_REG, BPR_REG_BIAS), {}

    state = {}

    def run(*args):
        state["args"] = args
        return (fn or _bpr.bpr_sgd_triples)(*args)

    # the kernel takes a few ms: more rounds for a stable median on a shared machine
    loss = benchmark.pedantic(run, setup=setup, rounds=REF_ROUNDS if impl == "reference" else 4 * KERNEL_ROUNDS,
                              iterations=1)
    args = state["args"]
    U, V, b = (args[0], args[1], args[2]) if impl == "reference" else (args[3], args[4], args[5])
    _info(benchmark, impl, dtype, n_triples=N_TRIPLES,
          ns_per_triple=_median_ns_per(benchmark, N_TRIPLES))
    _assert_agrees(U, U_ref, dtype, "BPR user factors")
    _assert_agrees(V, V_ref, dtype, "BPR item factors")
    _assert_agrees(b, b_ref, dtype, "BPR item biases")
    assert abs(loss - loss_ref) <= (1e-3 if dtype == "float32" else 1e-8) * abs(loss_ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bpr_epoch(benchmark, ratings, dtype):
    benchmark.group = "bpr-epoch-1M"
    dt = DTYPES[dtype]
    indptr, indices = ratings.indptr.astype(np.int32), ratings.indices.astype(np.int32)
    n_samples = ratings.nnz

    # Agreement first: a 20k-sample single-thread epoch, replayed through the reference via its sample log.
    U, V, b = _bpr_start(*ratings.shape, dt)
    log = np.empty((N_TRIPLES, 3), np.int32)
    mean_loss, skipped = _bpr.bpr_epoch(indptr, indices, U, V, b, N_TRIPLES, BPR_LR, BPR_REG, BPR_REG,
                                        BPR_REG_BIAS, 12345, 1, sample_log=log)
    assert skipped == 0 and np.all(log[:, 2] >= 0)
    is_pos = ratings[log[:, 0], log[:, 1]].A1 != 0
    is_neg = ratings[log[:, 0], log[:, 2]].A1 == 0
    assert is_pos.all() and is_neg.all(), "bpr_epoch sampled an invalid (user, positive, negative) triple"
    U_ref, V_ref, b_ref = _bpr_start(*ratings.shape, np.float64)
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, log[:, 0], log[:, 1], log[:, 2], BPR_LR, BPR_REG, BPR_REG,
                           BPR_REG_BIAS)
    _assert_agrees(U, U_ref, dtype, "bpr_epoch user factors")
    _assert_agrees(V, V_ref, dtype, "bpr_epoch item factors")
    assert abs(mean_loss - loss_ref / N_TRIPLES) <= 1e-3 * abs(loss_ref / N_TRIPLES)

    def setup():
        return _bpr_start(*ratings.shape, dt), {}

    def run(U, V, b):
        return _bpr.bpr_epoch(indptr, indices, U, V, b, n_samples, BPR_LR, BPR_REG, BPR_REG, BPR_REG_BIAS,
                              0, THREADS)

    mean_loss, skipped = benchmark.pedantic(run, setup=setup, rounds=KERNEL_ROUNDS, iterations=1)
    assert np.isfinite(mean_loss) and skipped == 0
    _info(benchmark, "kernel-" + dtype, dtype, n_samples=n_samples,
          ns_per_sample=_median_ns_per(benchmark, n_samples))


# ----------------------------------------------------------------------------- top-N

TOPN_K, TOPN_N = 64, 10


@pytest.fixture(scope="module")
def topn_problem(ratings):
    rng = np.random.default_rng(3)
    U = rng.standard_normal((ratings.shape[0], TOPN_K))
    V = rng.standard_normal((ratings.shape[1], TOPN_K))
    bias = rng.standard_normal(ratings.shape[1])
    ids, scores = ref.top_n(U, V, bias, 1.0, ratings, None, TOPN_N)
    return U, V, bias, ids, scores


@pytest.mark.parametrize("impl", ["kernel-float32", "kernel-float64", "reference"])
def test_top_n(benchmark, ratings, topn_problem, impl):
    benchmark.group = "top-n"
    U, V, bias, ids_ref, scores_ref = topn_problem
    if impl == "reference":
        dtype = "float64"
        ids, scores = benchmark.pedantic(ref.top_n, args=(U, V, bias, 1.0, ratings, None, TOPN_N),
                                         rounds=REF_ROUNDS, iterations=1)
    else:
        dtype = impl.split("-")[1]
        dt = DTYPES[dtype]
        Ud, Vd, bd = (np.ascontiguousarray(a, dtype=dt) for a in (U, V, bias))
        ids, scores = benchmark.pedantic(
            top_n, args=(Ud, Vd), kwargs={"item_bias": bd, "exclude": ratings, "N": TOPN_N, "num_threads": THREADS},
            rounds=KERNEL_ROUNDS, iterations=1, warmup_rounds=1)
    _info(benchmark, impl, dtype, n_users=ratings.shape[0], n_items=ratings.shape[1], N=TOPN_N, K=TOPN_K)
    # Random continuous scores: no exact ties, so float64 must match exactly; float32 may swap near-ties.
    same = float(np.mean(ids == ids_ref))
    assert same >= (0.99 if dtype == "float32" else 1.0), f"only {same:.4f} of the top-N ids match the reference"
    _assert_agrees(np.sort(scores, axis=1), np.sort(scores_ref, axis=1), dtype, "top-N scores")
