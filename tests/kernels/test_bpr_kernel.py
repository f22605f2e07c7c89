"""Tests of the BPR SGD kernels (mfcore._bpr) against mfcore._reference."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from mfcore import _reference as ref
from mfcore._bpr import bpr_epoch, bpr_fold_in, bpr_sgd_triples

LR, REG_U, REG_I, REG_B = 0.05, 0.01, 0.02, 0.03


def _csr(dense_bool):
    m = sp.csr_matrix(np.asarray(dense_bool, dtype=np.float32))
    m.sort_indices()
    m.indptr = m.indptr.astype(np.int32)
    m.indices = m.indices.astype(np.int32)
    return m


def _random_csr(rng, n_users, n_items, density):
    dense = rng.random((n_users, n_items)) < density
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # no empty users
    dense[:, -1] = False if n_items > 1 else dense[:, -1]  # at least one negative per user
    dense[0, :] = False
    dense[0, 0] = True  # a one-entry row
    return _csr(dense)


def _factors(rng, n_users, n_items, K, dtype, scale=0.3):
    U = (rng.standard_normal((n_users, K)) * scale).astype(dtype)
    V = (rng.standard_normal((n_items, K)) * scale).astype(dtype)
    b = (rng.standard_normal(n_items) * scale).astype(dtype)
    return U, V, b


def _epoch(R, U, V, b, n_samples, seed, threads, log=None):
    return bpr_epoch(R.indptr, R.indices, U, V, b, n_samples, LR, REG_U, REG_I, REG_B,
                     seed, threads, log)


@pytest.mark.parametrize("K", [1, 7, 16])
def test_sgd_triples_matches_reference(rng, dtype, tol, K):
    R = _random_csr(rng, 25, 18, 0.3)
    users, pos, neg = ref.bpr_sample(R, 300, rng)
    U, V, b = _factors(rng, 25, 18, K, dtype)
    U_ref, V_ref, b_ref = U.copy(), V.copy(), b.copy()
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, users, pos, neg, LR, REG_U, REG_I, REG_B)
    loss = bpr_sgd_triples(users, pos, neg, U, V, b, LR, REG_U, REG_I, REG_B)
    assert isinstance(loss, float)
    if dtype == np.float64:
        rtol, atol = 1e-10, 1e-12
    else:
        rtol, atol = tol["rtol"], tol["atol"]
    np.testing.assert_allclose(U, U_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(V, V_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol)


def test_sgd_triples_extreme_scores_no_overflow():
    # |x| ~ 1e3: exp(x) would overflow in a naive sigmoid / log-loss.
    U = np.full((1, 2), 30.0)
    V = np.array([[20.0, 20.0], [-20.0, -20.0]])
    b = np.zeros(2)
    users, pos, neg = np.array([0, 0], np.int32), np.array([0, 1], np.int32), np.array([1, 0], np.int32)
    U_ref, V_ref, b_ref = U.copy(), V.copy(), b.copy()
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, users, pos, neg, LR, REG_U, REG_I, REG_B)
    loss = bpr_sgd_triples(users, pos, neg, U, V, b, LR, REG_U, REG_I, REG_B)
    assert np.isfinite(loss) and loss > 1000
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    np.testing.assert_allclose(V, V_ref, rtol=1e-12)


def test_sgd_triples_rejects_bad_triples():
    U, V, b = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(4)
    one = np.array([0], np.int32)
    with pytest.raises(ValueError, match="pos"):
        bpr_sgd_triples(one, one, one, U, V, b, LR, 0, 0, 0)
    with pytest.raises(ValueError, match="users"):
        bpr_sgd_triples(np.array([5], np.int32), one, one + 1, U, V, b, LR, 0, 0, 0)
    with pytest.raises(ValueError, match="out of range"):
        bpr_sgd_triples(one, one, np.array([4], np.int32), U, V, b, LR, 0, 0, 0)
    with pytest.raises(ValueError, match="item_bias"):
        bpr_sgd_triples(one, one, one + 1, U, V, np.zeros(3), LR, 0, 0, 0)


def test_epoch_equals_reference_replay_of_its_samples(rng, dtype, tol):
    """One thread: the epoch is exactly reference SGD over the triples it logged."""
    R = _random_csr(rng, 30, 20, 0.25)
    U, V, b = _factors(rng, 30, 20, 6, dtype)
    U_ref, V_ref, b_ref = U.copy(), V.copy(), b.copy()
    n = 400
    log = np.full((n, 3), -7, np.int32)
    mean_loss, skipped = _epoch(R, U, V, b, n, 123, 1, log)
    assert skipped == 0
    assert (log[:, 2] >= 0).all()
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, log[:, 0], log[:, 1], log[:, 2], LR, REG_U, REG_I, REG_B)
    if dtype == np.float64:
        rtol, atol = 1e-10, 1e-12
    else:
        rtol, atol = tol["rtol"], tol["atol"]
    np.testing.assert_allclose(U, U_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(V, V_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(mean_loss, loss_ref / n, rtol=rtol)


@pytest.mark.parametrize("threads", [1, 2])
def test_samples_are_positive_and_negatives_are_not(rng, threads):
    R = _random_csr(rng, 40, 30, 0.4)
    D = R.toarray() > 0
    U, V, b = _factors(rng, 40, 30, 4, np.float64, scale=0.01)
    n = 5000
    log = np.full((n, 3), -7, np.int32)
    _, skipped = _epoch(R, U, V, b, n, 5, threads, log)
    assert skipped == 0
    u, i, j = log.T
    assert ((u >= 0) & (u < 40)).all() and ((i >= 0) & (i < 30)).all() and ((j >= 0) & (j < 30)).all()
    assert D[u, i].all(), "a sampled positive is not an interaction"
    assert not D[u, j].any(), "a sampled negative is one of the user's positives"


def test_sampling_distribution_is_uniform():
    """(u, i) uniform over interactions; j uniform over the user's non-positives."""
    rng = np.random.default_rng(11)
    R = _random_csr(rng, 12, 15, 0.5)
    D = R.toarray() > 0
    n = 60000
    log = np.zeros((n, 3), np.int32)
    U, V, b = _factors(rng, 12, 15, 2, np.float64, scale=0.0)
    _epoch(R, U, V, b, n, 99, 1, log)
    # positives: counts per stored entry
    key = log[:, 0].astype(np.int64) * 15 + log[:, 1]
    stored = np.flatnonzero(D.ravel())
    counts = np.array([(key == k).sum() for k in stored])
    assert stats.chisquare(counts).pvalue > 1e-4
    # negatives of the densest user: uniform over its non-positives
    u0 = int(np.argmax(D.sum(1)))
    sel = log[:, 0] == u0
    neg_items = np.flatnonzero(~D[u0])
    c = np.array([(log[sel, 2] == j).sum() for j in neg_items])
    assert c.sum() == sel.sum() and sel.sum() > 1000
    assert stats.chisquare(c).pvalue > 1e-4


