"""BiasBaseline against its NumPy twin (mfcore._reference.bias_baseline)."""

import numpy as np
import pytest

from mfcore import BiasBaseline
from mfcore import _reference as ref


@pytest.mark.parametrize("regs, iterations", [((5.0, 5.0), 10), ((0.5, 3.0), 3), ((0.0, 0.0), 1)])
def test_biases_equal_the_reference(planted, regs, iterations):
    R, _ = planted
    R = R.tolil()
    R[:, 3] = 0                                # an item without ratings keeps b_i = 0
    R = R.tocsr()
    R.eliminate_zeros()
    model = BiasBaseline(user_regularization=regs[0], item_regularization=regs[1], iterations=iterations,
                         dtype="float64", num_threads=2).fit(R, show_progress=False)
    mu, bu, bi = ref.bias_baseline(R, reg_user=regs[0], reg_item=regs[1], iterations=iterations)
    assert model.global_mean == pytest.approx(mu, rel=1e-15)
    np.testing.assert_allclose(model.user_bias, bu, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.item_bias, bi, rtol=1e-10, atol=1e-12)
    assert model.item_bias[3] == 0.0
    assert model.user_factors.shape == (R.shape[0], 0) and model.item_factors.shape == (R.shape[1], 0)
    users, items = R.nonzero()
    np.testing.assert_allclose(model.predict(users[:20], items[:20]), mu + bu[users[:20]] + bi[items[:20]], rtol=1e-12)


def test_fold_in_is_the_user_update(planted):
    R, _ = planted
    model = BiasBaseline(user_regularization=2.0, dtype="float64").fit(R, show_progress=False)
    items, ratings = np.array([1, 4, 9]), np.array([5.0, 3.5, 4.0])
    vec, bias = model.fold_in(items, ratings)
    expected = np.sum(ratings - model.global_mean - model.item_bias[items]) / (2.0 + 3)
    assert vec.shape == (0,) and bias == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="needs the user's ratings"):
        model.fold_in(items, None)


def test_training_loss_is_the_objective_and_never_rises(planted):
    R, _ = planted
    model = BiasBaseline(user_regularization=2.0, item_regularization=3.0, iterations=5, dtype="float64",
                         num_threads=1).fit(R, show_progress=False)
    users, items = R.nonzero()
    residual = np.asarray(R[users, items]).ravel() - model.predict(users, items)
    expected = residual @ residual + 2.0 * model.user_bias @ model.user_bias + 3.0 * model.item_bias @ model.item_bias
    history = model.history_frame()
    assert history["objective"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    assert history["train_rmse"].iloc[-1] == pytest.approx(np.sqrt(np.mean(residual ** 2)), rel=1e-12)
    assert (np.diff(history["objective"]) <= 1e-9 * history["objective"].iloc[0]).all()   # exact coordinate descent
