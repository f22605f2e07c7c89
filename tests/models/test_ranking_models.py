"""BPR and ImplicitALS: kernels wired as the reference says, and their own features (shared contract: test_contract.py)."""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore import _reference as ref
from mfcore.models import BPR, ImplicitALS
from tests.models.model_data import RatingsWithIds, split_entries




def _mean_auc(user_vecs, item_factors, item_bias, train, test):
    """Mean over users of the AUC of their test items among items not in train (brute force)."""
    aucs = []
    for u in range(train.shape[0]):
        pos = test.indices[test.indptr[u]:test.indptr[u + 1]]
        if len(pos) == 0:
            continue
        cand = np.setdiff1d(np.arange(train.shape[1]), train.indices[train.indptr[u]:train.indptr[u + 1]])
        neg = np.setdiff1d(cand, pos)
        s = item_factors @ user_vecs[u] + item_bias
        aucs.append(np.mean(s[pos][:, None] > s[neg][None, :]))
    return float(np.mean(aucs))


def test_bpr_single_thread_is_reproducible_and_learns(planted):
    R, _ = planted
    kw = dict(factors=8, iterations=30, learning_rate=0.05, positive_threshold=None, num_threads=1, random_state=5)
    a = BPR(**kw).fit(R, show_progress=False)
    b = BPR(**kw).fit(R, show_progress=False)
    assert np.array_equal(a.user_factors, b.user_factors) and np.array_equal(a.item_bias, b.item_bias)
    c = BPR(**{**kw, "random_state": 6}).fit(R, show_progress=False)
    assert not np.array_equal(a.item_factors, c.item_factors)
    losses = [h["loss"] for h in a.history_]
    assert losses[-1] < losses[0] < np.log(2) + 0.01       # starts near ln 2, then falls
    d = BPR(**{**kw, "num_threads": 2}).fit(R, show_progress=False)   # Hogwild: not bitwise, still learns
    assert np.isfinite(d.user_factors).all() and d.history_[-1]["loss"] < losses[0]


def test_bpr_positive_threshold_selects_training_pairs(planted, monkeypatch):
    import mfcore.models.bpr as bpr_module

    R, _ = planted
    seen = []

    def spy(positives, user_of_entry, *args, **kwargs):
        seen.append((positives.copy(), kwargs["n_samples"]))
        return bpr_module_kernel(positives, user_of_entry, *args, **kwargs)

    bpr_module_kernel = bpr_module.bpr_sgd_epoch
    monkeypatch.setattr(bpr_module, "bpr_sgd_epoch", spy)
    model = BPR(factors=4, iterations=1, positive_threshold=4.0, num_threads=1).fit(R, show_progress=False)
    (pos, n_samples), = seen
    expected = R.multiply(R >= 4.0).tocsr()
    expected.eliminate_zeros()
    assert (pos != expected).nnz == 0 and n_samples == expected.nnz == int((R.data >= 4.0).sum())
    assert model.history_[0]["samples_per_second"] > 0
    with pytest.raises(ValueError, match="no positive interactions"):
        BPR(positive_threshold=99.0).fit(R, show_progress=False)


def test_bpr_divergence_is_reported(planted):
    R, _ = planted
    with pytest.raises(FloatingPointError, match="BPR diverged in epoch"):
        BPR(factors=4, learning_rate=1e30, regularization=1e10, iterations=5, positive_threshold=None,
            num_threads=1).fit(R, show_progress=False)


def test_bpr_fold_in_ranks_like_trained_vector(rng, implicit_data):
    train, test = split_entries(implicit_data, rng)
    model = BPR(factors=6, iterations=60, learning_rate=0.05, positive_threshold=None, num_threads=1,
                random_state=0).fit(train, show_progress=False)
    folded = np.vstack([model.fold_in(train.indices[train.indptr[u]:train.indptr[u + 1]])[0]
                        for u in range(train.shape[0])])
    auc_trained = _mean_auc(model.user_factors, model.item_factors, model.item_bias, train, test)
    auc_folded = _mean_auc(folded, model.item_factors, model.item_bias, train, test)
    assert auc_trained > 0.75                            # the model learned something
    assert auc_folded >= auc_trained - 0.05, (auc_folded, auc_trained)
    vec, bias = model.fold_in([])
    assert bias == 0.0 and not vec.any()