def test_all_but_one_item_negative_is_that_item(rng):
    """Every user rated all items but item 3: every step has j == 3.

    Checked without the debug log too: item 3 only ever gets negative updates
    (its bias goes below zero), the other items only positive ones (biases
    above zero), starting from zero biases.
    """
    n_users, n_items = 10, 6
    D = np.ones((n_users, n_items), bool)
    D[:, 3] = False
    R = _csr(D)
    U, V, b = _factors(rng, n_users, n_items, 3, np.float64, scale=0.1)
    b[:] = 0
    mean_loss, skipped = _epoch(R, U, V, b, 2000, 1, 1)
    assert skipped == 0 and np.isfinite(mean_loss)
    assert b[3] < 0
    assert (np.delete(b, 3) > 0).all()
    log = np.zeros((500, 3), np.int32)
    _epoch(R, U, V, b, 500, 2, 2, log)
    assert (log[:, 2] == 3).all()


def test_user_with_every_item_is_skipped(rng):
    D = rng.random((6, 5)) < 0.5
    D[:, 4] = False
    D[:, 0] = True
    D[2, :] = True  # user 2 rated every item
    R = _csr(D)
    U, V, b = _factors(rng, 6, 5, 3, np.float64)
    U0, V0, b0 = U.copy(), V.copy(), b.copy()
    n = 3000
    log = np.zeros((n, 3), np.int32)
    mean_loss, skipped = _epoch(R, U, V, b, n, 8, 1, log)
    from_user2 = log[:, 0] == 2
    assert skipped == from_user2.sum() > 0
    assert (log[from_user2, 2] == -1).all() and (log[~from_user2, 2] >= 0).all()
    np.testing.assert_array_equal(U[2], U0[2])  # a skipped sample updates nothing
    # the loss averages the performed steps only: replay them with the reference
    keep = ~from_user2
    loss_ref = ref.bpr_sgd(U0, V0, b0, log[keep, 0], log[keep, 1], log[keep, 2], LR, REG_U, REG_I, REG_B)
    np.testing.assert_allclose(mean_loss, loss_ref / keep.sum(), rtol=1e-10)
    np.testing.assert_allclose(V, V0, rtol=1e-10, atol=1e-12)


