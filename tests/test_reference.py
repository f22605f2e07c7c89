"""Tests of the float64 NumPy reference models (mfcore._reference).

The references are the oracle for the kernel tests, so they are checked here
against independent formulations: explicit gradients written from the
objective, dense solves, least squares on augmented systems and finite
differences, plus model-quality checks on ml-latest-small.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from tests.tolerances import TOLERANCES

from mfcore import _reference as ref

TOL = TOLERANCES[np.float64]


# ----------------------------------------------------------------------------- helpers


def random_ratings(rng, n_rows=25, n_cols=15, density=0.3, empty_rows=(3,), one_entry_rows=(5,)):
    """Random 1..5 ratings CSR with some empty rows and some rows holding a single rating."""
    dense = np.where(rng.random((n_rows, n_cols)) < density, rng.integers(1, 6, (n_rows, n_cols)), 0).astype(float)
    for r in empty_rows:
        dense[r] = 0.0
    for r in one_entry_rows:
        dense[r] = 0.0
        dense[r, rng.integers(n_cols)] = 4.0
    return sp.csr_matrix(dense)


def row_gradient(R, r, f, b, V, b_other, mu, reg, reg_bias, s, tau=0.0, c=None, tau_b=0.0, bc=0.0):
    """Gradient wrt [f, b] of row r's objective, written term by term from the dense matrix."""
    dense = R.toarray()
    grad_f = 2.0 * s * reg * f
    grad_b = 2.0 * s * reg_bias * b
    for j in range(dense.shape[1]):
        if dense[r, j] != 0.0:
            e = dense[r, j] - mu - b_other[j] - b - f @ V[j]
            grad_f = grad_f - 2.0 * e * V[j]
            grad_b = grad_b - 2.0 * e
    if tau:
        grad_f = grad_f + 2.0 * tau * (f - c)
    if tau_b:
        grad_b = grad_b + 2.0 * tau_b * (b - bc)
    return np.append(grad_f, grad_b)


def ml_small_temporal_split(path, test_fraction=0.2):
    """Per-user temporal split: each user's latest ``test_fraction`` of ratings go to test.

    Returns (train CSR users x items, test users, test items, test ratings); both
    sides index the same user/item vocabularies (all users and items of the file).
    """
    df = pd.read_csv(path / "ratings.csv")
    df = df.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    rank = df.groupby("userId").cumcount().to_numpy()
    size = df.groupby("userId")["rating"].transform("size").to_numpy()
    test = rank >= np.floor((1.0 - test_fraction) * size)
    users = pd.factorize(df["userId"], sort=True)[0]
    items = pd.factorize(df["movieId"], sort=True)[0]
    ratings = df["rating"].to_numpy(dtype=np.float64)
    shape = (users.max() + 1, items.max() + 1)
    train = sp.csr_matrix((ratings[~test], (users[~test], items[~test])), shape=shape)
    return train, users[test], items[test], ratings[test]


def rmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


# ----------------------------------------------------------------------------- ALS half-sweep


@pytest.mark.parametrize("scale_by_count", [False, True])
@pytest.mark.parametrize("with_prior", [False, True])
def test_half_sweep_satisfies_normal_equations(rng, scale_by_count, with_prior):
    R = random_ratings(rng)
    n_rows, n_cols = R.shape
    K = 4
    V = rng.normal(size=(n_cols, K))
    b_other = rng.normal(size=n_cols)
    mu, reg, reg_bias = 3.1, 0.7, 0.3
    tau, tau_b = (1.5, 0.8) if with_prior else (0.0, 0.0)
    C = rng.normal(size=(n_rows, K)) if with_prior else None
    bc = rng.normal(size=n_rows) if with_prior else None
    F, b = ref.als_half_sweep(R, V, b_other, mu, reg, reg_bias, scale_by_count=scale_by_count,
                              prior=C, prior_weight=tau, bias_prior=bc, bias_prior_weight=tau_b)
    assert F.shape == (n_rows, K) and b.shape == (n_rows,)
    counts = np.diff(R.indptr)
    for r in range(n_rows):
        s = counts[r] if scale_by_count else 1.0
        if s == 0 and not with_prior:
            continue  # nothing pins the solution; checked in test_half_sweep_empty_rows
        g = row_gradient(R, r, F[r], b[r], V, b_other, mu, reg, reg_bias, s, tau,
                         None if C is None else C[r], tau_b, 0.0 if bc is None else bc[r])
        np.testing.assert_allclose(g, 0.0, atol=1e-9, err_msg=f"row {r}")