def _pre_kernel_fold_in(model, pos, n_neg=500, steps=10):
    """BPR.fold_in as it was before the batch kernel (per-user NumPy Newton; issue 11): the negatives
    ``sort(rng.choice(candidates, n_neg))`` from a fresh ``default_rng(random_state)``."""
    n_items = model.item_factors.shape[0]
    candidates = np.setdiff1d(np.arange(n_items), pos)
    if len(candidates) > n_neg:
        neg = np.sort(np.random.default_rng(model.random_state).choice(candidates, n_neg, replace=False))
    else:
        neg = candidates
    ranks = np.searchsorted(candidates, neg)
    return ref.bpr_fold_in([0, len(pos)], pos, [0, len(ranks)], ranks, model.item_factors, model.item_bias,
                           model.regularization, steps)[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bpr_batch_fold_in_is_one_kernel_call_equal_to_the_single_user_fold_in(rng, dtype):
    """recalculate_user / partial_fit_users (one kernel call) give every user the vector the single-user
    fold_in gives, which is the pre-kernel NumPy fold-in's (same negatives, float64 Newton)."""
    import scipy.sparse as sp

    n_users, n_items = 30, 700                    # > 500 non-positives: the negatives are sampled
    R = sp.random(n_users, n_items, density=0.03, format="csr", random_state=1, dtype=np.float32)
    R.data[:] = rng.choice([1.0, 2.0, 5.0], R.nnz)
    R = sp.diags((np.arange(n_users) != 3).astype(np.float32)) @ R   # user 3 without interactions: zero vector
    R.eliminate_zeros()
    R = sp.csr_matrix(R)
    model = BPR(factors=5, iterations=3, positive_threshold=None, num_threads=2, dtype=dtype,
                random_state=4).fit(R, show_progress=False)
    batch = model.recalculate_user(np.arange(n_users), R)
    assert batch.dtype == np.dtype(dtype) and not batch[3].any()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-8, atol=1e-10)
    for u in range(n_users):
        items = R.indices[R.indptr[u]:R.indptr[u + 1]]
        single, _ = model.fold_in(items) if len(items) else (np.zeros(5), 0.0)
        np.testing.assert_array_equal(batch[u], single)       # the same kernel, thread-invariant
        np.testing.assert_allclose(batch[u], _pre_kernel_fold_in(model, items), **tol)
    # thresholded: only ratings >= 2 are positives (a user's 1-star items may be drawn as negatives)
    model.positive_threshold = 2.0
    rows = model.recalculate_user(np.arange(n_users), R)
    for u in (0, 5, 17):
        lo, hi = R.indptr[u], R.indptr[u + 1]
        liked = R.indices[lo:hi][R.data[lo:hi] >= 2.0]
        np.testing.assert_allclose(rows[u], _pre_kernel_fold_in(model, liked), **tol)
    # partial_fit_users stores the same vectors
    model.partial_fit_users(np.arange(10), R[:10])
    np.testing.assert_array_equal(model.user_factors[:10], rows[:10])


def test_bpr_fold_in_sampling_follows_the_random_state(rng):
    """A Generator random_state advances from user to user (each draws its own negatives), as before."""
    import scipy.sparse as sp

    R = sp.random(6, 600, density=0.05, format="csr", random_state=2, dtype=np.float32)
    R.data[:] = 1.0
    model = BPR(factors=3, iterations=1, positive_threshold=None, num_threads=1).fit(R, show_progress=False)
    model.random_state = np.random.default_rng(11)
    batch = model.recalculate_user(np.arange(6), R)
    gen = np.random.default_rng(11)
    for u in range(6):
        pos = R.indices[R.indptr[u]:R.indptr[u + 1]]
        candidates = np.setdiff1d(np.arange(600), pos)
        ranks = np.searchsorted(candidates, np.sort(gen.choice(candidates, 500, replace=False)))
        expected = ref.bpr_fold_in([0, len(pos)], pos, [0, 500], ranks, model.item_factors, model.item_bias,
                                   model.regularization, 10)[0]
        np.testing.assert_allclose(batch[u], expected, rtol=1e-5, atol=1e-6)