def test_every_user_full_gives_nan_loss_and_all_skipped(rng):
    R = _csr(np.ones((3, 4), bool))
    U, V, b = _factors(rng, 3, 4, 2, np.float64)
    V0 = V.copy()
    mean_loss, skipped = _epoch(R, U, V, b, 100, 0, 2)
    assert np.isnan(mean_loss) and skipped == 100
    np.testing.assert_array_equal(V, V0)


def test_single_thread_is_bit_reproducible(rng, dtype):
    R = _random_csr(rng, 50, 40, 0.2)
    start = _factors(rng, 50, 40, 8, dtype)
    runs = []
    for seed in (42, 42, 43):
        U, V, b = (a.copy() for a in start)
        loss, _ = _epoch(R, U, V, b, 3000, seed, 1)
        runs.append((loss, U, V, b))
    assert runs[0][0] == runs[1][0]
    for a, c in zip(runs[0][1:], runs[1][1:]):
        np.testing.assert_array_equal(a, c)
    assert runs[0][0] != runs[2][0]
    assert not np.array_equal(runs[0][1], runs[2][1])


def _planted(rng, n_users=80, n_items=60, K=4):
    Ut = rng.standard_normal((n_users, K))
    Vt = rng.standard_normal((n_items, K))
    scores = Ut @ Vt.T
    top = np.argsort(-scores, axis=1)[:, :10]
    D = np.zeros((n_users, n_items), bool)
    D[np.arange(n_users)[:, None], top] = True
    return _csr(D)


def test_loss_decreases_on_planted_problem(dtype):
    rng = np.random.default_rng(3)
    R = _planted(rng)
    U, V, b = _factors(rng, R.shape[0], R.shape[1], 8, dtype, scale=0.1)
    losses = [_epoch(R, U, V, b, R.nnz, 100 + e, 1)[0] for e in range(15)]
    assert losses[0] > 0.6  # starts near ln 2
    assert losses[-1] < 0.6 * losses[0]
    assert np.mean(losses[-3:]) < np.mean(losses[3:6]) < np.mean(losses[:3])
    # training AUC-like check: positives now outscore the user's negatives on average
    D = R.toarray() > 0
    S = U.astype(np.float64) @ V.T.astype(np.float64) + b
    assert (S[D].mean() - S[~D].mean()) > 1.0


