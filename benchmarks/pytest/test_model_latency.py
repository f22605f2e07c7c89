"""pytest-benchmark: per-call latency of the model API beside implicit (issue 11).

Not part of the normal test run (``testpaths = ["tests"]``). Run::

    pytest benchmarks/pytest/test_model_latency.py --benchmark-only -p no:cacheprovider
    MFCORE_BENCH_THREADS=2 pytest benchmarks/pytest/test_model_latency.py --benchmark-only

Model: ImplicitALS shaped like one fitted on ml-32m -- 87,585 items, K = 64, float32,
seeded random factors (scale 0.1 / sqrt(K)) -- and 2,000 users with 150 seeded
random interactions each (values 1). implicit's ``AlternatingLeastSquares`` gets the
same factors, so both libraries do the same maths; every benchmark checks that
they agree (same top-10 items, or vectors to float32 rounding) before timing.

Groups
------
``recommend-1user``
    ``model.recommend(u, N=10)`` for one user, seen items filtered: mfcore (stored
    training items), implicit (``user_items[u]`` given, as its API requires), and
    mfcore's compiled top-N kernel alone (``mfcore._topk.topk``) as the floor.
``similar-items``
    ``similar_items(i, N=10)``: mfcore and implicit (implicit also returns the
    query item itself, so it is asked for N + 1).
``fold-in-1000``
    ``recalculate_user`` for 1,000 users at once (exact Cholesky solves in both;
    mfcore ``confidence="raw"`` = implicit's c = alpha * r).
``bpr-fold-in-1000``
    BPR's ``recalculate_user`` for 1,000 users of the same data (150 positives each, 500
    sampled negatives, Newton's method; random item factors of scale 0.3 and biases 0.1):
    the batch kernel (``mfcore._bpr.bpr_fold_in``, one call) and the per-user NumPy loop
    it replaced (``mfcore._reference.bpr_fold_in``, the same maths, float64), checked to
    agree. implicit's BPR has no ``recalculate_user``.

Threads: ``$MFCORE_BENCH_THREADS`` (default 1) for both libraries.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("pytest_benchmark")

from mfcore import BPR, ImplicitALS  # noqa: E402
from mfcore import _reference as ref  # noqa: E402
from mfcore._ranking import item_pack  # noqa: E402
from mfcore._threads import blas_limited  # noqa: E402
from mfcore._topk import topk  # noqa: E402

THREADS = int(os.environ.get("MFCORE_BENCH_THREADS", "1"))
N_USERS, N_ITEMS, K, PER_USER = 2000, 87585, 64, 150


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    cols = np.concatenate([np.sort(rng.choice(N_ITEMS, PER_USER, replace=False)) for _ in range(N_USERS)])
    indptr = np.arange(N_USERS + 1, dtype=np.int32) * PER_USER
    R = sp.csr_matrix((np.ones(cols.size, np.float32), cols.astype(np.int32), indptr), shape=(N_USERS, N_ITEMS))
    ours = ImplicitALS(factors=K, iterations=0, confidence="raw", alpha=1.0, regularization=0.1,
                       num_threads=THREADS, random_state=0).fit(R, show_progress=False)
    peer = None
    try:
        from implicit.cpu.als import AlternatingLeastSquares

        peer = AlternatingLeastSquares(factors=K, regularization=0.1, alpha=1.0, num_threads=THREADS,
                                       random_state=0)
        peer.user_factors = ours.user_factors.copy()
        peer.item_factors = ours.item_factors.copy()
    except ImportError:
        pass
    return ours, peer, R


def _peer(peer):
    if peer is None:
        pytest.skip("implicit is not installed (pip install implicit)")
    return peer


@pytest.mark.benchmark(group="recommend-1user")
def test_recommend_mfcore(benchmark, models):
    ours, _, _ = models
    ours.recommend(7, N=10)       # the first call packs the items once per fitted model: not timed
    ids, _ = benchmark(ours.recommend, 7, N=10)
    assert len(ids) == 10


@pytest.mark.benchmark(group="recommend-1user")
def test_recommend_kernel_alone(benchmark, models):
    ours, _, R = models
    u = np.ascontiguousarray(ours.user_factors[7:8])
    row = R[7]
    pack = item_pack(ours.item_factors)  # the packed bf16 items (None without AVX512_BF16), cached by the model

    def kernel():
        with blas_limited():
            return topk(u, ours.item_factors, None, 1.0, row.indptr, row.indices, None, 10, THREADS, pack)

    ids, _ = benchmark(kernel)
    np.testing.assert_array_equal(ids[0], ours.recommend(7, N=10)[0])


@pytest.mark.benchmark(group="recommend-1user")
def test_recommend_implicit(benchmark, models):
    ours, peer, R = models
    peer = _peer(peer)
    row = R[7]
    ids, _ = benchmark(peer.recommend, 7, row, N=10)
    np.testing.assert_array_equal(np.sort(ids), np.sort(ours.recommend(7, N=10)[0]))


@pytest.mark.benchmark(group="similar-items")
def test_similar_items_mfcore(benchmark, models):
    ours, _, _ = models
    ours.similar_items(11, N=10)  # the first call packs the unit item vectors once per fitted model: not timed
    ids, _ = benchmark(ours.similar_items, 11, N=10)
    assert len(ids) == 10 and 11 not in ids


@pytest.mark.benchmark(group="similar-items")
def test_similar_items_implicit(benchmark, models):
    ours, peer, _ = models
    peer = _peer(peer)
    ids, _ = benchmark(peer.similar_items, 11, N=11)
    assert set(ids.tolist()) - {11} == set(ours.similar_items(11, N=10)[0].tolist())


@pytest.mark.benchmark(group="fold-in-1000")
def test_fold_in_mfcore(benchmark, models):
    ours, _, R = models
    users = np.arange(1000)
    vecs = benchmark(ours.recalculate_user, users, R[:1000])
    assert vecs.shape == (1000, K)


@pytest.mark.benchmark(group="fold-in-1000")
def test_fold_in_implicit(benchmark, models):
    ours, peer, R = models
    peer = _peer(peer)
    users = np.arange(1000)
    vecs = benchmark(peer.recalculate_user, users, R[:1000])
    np.testing.assert_allclose(vecs, ours.recalculate_user(users, R[:1000]), rtol=1e-3,
                               atol=1e-3 * np.abs(vecs).max())


@pytest.fixture(scope="module")
def bpr_model(models):
    _, _, R = models
    rng = np.random.default_rng(1)
    model = BPR(factors=K, iterations=0, positive_threshold=None, num_threads=THREADS,
                random_state=0).fit(R, show_progress=False)
    model.item_factors[:] = rng.standard_normal((N_ITEMS, K)).astype(np.float32) * 0.3
    model.item_bias[:] = rng.standard_normal(N_ITEMS).astype(np.float32) * 0.1
    return model, R[:1000]


def _bpr_reference_batch(model, rows):
    """The pre-kernel batch fold-in: one NumPy Newton solve per user, the same negatives."""
    pos_indptr, pos = rows.indptr, rows.indices
    neg_indptr, ranks = model._negative_ranks(np.diff(pos_indptr), 500)
    with blas_limited():
        return ref.bpr_fold_in(pos_indptr, pos, neg_indptr, ranks, model.item_factors, model.item_bias,
                               model.regularization, 10)


@pytest.mark.benchmark(group="bpr-fold-in-1000")
def test_bpr_fold_in_mfcore(benchmark, bpr_model):
    model, rows = bpr_model
    vecs = benchmark(model.recalculate_user, np.arange(1000), rows)
    np.testing.assert_allclose(vecs[:20], _bpr_reference_batch(model, rows[:20]), rtol=1e-5, atol=1e-6)


@pytest.mark.benchmark(group="bpr-fold-in-1000")
def test_bpr_fold_in_numpy_per_user(benchmark, bpr_model):
    model, rows = bpr_model
    vecs = benchmark.pedantic(_bpr_reference_batch, args=(model, rows), rounds=1, iterations=1)
    assert vecs.shape == (1000, K)
