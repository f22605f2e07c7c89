"""ImplicitALS ``regularization_exponent`` (frequency-scaled regularization) against the NumPy twin."""

import io

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore import _reference as ref
from mfcore.models import FactorModel, ImplicitALS
from tests.models.test_ranking_models import _genre_prior_kw, _initial, _with_cold_items


def _scales(counts, nbar, nu):
    return ((counts + 1.0) / (nbar + 1.0)) ** nu


def _exponent_kw(nu):
    if np.isscalar(nu):
        return dict(regularization_exponent=nu, item_regularization_exponent=None)
    return dict(regularization_exponent=nu[0], item_regularization_exponent=nu[1])


def _weighted_ridge(G, V, gamma, s):
    return np.linalg.solve(G.T @ (s[:, None] * G) + gamma * np.eye(G.shape[1]), G.T @ (s[:, None] * V))


@pytest.mark.parametrize("nu", [0.5, (0.75, -2.0)])
def test_fit_equals_reference_without_prior(planted, nu):
    R, _ = planted
    model = ImplicitALS(factors=5, regularization=0.3, alpha=2.0, iterations=2, solver="cholesky", dtype="float64",
                        binarize=False, positive_threshold=None, random_state=2, num_threads=1,
                        **_exponent_kw(nu)).fit(R, show_progress=False)
    nu_u, nu_i = (nu, nu) if np.isscalar(nu) else nu
    _, V = _initial(model, *R.shape)
    conf = R.astype(np.float64) * 2.0
    cu, ci = np.diff(conf.indptr), np.diff(conf.T.tocsr().indptr)
    su, si = _scales(cu, cu.mean(), nu_u), _scales(ci, ci.mean(), nu_i)
    assert su.std() > 0.05 and si.std() > 0.05        # the scales do vary
    for _ in range(2):
        U = ref.implicit_als_half_sweep(conf, V, 0.3, reg_scale=su)
        V = ref.implicit_als_half_sweep(conf.T.tocsr(), U, 0.3, reg_scale=si)
    np.testing.assert_allclose(model.user_factors, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    # fold-in / batch fold-in / explain of a training user = one more scaled user solve against the final items
    U2 = ref.implicit_als_half_sweep(conf, model.item_factors, 0.3, reg_scale=su)
    vec, _ = model.fold_in(R[3].indices, R[3].data)
    np.testing.assert_allclose(vec, U2[3], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.recalculate_user(np.arange(10), R[:10]), U2[:10], rtol=1e-8, atol=1e-10)
    total, _, _ = model.explain(3, R[3], 5)
    assert total == pytest.approx(float(U2[3] @ model.item_factors[5]), rel=1e-8, abs=1e-10)
    # partial_fit_items re-solves items with the scaled item penalty
    V2 = ref.implicit_als_half_sweep(conf.T.tocsr()[:6], model.user_factors, 0.3, reg_scale=si[:6])
    model.partial_fit_items(np.arange(6), R.T.tocsr()[:6])
    np.testing.assert_allclose(model.item_factors[:6], V2, rtol=1e-8, atol=1e-10)


def test_fit_equals_reference_with_genre_prior(planted):
    """Items: the whole penalty (toward 0 and toward the centroid) scaled; W by the s-weighted ridge."""
    R, genres = planted
    R = _with_cold_items(R)
    nu = 0.5
    model = ImplicitALS(**_genre_prior_kw(regularization_exponent=nu, calculate_training_loss=True)).fit(
        R, item_genres=genres, show_progress=False)
    _, V = _initial(model, *R.shape)
    g = genres.toarray().astype(np.float64)
    G = g / g.sum(1, keepdims=True)
    conf = R.astype(np.float64) * 2.0
    cu, ci = np.diff(conf.indptr), np.diff(conf.T.tocsr().indptr)
    su, si = _scales(cu, cu.mean(), nu), _scales(ci, ci.mean(), nu)
    W = _weighted_ridge(G, V, 0.5, si)
    for _ in range(3):
        U = ref.implicit_als_half_sweep(conf, V, 2.0, reg_scale=su)
        V = ref.implicit_als_half_sweep(conf.T.tocsr(), U, 0.5, prior=G @ W, prior_weight=1.5, reg_scale=si)
        W = _weighted_ridge(G, V, 0.5, si)
    np.testing.assert_allclose(model.user_factors, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors, V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.genre_factors, W, rtol=1e-8, atol=1e-10)
    # a cold item (n = 0) from its genres: the empty-row item solve with scale ((0 + 1) / (nbar + 1))^nu
    empty = sp.csr_matrix((2, R.shape[0]))
    s0 = np.full(2, _scales(0.0, ci.mean(), nu))
    np.testing.assert_allclose(model.item_factors_from_genres(genres[[0, 7]]),
                               ref.implicit_als_half_sweep(empty, U, 0.5, prior=(G @ W)[[0, 7]], prior_weight=1.5,
                                                           reg_scale=s0), rtol=1e-8, atol=1e-10)
    # exact ALS with exact W steps never raises the (scaled) objective
    objective = [h["objective"] for h in model.history_]
    assert all(b <= a * (1 + 1e-10) for a, b in zip(objective, objective[1:])), objective
    x = model.user_factors @ model.item_factors.T
    c, p = 1.0 + conf.toarray(), (conf.toarray() > 0).astype(float)
    Vf = model.item_factors
    expected = (np.sum(c * (p - x) ** 2) + 2.0 * np.sum(su * np.sum(model.user_factors ** 2, 1))
                + 0.5 * np.sum(si * np.sum(Vf ** 2, 1))
                + 1.5 * (np.sum(si * np.sum((Vf - G @ model.genre_factors) ** 2, 1))
                         + 0.5 * np.sum(model.genre_factors ** 2)))
    assert objective[-1] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_exponent_is_the_plain_model_bit_for_bit(planted, solver, dtype):
    R, genres = planted
    kw = dict(factors=6, iterations=3, solver=solver, dtype=dtype, num_threads=1, positive_threshold=3.0)
    plain = ImplicitALS(**_exponent_kw((0.0, 0.0)), **kw).fit(R, item_genres=genres, show_progress=False)
    for nu in (0.0, (0.0, 0.0), (0, None)):
        zero = ImplicitALS(**_exponent_kw(nu), **kw).fit(R, item_genres=genres, show_progress=False)
        assert np.array_equal(zero.user_factors, plain.user_factors)
        assert np.array_equal(zero.item_factors, plain.item_factors)
    scaled = ImplicitALS(**kw).fit(R, item_genres=genres, show_progress=False)      # the defaults: 0.5 / 0.125
    assert np.abs(scaled.item_factors - plain.item_factors).max() > 1e-3


def test_save_load_keeps_the_scaling(planted):
    R, genres = planted
    model = ImplicitALS(factors=4, iterations=2, **_exponent_kw((0.5, 0.25)), dtype="float64",
                        num_threads=1).fit(R, item_genres=genres, show_progress=False)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = FactorModel.load(buf)
    assert (loaded.regularization_exponent, loaded.item_regularization_exponent) == (0.5, 0.25)
    assert loaded._count_means == model._count_means
    row = R[5]
    np.testing.assert_array_equal(loaded.fold_in(row.indices, row.data)[0], model.fold_in(row.indices, row.data)[0])
    # a plain model's file carries no count means (as before the option)
    plain = ImplicitALS(factors=4, iterations=1, num_threads=1, **_exponent_kw(0.0)).fit(R, show_progress=False)
    assert "positive_count_means" not in plain._extra_attributes()


@pytest.mark.parametrize("name", ["regularization_exponent", "item_regularization_exponent"])
@pytest.mark.parametrize("bad, error", [(5.0, ValueError), (-4.5, ValueError), ("x", TypeError),
                                        (float("nan"), ValueError), ((0.1, 0.2), TypeError)])
def test_bad_exponent_is_refused(planted, name, bad, error):
    R, _ = planted
    with pytest.raises(error, match=name):
        ImplicitALS(**{name: bad}).fit(R, show_progress=False)


def test_distributed_block_solve_applies_the_scale(planted):
    """mfcore.distributed's implicit block solve (no Dask needed to call it) scales its rows' penalty from the
    block's own positives and the side's (nu, nbar), as the local fit does."""
    from mfcore.distributed import _blocks

    R, _ = planted
    conf = (R.astype(np.float64) * 2.0).tocsr()
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((R.shape[1], 4))
    lo, hi = 10, 35
    part = conf[lo:hi]
    block = {"lo": lo, "hi": hi, "indptr": part.indptr.astype(np.int64), "indices": part.indices.astype(np.int32),
             "data": part.data}
    nbar = conf.nnz / conf.shape[0]
    solve = dict(reg=0.3, solver="cholesky", cg_steps=3, num_threads=1)
    got, _, status = _blocks.solve_implicit_block(block, (Y, Y.T @ Y, None), 0.0, dict(solve, count_scale=(0.5, nbar)))
    assert status == -1
    expected = ref.implicit_als_half_sweep(part, Y, 0.3, reg_scale=_scales(np.diff(part.indptr), nbar, 0.5))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    plain, _, _ = _blocks.solve_implicit_block(block, (Y, Y.T @ Y, None), 0.0, solve)     # no count_scale: as before
    np.testing.assert_allclose(plain, ref.implicit_als_half_sweep(part, Y, 0.3), rtol=1e-8, atol=1e-10)
    assert np.abs(plain - got).max() > 1e-4