def test_multithreaded_epochs_finish_finite_with_similar_loss():
    rng = np.random.default_rng(4)
    R = _planted(rng, 120, 90)
    start = _factors(rng, R.shape[0], R.shape[1], 8, np.float32, scale=0.1)
    finals = {}
    for threads in (1, 2, 3):
        U, V, b = (a.copy() for a in start)
        for e in range(8):
            loss, skipped = _epoch(R, U, V, b, R.nnz, 7 + e, threads)
        assert skipped == 0
        assert np.isfinite(U).all() and np.isfinite(V).all() and np.isfinite(b).all()
        finals[threads] = loss
    assert finals[2] == pytest.approx(finals[1], rel=0.15)
    assert finals[3] == pytest.approx(finals[1], rel=0.15)


def test_fewer_samples_than_threads_and_zero_samples(rng):
    R = _random_csr(rng, 5, 6, 0.3)
    U, V, b = _factors(rng, 5, 6, 2, np.float64)
    log = np.zeros((2, 3), np.int32)
    loss, skipped = _epoch(R, U, V, b, 2, 0, 4, log)
    assert np.isfinite(loss) and skipped == 0 and (log[:, 2] >= 0).all()
    U0 = U.copy()
    loss, skipped = _epoch(R, U, V, b, 0, 0, 2)
    assert np.isnan(loss) and skipped == 0
    np.testing.assert_array_equal(U, U0)


def test_epoch_argument_errors(rng):
    R = _random_csr(rng, 5, 6, 0.3)
    U, V, b = _factors(rng, 5, 6, 2, np.float64)
    with pytest.raises(ValueError, match="user_factors"):
        bpr_epoch(R.indptr, R.indices, U[:4].copy(), V, b, 10, LR, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="columns"):
        bpr_epoch(R.indptr, R.indices, U, np.zeros((6, 3)), b, 10, LR, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="item_bias"):
        bpr_epoch(R.indptr, R.indices, U, V, b[:5].copy(), 10, LR, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="num_threads"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="sample_log"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, 0, 0, 0, 0, 1, np.zeros((9, 3), np.int32))
    empty = _csr(np.zeros((5, 6), bool))
    with pytest.raises(ValueError, match="empty"):
        bpr_epoch(empty.indptr, empty.indices, U, V, b, 10, LR, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError):  # mixed dtypes do not match one fused specialisation
        bpr_epoch(R.indptr, R.indices, U.astype(np.float32), V, b, 10, LR, 0, 0, 0, 0, 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_skewed_rows_never_give_positive_negatives(threads):
    """Rows of thousands of items with ids bunched together (the interpolated
    search position is far off) and one row with a single gap."""
    rng = np.random.default_rng(21)
    n_items = 5000
    D = np.zeros((5, n_items), bool)
    D[0, :3000] = True                       # all low ids
    D[1, 2000:4990] = True                   # a middle block
    D[2, rng.choice(n_items, 2500, replace=False)] = True
    D[3, :] = True
    D[3, 4321] = False                       # exactly one negative
    D[4, ::7] = True
    R = _csr(D)
    U, V, b = _factors(rng, 5, n_items, 4, np.float32, scale=0.01)
    n = 20000
    log = np.zeros((n, 3), np.int32)
    _, skipped = _epoch(R, U, V, b, n, 3, threads, log)
    assert skipped == 0
    u, i, j = log.T
    assert D[u, i].all()
    assert not D[u, j].any()
    assert (j[u == 3] == 4321).all()


def test_nnz_rows_gives_identical_epoch(rng):
    R = _random_csr(rng, 60, 50, 0.2)
    rows = np.repeat(np.arange(60, dtype=np.int32), np.diff(R.indptr))
    start = _factors(rng, 60, 50, 5, np.float64)
    out = []
    for nnz_rows in (None, rows):
        U, V, b = (a.copy() for a in start)
        log = np.zeros((2000, 3), np.int32)
        loss, _ = bpr_epoch(R.indptr, R.indices, U, V, b, 2000, LR, REG_U, REG_I, REG_B, 9, 1, log,
                            nnz_rows)
        out.append((loss, U, V, b, log))
    assert out[0][0] == out[1][0]
    for a, c in zip(out[0][1:], out[1][1:]):
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="nnz_rows"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, 0, 0, 0, 0, 1, None, rows[:-1].copy())
    wrong = rows.copy()
    wrong[7] = 10**6
    with pytest.raises(ValueError, match=r"nnz_rows\[7\]"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, 0, 0, 0, 0, 1, None, wrong)