def test_bpr_early_stopping_keeps_best_epoch(rng, implicit_data):
    from mfcore import evaluate

    train, test = split_entries(implicit_data, rng)
    model = BPR(factors=6, iterations=25, learning_rate=0.3, positive_threshold=None, num_threads=1,
                eval_threshold=None).fit(train, eval_set=test, eval_k=5, early_stopping_rounds=3,
                                         show_progress=False)
    ndcgs = [h["eval_ndcg@5"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmax(ndcgs)) + 1
    assert evaluate(model, train, test, k=5, threshold=None)["ndcg@5"] == pytest.approx(max(ndcgs))
    with pytest.raises(ValueError, match="early_stopping_rounds needs an eval_set"):
        BPR().fit(train, early_stopping_rounds=2, show_progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"factors": -1}, "factors must be >= 1"),
    ({"n_samples": 0}, "n_samples must be >= 1"),
    ({"learning_rate_decay": 0}, "learning_rate_decay must be > 0"),
])
def test_bpr_bad_hyperparameters(planted, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BPR(**kwargs).fit(planted[0], show_progress=False)


#: the plain model (no frequency-scaled regularization): what the reference checks below are written for
PLAIN = dict(regularization_exponent=0.0, item_regularization_exponent=None)


def _initial(model, n_users, n_items):
    rng = np.random.default_rng(model.random_state)
    scale = model.init_scale / np.sqrt(model.factors)
    return rng.standard_normal((n_users, model.factors)) * scale, rng.standard_normal((n_items, model.factors)) * scale


def test_implicit_als_cholesky_equals_reference(planted):
    R, _ = planted
    model = ImplicitALS(factors=5, regularization=0.3, alpha=2.0, iterations=2, solver="cholesky",
                        dtype="float64", binarize=False, positive_threshold=None, random_state=2,
                        **PLAIN).fit(R, show_progress=False)
    _, V = _initial(model, *R.shape)
    conf = R.astype(np.float64) * 2.0
    for _ in range(2):
        U = ref.implicit_als_half_sweep(conf, V, 0.3)
        V = ref.implicit_als_half_sweep(conf.T.tocsr(), U, 0.3)
    np.testing.assert_allclose(model.user_factors, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    # fold-in of a training user = one more user solve against the final items
    U2 = ref.implicit_als_half_sweep(conf, model.item_factors, 0.3)
    vec, _ = model.fold_in(R[3].indices, R[3].data)
    np.testing.assert_allclose(vec, U2[3], rtol=1e-8, atol=1e-10)


def test_implicit_als_cg_close_to_cholesky(planted):
    R, _ = planted
    kw = dict(factors=5, regularization=0.3, iterations=6, dtype="float64", positive_threshold=None, random_state=1)
    exact = ImplicitALS(solver="cholesky", **kw).fit(R, show_progress=False)
    cg = ImplicitALS(solver="cg", cg_steps=5, **kw).fit(R, show_progress=False)
    pe = exact.user_factors @ exact.item_factors.T
    pc = cg.user_factors @ cg.item_factors.T
    assert np.max(np.abs(pe - pc)) < 0.05 * np.max(np.abs(pe))


@pytest.mark.parametrize("cls", [BPR, ImplicitALS])
def test_bare_matrices_are_interactions_as_in_implicit(cls, implicit_data):
    kw = dict(factors=4, iterations=2, num_threads=1)
    ids = (np.arange(implicit_data.shape[0]), np.arange(implicit_data.shape[1]))
    data = RatingsWithIds(implicit_data, *ids)
    data.has_ratings = False                   # all values are 1: no rating reaches 4.0
    model = cls(**kw).fit(data, show_progress=False)
    assert model.positive_threshold == "auto" and model.input_kind_ == "interactions"
    # a bare binary matrix, as implicit users pass it: every stored value is an interaction
    bare = cls(**kw).fit(implicit_data, show_progress=False)
    assert bare.input_kind_ == "sparse"
    np.testing.assert_array_equal(bare.item_factors, model.item_factors)
    # the same values as ratings of an Interactions: the 4.0 threshold applies and nothing is left
    with pytest.raises(ValueError, match=r"no positive interactions \(positive_threshold='auto' = 4.0\)"):
        cls(**kw).fit(RatingsWithIds(implicit_data, *ids), show_progress=False)
    # a threshold given explicitly applies to a bare matrix too
    with pytest.raises(ValueError, match=r"no positive interactions \(positive_threshold=4.0\)"):
        cls(positive_threshold=4.0, **kw).fit(implicit_data, show_progress=False)


def test_implicit_als_bare_counts_are_confidences(implicit_data):
    """Counts on a bare matrix are not binarized ("auto"): the fit equals binarize=False, threshold None."""
    counts = implicit_data.copy()
    counts.data = (1 + np.arange(counts.nnz) % 5).astype(np.float32)
    kw = dict(factors=4, iterations=2, num_threads=1, solver="cholesky", alpha=2.0)
    auto = ImplicitALS(**kw).fit(counts, show_progress=False)
    explicit = ImplicitALS(binarize=False, positive_threshold=None, **kw).fit(counts, show_progress=False)
    binary = ImplicitALS(binarize=True, **kw).fit(counts, show_progress=False)
    np.testing.assert_array_equal(auto.item_factors, explicit.item_factors)
    assert not np.allclose(auto.item_factors, binary.item_factors)


@pytest.mark.parametrize("confidence", ["linear", "raw"])
def test_implicit_als_confidence_conventions(implicit_data, confidence):
    """After an exact epoch every item row solves its normal equations with the convention's confidence:
    linear c = 1 + alpha r (Hu et al.), raw c = alpha r (implicit's); checked against dense NumPy."""
    counts = implicit_data.astype(np.float64)
    counts.data = 1.0 + np.arange(counts.nnz) % 4
    alpha, reg = 3.0, 0.7
    model = ImplicitALS(factors=5, iterations=1, solver="cholesky", alpha=alpha, regularization=reg,
                        confidence=confidence, dtype="float64", num_threads=1, **PLAIN).fit(counts,
                                                                                             show_progress=False)
    U, V = model.user_factors, model.item_factors
    R = counts.toarray()
    C = np.where(R > 0, (1.0 if confidence == "linear" else 0.0) + alpha * R, 1.0)
    P = (R > 0).astype(float)
    for i in range(0, R.shape[1], 7):
        A = (U.T * C[:, i]) @ U + reg * np.eye(5)
        np.testing.assert_allclose(V[i], np.linalg.solve(A, U.T @ (C[:, i] * P[:, i])), rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="confidence must be one of"):
        ImplicitALS(confidence="log").fit(counts, show_progress=False)


def _dense_implicit_objective(model, conf, reg):
    """sum_{u,i} c_ui (p_ui - u.v_i)^2 + reg (||U||^2 + ||V||^2), over every cell (small problems only)."""
    U, V = model.user_factors.astype(np.float64), model.item_factors.astype(np.float64)
    x = U @ V.T
    c = 1.0 + conf.toarray()
    p = np.zeros(x.shape)
    p[conf.tocoo().row, conf.tocoo().col] = 1.0       # every stored cell is a positive
    return float(np.sum(c * (p - x) ** 2) + reg * (np.sum(U * U) + np.sum(V * V)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_implicit_als_training_loss_is_the_objective(planted, dtype):
    R, _ = planted
    kw = dict(PLAIN, factors=4, regularization=0.5, alpha=3.0, iterations=5, solver="cholesky", binarize=False,
              positive_threshold=None, dtype=dtype, num_threads=1, random_state=4)
    on = ImplicitALS(calculate_training_loss=True, **kw).fit(R, show_progress=False)
    off = ImplicitALS(**kw).fit(R, show_progress=False)
    assert off.calculate_training_loss is False and all("objective" not in h for h in off.history_)
    assert np.array_equal(on.user_factors, off.user_factors) and np.array_equal(on.item_factors, off.item_factors)
    objective = [h["objective"] for h in on.history_]
    expected = _dense_implicit_objective(on, R.astype(np.float64) * 3.0, 0.5)
    assert objective[-1] == pytest.approx(expected, rel=1e-5 if dtype == "float32" else 1e-10)
    # exact ALS never raises its objective (float32: rounding slack only)
    assert all(b <= a * (1 + 1e-5) for a, b in zip(objective, objective[1:])), objective


@pytest.mark.parametrize("confidence", ["linear", "raw"])
def test_implicit_als_batch_fold_in_is_the_dense_solve(implicit_data, confidence):
    """recalculate_user (one Cholesky half-sweep call) against the dense NumPy solve per user, and the
    cached Y^T Y follows partial_fit_items."""
    counts = implicit_data.astype(np.float64)
    counts.data = 1.0 + np.arange(counts.nnz) % 3
    alpha, reg = 2.0, 0.3
    model = ImplicitALS(factors=5, iterations=2, alpha=alpha, regularization=reg, confidence=confidence,
                        dtype="float64", num_threads=1).fit(counts, show_progress=False)

    def dense(V, rows):
        out = []
        for r in range(rows.shape[0]):
            row = rows[r]
            c = np.ones(V.shape[0])
            c[row.indices] = (1.0 if confidence == "linear" else 0.0) + alpha * row.data
            p = np.zeros(V.shape[0])
            p[row.indices] = 1.0
            out.append(np.linalg.solve((V.T * c) @ V + reg * np.eye(V.shape[1]), V.T @ (c * p)))
        return np.array(out)

    rows = counts[:25]
    np.testing.assert_allclose(model.recalculate_user(np.arange(25), rows), dense(model.item_factors, rows),
                               rtol=1e-8, atol=1e-10)
    model.partial_fit_items(np.arange(10), counts.T.tocsr()[20:30])     # item factors change
    np.testing.assert_allclose(model.recalculate_user(np.arange(25), rows), dense(model.item_factors, rows),
                               rtol=1e-8, atol=1e-10)
    # recommend(recalculate_user=True) ranks with those vectors (and the popularity bias)
    ids, scores = model.recommend(np.arange(3), rows[:3], N=4, recalculate_user=True)
    U = dense(model.item_factors, rows[:3])
    np.testing.assert_allclose(scores[:, 0], [np.max(np.where(rows[u].toarray()[0] > 0, -np.inf,
                                                               model.item_factors @ U[u] + model.item_bias))
                                               for u in range(3)],
                               rtol=1e-8)


@pytest.mark.parametrize("confidence", ["linear", "raw"])
def test_implicit_als_explain_splits_the_score(implicit_data, confidence):
    """explain: contributions s_j = (y_i^T W_u y_j) c_uj sum to x_u . y_i, x_u the dense NumPy solve."""
    counts = implicit_data.astype(np.float64)
    counts.data = 1.0 + np.arange(counts.nnz) % 3
    alpha, reg = 2.0, 0.3
    model = ImplicitALS(factors=5, iterations=2, alpha=alpha, regularization=reg, confidence=confidence,
                        dtype="float64", num_threads=1).fit(counts, show_progress=False)
    V = model.item_factors
    u, item = 4, 17
    row = counts[u]
    c = np.ones(V.shape[0])
    c[row.indices] = (1.0 if confidence == "linear" else 0.0) + alpha * row.data
    p = np.zeros(V.shape[0])
    p[row.indices] = 1.0
    A = (V.T * c) @ V + reg * np.eye(5)
    x = np.linalg.solve(A, V.T @ (c * p))
    share = (V[row.indices] @ np.linalg.solve(A, V[item])) * c[row.indices]
    total, top, weights = model.explain(u, row, item, N=3)
    assert total == pytest.approx(float(x @ V[item]), rel=1e-9)
    assert total == pytest.approx(share.sum(), rel=1e-9)
    order = np.argsort(-share)[:3]
    assert [i for i, _ in top] == row.indices[order].tolist()
    np.testing.assert_allclose([s for _, s in top], share[order], rtol=1e-9)
    # the cached weights give the same answer, and so does the full users x items matrix
    again = model.explain(u, counts, item, user_weights=weights, N=3)
    assert again[0] == pytest.approx(total, rel=1e-12) and again[1] == top
    with pytest.raises(ValueError, match="user_items must hold the user's row"):
        model.explain(u, counts[:3], item)


@pytest.mark.filterwarnings("ignore:OpenBLAS is configured")
def test_implicit_als_explain_and_fold_in_agree_with_implicit(implicit_data):
    """With confidence="raw" the maths is implicit's: same explanation, same recalculated users."""
    implicit_als = pytest.importorskip("implicit.cpu.als")
    # the exponents 0: implicit's single lambda (the recalculated users below have different lengths)
    model = ImplicitALS(factors=5, iterations=2, alpha=1.0, regularization=0.3, confidence="raw",
                        dtype="float32", num_threads=1, **PLAIN).fit(implicit_data, show_progress=False)
    peer = implicit_als.AlternatingLeastSquares(factors=5, regularization=0.3, alpha=1.0, num_threads=1)
    peer.user_factors, peer.item_factors = model.user_factors.copy(), model.item_factors.copy()
    total, top, _ = model.explain(3, implicit_data[3], 11, N=4)
    p_total, p_top, _ = peer.explain(3, implicit_data, 11, N=4)
    assert total == pytest.approx(p_total, rel=1e-4)
    assert [i for i, _ in top] == [i for i, _ in p_top]
    np.testing.assert_allclose([s for _, s in top], [s for _, s in p_top], rtol=1e-4)
    counts = implicit_data.tocoo()
    keep = (counts.row * 7 + counts.col) % 5 != 0                     # users of different lengths
    counts = sp.csr_matrix(((1 + np.arange(keep.sum()) % 4).astype(np.float32), (counts.row[keep], counts.col[keep])),
                           shape=implicit_data.shape)
    assert len(set(np.diff(counts.indptr[:31]))) > 3
    users = np.arange(30)
    np.testing.assert_allclose(model.recalculate_user(users, counts[:30]), peer.recalculate_user(users, counts[:30]),
                               rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------- ImplicitALS genre prior


def _ridge(G, V, gamma):
    """W = (G^T G + gamma I)^-1 G^T V for the row-normalised genre matrix G (dense)."""
    return np.linalg.solve(G.T @ G + gamma * np.eye(G.shape[1]), G.T @ V)


def _genre_prior_kw(**extra):
    # regularization 2 with genre_share 0.75: users 2, items 0.5 toward 0 and tau = 1.5 toward the centroid
    return {**dict(PLAIN, factors=5, regularization=2.0, alpha=2.0, iterations=3, solver="cholesky", dtype="float64",
                   binarize=False, positive_threshold=None, random_state=2, genre_share=0.75,
                   genre_regularization=0.5, num_threads=1), **extra}


def _with_cold_items(R, cold=(0, 7)):
    """R with every interaction of the items ``cold`` removed (they keep their genres)."""
    R = R.tolil(copy=True)
    for i in cold:
        R[:, i] = 0
    R = R.tocsr()
    R.eliminate_zeros()
    return R


def test_implicit_als_genre_prior_equals_reference(planted):
    """Each epoch: users as without the prior; items by the reference half-sweep with prior c = G W and weight
    tau; then W by the ridge regression of the new item vectors on G. Cold items follow their genres."""
    R, genres = planted
    R = _with_cold_items(R)
    model = ImplicitALS(**_genre_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    _, V = _initial(model, *R.shape)
    g = genres.toarray().astype(np.float64)
    G = g / g.sum(1, keepdims=True)
    conf = R.astype(np.float64) * 2.0
    W = _ridge(G, V, 0.5)
    for _ in range(3):
        U = ref.implicit_als_half_sweep(conf, V, 2.0)
        V = ref.implicit_als_half_sweep(conf.T.tocsr(), U, 0.5, prior=G @ W, prior_weight=1.5)
        W = _ridge(G, V, 0.5)
    np.testing.assert_allclose(model.user_factors, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.genre_factors, W, rtol=1e-8, atol=1e-10)
    # a cold item's vector follows its genres (not 0); item_factors_from_genres is the item solve of an empty
    # row with the final users and projection (what the next epoch would give a cold item)
    assert np.abs(model.item_factors[0]).max() > 1e-3
    empty = sp.csr_matrix((2, R.shape[0]))
    np.testing.assert_allclose(model.item_factors_from_genres(genres[[0, 7]]),
                               ref.implicit_als_half_sweep(empty, U, 0.5, prior=(G @ W)[[0, 7]], prior_weight=1.5),
                               rtol=1e-8, atol=1e-10)
    plain = ImplicitALS(**_genre_prior_kw(genre_share=0.0)).fit(R, item_genres=genres, show_progress=False)
    assert (plain.item_factors[[0, 7]] == 0).all() and plain.genre_factors is None


def test_implicit_als_genre_prior_cg_float32_and_objective(planted):
    """CG (float32) stays close to the exact fit; the logged objective includes the genre terms."""
    R, genres = planted
    exact = ImplicitALS(**_genre_prior_kw(calculate_training_loss=True)).fit(R, item_genres=genres,
                                                                           show_progress=False)
    kw = _genre_prior_kw(dtype="float32", iterations=3)
    kw.update(solver="cg", cg_steps=5)
    cg = ImplicitALS(**kw).fit(R, item_genres=genres, show_progress=False)
    pe, pc = exact.user_factors @ exact.item_factors.T, cg.user_factors @ cg.item_factors.T
    assert np.max(np.abs(pe - pc)) < 0.05 * np.max(np.abs(pe))
    g = genres.toarray().astype(np.float64)
    G = g / g.sum(1, keepdims=True)
    V = exact.item_factors
    U = exact.user_factors
    # users: reg 2; items: 0.5 ||v||^2 + 1.5 (||v - c||^2 + gamma ||W||^2)
    expected = (_dense_implicit_objective(exact, R.astype(np.float64) * 2.0, 0.0) + 2.0 * np.sum(U * U)
                + 0.5 * np.sum(V * V)
                + 1.5 * (np.sum((V - G @ exact.genre_factors) ** 2) + 0.5 * np.sum(exact.genre_factors ** 2)))
    assert exact.history_[-1]["objective"] == pytest.approx(expected, rel=1e-10)
    objective = [h["objective"] for h in exact.history_]
    assert all(b <= a * (1 + 1e-10) for a, b in zip(objective, objective[1:])), objective


def test_implicit_als_genre_prior_needs_genres_and_a_weight(planted):
    """Without genres (or with genre_share 0) the model is plain ImplicitALS, bit for bit."""
    R, genres = planted
    plain = ImplicitALS(**_genre_prior_kw(genre_share=0.0)).fit(R, show_progress=False)
    no_genres = ImplicitALS(**_genre_prior_kw()).fit(R, show_progress=False)
    zero = ImplicitALS(**_genre_prior_kw(genre_share=0.0)).fit(R, item_genres=genres, show_progress=False)
    for m in (no_genres, zero):
        np.testing.assert_array_equal(m.item_factors, plain.item_factors)
        assert m.genre_factors is None
    with pytest.raises(ValueError, match="item_genres must have one row per item"):
        ImplicitALS(**_genre_prior_kw()).fit(R, item_genres=genres[:-1], show_progress=False)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="genre_share"):
            ImplicitALS(genre_share=bad).fit(R, item_genres=genres, show_progress=False)
    with pytest.raises(ValueError, match="fitted without the genre prior"):
        plain.item_factors_from_genres(genres[:2])


def test_implicit_als_genre_prior_save_load_and_resolve(planted, tmp_path):
    R, genres = planted
    model = ImplicitALS(**_genre_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    back = ImplicitALS.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.genre_factors, model.genre_factors)
    np.testing.assert_array_equal(back.item_factors_from_genres(genres[:3]), model.item_factors_from_genres(genres[:3]))
    assert back.genre_names == model.genre_names and back.get_params() == model.get_params()
    # re-solving known items uses their prior, as the training item update does
    rows = R.T.tocsr()[[1, 2]]
    exact_next = ref.implicit_als_half_sweep(rows.astype(np.float64) * 2.0, model.user_factors, 0.5,
                                             prior=(model._G @ model.genre_factors)[[1, 2]], prior_weight=1.5)
    np.testing.assert_allclose(back.recalculate_item([1, 2], rows), exact_next, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="re-solves known items only"):
        back.partial_fit_items([R.shape[1]], sp.csr_matrix((1, R.shape[0])))
    # a model without the prior saves no genre arrays
    plain = ImplicitALS(**_genre_prior_kw(genre_share=0.0)).fit(R, item_genres=genres, show_progress=False)
    again = ImplicitALS.load(plain.save(tmp_path / "p.npz"))
    assert again.genre_factors is None and again._G is None


def test_implicit_als_genre_prior_early_stopping_restores_projection(implicit_data, rng):
    R = implicit_data
    genres = (rng.random((R.shape[1], 4)) < 0.4).astype(np.float32)
    genres[:, 0] = 1
    train, held = R.copy(), R.copy()
    train.data[::5] = 0
    train.eliminate_zeros()
    held.data[1::5] = 0
    held.eliminate_zeros()
    held = (held - held.multiply(train)).tocsr()
    held.eliminate_zeros()
    model = ImplicitALS(factors=4, regularization=1.0, iterations=12, genre_share=0.5, random_state=0,
                        num_threads=1, positive_threshold=None).fit(train, eval_set=held, item_genres=genres,
                                                                    early_stopping_rounds=2, show_progress=False)
    best = model.best_epoch_
    assert best is not None
    refit = ImplicitALS(factors=4, regularization=1.0, iterations=best, genre_share=0.5, random_state=0,
                        num_threads=1, positive_threshold=None).fit(train, item_genres=genres, show_progress=False)
    np.testing.assert_array_equal(model.genre_factors, refit.genre_factors)
    np.testing.assert_array_equal(model.item_factors, refit.item_factors)


def test_implicit_als_genre_arrays_come_all_or_none(planted, tmp_path):
    """An edited file missing one of the genre-prior arrays, or with a mis-shaped projection, is refused."""
    from mfcore._persist import ModelFileError, load_arrays, save_arrays

    R, genres = planted
    path = ImplicitALS(**_genre_prior_kw()).fit(R, item_genres=genres, show_progress=False).save(tmp_path / "m.npz")
    header, arrays = load_arrays(path)
    for mutate, match in ((lambda a: a.pop("genre_data"), "'genre_data' is missing"),
                          (lambda a: a.update(genre_factors=a["genre_factors"][:, :2].copy()), "genre_factors")):
        edited = dict(arrays)
        mutate(edited)
        bad = save_arrays(tmp_path / "bad.npz", model=header["model"], params=header["params"],
                          attributes=header["attributes"], arrays=edited)
        with pytest.raises(ModelFileError, match=match):
            ImplicitALS.load(bad)


def test_implicit_als_release_years_from_titles():
    """On an Interactions with titles the prior's features are the genres plus release-year buckets (default);
    release_years=False, or item_genres= given, keeps the genres alone."""
    from mfcore import make_movielens_like

    data = make_movielens_like(n_users=60, n_items=50, n_ratings=1200, random_state=3)
    assert data.titles is not None
    kw = dict(factors=3, iterations=2, num_threads=1, random_state=0)
    with_years = ImplicitALS(**kw).fit(data, show_progress=False)
    n_genres = len(data.genre_names)
    assert with_years.genre_names[:n_genres] == list(data.genre_names)
    assert len(with_years.genre_names) > n_genres and with_years.genre_names[-1].startswith("year")
    assert with_years.genre_factors.shape[0] == len(with_years.genre_names)
    genres_only = ImplicitALS(release_years=False, **kw).fit(data, show_progress=False)
    passed = ImplicitALS(**kw).fit(data, item_genres=data.item_genres, show_progress=False)
    for m in (genres_only, passed):
        assert m.genre_factors.shape[0] == n_genres
    assert not np.array_equal(with_years.item_factors, genres_only.item_factors)
    with pytest.raises(TypeError, match="release_years"):
        ImplicitALS(release_years="yes").fit(data, show_progress=False)


# --------------------------------------------------------------------------- BPR genre prior


def _bpr_prior_kw(**extra):
    return {**dict(factors=4, learning_rate=0.05, regularization=0.02, bias_regularization=0.01, iterations=3,
                   dtype="float64", positive_threshold=None, random_state=3, genre_share=0.8,
                   genre_regularization=0.5, num_threads=1), **extra}


def test_bpr_genre_prior_epochs_use_the_refreshed_centroids(planted, monkeypatch):
    """Each epoch's kernel call gets c = G W and d = G w_b, the ridge regressions (rated items only) of the
    vectors and biases as the previous epoch left them, with weights s * reg and s * reg_bias; after the fit
    the items without interactions hold (s c, s d) of the final projection."""
    import mfcore.models.bpr as bpr_module

    R, genres = planted
    R = _with_cold_items(R)                      # items 0 and 7: no interaction at all
    calls = []
    real = bpr_module.bpr_sgd_epoch

    def spy(positives, user_of_entry, U, V, b, **kw):
        calls.append((V.copy(), b.copy(), {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kw.items()}))
        return real(positives, user_of_entry, U, V, b, **kw)

    monkeypatch.setattr(bpr_module, "bpr_sgd_epoch", spy)
    model = BPR(**_bpr_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    g = genres.toarray().astype(np.float64)
    G = g / g.sum(1, keepdims=True)
    rated = np.ones(R.shape[1], bool)
    rated[[0, 7]] = False
    assert len(calls) == 3
    for V, b, kw in calls:
        W = _ridge(G[rated], V[rated], 0.5)
        w_b = _ridge(G[rated], b[rated], 0.5)
        np.testing.assert_allclose(kw["prior"], G @ W, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(kw["bias_prior"], G @ w_b, rtol=1e-9, atol=1e-12)
        assert kw["prior_weight"] == pytest.approx(0.8 * 0.02) and kw["bias_prior_weight"] == pytest.approx(0.8 * 0.01)
    # the model's projection is the one of the last epoch's output (computed before the cold rows were set)
    V_last = model.item_factors.copy()
    np.testing.assert_allclose(model.item_factors[[0, 7]], 0.8 * (G @ model.genre_factors)[[0, 7]], rtol=1e-12)
    np.testing.assert_allclose(model.item_bias[[0, 7]], 0.8 * (G @ model.genre_bias)[[0, 7]], rtol=1e-12)
    W_last = _ridge(G[rated], V_last[rated], 0.5)
    np.testing.assert_allclose(model.genre_factors, W_last, rtol=1e-9, atol=1e-12)
    vec, bias = model.item_factors_from_genres(genres[[0, 7]])
    np.testing.assert_allclose(vec, model.item_factors[[0, 7]], rtol=1e-12)
    np.testing.assert_allclose(bias, model.item_bias[[0, 7]], rtol=1e-12)


def test_bpr_genre_prior_off_is_plain_bpr_bit_for_bit(planted):
    """Without genres, or with genre_share 0, a fit is the plain BPR fit, bit for bit."""
    R, genres = planted
    plain = BPR(**_bpr_prior_kw(genre_share=0.0)).fit(R, show_progress=False)
    no_genres = BPR(**_bpr_prior_kw()).fit(R, show_progress=False)
    zero = BPR(**_bpr_prior_kw(genre_share=0.0)).fit(R, item_genres=genres, show_progress=False)
    on = BPR(**_bpr_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    for m in (no_genres, zero):
        np.testing.assert_array_equal(m.item_factors, plain.item_factors)
        np.testing.assert_array_equal(m.user_factors, plain.user_factors)
        np.testing.assert_array_equal(m.item_bias, plain.item_bias)
        assert m.genre_factors is None
    assert not np.array_equal(on.item_factors, plain.item_factors)
    with pytest.raises(ValueError, match="fitted without the genre prior"):
        plain.item_factors_from_genres(genres[:2])
    with pytest.raises(ValueError, match="fitted without the genre prior"):
        plain.add_items([99], genres[:1])
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="genre_share"):
            BPR(genre_share=bad).fit(R, item_genres=genres, show_progress=False)
    with pytest.raises(ValueError, match="item_genres must have one row per item"):
        BPR(**_bpr_prior_kw()).fit(R, item_genres=genres[:-1], show_progress=False)


def test_bpr_genre_prior_float32_close_to_float64(planted):
    R, genres = planted
    f64 = BPR(**_bpr_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    f32 = BPR(**_bpr_prior_kw(dtype="float32")).fit(R, item_genres=genres, show_progress=False)
    assert f32.item_factors.dtype == np.float32
    np.testing.assert_allclose(f32.item_factors, f64.item_factors, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(f32.genre_factors, f64.genre_factors, rtol=1e-3, atol=1e-4)


def test_bpr_add_items_scores_new_movies_from_their_genres(planted_with_ids):
    """add_items appends (s c, s d) under new raw ids; recommend can return them; names, matrices and
    bad input behave as in GenreALS."""
    data = planted_with_ids
    model = BPR(**_bpr_prior_kw(positive_threshold=3.0)).fit(data, show_progress=False)
    n = model.n_items
    vec, bias = model.item_factors_from_genres([["G0", "G2"], ["G1"]])
    model.add_items([5000, 5001], [["G0", "G2"], ["G1"]])
    assert model.n_items == n + 2 and list(model.item_ids[-2:]) == [5000, 5001]
    np.testing.assert_array_equal(model.item_factors[-2:], vec)
    np.testing.assert_array_equal(model.item_bias[-2:], bias)
    assert np.abs(vec).max() > 0
    user = model.user_ids[0]
    ids, _ = model.recommend(user, N=model.n_items, filter_already_liked_items=False)
    assert {5000, 5001} <= set(np.asarray(ids).tolist())
    s_new = model.predict([user], [5000])[0]
    u = model.user_factors[0].astype(np.float64)
    assert s_new == pytest.approx(float(u @ vec[0] + bias[0]), rel=1e-6)
    with pytest.raises(ValueError, match="already in the model"):
        model.add_items([5000], [["G0"]])
    n = model.n_items
    with pytest.raises(ValueError, match="must be unique"):
        model.add_items([6001, 6001], [["G0"], ["G1"]])
    assert model.n_items == n and model.item_factors.shape[0] == n and model._G.shape[0] == n
    with pytest.raises(KeyError, match="unknown genre"):
        model.add_items([6000], [["Nope"]])
    with pytest.raises(ValueError, match="2 genre rows"):
        model.add_items([6000], [["G0"], ["G1"]])


def test_bpr_genre_prior_save_load_round_trip_and_all_or_none(planted, tmp_path):
    from mfcore._persist import ModelFileError, load_arrays, save_arrays

    R, genres = planted
    model = BPR(**_bpr_prior_kw()).fit(R, item_genres=genres, show_progress=False)
    back = BPR.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.genre_factors, model.genre_factors)
    np.testing.assert_array_equal(back.genre_bias, model.genre_bias)
    for a, b in zip(back.item_factors_from_genres(genres[:3]), model.item_factors_from_genres(genres[:3])):
        np.testing.assert_array_equal(a, b)
    assert back.genre_names == model.genre_names and back.get_params() == model.get_params()
    back.add_items([R.shape[1]], genres[:1])                   # a loaded model adds items too
    assert back.n_items == R.shape[1] + 1
    plain = BPR(**_bpr_prior_kw(genre_share=0.0)).fit(R, item_genres=genres, show_progress=False)
    again = BPR.load(plain.save(tmp_path / "p.npz"))
    assert again.genre_factors is None and again._G is None
    header, arrays = load_arrays(tmp_path / "m.npz")
    for mutate, match in ((lambda a: a.pop("genre_bias"), "'genre_bias' is missing"),
                          (lambda a: a.update(genre_factors=a["genre_factors"][:, :2].copy()), "genre_factors"),
                          (lambda a: a.update(genre_bias=np.full_like(a["genre_bias"], np.nan)), "genre_bias")):
        edited = dict(arrays)
        mutate(edited)
        bad = save_arrays(tmp_path / "bad.npz", model=header["model"], params=header["params"],
                          attributes=header["attributes"], arrays=edited)
        with pytest.raises(ModelFileError, match=match):
            BPR.load(bad)
    # a plain model's file with a stray year_edges array is refused too
    header, arrays = load_arrays(tmp_path / "p.npz")
    bad = save_arrays(tmp_path / "bad2.npz", model=header["model"], params=header["params"],
                      attributes=header["attributes"], arrays=dict(arrays, year_edges=np.array([1990.0])))
    with pytest.raises(ModelFileError, match="year_edges"):
        BPR.load(bad)


def test_bpr_genre_prior_early_stopping_restores_projection(implicit_data, rng):
    R = implicit_data
    genres = (rng.random((R.shape[1], 4)) < 0.4).astype(np.float32)
    genres[:, 0] = 1
    train, held = R.copy(), R.copy()
    train.data[::5] = 0
    train.eliminate_zeros()
    held.data[1::5] = 0
    held.eliminate_zeros()
    held = (held - held.multiply(train)).tocsr()
    held.eliminate_zeros()
    kw = dict(factors=4, learning_rate=0.1, iterations=25, genre_share=0.9, random_state=0, num_threads=1,
              positive_threshold=None)
    model = BPR(**kw).fit(train, eval_set=held, item_genres=genres, early_stopping_rounds=2, show_progress=False)
    best = model.best_epoch_
    assert best is not None
    refit = BPR(**dict(kw, iterations=best)).fit(train, item_genres=genres, show_progress=False)
    np.testing.assert_array_equal(model.genre_factors, refit.genre_factors)
    np.testing.assert_array_equal(model.item_factors, refit.item_factors)


def test_bpr_release_years_from_titles():
    from mfcore import make_movielens_like

    data = make_movielens_like(n_users=60, n_items=50, n_ratings=1200, random_state=3)
    kw = dict(factors=3, iterations=2, num_threads=1, random_state=0, genre_share=0.9)
    with_years = BPR(**kw).fit(data, show_progress=False)
    n_genres = len(data.genre_names)
    assert with_years.genre_names[:n_genres] == list(data.genre_names)
    assert len(with_years.genre_names) > n_genres and with_years.genre_names[-1].startswith("year")
    assert with_years.year_edges_ is not None
    passed = BPR(**kw).fit(data, item_genres=data.item_genres, show_progress=False)
    assert passed.genre_factors.shape[0] == n_genres and passed.year_edges_ is None
    vec, _ = with_years.item_factors_from_genres([[data.genre_names[0]]], titles=["New (1994)"])
    assert vec.shape == (1, 3)


def test_implicit_als_popularity_bias_is_log_counts_and_leaves_factors(implicit_data, tmp_path):
    """item_bias = beta * log(1 + n_i) over every stored entry (also below the threshold); the factors do not
    depend on beta; recommend ranks by u.v + b; partial_fit_items recounts; save/load keeps it."""
    R = implicit_data.astype(np.float64)
    R.data = 1.0 + np.arange(R.nnz) % 5                    # ratings 1..5: threshold 4 drops some, n_i counts all
    kw = dict(factors=4, iterations=3, positive_threshold=4.0, binarize=True, num_threads=1, random_state=3)
    on = ImplicitALS(popularity_bias=0.02, **kw).fit(R, show_progress=False)
    off = ImplicitALS(popularity_bias=0.0, **kw).fit(R, show_progress=False)
    counts = np.diff(R.tocsc().indptr)
    np.testing.assert_allclose(on.item_bias, 0.02 * np.log1p(counts), rtol=1e-6)
    assert not off.item_bias.any()
    assert np.array_equal(on.user_factors, off.user_factors) and np.array_equal(on.item_factors, off.item_factors)
    ids, scores = on.recommend(0, R[0], N=3)
    s = on.item_factors @ on.user_factors[0] + on.item_bias
    s[R[0].indices] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-s, kind="stable")[:3])
    path = tmp_path / "m.npz"
    on.save(path)
    back = ImplicitALS.load(path)
    assert back.popularity_bias == 0.02 and np.array_equal(back.item_bias, on.item_bias)
    cols = R.T.tocsr()[:2]
    cols = sp.csr_matrix((cols.data[:1], cols.indices[:1], [0, 1, 1]), shape=cols.shape)  # 1 and 0 entries
    on.partial_fit_items([0, 1], cols)
    np.testing.assert_allclose(on.item_bias[:2], [0.02 * np.log(2.0), 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="popularity_bias"):
        ImplicitALS(popularity_bias=-1.0, **kw).fit(R, show_progress=False)
