"""Top-N kernel (mfcore._topk via mfcore._ranking.top_n) against a brute-force NumPy reference.

Most problems use small *integer-valued* factors and biases: every score is then an
exact integer (or half-integer) in both float32 and float64, so rankings are
unambiguous, the dtypes must agree exactly, and ties are frequent -- which
exercises the "ties go to the lower item id" rule. Continuous random problems are
compared with tolerances on the scores (float32 may order near-ties differently).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from mfcore._ranking import top_n
from mfcore._topk import topk


def reference_top_n(U, V, N, item_bias=None, bias_weight=1.0, exclude=None, item_mask=None,
                    score_dtype=np.float64):
    """Brute force: full float64 score matrix (rounded once to ``score_dtype``), per-user lexsort by
    (-score, item id)."""
    S = U.astype(np.float64) @ V.astype(np.float64).T
    if item_bias is not None:
        S = S + bias_weight * item_bias.astype(np.float64)
    S = S.astype(score_dtype, copy=False)
    n_users, n_items = S.shape
    excluded = np.zeros((n_users, n_items), dtype=bool)
    if exclude is not None:
        excluded |= exclude.toarray() != 0
        excluded |= sp.csr_matrix((np.ones(exclude.nnz), exclude.indices, exclude.indptr),
                                  shape=exclude.shape).toarray() != 0  # explicit zeros count too
    if item_mask is not None:
        excluded |= ~np.asarray(item_mask, dtype=bool)[None, :]
    N = min(N, n_items)  # top_n caps N at the number of items
    ids = np.full((n_users, N), -1, dtype=np.int32)
    scores = np.full((n_users, N), -np.inf, dtype=score_dtype)
    items = np.arange(n_items)
    for u in range(n_users):
        cand = items[~excluded[u]]
        order = cand[np.lexsort((cand, -S[u, cand]))][:N]
        ids[u, : order.size] = order
        scores[u, : order.size] = S[u, order]
    return ids, scores


def integer_problem(rng, n_users, n_items, K, dtype, seen_per_user=3):
    U = rng.integers(-3, 4, size=(n_users, K)).astype(dtype)
    V = rng.integers(-3, 4, size=(n_items, K)).astype(dtype)
    bias = rng.integers(-4, 5, size=n_items).astype(dtype)
    rows = np.repeat(np.arange(n_users), seen_per_user)
    cols = rng.integers(0, n_items, size=rows.size)
    ex = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_users, n_items))
    ex.sum_duplicates()
    return U, V, bias, ex


@pytest.mark.parametrize("bias_weight", [0.0, 0.5, -2.0])
@pytest.mark.parametrize("use_mask", [False, True])
def test_matches_reference_integer_scores(rng, dtype, bias_weight, use_mask):
    U, V, bias, ex = integer_problem(rng, 60, 45, 3, dtype)
    ex = ex.tolil()
    ex[7, :] = 1  # user 7 has seen every item -> all padding
    ex.rows[5], ex.data[5] = [], []  # user 5 has seen nothing
    ex = ex.tocsr()
    mask = (rng.random(45) > 0.2) if use_mask else None
    ids, scores = top_n(U, V, item_bias=bias, bias_weight=bias_weight, exclude=ex, item_mask=mask, N=7,
                        num_threads=2)
    ref_ids, ref_scores = reference_top_n(U, V, 7, bias, bias_weight, ex, mask)
    assert ids.dtype == np.int32 and scores.dtype == dtype
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores.astype(dtype))
    assert np.all(ids[7] == -1) and np.all(np.isneginf(scores[7]))
    assert ex[5].nnz == 0 and np.all(ids[5] >= 0)


def test_ties_go_to_lower_item_id(dtype):
    # Every item scores the same: the list must be items 0..N-1 minus the excluded ones.
    U = np.ones((2, 2), dtype=dtype)
    V = np.ones((10, 2), dtype=dtype)
    ex = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 4])), shape=(2, 10))
    ids, scores = top_n(U, V, exclude=ex, N=5, num_threads=1)
    np.testing.assert_array_equal(ids, [[0, 2, 3, 5, 6], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(scores, np.full((2, 5), 2.0, dtype=dtype))


def test_many_blocks_and_tiles(rng, dtype):
    # > 128 users per thread block and > 2048 (float32) / 1024 (float64) items per tile,
    # with seen items straddling tile boundaries, a mask and a bias.
    n_users, n_items = 1100, 2300
    U, V, bias, ex = integer_problem(rng, n_users, n_items, 4, dtype, seen_per_user=40)
    ex = ex.tolil()
    ex[3, 1000:1100] = 1
    ex[4, 2000:2100] = 1
    ex = ex.tocsr()
    mask = rng.random(n_items) > 0.1
    ids, scores = top_n(U, V, item_bias=bias, bias_weight=0.5, exclude=ex, item_mask=mask, N=12,
                        num_threads=2)
    ref_ids, ref_scores = reference_top_n(U, V, 12, bias, 0.5, ex, mask)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores.astype(dtype))


def test_continuous_scores(rng, dtype, tol):
    U = rng.standard_normal((50, 8)).astype(dtype)
    V = rng.standard_normal((300, 8)).astype(dtype)
    bias = rng.standard_normal(300).astype(dtype)
    ex = sp.random(50, 300, density=0.1, format="csr", random_state=1)
    ids, scores = top_n(U, V, item_bias=bias, bias_weight=0.3, exclude=ex, N=10, num_threads=2)
    ref_ids, ref_scores = reference_top_n(U, V, 10, bias, 0.3, ex)
    # sorted top-N score values are stable under rounding; each returned id must carry its score
    np.testing.assert_allclose(scores, ref_scores, **tol)
    S = U.astype(np.float64) @ V.T.astype(np.float64) + 0.3 * bias.astype(np.float64)
    np.testing.assert_allclose(scores, np.take_along_axis(S, ids, 1), **tol)
    assert not ex.multiply(sp.csr_matrix((np.ones(ids.size), (np.repeat(np.arange(50), 10), ids.ravel())),
                                         shape=(50, 300))).nnz
    if dtype == np.float64:  # distinct continuous scores: the ids must agree exactly
        np.testing.assert_array_equal(ids, ref_ids)


def test_n_larger_than_catalog_is_capped_and_pads(dtype):
    U = np.array([[1.0], [2.0]], dtype=dtype)
    V = np.array([[3.0], [1.0], [2.0]], dtype=dtype)
    ex = sp.csr_matrix(([1.0], ([1], [0])), shape=(2, 3))
    for N in (5, 10**12):  # never an (n_users, N) allocation beyond the catalogue
        ids, scores = top_n(U, V, exclude=ex, N=N)
        np.testing.assert_array_equal(ids, [[0, 2, 1], [2, 1, -1]])
        np.testing.assert_array_equal(scores, np.array([[3, 2, 1], [4, 2, -np.inf]], dtype=dtype))


def test_mask_everything_and_empty_shapes(dtype):
    U = np.ones((3, 2), dtype=dtype)
    V = np.ones((4, 2), dtype=dtype)
    ids, scores = top_n(U, V, item_mask=np.zeros(4, dtype=bool), N=2)
    assert np.all(ids == -1) and np.all(np.isneginf(scores))
    ids, scores = top_n(np.ones((0, 2), dtype=dtype), V, N=3)
    assert ids.shape == (0, 3) and scores.shape == (0, 3)
    ids, scores = top_n(U, np.ones((0, 2), dtype=dtype), N=3)
    assert ids.shape == (3, 0)
    # K = 0: every score is 0, so ties give the lowest ids
    ids, scores = top_n(np.ones((3, 0), dtype=dtype), np.ones((4, 0), dtype=dtype), N=2)
    np.testing.assert_array_equal(ids, [[0, 1]] * 3)


def test_threads_batches_and_user_selection_are_invariant(rng, dtype):
    U, V, bias, ex = integer_problem(rng, 300, 200, 3, dtype, seen_per_user=20)
    base = top_n(U, V, item_bias=bias, exclude=ex, N=9, num_threads=1)
    for kwargs in ({"num_threads": 2}, {"batch_size": 1, "num_threads": 2}, {"batch_size": 7},
                   {"batch_size": 300}):
        out = top_n(U, V, item_bias=bias, exclude=ex, N=9, **kwargs)
        np.testing.assert_array_equal(out[0], base[0])
        np.testing.assert_array_equal(out[1], base[1])
    users = np.array([299, 3, 3, 0, 150])
    for bs in (1, 2, 100):
        ids, scores = top_n(U, V, item_bias=bias, exclude=ex, N=9, users=users, batch_size=bs)
        np.testing.assert_array_equal(ids, base[0][users])
        np.testing.assert_array_equal(scores, base[1][users])


def test_unsorted_exclude_with_explicit_zeros_is_not_mutated(dtype):
    U = np.ones((2, 1), dtype=dtype)
    V = np.arange(6, dtype=dtype)[::-1].reshape(6, 1).copy()  # item 0 best
    indices = np.array([3, 0, 1], dtype=np.int32)
    ex = sp.csr_matrix((np.array([1.0, 0.0, 1.0]), indices.copy(), np.array([0, 2, 3])), shape=(2, 6))
    assert not ex.has_sorted_indices
    ids, _ = top_n(U, V, exclude=ex, N=3)
    np.testing.assert_array_equal(ids, [[1, 2, 4], [0, 2, 3]])  # the stored zero at (0, 0) excludes item 0
    np.testing.assert_array_equal(ex.indices, indices)
    np.testing.assert_array_equal(ex.data, [1.0, 0.0, 1.0])


@given(n_users=st.integers(0, 12), n_items=st.integers(0, 15), K=st.integers(1, 3), N=st.integers(1, 18),
       seed=st.integers(0, 2**16), threads=st.sampled_from([1, 2]))
def test_random_small_problems(n_users, n_items, K, N, seed, threads):
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        U, V, bias, ex = integer_problem(rng, n_users, max(n_items, 1), K, dtype,
                                         seen_per_user=int(rng.integers(0, 6)))
        V, bias = V[:n_items].copy(), bias[:n_items].copy()
        ex = ex[:, :n_items]
        mask = rng.random(n_items) > 0.3
        ids, scores = top_n(U, V, item_bias=bias, bias_weight=1.5, exclude=ex, item_mask=mask, N=N,
                            num_threads=threads)
        ref_ids, ref_scores = reference_top_n(U, V, N, bias, 1.5, ex, mask)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(scores, ref_scores.astype(dtype))


# ----------------------------------------------------------------------------- errors
def _ok(dtype=np.float32):
    return np.ones((3, 2), dtype=dtype), np.ones((4, 2), dtype=dtype)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"item_factors": np.ones((4, 2), np.float64)}, TypeError, "item_factors has dtype float64"),
        ({"item_factors": np.ones((4, 3), np.float32)}, ValueError, "3 factor columns, expected 2"),
        ({"user_factors": np.ones((2, 3), np.float32).T}, ValueError, "C-contiguous"),
        ({"user_factors": np.ones((3, 2), np.int64)}, TypeError, "float32 or float64"),
        ({"user_factors": np.ones(3, np.float32)}, ValueError, "2-dimensional"),
        ({"user_factors": np.array([[1, np.nan], [0, 0]], np.float32)}, ValueError, "non-finite value at row 0, column 1"),
        ({"user_factors": np.full((3, 2), 3e37, np.float32)}, ValueError, "overflow"),
        ({"N": 0}, ValueError, "N must be >= 1"),
        ({"N": 2.0}, TypeError, "N must be an integer"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"num_threads": -1}, ValueError, "num_threads"),
        ({"item_bias": np.ones(5, np.float32)}, ValueError, r"item_bias must have shape \(4,\)"),
        ({"item_bias": np.ones(4, np.float64)}, TypeError, "item_bias has dtype float64"),
        ({"item_bias": np.array([0, np.inf, 0, 0], np.float32)}, ValueError, "item_bias has a non-finite value at item 1"),
        ({"item_mask": np.array([1, 2, 0, 1])}, ValueError, "only 0/1, got 2 at item 1"),
        ({"item_mask": np.ones(3, bool)}, ValueError, r"item_mask must have shape \(4,\)"),
        ({"exclude": sp.csr_matrix((3, 5))}, ValueError, r"exclude must have shape \(3, 4\)"),
        ({"exclude": np.zeros((3, 4))}, TypeError, "exclude must be a scipy.sparse matrix"),
        ({"users": np.array([0, 3])}, ValueError, r"users has index 3 outside \[0, 3\)"),
        ({"users": np.array([0.0])}, TypeError, "integer user indices"),
        ({"bias_weight": np.nan}, ValueError, "bias_weight must be finite"),
    ],
)
def test_bad_input_raises_clearly(kwargs, exc, match):
    U, V = _ok()
    args = {"user_factors": U, "item_factors": V}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        top_n(args.pop("user_factors"), args.pop("item_factors"), **args)


def test_kernel_rejects_mismatched_shapes():
    U, V = _ok()
    with pytest.raises(ValueError, match="item_bias has length 3"):
        topk(U, V, np.ones(3, np.float32), 1.0, None, None, None, 2, 1)
    with pytest.raises(ValueError, match="seen_indptr has length 2"):
        topk(U, V, None, 1.0, np.zeros(2, np.int32), np.zeros(0, np.int32), None, 2, 1)
    with pytest.raises(ValueError, match="seen_indptr points outside"):
        topk(U, V, None, 1.0, np.array([0, 1, 1, 5], np.int32), np.zeros(1, np.int32), None, 2, 1)
    with pytest.raises(ValueError):  # float64 item factors with float32 users: no fused match
        topk(U, V.astype(np.float64), None, 1.0, None, None, None, 2, 1)


# ----------------------------------------------------------------------------- AUC kernel
def brute_force_auc(S, rel, ex):
    out = np.full(S.shape[0], np.nan)
    for u in range(S.shape[0]):
        R = [i for i in range(S.shape[1]) if rel[u, i]]
        Q = [j for j in range(S.shape[1]) if not rel[u, j] and not ex[u, j]]
        if R and Q:
            out[u] = sum(1.0 if S[u, i] > S[u, j] else 0.5 if S[u, i] == S[u, j] else 0.0
                         for i in R for j in Q) / (len(R) * len(Q))
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_items", [25, 180])  # 180: > 64 relevant items -> the float32 binary-search path
def test_auc_rows_matches_pairwise_count(rng, dtype, threads, n_items):
    n = 30
    S = rng.integers(-3, 4, (n, n_items)).astype(dtype)  # many exact ties
    u = rng.random((n, n_items))
    frac = 0.2 if n_items == 25 else 0.55
    rel = u < frac
    ex = (u >= frac) & (u < frac + 0.2)
    rel[0], ex[0] = False, False  # no relevant item -> NaN
    rel[1], ex[1] = False, True  # everything excluded -> NaN
    rel[2, :] = False
    rel[2, [0, n_items - 1]] = True  # relevant at both ends, all else excluded -> no Q -> NaN
    ex[2] = ~rel[2]
    rel[3, :], ex[3, :] = False, False
    rel[3, [0, n_items - 1]] = True  # relevant at both ends, nothing excluded
    R, E = sp.csr_matrix(rel), sp.csr_matrix(ex)
    if n_items == 180:
        assert np.diff(R.indptr)[4:].min() > 64
    got = topk_auc(S, R, E, threads)
    want = brute_force_auc(S, rel, ex)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # and the shared executable spec (mfcore._reference.auc_rows)
    from mfcore import _reference

    np.testing.assert_allclose(got, _reference.auc_rows(S, R, E), rtol=1e-14)
    assert np.isnan(got[:3]).all() and not np.isnan(got[3])


def topk_auc(S, R, E, threads):
    from mfcore._topk import auc_rows

    i32 = lambda a: a.astype(np.int32)  # noqa: E731
    return auc_rows(np.ascontiguousarray(S), i32(R.indptr), i32(R.indices), i32(E.indptr), i32(E.indices),
                    threads)


def test_matches_shared_reference_twin(rng, dtype):
    # The team's executable spec (mfcore._reference.top_n, float64) on an exact-integer problem.
    from mfcore import _reference

    U, V, bias, ex = integer_problem(rng, 80, 120, 3, dtype, seen_per_user=10)
    mask = rng.random(120) > 0.25
    ids, scores = top_n(U, V, item_bias=bias, bias_weight=1.5, exclude=ex, item_mask=mask, N=15)
    ref_ids, ref_scores = _reference.top_n(U, V, bias, 1.5, ex, mask, N=15)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores.astype(dtype))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("N", [1, 10, 250])
def test_small_batches_split_over_items_match_the_reference(rng, dtype, threads, N):
    """Fewer users than threads: the threads split the catalogue (>= 4096 items each) and merge.

    Integer scores make ties frequent, so a merge that broke "ties go to the lower id"
    would show; seen items straddle the split points; the mask empties whole runs.
    """
    n_items = 4096 * threads + 37
    U, V, bias, ex = integer_problem(rng, 2, n_items, 3, dtype, seen_per_user=400)
    mask = np.ones(n_items, dtype=bool)
    mask[n_items // 2 - 50: n_items // 2 + 50] = False  # around the middle split point
    for n_users in (1, threads - 1):
        ids, scores = top_n(U[:n_users], V, item_bias=bias, exclude=ex[:n_users], item_mask=mask, N=N,
                            num_threads=threads)
        ref_ids, ref_scores = reference_top_n(U[:n_users], V, N, item_bias=bias, exclude=ex[:n_users],
                                              item_mask=mask)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(scores, ref_scores.astype(dtype))
        # and the same as the one-thread pass over all items
        one = top_n(U[:n_users], V, item_bias=bias, exclude=ex[:n_users], item_mask=mask, N=N, num_threads=1)
        np.testing.assert_array_equal(ids, one[0])


def test_split_over_items_pads_when_few_candidates_remain(dtype):
    """Every item but three masked: the merged list holds them best first, then -1 / -inf."""
    n_items = 3 * 4096
    U = np.ones((1, 1), dtype=dtype)
    V = np.zeros((n_items, 1), dtype=dtype)
    mask = np.zeros(n_items, dtype=bool)
    mask[[5, 6000, 12000]] = True
    V[[5, 6000, 12000], 0] = [1.0, 3.0, 1.0]
    ids, scores = topk(U, V, None, 0.0, None, None, mask.astype(np.uint8), 5, 2)
    np.testing.assert_array_equal(ids[0], [6000, 5, 12000, -1, -1])
    np.testing.assert_array_equal(scores[0], np.array([3.0, 1.0, 1.0, -np.inf, -np.inf], dtype=dtype))


# ------------------------------------------------------------------ bfloat16 screening path
# float32 on a CPU with AVX512_BF16 (pyx/include/mfcore/topk_bf16.h): scores screened in
# bfloat16 with an error bound, item blocks pruned by their Cauchy-Schwarz bound, candidates
# rescored in double precision. Its lists must be *exactly* the top N of
# fl32(u . v + w b summed in float64), ties by lower id, whatever the data.

from mfcore import _topk  # noqa: E402

needs_bf16 = pytest.mark.skipif(not _topk._bf16_screening(), reason="bf16 screening path not available "
                                "(no AVX512_BF16, MFCORE_SIMD below avx512, or the portable build): "
                                "the float32 gemm path runs instead")


def fp32_exact_reference(U, V, N, item_bias=None, bias_weight=1.0, exclude=None, item_mask=None):
    """Brute force of the bf16 path's contract: float64 scores rounded once to float32, lexsort."""
    return reference_top_n(U, V, N, item_bias, bias_weight, exclude, item_mask, score_dtype=np.float32)