# --------------------------------------------------------------------------- batch fold-in

# bpr_fold_in gathers the factors into float64 and runs every Newton step in float64
# (BLAS dgemm, LAPACK dpotrf/dpotrs) whatever the factor dtype, as the NumPy twin does
# from the same (float32-rounded) inputs: both dtypes are held to the float64
# tolerance. Where they stop, both have just taken a step <= 1e-6 (1 + ||u||) of a
# quadratically converging Newton iteration, so a flipped stopping test changes u by
# ~1e-12 at most, inside it.
FOLD_TOL = {"rtol": 1e-8, "atol": 1e-10}


def _fold_case(rng, n_users, n_items, K, n_neg, dtype, scale=0.5):
    V = (rng.standard_normal((n_items, K)) * scale).astype(dtype)
    b = (rng.standard_normal(n_items) * scale).astype(dtype)
    rows = [np.sort(rng.choice(n_items, int(rng.integers(1, 12)), replace=False)) for _ in range(n_users)]
    rows[0] = np.zeros(0, np.int64)          # no positive: zero vector
    rows[1] = np.arange(n_items)             # every item a positive: no negative, zero vector
    rows[2] = np.array([n_items - 1])        # one positive, the last item
    negs = [np.sort(rng.choice(n_items - len(r), min(n_neg, n_items - len(r)), replace=False)) if len(r)
            else np.zeros(0, np.int64) for r in rows]
    csr = [(np.concatenate([[0], np.cumsum([len(r) for r in parts])]).astype(np.int32),
            np.concatenate(parts).astype(np.int32)) for parts in (rows, negs)]
    return csr[0], csr[1], V, b


@pytest.mark.parametrize("K, n_neg, threads", [(1, 5, 1), (7, 20, 2), (16, 500, 2)])
def test_fold_in_matches_reference(rng, dtype, K, n_neg, threads):
    (pi, px), (ni, nx), V, b = _fold_case(rng, 23, 60, K, n_neg, dtype)
    out = np.full((23, K), np.nan)
    assert bpr_fold_in(pi, px, ni, nx, V, b, 0.02, 10, threads, out) == -1
    expected = ref.bpr_fold_in(pi, px, ni, nx, V, b, 0.02, 10)
    np.testing.assert_allclose(out, expected, **FOLD_TOL)
    assert not out[:2].any() and np.abs(out[2:]).min(axis=1).max() > 0


def test_fold_in_many_positives_and_large_scores(rng, dtype):
    """Users with more positives than one block (256), and scores beyond +-300 (exp per pair, not factored)."""
    n_items, K = 900, 4
    V = (rng.standard_normal((n_items, K))).astype(dtype)
    b = np.zeros(n_items, dtype)
    b[:5] = 400.0                                 # scores of items 0..4 start at 400
    rows = [np.sort(rng.choice(n_items, 700, replace=False)), np.array([0, 1, 2, 7]), np.arange(1, 600, 2)]
    pi = np.array([0, 700, 704, 1004], np.int32)
    px = np.concatenate(rows).astype(np.int32)
    negs = [np.arange(200), np.sort(rng.choice(n_items - 4, 50, replace=False)), np.arange(0, 600, 3)]
    ni = np.concatenate([[0], np.cumsum([len(x) for x in negs])]).astype(np.int32)
    nx = np.concatenate(negs).astype(np.int32)
    out = np.zeros((3, K))
    assert bpr_fold_in(pi, px, ni, nx, V, b, 0.05, 8, 2, out) == -1
    np.testing.assert_allclose(out, ref.bpr_fold_in(pi, px, ni, nx, V, b, 0.05, 8), **FOLD_TOL)
    assert np.isfinite(out).all() and np.abs(out).min(axis=1).max() > 0


