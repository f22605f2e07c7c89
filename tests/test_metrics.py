"""Rating and ranking metrics: hand-computed cases, a brute-force twin, invariances, errors."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore.metrics import (
    auc_scores,
    catalog_coverage,
    hit_matrix,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    relevant_items,
    rmse,
)


# ----------------------------------------------------------------------------- rating metrics
def test_rmse_mae_by_hand():
    # errors y_pred - y_true = [1, 0, -2, 0]: squares 1, 0, 4, 0 -> mean 5/4; |.| -> mean 3/4
    y_true = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    y_pred = np.array([2.0, 2.0, 1.0, 4.0], dtype=np.float32)
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(1.25), rel=1e-15)
    assert mae(y_true, y_pred) == pytest.approx(0.75, rel=1e-15)
    assert rmse([3], [3]) == 0.0


def test_rmse_accumulates_in_float64():
    # float32 accumulation of 1e6 squared errors of 0.1 drifts visibly; float64 does not
    y_true = np.zeros(1_000_000, dtype=np.float32)
    y_pred = np.full(1_000_000, 0.1, dtype=np.float32)
    assert rmse(y_true, y_pred) == pytest.approx(float(np.float32(0.1)), rel=1e-12)
    assert mae(y_true, y_pred) == pytest.approx(float(np.float32(0.1)), rel=1e-12)


@pytest.mark.parametrize("func", [rmse, mae])
@pytest.mark.parametrize(
    "a, b, exc, match",
    [
        ([1.0, 2.0], [1.0], ValueError, "same length, got 2 and 1"),
        ([], [], ValueError, "empty"),
        ([1.0, np.nan], [1.0, 2.0], ValueError, r"y_true has a non-finite value \(nan\) at position 1"),
        ([1.0, 2.0], [np.inf, 2.0], ValueError, "y_pred has a non-finite value"),
        ([[1.0]], [[1.0]], ValueError, "1-dimensional"),
        (["a"], ["b"], TypeError, "real numbers"),
    ],
)
def test_rating_metric_errors(func, a, b, exc, match):
    with pytest.raises(exc, match=match):
        func(a, b)


# ----------------------------------------------------------------------------- pure ranking metrics
# Hand-computed example, k = 3, n_items = 8:
#   u0: rec [0, 1, 2],  R = {1, 4}          hits [0,1,0]
#       P = 1/3, R = 1/2, hit = 1
#       DCG = 1/log2(3) = 0.6309298, IDCG (min(2,3)=2 items) = 1 + 0.6309298 = 1.6309298
#       NDCG = 0.3868528;  AP = (1/min(2,3)) * (1/2) = 0.25
#   u1: rec [3, 5, -1], R = {3}             hits [1,0,0]
#       P = 1/3, R = 1, hit = 1, NDCG = 1/1 = 1, AP = 1/1 * 1 = 1
#   u2: rec [2, 0, 1],  R = {}              not counted
#   u3: rec [5, 4, 3],  R = {0, 1, 2, 3, 4} hits [0,1,1]
#       P = 2/3, R = 2/5, hit = 1
#       DCG = 1/log2(3) + 1/log2(4) = 1.1309298, IDCG (3 items) = 1 + 0.6309298 + 0.5 = 2.1309298
#       NDCG = 0.5307213;  AP = (1/3) * (1/2 + 2/3) = 7/18 = 0.3888889
#   means over u0, u1, u3: P = 4/9 = 0.4444444, R = 1.9/3 = 0.6333333, hit = 1,
#       NDCG = (0.3868528 + 1 + 0.5307213)/3 = 0.6391914, MAP = (0.25 + 1 + 0.3888889)/3 = 0.5462963
#   coverage: items {0,1,2,3,4,5} of 8 = 0.75
REC = np.array([[0, 1, 2], [3, 5, -1], [2, 0, 1], [5, 4, 3]])
REL = sp.csr_matrix(
    (np.ones(8), ([0, 0, 1, 3, 3, 3, 3, 3], [1, 4, 3, 0, 1, 2, 3, 4])), shape=(4, 8)
)


def test_pure_metrics_by_hand():
    assert precision_at_k(REC, REL, 3) == pytest.approx(0.4444444, abs=1e-7)
    assert recall_at_k(REC, REL, 3) == pytest.approx(0.6333333, abs=1e-7)
    assert hit_rate_at_k(REC, REL, 3) == 1.0
    assert ndcg_at_k(REC, REL, 3) == pytest.approx(0.6391914, abs=1e-7)
    assert map_at_k(REC, REL, 3) == pytest.approx(0.5462963, abs=1e-7)
    per = ndcg_at_k(REC, REL, 3, per_user=True)
    np.testing.assert_allclose(per[[0, 1, 3]], [0.3868528, 1.0, 0.5307213], atol=1e-7)
    assert np.isnan(per[2])
    np.testing.assert_allclose(map_at_k(REC, REL, 3, per_user=True)[[0, 1, 3]], [0.25, 1, 7 / 18], atol=1e-12)
    assert catalog_coverage(REC, 8) == 0.75
    np.testing.assert_array_equal(hit_matrix(REC, REL), [[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]])


def test_pure_metrics_cutoff_uses_first_k_columns():
    # k = 1: u0 [0] miss, u1 [3] hit, u3 [5] miss; MAP denominators min(|R|, 1) = 1
    assert precision_at_k(REC, REL, 1) == pytest.approx(1 / 3)
    assert recall_at_k(REC, REL, 1) == pytest.approx((0 + 1 + 0) / 3)
    assert map_at_k(REC, REL, 1) == pytest.approx(1 / 3)
    assert ndcg_at_k(REC, REL, 1) == pytest.approx(1 / 3)


def test_auc_by_hand():
    # u0: scores [.9,.1,.5,.5,.3], exclude {4}, R = {2}: non-relevant candidates {0,1,3}
    #     .5 vs .9 wrong (0), vs .1 right (1), vs .5 tie (1/2) -> 1.5/3 = 0.5
    # u1: same scores, R = {0, 3}: non-relevant {1,2,4} = .1,.5,.3
    #     .9 beats all (3); .5 beats .1 and .3, ties .5 (2.5) -> 5.5/6
    # u2: R = {} -> NaN;  u3: R = {0}, exclude everything else -> no non-relevant candidate -> NaN
    s = np.tile([0.9, 0.1, 0.5, 0.5, 0.3], (4, 1))
    rel = sp.csr_matrix(([1, 1, 1, 1], ([0, 1, 1, 3], [2, 0, 3, 0])), shape=(4, 5))
    ex = sp.csr_matrix(([1, 1, 1, 1, 1], ([0, 3, 3, 3, 3], [4, 1, 2, 3, 4])), shape=(4, 5))
    auc = auc_scores(s, rel, ex)
    np.testing.assert_allclose(auc[:2], [0.5, 5.5 / 6], rtol=1e-15)
    assert np.isnan(auc[2]) and np.isnan(auc[3])


def test_auc_refuses_a_relevant_item_stored_twice():
    """A repeated relevant entry would be counted as two relevant items (AUC 2/3 here instead of 1/2)."""
    s = np.array([[0.9, 0.1, 0.5]])
    rel = sp.csr_matrix((np.ones(2), np.array([2, 2]), np.array([0, 2])), shape=(1, 3))
    with pytest.raises(ValueError, match="relevant has a repeated entry"):
        auc_scores(s, rel)
    assert auc_scores(s, sp.csr_matrix(([1.0], ([0], [2])), shape=(1, 3)))[0] == pytest.approx(0.5)


def test_relevant_items_threshold():
    test = sp.csr_matrix(([5.0, 3.5, 4.0, 1.0], ([0, 0, 2, 2], [1, 2, 0, 3])), shape=(3, 4))
    np.testing.assert_array_equal(relevant_items(test, 4.0).toarray() != 0,
                                  [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(relevant_items(test, None).toarray() != 0, test.toarray() != 0)


@pytest.mark.parametrize(
    "rec, rel, exc, match",
    [
        (np.array([[0, 0, 1]]), sp.csr_matrix((1, 4)), ValueError, "row 0 lists an item more than once"),
        (np.array([[0, 4, 1]]), sp.csr_matrix((1, 4)), ValueError, r"item id 4 outside \[-1, 4\)"),
        (np.array([[0, -2, 1]]), sp.csr_matrix((1, 4)), ValueError, "item id -2"),
        (np.array([[0.0, 1, 2]]), sp.csr_matrix((1, 4)), TypeError, "integer item ids"),
        (np.array([[0, 1]]), sp.csr_matrix((1, 4)), ValueError, "fewer than k=3"),
        (np.array([[0, 1, 2]]), sp.csr_matrix((2, 4)), ValueError, "relevant has 2 rows"),
        (np.array([[0, 1, 2]]), np.zeros((1, 4)), TypeError, "scipy.sparse"),
    ],
)
def test_pure_metric_errors(rec, rel, exc, match):
    with pytest.raises(exc, match=match):
        precision_at_k(rec, rel, 3)


# ----------------------------------------------------------------------------- driver
def tiny_model():
    # K = 1: user 0 (u = 1) ranks items 0 > 1 > 2 > 3 > 4, user 1 (u = -1) the reverse.
    U = np.array([[1.0], [-1.0]])
    V = np.array([[5.0], [4.0], [3.0], [2.0], [1.0]])
    train = sp.csr_matrix(([3.0, 3.0], ([0, 1], [0, 4])), shape=(2, 5))
    test = sp.csr_matrix(([5.0, 4.0, 3.0, 4.5], ([0, 0, 0, 1], [1, 2, 3, 0])), shape=(2, 5))
    return U, V, train, test


def test_ranking_metrics_by_hand():
    # threshold 4: R0 = {1, 2}, R1 = {0}. k = 2.
    # u0 candidates {1,2,3,4} -> top2 [1, 2]: P = R = NDCG = AP = hit = 1;
    #    AUC: relevant scores {4, 3} vs non-relevant candidates {2, 1} -> 4/4 = 1
    # u1 candidates {0,1,2,3} (scores -5,-4,-3,-2) -> top2 [3, 2]: all 0;
    #    AUC: relevant -5 below all of -4,-3,-2 -> 0
    # coverage {1,2,3} / 5 = 0.6
    U, V, train, test = tiny_model()
    for dtype in (np.float32, np.float64):
        out = ranking_metrics(U.astype(dtype), V.astype(dtype), train, test, k=2)
        assert out == pytest.approx({"precision": 0.5, "recall": 0.5, "ndcg": 0.5, "map": 0.5,
                                     "hit_rate": 0.5, "auc": 0.5, "coverage": 0.6, "n_users": 2})
        assert isinstance(out["n_users"], int)
    # threshold None: R0 = {1, 2, 3}: recall 2/3, NDCG (IDCG over min(3,2) = 2) 1, AP 1, AUC 3/3
    out = ranking_metrics(U, V, train, test, k=2, threshold=None)
    assert out["recall"] == pytest.approx((2 / 3 + 0) / 2)
    assert out["ndcg"] == pytest.approx(0.5) and out["map"] == pytest.approx(0.5)
    assert out["auc"] == pytest.approx(0.5)
    # an item bias that makes item 0 best for user 1: bias = [10, 0, 0, 0, 0], weight 1
    # u1 scores -5+10, -4, -3, -2 -> top2 [0, 3]: hit at rank 1 -> P 1/2, R 1, NDCG 1, AP 1; AUC 1
    out = ranking_metrics(U, V, train, test, k=2, item_bias=np.array([10.0, 0, 0, 0, 0]))
    assert out["precision"] == pytest.approx((1 + 0.5) / 2)
    assert out["recall"] == pytest.approx(1.0) and out["auc"] == pytest.approx(1.0)
    out0 = ranking_metrics(U, V, train, test, k=2, item_bias=np.array([10.0, 0, 0, 0, 0]), bias_weight=0.0)
    assert out0["precision"] == pytest.approx(0.5)


def brute_force_metrics(U, V, bias, bias_weight, train, test, k, threshold):
    """Straightforward dense twin: Python loops, sorted() ranking, O(n^2) AUC pairs."""
    S = U.astype(np.float64) @ V.astype(np.float64).T
    if bias is not None:
        S = S + bias_weight * bias.astype(np.float64)
    tr, te = train.toarray(), test.toarray()
    tr_mask = np.zeros(tr.shape, bool)
    tr_mask[train.nonzero()] = True
    te_mask = np.zeros(te.shape, bool)
    te_mask[test.nonzero()] = True
    n_users, n_items = S.shape
    sums = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0, "hit_rate": 0.0}
    aucs, counted, recommended = [], 0, set()
    for u in range(n_users):
        relevant = {i for i in range(n_items) if te_mask[u, i] and (threshold is None or te[u, i] >= threshold)}
        if not relevant:
            continue
        counted += 1
        cands = [i for i in range(n_items) if not tr_mask[u, i]]
        top = sorted(cands, key=lambda i: (-S[u, i], i))[:k]
        recommended.update(top)
        hits = [1 if i in relevant else 0 for i in top] + [0] * (k - len(top))
        sums["precision"] += sum(hits) / k
        sums["recall"] += sum(hits) / len(relevant)
        sums["hit_rate"] += 1.0 if sum(hits) else 0.0
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
        sums["ndcg"] += dcg / idcg
        ap = sum(hits[r] * sum(hits[: r + 1]) / (r + 1) for r in range(k))
        sums["map"] += ap / min(len(relevant), k)
        negatives = [j for j in cands if j not in relevant]
        if negatives:
            pairs = [1.0 if S[u, i] > S[u, j] else 0.5 if S[u, i] == S[u, j] else 0.0
                     for i in relevant for j in negatives]
            aucs.append(sum(pairs) / len(pairs))
    out = {name: v / counted for name, v in sums.items()}
    out["auc"] = sum(aucs) / len(aucs) if aucs else float("nan")
    out["coverage"] = len(recommended) / n_items
    out["n_users"] = counted
    return out


def random_split_problem(rng, n_users=40, n_items=30, K=3, integer=False, dtype=np.float64):
    if integer:  # exact scores in float32 too, with many ties
        U = rng.integers(-2, 3, (n_users, K)).astype(dtype)
        V = rng.integers(-2, 3, (n_items, K)).astype(dtype)
        bias = rng.integers(-2, 3, n_items).astype(dtype)
    else:
        U = rng.standard_normal((n_users, K)).astype(dtype)
        V = rng.standard_normal((n_items, K)).astype(dtype)
        bias = rng.standard_normal(n_items).astype(dtype)
    which = rng.random((n_users, n_items))
    ratings = rng.integers(1, 11, (n_users, n_items)) / 2.0  # 0.5 .. 5.0
    train = np.where(which < 0.3, ratings, 0.0)
    test = np.where((which >= 0.3) & (which < 0.45), ratings, 0.0)
    train[0, :] = 1.0  # user 0 has seen everything (no candidates, no relevant items)
    test[0, :] = 0.0
    train[1, :] = 0.0  # user 1 has seen nothing
    return U, V, bias, sp.csr_matrix(train), sp.csr_matrix(test)


@pytest.mark.parametrize("threshold", [4.0, None])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_ranking_metrics_match_brute_force(rng, k, threshold):
    U, V, bias, train, test = random_split_problem(rng)
    for b, w in ((None, 1.0), (bias, 0.7)):
        got = ranking_metrics(U, V, train, test, k=k, item_bias=b, bias_weight=w, threshold=threshold,
                              num_threads=2)
        want = brute_force_metrics(U, V, b, w, train, test, k, threshold)
        assert got["n_users"] == want["n_users"]
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_ranking_metrics_float32_integer_scores_with_ties(rng):
    U, V, bias, train, test = random_split_problem(rng, integer=True, dtype=np.float32)
    got = ranking_metrics(U, V, train, test, k=6, item_bias=bias, bias_weight=0.5)
    want = brute_force_metrics(U, V, bias, 0.5, train, test, 6, 4.0)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_ranking_metrics_batch_and_thread_invariance(rng):
    U, V, bias, train, test = random_split_problem(rng, n_users=50)
    base = ranking_metrics(U, V, train, test, k=5, item_bias=bias, batch_size=10_000, num_threads=1)
    for bs, nt in ((1, 1), (7, 2), (50, 2)):
        out = ranking_metrics(U, V, train, test, k=5, item_bias=bias, batch_size=bs, num_threads=nt)
        assert out == pytest.approx(base, rel=1e-13, abs=1e-15)


def test_ranking_metrics_with_interactions_split():
    # The driver takes Interactions.user_items() of a split directly.
    data = pytest.importorskip("mfcore.data")
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(30), 12)
    items = np.concatenate([rng.choice(40, 12, replace=False) for _ in range(30)])
    ratings = rng.integers(1, 6, users.size).astype(np.float32)
    inter = data.Interactions.from_arrays(users, items, ratings)
    test_rows = rng.random(users.size) < 0.25
    train, test = inter.subset(~test_rows), inter.subset(test_rows)
    U = rng.standard_normal((inter.n_users, 4)).astype(np.float32)
    V = rng.standard_normal((inter.n_items, 4)).astype(np.float32)
    out = ranking_metrics(U, V, train.user_items(), test.user_items(), k=5)
    want = brute_force_metrics(U, V, None, 1.0, train.user_items(), test.user_items(), 5, 4.0)
    assert out["n_users"] == want["n_users"]
    for name in ("precision", "recall", "hit_rate", "coverage"):  # float32 near-ties could reorder
        assert out[name] == pytest.approx(want[name], abs=0.05)
    assert out["auc"] == pytest.approx(want["auc"], abs=1e-3)


def test_ranking_metrics_errors():
    U, V, train, test = tiny_model()
    with pytest.raises(ValueError, match="no user has a relevant test item with rating >= 6.0"):
        ranking_metrics(U, V, train, test, threshold=6.0)
    overlap = train + sp.csr_matrix(([5.0], ([0], [0])), shape=(2, 5))
    with pytest.raises(ValueError, match="user 0 has item 0 both in test"):
        ranking_metrics(U, V, train, overlap)
    with pytest.raises(ValueError, match=r"train must have shape \(2, 5\)"):
        ranking_metrics(U, V, train[:, :4], test)
    with pytest.raises(ValueError, match=r"test must be a scipy.sparse matrix of shape \(2, 5\)"):
        ranking_metrics(U, V, train, test.toarray())
    with pytest.raises(TypeError, match="item_factors has dtype float32"):
        ranking_metrics(U, V.astype(np.float32), train, test)
    with pytest.raises(ValueError, match="k must be >= 1"):
        ranking_metrics(U, V, train, test, k=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ranking_metrics(U, V, train, test, batch_size=0)
    bad = test.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="test has a non-finite value at row 0"):
        ranking_metrics(U, V, train, bad)