def check_bf16_exact(U, V, N, threads=2, **kw):
    ids, scores = top_n(U, V, N=N, num_threads=threads, **kw)
    ref_ids, ref_scores = fp32_exact_reference(U, V, N, kw.get("item_bias"), kw.get("bias_weight", 1.0),
                                               kw.get("exclude"), kw.get("item_mask"))
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    return ids, scores


@needs_bf16
@pytest.mark.parametrize("n_users", [1, 3, 5, 12, 13, 100, 250])
@pytest.mark.parametrize("K", [1, 2, 13, 64, 67])
@pytest.mark.parametrize("threads", [1, 2])
def test_bf16_path_is_exact_on_continuous_scores(n_users, K, threads):
    rng = np.random.default_rng(1000 * n_users + K + threads)
    n_items = 2 * 4096 + 333 if n_users == 1 else 1500
    split = _topk._bf16_split_min_work()
    if n_users == 1:
        _topk._bf16_split_min_work(1000)  # one user: split the items over the threads
    U = rng.standard_normal((n_users, K)).astype(np.float32)
    V = (rng.standard_normal((n_items, K)) * rng.lognormal(0, 0.7, (n_items, 1))).astype(np.float32)
    bias = rng.standard_normal(n_items).astype(np.float32)
    U[0] = 0.0  # a zero user vector: the bias alone ranks
    V[::97] = 0.0  # zero item vectors
    ex = sp.random(n_users, n_items, density=0.05, format="csr", random_state=K)
    mask = rng.random(n_items) > 0.1
    try:
        for w in (1.0, -2.5, 0.0):
            check_bf16_exact(U, V, 10, threads, item_bias=bias, bias_weight=w, exclude=ex, item_mask=mask)
        check_bf16_exact(U, V, 37, threads)
    finally:
        _topk._bf16_split_min_work(split)