def test_fold_in_is_thread_invariant(rng):
    (pi, px), (ni, nx), V, b = _fold_case(rng, 40, 80, 8, 30, np.float32)
    outs = []
    for threads in (1, 2, 3):
        out = np.zeros((40, 8))
        bpr_fold_in(pi, px, ni, nx, V, b, 0.01, 10, threads, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_fold_in_reports_a_failed_user(rng):
    """A non-finite item row makes the Newton step of every user who draws it non-finite: those users are
    left zero and the first of them is returned; the others are solved as usual."""
    (pi, px), (ni, nx), V, b = _fold_case(rng, 6, 30, 3, 10, np.float64)
    V[px[pi[4]]] = np.nan
    touched = [r for r in range(6) if np.isin(px[pi[4]], px[pi[r]:pi[r + 1]]) or
               np.isin(px[pi[4]], np.setdiff1d(np.arange(30), px[pi[r]:pi[r + 1]])[nx[ni[r]:ni[r + 1]]])]
    touched = [r for r in touched if pi[r + 1] > pi[r] and ni[r + 1] > ni[r]]
    out = np.zeros((6, 3))
    assert bpr_fold_in(pi, px, ni, nx, V, b, 0.01, 5, 2, out) == touched[0] == 4
    assert not out[touched].any() and np.isfinite(out).all()
    ok = [r for r in range(2, 6) if r not in touched]
    assert ok                                     # some users are solved as usual
    np.testing.assert_allclose(out[ok], ref.bpr_fold_in(pi, px, ni, nx, V, b, 0.01, 5)[ok], **FOLD_TOL)


def test_fold_in_rejects_bad_shapes(rng):
    (pi, px), (ni, nx), V, b = _fold_case(rng, 5, 20, 3, 4, np.float64)
    out = np.zeros((5, 3))
    with pytest.raises(ValueError, match="out must have shape"):
        bpr_fold_in(pi, px, ni, nx, V, b, 0.01, 5, 1, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="item_bias has length"):
        bpr_fold_in(pi, px, ni, nx, V, b[:-1].copy(), 0.01, 5, 1, out)
    with pytest.raises(ValueError, match="n_users \\+ 1"):
        bpr_fold_in(pi, px, ni[:-1].copy(), nx, V, b, 0.01, 5, 1, out)
    with pytest.raises(ValueError, match="newton_steps and num_threads"):
        bpr_fold_in(pi, px, ni, nx, V, b, 0.01, 0, 1, out)
    with pytest.raises(ValueError, match="shorter than their indptr"):
        bpr_fold_in(pi, px[:-1].copy(), ni, nx, V, b, 0.01, 5, 1, out)


@pytest.mark.parametrize("run_length", [3, 8])
def test_run_sampling_walks_consecutive_entries_from_uniform_starts(run_length):
    """run_length = m: runs of m consecutive stored entries (wrapping), starts uniform; negatives valid."""
    rng = np.random.default_rng(21)
    R = _random_csr(rng, 12, 15, 0.5)
    D = R.toarray() > 0
    nnz = R.nnz
    entry = {(int(u), int(i)): p for p, (u, i) in enumerate(zip(np.repeat(np.arange(12), np.diff(R.indptr)),
                                                                  R.indices))}
    n = 60000 - 60000 % run_length
    log = np.zeros((n, 3), np.int32)
    U, V, b = _factors(rng, 12, 15, 2, np.float64, scale=0.0)
    bpr_epoch(R.indptr, R.indices, U, V, b, n, LR, REG_U, REG_I, REG_B, 99, 1, log, run_length=run_length)
    u, i, j = log.T
    assert D[u, i].all() and not D[u, j].any()
    p = np.array([entry[(a, c)] for a, c in zip(u.tolist(), i.tolist())])
    runs = p.reshape(-1, run_length)
    # within a run: the next stored entry, wrapping at nnz
    assert (np.diff(runs, axis=1) % nnz == 1).all()
    # run starts: independent uniform draws over the entries
    starts = np.bincount(runs[:, 0], minlength=nnz)
    assert stats.chisquare(starts).pvalue > 1e-4
    # hence every position of a run, and each user's share of samples, is uniform / proportional to its row
    share = np.bincount(u, minlength=12) / n
    np.testing.assert_allclose(share, np.diff(R.indptr) / nnz, atol=0.02)
    # the negatives of the densest user stay uniform over its non-positives
    u0 = int(np.argmax(D.sum(1)))
    c = np.bincount(j[u == u0], minlength=15)[~D[u0]]
    assert stats.chisquare(c).pvalue > 1e-4


def test_run_length_one_is_the_independent_draw(rng):
    """run_length=1 draws exactly what the default draws (same random stream)."""
    R = _random_csr(rng, 20, 16, 0.3)
    logs = []
    for kw in ({}, {"run_length": 1}):
        U, V, b = _factors(np.random.default_rng(0), 20, 16, 3, np.float64)
        log = np.zeros((500, 3), np.int32)
        bpr_epoch(R.indptr, R.indices, U, V, b, 500, LR, REG_U, REG_I, REG_B, 7, 1, log, **kw)
        logs.append(log)
    np.testing.assert_array_equal(logs[0], logs[1])
    with pytest.raises(ValueError, match="run_length"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, REG_U, REG_I, REG_B, 7, 1, None, run_length=0)


# ------------------------------------------------------------------ item prior (genre centroids)
TAU, TAU_B = 0.015, 0.02


def _priors(rng, n_items, K, dtype):
    C = (rng.standard_normal((n_items, K)) * 0.5).astype(dtype)
    d = (rng.standard_normal(n_items) * 0.5).astype(dtype)
    return C, d


@pytest.mark.parametrize("which", ["both", "vectors", "biases"])
@pytest.mark.parametrize("K", [1, 7, 16])
def test_sgd_triples_with_prior_matches_reference(rng, dtype, tol, K, which):
    R = _random_csr(rng, 25, 18, 0.3)
    users, pos, neg = ref.bpr_sample(R, 300, rng)
    U, V, b = _factors(rng, 25, 18, K, dtype)
    C, d = _priors(rng, 18, K, dtype)
    kw = {"prior": C if which != "biases" else None, "bias_prior": d if which != "vectors" else None,
          "prior_weight": TAU, "bias_prior_weight": TAU_B}
    U_ref, V_ref, b_ref = U.copy(), V.copy(), b.copy()
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, users, pos, neg, LR, REG_U, REG_I, REG_B, **kw)
    loss = bpr_sgd_triples(users, pos, neg, U, V, b, LR, REG_U, REG_I, REG_B, **kw)
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (tol["rtol"], tol["atol"])
    np.testing.assert_allclose(U, U_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(V, V_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol)
    # the prior changed what it should: without it the reference ends elsewhere
    U0, V0, b0 = _factors(np.random.default_rng(0), 25, 18, K, np.float64)
    U1, V1, b1 = U0.copy(), V0.copy(), b0.copy()
    ref.bpr_sgd(U0, V0, b0, users, pos, neg, LR, REG_U, REG_I, REG_B)
    ref.bpr_sgd(U1, V1, b1, users, pos, neg, LR, REG_U, REG_I, REG_B, **{k: (v.astype(np.float64) if
                                                                          isinstance(v, np.ndarray) else v)
                                                                      for k, v in kw.items()})
    if which != "biases":
        assert np.abs(V1 - V0).max() > 1e-4
    if which != "vectors":
        assert np.abs(b1 - b0).max() > 1e-4


def test_epoch_with_prior_equals_reference_replay_of_its_samples(rng, dtype, tol):
    """One thread, item priors on: the epoch is exactly reference SGD (with the prior) over its triples."""
    R = _random_csr(rng, 30, 20, 0.25)
    U, V, b = _factors(rng, 30, 20, 6, dtype)
    C, d = _priors(rng, 20, 6, dtype)
    U_ref, V_ref, b_ref = U.copy(), V.copy(), b.copy()
    n = 400
    log = np.full((n, 3), -7, np.int32)
    mean_loss, skipped = bpr_epoch(R.indptr, R.indices, U, V, b, n, LR, REG_U, REG_I, REG_B, 123, 1, log,
                                   prior=C, bias_prior=d, prior_weight=TAU, bias_prior_weight=TAU_B)
    assert skipped == 0
    loss_ref = ref.bpr_sgd(U_ref, V_ref, b_ref, log[:, 0], log[:, 1], log[:, 2], LR, REG_U, REG_I, REG_B,
                           prior=C, bias_prior=d, prior_weight=TAU, bias_prior_weight=TAU_B)
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (tol["rtol"], tol["atol"])
    np.testing.assert_allclose(U, U_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(V, V_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(mean_loss, loss_ref / n, rtol=rtol)


def test_epoch_without_prior_is_bit_identical_to_prior_none(rng):
    """No prior arguments and prior=None / bias_prior=None (weights then ignored) run the same steps, bit
    for bit, with the same samples."""
    R = _random_csr(rng, 30, 20, 0.25)
    U, V, b = _factors(rng, 30, 20, 8, np.float32)
    runs = []
    for kw in ({}, {"prior": None, "bias_prior": None, "prior_weight": 5.0, "bias_prior_weight": 5.0}):
        U1, V1, b1 = U.copy(), V.copy(), b.copy()
        log = np.zeros((300, 3), np.int32)
        loss, _ = bpr_epoch(R.indptr, R.indices, U1, V1, b1, 300, LR, REG_U, REG_I, REG_B, 9, 1, log, **kw)
        runs.append((U1, V1, b1, loss, log))
    for a, c in zip(runs[0], runs[1]):
        assert np.array_equal(a, c)


def test_prior_pulls_an_item_without_positives_toward_it(rng):
    """An item no user has (only ever a negative) ends near its prior when the pull dominates."""
    R = _random_csr(rng, 30, 20, 0.25)           # the last item is nobody's positive
    U, V, b = _factors(rng, 30, 20, 4, np.float64, scale=0.0)
    C = np.zeros((20, 4))
    C[-1] = [1.0, -2.0, 0.5, 3.0]
    d = np.zeros(20)
    d[-1] = 1.5
    bpr_epoch(R.indptr, R.indices, U, V, b, 20000, 0.05, 0.0, 1.0, 1.0, 3, 1, None,
              prior=C, bias_prior=d, prior_weight=1.0, bias_prior_weight=1.0)
    np.testing.assert_allclose(V[-1], C[-1], atol=0.1)
    assert abs(b[-1] - 1.5) < 0.2


def test_prior_argument_errors(rng):
    R = _random_csr(rng, 6, 5, 0.4)
    U, V, b = _factors(rng, 6, 5, 3, np.float64)
    with pytest.raises(ValueError, match="prior must have shape"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, REG_U, REG_I, REG_B, 1, 1, None, prior=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="bias_prior has length"):
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, REG_U, REG_I, REG_B, 1, 1, None, bias_prior=np.zeros(4))
    with pytest.raises(ValueError, match="prior must have shape"):
        bpr_sgd_triples(np.array([0], np.int32), np.array([0], np.int32), np.array([1], np.int32), U, V, b,
                        LR, 0, 0, 0, prior=np.zeros((4, 3)))
    with pytest.raises((ValueError, TypeError)):   # dtype must match the factors'
        bpr_epoch(R.indptr, R.indices, U, V, b, 10, LR, REG_U, REG_I, REG_B, 1, 1, None,
                  prior=np.zeros((5, 3), np.float32))
