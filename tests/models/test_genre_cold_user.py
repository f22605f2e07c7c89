"""GenreALS's per-user offsets for items without training ratings (``cold_user_bias``)."""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore import _reference as ref
from mfcore.evaluation import evaluate
from mfcore.models import FactorModel, GenreALS

from tests.models.model_data import RatingsWithIds

COLD = (0, 3)      # items whose ratings are removed: no training rating


def _without(data, cols):
    R = data.user_items().tolil()
    for c in cols:
        R[:, c] = 0
    R = R.tocsr()
    R.eliminate_zeros()
    return RatingsWithIds(R, data.user_ids, data.item_ids, data.item_genres, data.genre_names), R


def _model(**kw):
    params = dict(factors=3, iterations=3, dtype="float64", genre_weight=2.0, regularization=1.5, num_threads=1,
                  genre_bias_weight=1.0, bias_regularization=0.5)
    return GenreALS(**{**params, **kw})


@pytest.mark.parametrize("cold_bias", ["ratings", "prior"])
def test_offsets_equal_reference_and_only_cold_predictions_move(planted_with_ids, cold_bias):
    data, R = _without(planted_with_ids, COLD)
    model = _model(cold_bias=cold_bias, cold_user_bias=4.0).fit(data, show_progress=False)
    G = ref.genre_centroid_matrix(data.item_genres)
    vec, bias = model.item_factors_from_genres(data.item_genres)       # every item's cold vector and bias
    d = ref.genre_cold_user_bias(R, model.global_mean, model.user_factors, model.user_bias, vec, bias, 4.0)
    np.testing.assert_allclose(model.user_cold_bias_, d, rtol=1e-8, atol=1e-10)
    assert np.abs(d).max() > 1e-3                      # the test can see a wrong offset
    expected_cold = np.zeros(R.shape[1], bool)
    expected_cold[list(COLD)] = True
    np.testing.assert_array_equal(model.cold_items_, expected_cold)
    assert G.shape[0] == R.shape[1]
    # the same fit without offsets: identical factors; rated items predict the same, cold ones d_u higher
    off = _model(cold_bias=cold_bias, cold_user_bias=None).fit(data, show_progress=False)
    assert off.user_cold_bias_ is None and off.cold_items_ is None
    np.testing.assert_array_equal(model.item_factors, off.item_factors)
    users = np.repeat(data.user_ids, R.shape[1])
    items = np.tile(data.item_ids, R.shape[0])
    diff = model.predict(users, items, clip=False) - off.predict(users, items, clip=False)
    want = np.where(np.isin(np.tile(np.arange(R.shape[1]), R.shape[0]), COLD), np.repeat(d, R.shape[1]), 0.0)
    np.testing.assert_allclose(diff, want, rtol=1e-9, atol=1e-12)
    # explain adds the same term
    ex = model.explain(data.user_ids[2], data.item_ids[COLD[0]])
    assert ex["cold_user_bias"] == pytest.approx(d[2], rel=1e-12)
    assert ex["prediction"] == pytest.approx(model.predict(data.user_ids[2], data.item_ids[COLD[0]], clip=False))
    assert model.explain(data.user_ids[2], data.item_ids[1])["cold_user_bias"] == 0.0


def test_evaluate_scores_what_predict_returns(planted_with_ids):
    data, R = _without(planted_with_ids, COLD)
    model = _model().fit(data, show_progress=False)
    full = planted_with_ids.user_items().tocsr()
    test = (full - R).tocsr()                           # the held-out ratings: those of the cold items
    test.eliminate_zeros()
    assert test.nnz and set(np.unique(test.indices)) == set(COLD)
    test = (test + sp.csr_matrix(R.multiply(0))).tocsr()
    warm = sp.random(*R.shape, density=0.05, format="csr", random_state=0) * 3   # and some pairs of rated items
    warm = (warm - warm.multiply(R != 0) - warm.multiply(test != 0)).tocsr()
    warm.eliminate_zeros()
    test = (test + warm).tocsr()
    coo = test.tocoo()
    for clip in (False, True):
        pred = model.predict(data.user_ids[coo.row], data.item_ids[coo.col], clip=clip)
        got = evaluate(model, R, test, k=5, clip=clip)
        assert got["rmse"] == pytest.approx(np.sqrt(np.mean((coo.data - pred) ** 2)), rel=1e-9)
        assert got["mae"] == pytest.approx(np.mean(np.abs(coo.data - pred)), rel=1e-9)