@needs_bf16
@pytest.mark.parametrize("N", [1, 10, 256])
def test_bf16_adversarial_near_ties_at_the_screening_threshold(N):
    """Items whose exact scores differ by one float32 ulp, far inside the bf16 error bound
    (~2^-7 ||u|| ||v||): the screen cannot separate them, the exact rescoring must; plus
    runs of exact ties longer than the candidate capacity (the exact-rescan fallback)."""
    rng = np.random.default_rng(N)
    K = 64
    base = rng.standard_normal(K).astype(np.float32)
    n_near = 3000
    scale = (1.0 + np.arange(n_near) * 2.0 ** -22).astype(np.float32)
    near = base[None, :] * scale[:, None]
    rng.shuffle(near)  # near-ties in scrambled id order
    ties = np.repeat(base[None, :] * np.float32(1.0 + 1500 * 2.0 ** -22), 700, axis=0)  # exact ties
    noise = rng.standard_normal((4000, K)).astype(np.float32) * 0.05
    V = np.ascontiguousarray(np.concatenate([noise[:2000], near, ties, noise[2000:]]))
    U = np.stack([base, -base, base * 1e-3, rng.standard_normal(K).astype(np.float32)] * 4).astype(np.float32)
    bias = np.zeros(V.shape[0], np.float32)
    bias[2000:2000 + n_near] = (rng.integers(-1, 2, n_near) * 2.0 ** -20).astype(np.float32)  # sub-bf16 biases
    ex = sp.random(U.shape[0], V.shape[0], density=0.02, format="csr", random_state=N)
    for threads in (1, 2):
        check_bf16_exact(U, V, N, threads, exclude=ex)
        check_bf16_exact(U, V, N, threads, item_bias=bias, bias_weight=1.0, exclude=ex)
        check_bf16_exact(U[:1], V, N, threads, item_bias=bias, bias_weight=-1.0)