def test_objective_gradient_matches_half_sweep_by_finite_differences(rng):
    """als_objective is the function the half-sweep minimises: its numerical gradient vanishes there."""
    R = random_ratings(rng, n_rows=8, n_cols=6, density=0.5)
    K = 3
    C, bc = rng.normal(size=(6, K)), rng.normal(size=6)
    mu, reg, reg_bias, tau, tau_b = 3.0, 0.9, 0.4, 1.3, 0.6
    for scale in (False, True):
        # Update items (rows of R.T) with the item prior; users fixed.
        U = rng.normal(size=(8, K))
        bu = rng.normal(size=8)
        V_new, bi_new = ref.als_half_sweep(R.T.tocsr(), U, bu, mu, reg, reg_bias, scale_by_count=scale,
                                           prior=C, prior_weight=tau, bias_prior=bc, bias_prior_weight=tau_b)

        def obj(Vx, bx):
            return ref.als_objective(R, mu, U, bu, Vx, bx, reg, reg_bias, scale_by_count=scale, item_prior=C,
                                     prior_weight=tau, item_bias_prior=bc, bias_prior_weight=tau_b)

        base = obj(V_new, bi_new)
        eps = 1e-5
        for i in range(6):
            for k in range(K + 1):
                Vp, bp, Vm, bm = V_new.copy(), bi_new.copy(), V_new.copy(), bi_new.copy()
                if k < K:
                    Vp[i, k] += eps
                    Vm[i, k] -= eps
                else:
                    bp[i] += eps
                    bm[i] -= eps
                fd = (obj(Vp, bp) - obj(Vm, bm)) / (2 * eps)
                assert abs(fd) < 1e-5 * max(1.0, base), (scale, i, k, fd)
        # And a random perturbation of the whole block increases the objective.
        assert obj(V_new + 1e-3 * rng.normal(size=V_new.shape), bi_new) > base


def test_half_sweep_empty_rows(rng):
    R = random_ratings(rng, empty_rows=(0, 3, 7))
    n_rows, n_cols = R.shape
    K = 3
    V = rng.normal(size=(n_cols, K))
    b_other = rng.normal(size=n_cols)
    C = rng.normal(size=(n_rows, K))
    bc = rng.normal(size=n_rows)
    reg, reg_bias, tau, tau_b = 2.0, 0.5, 3.0, 1.5
    F, b = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias)
    np.testing.assert_array_equal(F[[0, 3, 7]], 0.0)
    np.testing.assert_array_equal(b[[0, 3, 7]], 0.0)
    assert np.all(np.abs(F[1]) + np.abs(F[2]) > 0)  # non-empty rows are not zero
    F, b = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias, prior=C, prior_weight=tau,
                              bias_prior=bc, bias_prior_weight=tau_b)
    np.testing.assert_allclose(F[[0, 3, 7]], tau / (reg + tau) * C[[0, 3, 7]], **TOL)
    np.testing.assert_allclose(b[[0, 3, 7]], tau_b / (reg_bias + tau_b) * bc[[0, 3, 7]], **TOL)
    # scale_by_count: s = 0 for an empty row, so the prior is reproduced exactly ...
    F, b = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias, scale_by_count=True, prior=C,
                              prior_weight=tau, bias_prior=bc, bias_prior_weight=tau_b)
    np.testing.assert_allclose(F[[0, 3, 7]], C[[0, 3, 7]], **TOL)
    np.testing.assert_allclose(b[[0, 3, 7]], bc[[0, 3, 7]], **TOL)
    # ... and without a prior the (otherwise singular) empty rows are zero.
    F, b = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias, scale_by_count=True)
    np.testing.assert_array_equal(F[[0, 3, 7]], 0.0)
    np.testing.assert_array_equal(b[[0, 3, 7]], 0.0)


