"""The bias baseline: r_hat_ui = mu + b_u + b_i, regularised user and item biases, no factors.

The objective, with ``mu`` fixed at the training mean::

    sum_(u,i) in R (r_ui - mu - b_u - b_i)^2 + reg_user sum_u b_u^2 + reg_item sum_i b_i^2

is minimised by block coordinate descent, each epoch two closed-form ridge updates,
items first (starting from b_u = 0), then users::

    b_i = sum_{u in U(i)} (r_ui - mu - b_u) / (reg_item + n_i)
    b_u = sum_{i in I(u)} (r_ui - mu - b_i) / (reg_user + n_u)

Each update is an explicit-ALS half-sweep with K = 0 factors, so the compiled ALS
kernel computes it (threads, float32 or float64); ``mfcore._reference.bias_baseline``
is its NumPy twin. Rows and columns without ratings keep a bias of 0.

It is the yardstick of the rating models (RMSE to beat) and ranks items by
``b_i`` (a damped-popularity ranking) for the ranking metrics.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_float
from ._kernels import solve_explicit_rows
from ._training import begin_rating_fit, training_loss
from .base import FactorModel, register_model


@register_model
class BiasBaseline(FactorModel):
    """Regularised user and item biases around the global mean (no latent factors).

    Parameters
    ----------
    user_regularization : float, default 5.0
        reg_user, the L2 weight on user biases (a pseudo-count of ratings equal to mu).
    item_regularization : float, default 5.0
        reg_item, the same for item biases. The defaults (5, 5) were chosen on the
        ml-latest-small per-user temporal 80/20 split: test RMSE 0.8960 there, against
        0.8945 at (3, 3), 0.8995 at (1, 1) and 1.0684 for the global mean alone.
    iterations : int, default 10
        Epochs of (items, users) updates.
    dtype : {"float32", "float64"}, default "float32"
    num_threads : int, default 0
    calculate_training_loss : bool, default True
        Log the training RMSE and the objective (module docstring) after every epoch
        (``history_``: ``train_rmse``, ``objective``; one more pass over the ratings).

    Attributes
    ----------
    user_factors, item_factors : numpy.ndarray (n_users, 0), (n_items, 0)
        Empty: the model has no factors, so ``recommend`` ranks by ``item_bias``.
    user_bias, item_bias, global_mean
        As in :class:`ExplicitALS`.
    """

    _progress_fields = ("train_rmse",)
    _rating_model = True

    def __init__(self, user_regularization=5.0, item_regularization=5.0, iterations=10, dtype="float32",
                 num_threads=0, calculate_training_loss=True):
        self.user_regularization = user_regularization
        self.item_regularization = item_regularization
        self.iterations = iterations
        self.dtype = dtype
        self.num_threads = num_threads
        self.calculate_training_loss = calculate_training_loss

    def _validate_params(self):
        super()._validate_params()
        check_float(self.user_regularization, "user_regularization", min_value=0.0)
        check_float(self.item_regularization, "item_regularization", min_value=0.0)
        check_choice(self.calculate_training_loss, "calculate_training_loss", {True, False})

    def _begin_fit(self, fit):
        mu = begin_rating_fit(fit, training_loss=self.calculate_training_loss)
        n_users, n_items = fit.user_items.shape
        self._start_state(fit, user_factors=np.zeros((n_users, 0), fit.dtype),
                          item_factors=np.zeros((n_items, 0), fit.dtype), global_mean=mu)
        fit.solve = dict(reg=0.0, scale_by_count=False, solver="cholesky", cg_steps=1, num_threads=fit.num_threads)

    def _run_epoch(self, fit, epoch):
        solve_explicit_rows(fit.item_users, self.user_factors, self.user_bias, self.global_mean,
                            self.item_factors, self.item_bias, reg_bias=self.item_regularization, **fit.solve)
        solve_explicit_rows(fit.user_items, self.item_factors, self.item_bias, self.global_mean,
                            self.user_factors, self.user_bias, reg_bias=self.user_regularization, **fit.solve)
        return {}

    def _epoch_metrics(self, fit, record):
        return training_loss(self, fit)

    def _objective(self, sse, fit) -> float:
        """The objective (module docstring) given the training SSE; float64."""
        return (sse + float(self.user_regularization) * float(np.sum(np.square(self.user_bias, dtype=np.float64)))
                + float(self.item_regularization) * float(np.sum(np.square(self.item_bias, dtype=np.float64))))

    def _fold_in_indices(self, idx, r):
        """b_u of a new user: the user update above with the items' biases fixed."""
        resid = r - self.global_mean - self.item_bias[idx].astype(np.float64)
        denominator = float(self.user_regularization) + len(idx)
        return np.zeros(0), (resid.sum() / denominator if denominator > 0 else 0.0)

    def fold_in(self, items, ratings):
        """Bias of a new user from their ratings, item biases held fixed.

        Returns
        -------
        vector : numpy.ndarray (0,), bias : float
        """
        return self._fold_in_one(*self._fold_in_input(items, ratings, ratings_required=True))

    def similar_items(self, itemid, N=10, filter_items=None, recalculate_item=False, item_users=None, items=None):
        """Not defined: the bias baseline has no item vectors to compare."""
        raise NotImplementedError("BiasBaseline has no item factors: similar_items is not defined")

    def similar_users(self, userid, N=10, filter_users=None, users=None):
        """Not defined: the bias baseline has no user vectors to compare."""
        raise NotImplementedError("BiasBaseline has no user factors: similar_users is not defined")