@pytest.mark.parametrize("bias_weight", [1.0, 0.3, 0.0])
def test_recommend_ranks_cold_items_with_the_offset(planted_with_ids, bias_weight):
    data, R = _without(planted_with_ids, COLD)
    model = _model(cold_user_bias=0.5).fit(data, show_progress=False)
    n_users, n_items = R.shape
    V, b = model.item_factors.astype(np.float64), model.item_bias.astype(np.float64)
    for u in range(n_users):
        score = model.user_factors[u] @ V.T + bias_weight * b
        score[list(COLD)] += bias_weight * model.user_cold_bias_[u]
        score[R.indices[R.indptr[u]:R.indptr[u + 1]]] = -np.inf
        order = np.lexsort((np.arange(n_items), -score))
        ids, got = model.recommend(data.user_ids[u], N=8, bias_weight=bias_weight)
        np.testing.assert_array_equal(ids, data.item_ids[order[:8]])
        np.testing.assert_allclose(got, score[order[:8]] + model.global_mean + model.user_bias[u], rtol=1e-6)
    # a cold item reaches the top when its offset makes it best (and with the offset switched off it does not)
    u = int(np.argmax(model.user_cold_bias_))
    if bias_weight:
        model.user_cold_bias_[u] = 1e3
        assert set(model.recommend(data.user_ids[u], N=2, bias_weight=bias_weight)[0]) == set(data.item_ids[list(COLD)])
        model.user_cold_bias_[u] = -1e3
        assert not set(model.recommend(data.user_ids[u], N=n_items, bias_weight=bias_weight)[0][:-2]) & set(
            data.item_ids[list(COLD)])
    # batches, items= and filter_items= go through both kernel calls
    ids, _ = model.recommend(data.user_ids[:3], N=5, items=data.item_ids[[0, 1, 2, 3]],
                             filter_items=[data.item_ids[1]], bias_weight=bias_weight)
    assert ids.shape == (3, 5)
    for row in ids:
        assert set(row[row >= 0]) <= set(data.item_ids[[0, 2, 3]])


def test_save_load_partial_fit_and_add_items_keep_offsets(planted_with_ids, tmp_path):
    data, R = _without(planted_with_ids, COLD)
    model = _model().fit(data, show_progress=False)
    loaded = FactorModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.user_cold_bias_, model.user_cold_bias_)
    np.testing.assert_array_equal(loaded.cold_items_, model.cold_items_)
    users, items = np.repeat(data.user_ids[:4], 5), np.tile(data.item_ids[:5], 4)
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    # a new user: offset from its ratings as in fit; the recalculated recommend path agrees
    row = sp.csr_matrix(R[5].toarray())
    model.partial_fit_users([99999], row)
    vec, bias = model.item_factors_from_genres(data.item_genres)
    d = ref.genre_cold_user_bias(row, model.global_mean, model.user_factors[-1:], model.user_bias[-1:], vec, bias,
                                 model.cold_user_bias)
    assert model.user_cold_bias_.shape == (R.shape[0] + 1,)
    assert model.user_cold_bias_[-1] == pytest.approx(d[0], rel=1e-8)
    ids_stored, s_stored = model.recommend(99999, N=6)
    ids_recalc, s_recalc = model.recommend(99999, user_items=row, recalculate_user=True, N=6)
    np.testing.assert_array_equal(ids_stored, ids_recalc)
    np.testing.assert_allclose(s_stored, s_recalc, rtol=1e-9)
    # an item re-solved with ratings is no longer cold; new items are
    item_row = planted_with_ids.user_items().T.tocsr()[0]
    model.partial_fit_items([data.item_ids[0]], sp.hstack([item_row, sp.csr_matrix((1, 1))], format="csr"))
    assert not model.cold_items_[0] and model.cold_items_[3]
    model.add_items([424242], [["G0"]])
    assert model.cold_items_.shape == (R.shape[1] + 1,) and model.cold_items_[-1]
    # files must carry both arrays or neither, of the right shapes
    from mfcore._model_file import check_model_state
    from mfcore._persist import ModelFileError

    header = {"model": "GenreALS", "params": {"factors": 3, "dtype": "float64"},
              "attributes": {"global_mean": model.global_mean}}
    arrays = {"user_factors": model.user_factors, "item_factors": model.item_factors,
              "user_bias": model.user_bias, "item_bias": model.item_bias, **model._extra_arrays()}
    check_model_state("m.npz", header, dict(arrays))
    with pytest.raises(ModelFileError, match="both be present or both absent"):
        check_model_state("m.npz", header, {k: v for k, v in arrays.items() if k != "cold_items"})
    with pytest.raises(ModelFileError, match="'user_cold_bias' has shape"):
        check_model_state("m.npz", header, {**arrays, "user_cold_bias": arrays["user_cold_bias"][:-1]})
    with pytest.raises(ModelFileError, match="0 or 1"):
        check_model_state("m.npz", header, {**arrays, "cold_items": arrays["cold_items"] * 2})


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1.0, ValueError), ("5", TypeError)])
def test_cold_user_bias_is_checked(planted_with_ids, value, error):
    with pytest.raises(error, match="cold_user_bias"):
        _model(cold_user_bias=value).fit(planted_with_ids, show_progress=False)