def test_half_sweep_count_scaling(rng):
    """scale_by_count multiplies reg and reg_bias by the row's number of ratings."""
    R = random_ratings(rng, n_rows=30, density=0.35)
    K = 3
    V = rng.normal(size=(R.shape[1], K))
    b_other = rng.normal(size=R.shape[1])
    reg, reg_bias = 0.4, 0.2
    F, b = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias, scale_by_count=True)
    counts = np.diff(R.indptr)
    checked = 0
    for n in np.unique(counts[counts > 0]):
        rows = counts == n
        F_n, b_n = ref.als_half_sweep(R, V, b_other, 3.0, n * reg, n * reg_bias)
        np.testing.assert_allclose(F[rows], F_n[rows], **TOL)
        np.testing.assert_allclose(b[rows], b_n[rows], **TOL)
        checked += rows.sum()
    assert checked == np.count_nonzero(counts)
    # and it really differs from unscaled regularisation
    F_plain, _ = ref.als_half_sweep(R, V, b_other, 3.0, reg, reg_bias)
    assert not np.allclose(F[counts > 1], F_plain[counts > 1])


def test_half_sweep_rejects_bad_shapes(rng):
    R = random_ratings(rng)
    with pytest.raises(ValueError, match="columns"):
        ref.als_half_sweep(R, np.zeros((R.shape[1] + 1, 2)), np.zeros(R.shape[1] + 1), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="prior"):
        ref.als_half_sweep(R, np.zeros((R.shape[1], 2)), np.zeros(R.shape[1]), 0.0, 1.0, 1.0,
                           prior=np.zeros((R.shape[0], 3)), prior_weight=1.0)


@pytest.mark.parametrize("scale_by_count", [False, True])
def test_explicit_als_objective_non_increasing(rng, scale_by_count):
    R = random_ratings(rng, n_rows=40, n_cols=30, density=0.2, empty_rows=(2, 9))
    reg = 0.1 if scale_by_count else 1.0
    model = ref.fit_explicit_als(R, factors=4, reg=reg, reg_bias=reg, iterations=6, random_state=3,
                                 scale_by_count=scale_by_count)
    values = np.array([h["objective"] for h in model["history"]])
    assert [h["step"] for h in model["history"][:3]] == ["init", "users", "items"]
    assert len(values) == 1 + 2 * 6
    assert np.all(np.diff(values) <= 1e-9 * values[:-1]), values
    assert values[-1] < 0.5 * values[0]
    # The returned parameters are the ones whose objective was logged last.
    final = ref.als_objective(R, model["mu"], model["user_factors"], model["user_bias"], model["item_factors"],
                              model["item_bias"], reg, reg, scale_by_count=scale_by_count)
    assert final == pytest.approx(values[-1], rel=1e-12)


def test_predict(rng):
    U, V = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    bu, bi = rng.normal(size=4), rng.normal(size=5)
    users, items = np.array([0, 3, 3]), np.array([4, 0, 2])
    expected = [2.5 + bu[u] + bi[i] + sum(U[u, k] * V[i, k] for k in range(3)) for u, i in zip(users, items)]
    np.testing.assert_allclose(ref.predict(2.5, U, bu, V, bi, users, items), expected, **TOL)


# ----------------------------------------------------------------------------- bias baseline


def test_bias_baseline_is_coordinate_descent_fixed_point(rng):
    R = random_ratings(rng, n_rows=20, n_cols=12, density=0.4)
    mu, bu, bi = ref.bias_baseline(R, reg_user=2.0, reg_item=3.0, iterations=200)
    assert mu == pytest.approx(R.data.mean())
    dense, mask = R.toarray(), R.toarray() != 0
    resid = np.where(mask, dense - mu - bu[:, None] - bi[None, :], 0.0)
    # Stationarity of sum resid^2 + reg_user sum b_u^2 + reg_item sum b_i^2.
    np.testing.assert_allclose(resid.sum(axis=1), 2.0 * bu, atol=1e-8)
    np.testing.assert_allclose(resid.sum(axis=0), 3.0 * bi, atol=1e-8)
    assert bu[3] == 0.0  # empty row


# ----------------------------------------------------------------------------- Genre-ALS


def random_genres(rng, n_items, n_genres=5, no_genre=(1,)):
    M = (rng.random((n_items, n_genres)) < 0.4).astype(float)
    M[np.arange(n_items), rng.integers(0, n_genres, n_items)] = 1.0
    for i in no_genre:
        M[i] = 0.0
    return sp.csr_matrix(M)


def test_genre_centroid_matrix(rng):
    M = random_genres(rng, 10)
    G = ref.genre_centroid_matrix(M)
    np.testing.assert_allclose(G.sum(axis=1)[np.arange(10) != 1], 1.0, **TOL)
    np.testing.assert_array_equal(G[1], 0.0)
    np.testing.assert_array_equal(G > 0, M.toarray() > 0)
    with pytest.raises(ValueError, match="multi-hot"):
        ref.genre_centroid_matrix(np.array([[0.0, 2.0]]))