@needs_bf16
def test_bf16_pruning_bound_holds_for_long_orthogonal_and_biased_items():
    """Items with huge norms orthogonal to the user (loose Cauchy-Schwarz bound), items with
    tiny norms and large biases, negative weights: pruning must never drop a winner."""
    rng = np.random.default_rng(7)
    K = 16
    U = np.zeros((30, K), np.float32)
    U[:, 0] = rng.uniform(0.5, 3.0, 30)
    U[::3, 1] = -1.0
    V = rng.standard_normal((6000, K)).astype(np.float32) * 0.1
    V[:1000, 2:] *= 100.0  # long, nearly orthogonal to every user
    V[:1000, :2] = 0.0
    V[1000:2000] *= 1e-3  # short ...
    bias = np.zeros(6000, np.float32)
    bias[1000:2000] = rng.uniform(0.0, 0.4, 1000)  # ... with biases that compete
    bias[2000:] = rng.uniform(-0.3, 0.0, 4000)
    for w in (1.0, 3.0, -1.0):
        check_bf16_exact(U, V, 10, 2, item_bias=bias, bias_weight=w)


@needs_bf16
def test_bf16_path_agrees_with_the_gemm_path_on_integer_scores(rng):
    """Exact integer scores: both paths return the same lists (the hook switches paths)."""
    U, V, bias, ex = integer_problem(rng, 200, 3000, 8, np.float32, seen_per_user=50)
    mask = rng.random(3000) > 0.2
    try:
        on = top_n(U, V, item_bias=bias, bias_weight=-0.5, exclude=ex, item_mask=mask, N=20, num_threads=2)
        assert _topk._bf16_screening(False) is False
        off = top_n(U, V, item_bias=bias, bias_weight=-0.5, exclude=ex, item_mask=mask, N=20, num_threads=2)
    finally:
        _topk._bf16_screening(True)
    np.testing.assert_array_equal(on[0], off[0])
    np.testing.assert_array_equal(on[1], off[1])


