"""Explicit-feedback ALS with a global mean and user/item biases.

Model and objective (ratings r_ui observed in the training matrix R)::

    r_hat_ui = mu + b_u + b_i + u . v_i

    L = sum_(u,i) in R (r_ui - r_hat_ui)^2
        + lambda   * sum_u s_u ||u||^2 + lambda   * sum_i s_i ||v_i||^2
        + lambda_b * sum_u s_u b_u^2   + lambda_b * sum_i s_i b_i^2

with ``mu`` fixed at the training mean and ``s = 1`` (``regularization_scaling="none"``,
as in the reference paper) or ``s = number of ratings of the row`` ("count", ALS-WR).
Each epoch solves every user row exactly (bias jointly with the vector, through
an augmented bias column), then every item row; see ``mfcore._als``.
"""

from __future__ import annotations

import numpy as np

from .._memory import as_aligned
from .._threads import blas_limited
from .._validation import check_choice, check_float, check_int, check_random_state
from ._kernels import SOLVERS, solve_explicit_rows
from ._training import begin_rating_fit, kernel_training_loss
from .base import FactorModel, register_model


@register_model
class ExplicitALS(FactorModel):
    """Biased matrix factorization for explicit ratings, trained by alternating least squares.

    Parameters
    ----------
    factors : int, default 64
        Latent dimension K.
    regularization : float, default 10.0
        lambda, the L2 weight on user and item vectors (times each row's rating
        count when ``regularization_scaling="count"``). The default is the best
        of a small grid on MovieLens (ml-latest-small, temporal split).
    bias_regularization : float, default 2.0
        lambda_b, the L2 weight on user and item biases.
    iterations : int, default 15
        Epochs; one epoch updates all users, then all items.
    solver : {"cholesky", "cg"}, default "cholesky"
        Exact per-row solve, or ``cg_steps`` conjugate-gradient steps warm-started
        from the previous epoch (faster, approximate).
    cg_steps : int, default 3
    regularization_scaling : {"none", "count"}, default "none"
    init_scale : float, default 0.1
        Standard deviation of the initial item vectors (user vectors start at 0).
    dtype : {"float32", "float64"}, default "float32"
    num_threads : int, default 0
        OpenMP threads for the kernels; 0 = every core the process may use.
    random_state : int, numpy Generator or RandomState, or None, default 0
        Seeds the initial item vectors; with the Cholesky solver results are
        bit-identical for any ``num_threads``.
    calculate_training_loss : bool, default True
        Log the training RMSE and the objective L after every epoch
        (``history_``: ``train_rmse``, ``objective``). The item half-sweep derives
        each item's squared errors from the normal equations it solves anyway: a
        few dot products per item with the Cholesky solver, one more pass over each
        item's gathered (cache-resident) factor rows with CG -- not a pass over all
        ratings with random reads of both factor rows. Switch it off for the last
        percent. Held-out metrics (``eval_set``) are logged either way.

    Notes
    -----
    ``fit(X, eval_set=..., early_stopping_rounds=r)`` stops once the held-out RMSE
    (``eval_rmse``) has not improved for r epochs and keeps the factors of the best
    epoch (``best_epoch_``); see :meth:`FactorModel.fit`.
    """

    _progress_fields = ("train_rmse",)
    _rating_model = True

    def __init__(self, factors=64, regularization=10.0, bias_regularization=2.0, iterations=15,
                 solver="cholesky", cg_steps=3, regularization_scaling="none", init_scale=0.1,
                 dtype="float32", num_threads=0, random_state=0, calculate_training_loss=True):
        self.factors = factors
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.regularization_scaling = regularization_scaling
        self.init_scale = init_scale
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state
        self.calculate_training_loss = calculate_training_loss

    def _validate_params(self):
        super()._validate_params()
        check_int(self.factors, "factors", min_value=1)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.bias_regularization, "bias_regularization", min_value=0.0)
        check_choice(self.solver, "solver", set(SOLVERS))
        check_int(self.cg_steps, "cg_steps", min_value=1)
        check_choice(self.regularization_scaling, "regularization_scaling", {"none", "count"})
        check_float(self.init_scale, "init_scale", min_value=0.0)
        check_choice(self.calculate_training_loss, "calculate_training_loss", {True, False})

    # ------------------------------------------------------------------ fit
    def _begin_fit(self, fit):
        user_items = fit.user_items
        mu = begin_rating_fit(fit, training_loss="kernel" if self.calculate_training_loss else False)
        n_users, n_items = user_items.shape
        fit.counts = (np.diff(user_items.indptr).astype(np.float64), np.diff(fit.item_users.indptr).astype(np.float64))
        fit.solve = dict(reg=self.regularization, reg_bias=self.bias_regularization,
                         scale_by_count=self.regularization_scaling == "count", solver=self.solver,
                         cg_steps=self.cg_steps, num_threads=fit.num_threads)
        rng = check_random_state(self.random_state)
        K = int(self.factors)
        self._start_state(fit, user_factors=np.zeros((n_users, K), fit.dtype),
                          item_factors=(rng.standard_normal((n_items, K)) * self.init_scale).astype(fit.dtype),
                          user_bias=np.zeros(n_users, fit.dtype), item_bias=np.zeros(n_items, fit.dtype),
                          global_mean=mu)

    def _run_epoch(self, fit, epoch):
        self._solve_users(fit, epoch)
        self._solve_items(fit, epoch)
        return {}

    def _solve_users(self, fit, epoch):
        """Every user's vector and bias, items fixed."""
        status = solve_explicit_rows(fit.user_items, self.item_factors, self.item_bias, self.global_mean,
                                     self.user_factors, self.user_bias, **fit.solve)
        self._raise_on_failure(status, "user", self._users, epoch)

    def _solve_items(self, fit, epoch, **prior):
        """Every item's vector and bias, users fixed (``prior``: GenreALS's centroids and weights).

        The last kernel call of an epoch: it also writes each item's training SSE at the new
        factors into ``fit.item_sse`` (when the training loss is on).
        """
        status = solve_explicit_rows(fit.item_users, self.user_factors, self.user_bias, self.global_mean,
                                     self.item_factors, self.item_bias, **fit.solve, **prior,
                                     row_sse=fit.item_sse)
        self._raise_on_failure(status, "item", self._items, epoch)

    def _raise_on_failure(self, status, side, idmap, epoch):
        if status >= 0:
            raw = idmap.to_raw(np.array([status]))[0].item()
            raise FloatingPointError(
                f"epoch {epoch}: the Cholesky factorization failed for {side} {raw!r} (index {status}); "
                "its normal equations are not positive definite. Increase regularization / bias_regularization."
            )

    def _epoch_metrics(self, fit, record):
        return kernel_training_loss(self, fit)

    def _objective(self, sse, fit) -> float:
        """Training objective L (module docstring) at the current factors, given the training SSE; float64."""
        users_n, items_n = fit.counts
        if self.regularization_scaling == "count":
            su, si = users_n, items_n
        else:
            su, si = np.ones_like(users_n), np.ones_like(items_n)
        # squared row norms accumulated in float64 without float64 copies of the factor matrices
        # (at 32M, K=64 those were 150 MB of fresh pages per epoch)
        uf, vf = self.user_factors, self.item_factors
        reg = float(self.regularization) * (su @ np.einsum("ij,ij->i", uf, uf, dtype=np.float64)
                                            + si @ np.einsum("ij,ij->i", vf, vf, dtype=np.float64))
        breg = float(self.bias_regularization) * (su @ np.square(self.user_bias, dtype=np.float64)
                                                  + si @ np.square(self.item_bias, dtype=np.float64))
        return float(sse + reg + breg)

    # --------------------------------------------------------------- fold-in
    def fold_in(self, items, ratings):
        """Vector and bias of a new user from their ratings, items held fixed.

        Solves the user's row of the ALS normal equations (bias jointly, through
        the augmented column) in float64::

            [u; b_u] = (X^T X + diag(lambda*s,..., lambda_b*s))^-1 X^T (r - mu - b_items),
            X = [V_items, 1]

        Parameters
        ----------
        items : array-like of item ids (raw ids or indices, as the model uses)
        ratings : array-like of float, same length

        Returns
        -------
        vector : numpy.ndarray (K,) of the model dtype
        bias : float
        """
        return self._fold_in_one(*self._fold_in_input(items, ratings, ratings_required=True))

    def _fold_in_indices(self, idx, r):
        K = self.item_factors.shape[1]
        X = np.empty((len(idx), K + 1))
        X[:, :K] = self.item_factors[idx]
        X[:, K] = 1.0
        y = r - self.global_mean - self.item_bias[idx].astype(np.float64)
        s = len(idx) if self.regularization_scaling == "count" else 1.0
        A = X.T @ X
        A[np.diag_indices(K)] += float(self.regularization) * s
        A[K, K] += float(self.bias_regularization) * s
        if not A.any():  # no ratings and no regularization: nothing to solve
            return np.zeros(K), 0.0
        z = np.linalg.solve(A, X.T @ y)
        return z[:K], z[K]

    def _solve_rows(self, side, rows, index=None, **prior):
        """Every row of ``rows`` solved exactly (Cholesky) in one half-sweep kernel call, other side fixed.

        The same normal equations as a training half-sweep (bias jointly, ``regularization_scaling``
        applied), so a training user re-solved from its training row gets the vector the next
        epoch would give it. ``prior``: GenreALS's item-side centroids.
        """
        fixed, fixed_bias = ((self.item_factors, self.item_bias) if side == "user"
                             else (self.user_factors, self.user_bias))
        dtype = fixed.dtype
        n, K = rows.shape[0], fixed.shape[1]
        vecs = as_aligned(np.zeros((n, K), dtype), dtype)
        bias = np.zeros(n, dtype)
        with blas_limited():
            status = solve_explicit_rows(rows, fixed, fixed_bias, self.global_mean, vecs, bias,
                                         reg=self.regularization, reg_bias=self.bias_regularization,
                                         scale_by_count=self.regularization_scaling == "count", solver="cholesky",
                                         cg_steps=int(self.cg_steps), num_threads=self._threads(), **prior)
        if status >= 0:
            raise FloatingPointError(f"the {side} solve failed for row {status} of the given matrix (its normal "
                                     "equations are not positive definite); increase regularization")
        return vecs, bias

    # --------------------------------------------------------------- explain
    def explain(self, userid, itemid):
        """Split the predicted rating of (user, item) into its terms.

        Returns
        -------
        dict
            ``global_mean``, ``user_bias``, ``item_bias``, ``dot`` (u . v_i) and
            ``prediction`` (their sum).
        """
        self._check_fitted()
        u, i = self._users.lookup(userid), self._items.lookup(itemid)
        dot = float(np.dot(self.user_factors[u].astype(np.float64), self.item_factors[i].astype(np.float64)))
        out = {"global_mean": self.global_mean, "user_bias": float(self.user_bias[u]),
               "item_bias": float(self.item_bias[i]), "dot": dot}
        out["prediction"] = out["global_mean"] + out["user_bias"] + out["item_bias"] + dot
        return out