def test_genre_projection_equals_augmented_lstsq(rng):
    G = ref.genre_centroid_matrix(random_genres(rng, 30, n_genres=6))
    V = rng.normal(size=(30, 4))
    reg_w = 0.7
    W = ref.genre_projection(V, G, reg_w)
    # min ||G W - V||^2 + reg_w ||W||^2  ==  min ||[G; sqrt(reg_w) I] W - [V; 0]||^2
    A = np.vstack([G, np.sqrt(reg_w) * np.eye(6)])
    B = np.vstack([V, np.zeros((6, 4))])
    W_lstsq = np.linalg.lstsq(A, B, rcond=None)[0]
    np.testing.assert_allclose(W, W_lstsq, **TOL)
    b = rng.normal(size=30)
    np.testing.assert_allclose(ref.genre_bias_projection(b, G, reg_w),
                               np.linalg.lstsq(A, np.append(b, np.zeros(6)), rcond=None)[0], **TOL)


@pytest.mark.parametrize("genre_bias_weight", [0.0, 2.0])
@pytest.mark.parametrize("scale_by_count", [False, True])
def test_genre_als_objective_non_increasing(rng, genre_bias_weight, scale_by_count):
    R = random_ratings(rng, n_rows=40, n_cols=30, density=0.2, empty_rows=(2,))
    R = sp.csr_matrix(R.toarray() * (np.arange(30) != 7))  # item 7 is cold
    M = random_genres(rng, 30, no_genre=(1,))
    reg = 0.1 if scale_by_count else 1.0
    model = ref.fit_genre_als(R, M, factors=3, reg=reg, reg_bias=reg, genre_weight=2.0,
                              genre_bias_weight=genre_bias_weight, reg_w=0.5, iterations=5, random_state=1,
                              scale_by_count=scale_by_count)
    steps = [h["step"] for h in model["history"]]
    assert steps[:4] == ["init", "users", "items", "genres"] and len(steps) == 1 + 3 * 5
    values = np.array([h["objective"] for h in model["history"]])
    assert np.all(np.diff(values) <= 1e-9 * values[:-1]), values
    assert (model["w_bias"] is None) == (genre_bias_weight == 0.0)
    # The W step is exactly the genre projection of the final item factors.
    np.testing.assert_allclose(model["W"], ref.genre_projection(model["item_factors"], model["G"], 0.5), **TOL)
    # Joint objective: a perturbed W is worse (W is the minimiser given V).
    J = ref.genre_als_objective(R, model["G"], model["mu"], model["user_factors"], model["user_bias"],
                                model["item_factors"], model["item_bias"], model["W"], model["w_bias"],
                                reg, reg, 2.0, genre_bias_weight, 0.5, scale_by_count=scale_by_count)
    assert J == pytest.approx(values[-1], rel=1e-12)

    def J_at(W, w_b):
        return ref.genre_als_objective(R, model["G"], model["mu"], model["user_factors"], model["user_bias"],
                                       model["item_factors"], model["item_bias"], W, w_b, reg, reg, 2.0,
                                       genre_bias_weight, 0.5, scale_by_count=scale_by_count)

    # (W, w_b) is a stationary point of J given the rest: directional derivatives vanish.
    D, t = rng.normal(size=model["W"].shape), 1e-4
    assert abs(J_at(model["W"] + t * D, model["w_bias"]) - J_at(model["W"] - t * D, model["w_bias"])) / (2 * t) < 1e-6
    assert J_at(model["W"] + 1e-3 * D, model["w_bias"]) > J
    if model["w_bias"] is not None:
        d = rng.normal(size=model["w_bias"].shape)
        assert abs(J_at(model["W"], model["w_bias"] + t * d) - J_at(model["W"], model["w_bias"] - t * d)) / (2 * t) < 1e-6