@needs_bf16
def test_bf16_path_follows_the_simd_cap(rng):
    before = _topk._simd_level()
    try:
        _topk._simd_level(1)  # AVX2: the gemm path
        assert _topk._bf16_screening() is False
        assert _topk.pack_items(np.ones((4, 3), np.float32)) is None
        U, V, bias, ex = integer_problem(rng, 20, 500, 4, np.float32)
        ids, _ = top_n(U, V, item_bias=bias, exclude=ex, N=5, num_threads=2)
        np.testing.assert_array_equal(ids, reference_top_n(U, V, 5, bias, 1.0, ex)[0])
    finally:
        _topk._simd_level(-1)
        _topk._simd_level(before)
    assert _topk._bf16_screening() is True


@needs_bf16
def test_bf16_item_pack_is_checked_and_any_order_gives_the_same_lists(rng):
    U = rng.standard_normal((40, 9)).astype(np.float32)
    V = rng.standard_normal((700, 9)).astype(np.float32)
    bias = rng.standard_normal(700).astype(np.float32)
    want = topk(U, V, bias, 1.0, None, None, None, 10, 2)
    for key_bias, key_norm in ((1.0, 1.0), (-3.0, 0.1), (0.0, 50.0)):
        pack = _topk.pack_items(V, bias, key_bias, key_norm)
        got = topk(U, V, bias, 1.0, None, None, None, 10, 2, pack)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # the pack caches per-item offsets of unmasked calls: a different bias (same weight),
    # no bias, or a mask must not reuse them
    pack = _topk.pack_items(V, bias)
    for b in (bias, -bias, None, bias):
        want = topk(U, V, b, 1.0, None, None, None, 10, 2)
        np.testing.assert_array_equal(topk(U, V, b, 1.0, None, None, None, 10, 2, pack)[0], want[0])
    mask = (np.arange(700) % 3).astype(np.uint8)
    want = topk(U, V, bias, 1.0, None, None, mask, 10, 2)
    np.testing.assert_array_equal(topk(U, V, bias, 1.0, None, None, mask, 10, 2, pack)[0], want[0])
    np.testing.assert_array_equal(topk(U, V, bias, 1.0, None, None, None, 10, 2, pack)[0],
                                  topk(U, V, bias, 1.0, None, None, None, 10, 2)[0])
    with pytest.raises(ValueError, match="item_pack does not match"):
        topk(U, V[:600], bias[:600], 1.0, None, None, None, 10, 2, _topk.pack_items(V))