def test_cold_item_prediction_matches_half_sweep(rng):
    """A zero-rating item's half-sweep solution is tau/(reg+tau) W^T g (and likewise for the bias)."""
    n_items, K = 12, 3
    M = random_genres(rng, n_items, no_genre=(1,))
    G = ref.genre_centroid_matrix(M)
    W, w_b = rng.normal(size=(5, K)), rng.normal(size=5)
    R = random_ratings(rng, n_rows=n_items, n_cols=9, empty_rows=(0, 1, 4))  # items x users
    U, bu = rng.normal(size=(9, K)), rng.normal(size=9)
    reg, reg_bias, tau, tau_b = 2.0, 1.0, 3.0, 0.5
    V, bi = ref.als_half_sweep(R, U, bu, 3.5, reg, reg_bias, prior=G @ W, prior_weight=tau,
                               bias_prior=G @ w_b, bias_prior_weight=tau_b)
    cold = [0, 1, 4]
    f, b = ref.cold_item_prediction(M[cold], W, w_b, reg, reg_bias, tau, tau_b)
    np.testing.assert_allclose(V[cold], f, **TOL)
    np.testing.assert_allclose(bi[cold], b, **TOL)
    np.testing.assert_allclose(f[0], tau / (reg + tau) * W.T @ (M[0].toarray().ravel() / M[0].sum()), **TOL)
    np.testing.assert_array_equal(f[1], 0.0)  # no genre -> no information
    # scale_by_count: s = 0 on empty rows; cold_item_prediction with reg = reg_bias = 0 reproduces it.
    V, bi = ref.als_half_sweep(R, U, bu, 3.5, reg, reg_bias, scale_by_count=True, prior=G @ W, prior_weight=tau,
                               bias_prior=G @ w_b, bias_prior_weight=tau_b)
    f, b = ref.cold_item_prediction(M[cold], W, w_b, 0.0, 0.0, tau, tau_b)
    np.testing.assert_allclose(V[cold], f, **TOL)
    np.testing.assert_allclose(bi[cold], b, **TOL)


# ----------------------------------------------------------------------------- BPR


def test_bpr_single_step_matches_hand_gradient(rng):
    U, V, b = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    U0, V0, b0 = U.copy(), V.copy(), b.copy()
    lr, ru, ri, rb = 0.05, 0.01, 0.02, 0.03
    u, i, j = 1, 3, 0
    loss = ref.bpr_sgd(U, V, b, [u], [i], [j], lr, ru, ri, rb)
    x = U0[u] @ (V0[i] - V0[j]) + b0[i] - b0[j]
    assert loss == pytest.approx(np.log1p(np.exp(-x)), rel=1e-12)

    # d ln sigma(x) / d theta by central finite differences of ln sigma(x(theta)).
    def ln_sig(pu, qi, qj, bi, bj):
        return -np.logaddexp(0.0, -(pu @ (qi - qj) + bi - bj))

    params = [U0[u], V0[i], V0[j], np.array([b0[i]]), np.array([b0[j]])]
    regs = [ru, ri, ri, rb, rb]
    expected = []
    for p, (theta, lam) in enumerate(zip(params, regs)):
        grad = np.zeros_like(theta)
        for k in range(theta.size):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[p][k] += 1e-6
            minus[p][k] -= 1e-6
            grad[k] = (ln_sig(*[q if q.size > 1 else q[0] for q in plus])
                       - ln_sig(*[q if q.size > 1 else q[0] for q in minus])) / 2e-6
        expected.append(theta + lr * (grad - lam * theta))
    np.testing.assert_allclose(U[u], expected[0], rtol=1e-7)
    np.testing.assert_allclose(V[i], expected[1], rtol=1e-7)
    np.testing.assert_allclose(V[j], expected[2], rtol=1e-7)
    np.testing.assert_allclose(b[[i, j]], [expected[3][0], expected[4][0]], rtol=1e-7)
    # Nothing else moved.
    np.testing.assert_array_equal(np.delete(U, u, 0), np.delete(U0, u, 0))
    np.testing.assert_array_equal(np.delete(V, [i, j], 0), np.delete(V0, [i, j], 0))


def test_bpr_sgd_is_sequential(rng):
    U, V, b = rng.normal(size=(3, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    triples = ([0, 0, 2], [1, 3, 1], [2, 1, 5])  # repeated user and item across steps
    U1, V1, b1 = U.copy(), V.copy(), b.copy()
    total = ref.bpr_sgd(U1, V1, b1, *triples, 0.1, 0.01, 0.01, 0.01)
    U2, V2, b2 = U.copy(), V.copy(), b.copy()
    parts = sum(ref.bpr_sgd(U2, V2, b2, [u], [i], [j], 0.1, 0.01, 0.01, 0.01) for u, i, j in zip(*triples))
    np.testing.assert_array_equal(U1, U2)
    np.testing.assert_array_equal(V1, V2)
    np.testing.assert_array_equal(b1, b2)
    assert total == pytest.approx(parts, rel=1e-14)
    # Extreme margins: the loss is evaluated without overflow (ln(1 + e^20000) = 20000).
    big = ref.bpr_sgd(np.array([[100.0]]), np.array([[-100.0], [100.0]]), np.zeros(2), [0], [0], [1],
                      0.1, 0.0, 0.0, 0.0)
    assert big == pytest.approx(20000.0, rel=1e-12)
    with pytest.raises(ValueError, match="pos_items == neg_items"):
        ref.bpr_sgd(U, V, b, [0], [2], [2], 0.1, 0.0, 0.0, 0.0)


def test_bpr_decreases_log_loss_on_toy_problem(rng):
    # Two user groups, each liking one half of the items.
    n_users, n_items = 20, 16
    dense = np.zeros((n_users, n_items))
    dense[:10, :8] = rng.random((10, 8)) < 0.6
    dense[10:, 8:] = rng.random((10, 8)) < 0.6
    R = sp.csr_matrix(dense)
    U, V, b = 0.1 * rng.normal(size=(n_users, 4)), 0.1 * rng.normal(size=(n_items, 4)), np.zeros(n_items)
    eval_triples = ref.bpr_sample(R, 2000, np.random.default_rng(1))
    before = ref.bpr_log_loss(U, V, b, *eval_triples)
    sample_rng = np.random.default_rng(2)
    epoch_losses = []
    for _ in range(30):
        epoch_losses.append(ref.bpr_sgd(U, V, b, *ref.bpr_sample(R, R.nnz, sample_rng), 0.05, 0.01, 0.01, 0.01))
    after = ref.bpr_log_loss(U, V, b, *eval_triples)
    assert after < 0.5 * before
    assert epoch_losses[-1] < epoch_losses[0]


def test_bpr_sample(rng):
    R = random_ratings(rng, n_rows=15, n_cols=10, density=0.4, empty_rows=(4,))
    users, pos, neg = ref.bpr_sample(R, 5000, np.random.default_rng(7))
    assert users.dtype == pos.dtype == neg.dtype == np.int32 and users.shape == (5000,)
    dense = R.toarray() != 0
    assert dense[users, pos].all()
    assert not dense[users, neg].any()
    assert not np.any(users == 4)
    # (u, i) uniform over interactions: every interaction is drawn, frequencies ~ 5000 / nnz.
    counts = np.bincount(users.astype(np.int64) * 10 + pos, minlength=150)[dense.ravel()]
    assert counts.min() > 0 and abs(counts.mean() - 5000 / R.nnz) < 1e-9
    again = ref.bpr_sample(R, 5000, np.random.default_rng(7))
    for a, c in zip((users, pos, neg), again):
        np.testing.assert_array_equal(a, c)
    full = sp.csr_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match="every item"):
        ref.bpr_sample(full, 3, 0)


# ----------------------------------------------------------------------------- implicit ALS


def test_implicit_als_matches_dense_solve(rng):
    n_rows, n_cols, K, alpha, reg = 12, 9, 3, 4.0, 0.5
    raw = random_ratings(rng, n_rows, n_cols, density=0.4, empty_rows=(2,))
    conf = raw.copy()
    conf.data = alpha * conf.data
    Y = rng.normal(size=(n_cols, K))
    X = ref.implicit_als_half_sweep(conf, Y, reg)
    P = (raw.toarray() != 0).astype(float)
    Cfull = 1.0 + alpha * raw.toarray()
    for r in range(n_rows):
        Cu = np.diag(Cfull[r])
        A = Y.T @ Cu @ Y + reg * np.eye(K)
        expected = np.linalg.solve(A, Y.T @ Cu @ P[r]) if P[r].any() else np.zeros(K)
        np.testing.assert_allclose(X[r], expected, **TOL, err_msg=f"row {r}")
    np.testing.assert_array_equal(X[2], 0.0)


def test_implicit_als_prior_minimises_the_penalised_loss(rng):
    """With a prior, each row is the minimiser of the dense weighted loss + reg ||x||^2 + tau ||x - c||^2:
    the gradient vanishes there, and every perturbation raises the loss (empty rows included)."""
    n_rows, n_cols, K, alpha, reg, tau = 10, 9, 3, 4.0, 0.5, 2.0
    raw = random_ratings(rng, n_rows, n_cols, density=0.4, empty_rows=(2,))
    conf = raw.copy()
    conf.data = alpha * conf.data
    Y = rng.normal(size=(n_cols, K))
    c = rng.normal(size=(n_rows, K))
    X = ref.implicit_als_half_sweep(conf, Y, reg, prior=c, prior_weight=tau)
    P = (raw.toarray() != 0).astype(float)
    Cfull = 1.0 + alpha * raw.toarray()

    def loss(r, x):
        return float(Cfull[r] @ (P[r] - Y @ x) ** 2 + reg * x @ x + tau * (x - c[r]) @ (x - c[r]))

    for r in range(n_rows):
        grad = -2 * Y.T @ (Cfull[r] * (P[r] - Y @ X[r])) + 2 * reg * X[r] + 2 * tau * (X[r] - c[r])
        np.testing.assert_allclose(grad, 0.0, atol=1e-10, err_msg=f"row {r}")
        for d in np.eye(K):
            assert loss(r, X[r] + 1e-3 * d) > loss(r, X[r]) < loss(r, X[r] - 1e-3 * d)
    assert np.abs(X[2]).max() > 0.01   # the empty row follows its prior
    with pytest.raises(ValueError, match="prior must have shape"):
        ref.implicit_als_half_sweep(conf, Y, reg, prior=c[:-1], prior_weight=tau)


# ----------------------------------------------------------------------------- top-N


def naive_top_n(U, V, bias, weight, exclude, mask, N):
    ids = np.full((U.shape[0], N), -1)
    scores = np.full((U.shape[0], N), -np.inf)
    for b in range(U.shape[0]):
        cands = []
        for i in range(V.shape[0]):
            if (mask is None or mask[i]) and not (exclude is not None and i in set(exclude[b].indices)):
                s = float(sum(U[b, k] * V[i, k] for k in range(U.shape[1])))
                if bias is not None:
                    s += weight * bias[i]
                cands.append((-s, i))
        for n, (neg_s, i) in enumerate(sorted(cands)[:N]):
            ids[b, n], scores[b, n] = i, -neg_s
    return ids, scores


@pytest.mark.parametrize("use_bias", [False, True])
def test_top_n_against_naive_sort(rng, use_bias):
    # Small integer factors force many exact ties.
    U = rng.integers(-1, 2, size=(6, 2)).astype(float)
    V = rng.integers(-1, 2, size=(11, 2)).astype(float)
    bias = rng.integers(0, 2, size=11).astype(float) if use_bias else None
    exclude = rng.random((6, 11)) < 0.3
    exclude[5] = False  # row with no exclusions
    exclude = sp.csr_matrix(exclude)
    mask = np.ones(11, dtype=np.uint8)
    mask[[0, 4]] = 0
    for N in (1, 4, 11):
        ids, scores = ref.top_n(U, V, bias, 0.5, exclude, mask, N)
        exp_ids, exp_scores = naive_top_n(U, V, bias, 0.5, exclude, mask, N)
        np.testing.assert_array_equal(ids, exp_ids)
        np.testing.assert_array_equal(scores, exp_scores)
        assert ids.dtype == np.int32 and ids.shape == (6, N)
    # N = 11 > candidates -> padded
    assert np.all(ids[:, -2:] == -1) and np.all(np.isneginf(scores[:, -2:]))


# ----------------------------------------------------------------------------- ml-latest-small quality

# Regularisation used below (chosen on this split, see the docstring of bias_baseline and the report):
ML_SMALL_ALS = {"factors": 13, "reg": 15.0, "reg_bias": 2.0, "iterations": 10, "random_state": 0}


def test_bias_baseline_and_als_quality_on_ml_small(ml_small_path):
    train, users, items, truth = ml_small_temporal_split(ml_small_path)
    mu, bu, bi = ref.bias_baseline(train)
    rmse_mean = rmse(np.full(truth.shape, mu), truth)
    rmse_bias = rmse(mu + bu[users] + bi[items], truth)
    model = ref.fit_explicit_als(train, track_objective=False, **ML_SMALL_ALS)
    rmse_als = rmse(ref.predict(model["mu"], model["user_factors"], model["user_bias"], model["item_factors"],
                                model["item_bias"], users, items), truth)
    # Measured: global mean 1.068, bias baseline 0.896, ALS 0.885.
    assert rmse_bias < rmse_mean - 0.1
    assert rmse_als < rmse_bias - 0.005
