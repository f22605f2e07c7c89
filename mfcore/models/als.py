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

import time
import warnings

import numpy as np

from .. import _als, _predict
from .._threads import blas_limited
from .._validation import (check_choice, check_csr, check_dtype, check_float, check_fold_in, check_int,
                           check_random_state)
from ._ids import IdMap
from .base import FactorModel, register_model, seen_pattern, training_matrix, _rows_of

_SOLVERS = {"cholesky": 0, "cg": 1}


class _Progress:
    """A tqdm bar over epochs when asked for, else a no-op."""

    def __init__(self, total, enabled, desc):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False)

    def update(self, **postfix):
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in postfix.items() if v is not None})
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


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
    random_state : int or None, default 0
        Seeds the initial item vectors; with the Cholesky solver results are
        bit-identical for any ``num_threads``.
    """

    _param_names = ("factors", "regularization", "bias_regularization", "iterations", "solver", "cg_steps",
                    "regularization_scaling", "init_scale", "dtype", "num_threads", "random_state")

    def __init__(self, factors=64, regularization=10.0, bias_regularization=2.0, iterations=15,
                 solver="cholesky", cg_steps=3, regularization_scaling="none", init_scale=0.1,
                 dtype="float32", num_threads=0, random_state=0):
        self.factors = factors
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.regularization_scaling = regularization_scaling
        self.init_scale = init_scale
        self.dtype = np.dtype(check_dtype(dtype)).name
        self.num_threads = num_threads
        self.random_state = random_state
        self.item_factors = None
        self.history_ = []

    # ------------------------------------------------------------ validation
    def _validate_params(self):
        check_int(self.factors, "factors", min_value=1)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.bias_regularization, "bias_regularization", min_value=0.0)
        check_int(self.iterations, "iterations", min_value=0)
        check_choice(self.solver, "solver", set(_SOLVERS))
        check_int(self.cg_steps, "cg_steps", min_value=1)
        check_choice(self.regularization_scaling, "regularization_scaling", {"none", "count"})
        check_float(self.init_scale, "init_scale", min_value=0.0)
        check_dtype(self.dtype)

    # ----------------------------------------------------------- genre hooks
    def _item_priors(self):
        """(prior, prior_weight, bias_prior, bias_prior_weight) for the item half-sweep."""
        return None, 0.0, None, 0.0

    def _prepare_genres(self, meta, item_genres, n_items):
        """Hook for GenreALS: set up the genre matrix before the first epoch."""

    def _after_epoch(self):
        """Hook for GenreALS: refresh the genre projection after each epoch."""

    def _prior_penalty(self) -> float:
        return 0.0

    # ------------------------------------------------------------------ fit
    def fit(self, X, item_genres=None, eval_set=None, callback=None, show_progress=True):
        """Fit the model to explicit ratings.

        Parameters
        ----------
        X : mfcore.Interactions or scipy.sparse matrix, shape (n_users, n_items)
            Training ratings. With ``Interactions`` the model keeps its raw ids.
        item_genres : scipy.sparse matrix (n_items, n_genres), optional
            Only used by :class:`GenreALS` (defaults to ``X.item_genres``).
        eval_set : Interactions or sparse matrix, optional
            Held-out ratings over the same users and items; its RMSE is logged.
        callback : callable, optional
            ``callback(epoch, record, model)`` after every epoch; returning True stops.
        show_progress : bool
            A tqdm progress bar over epochs.

        Returns
        -------
        self
        """
        self._validate_params()
        dtype = np.dtype(self.dtype).type
        user_items, meta = training_matrix(X, dtype)
        if user_items.nnz == 0:
            raise ValueError("X has no ratings")
        n_users, n_items = user_items.shape
        item_users = check_csr(user_items.T.tocsr(), "X (transposed)", dtype=dtype)
        eval_pairs = self._eval_pairs(eval_set, dtype, (n_users, n_items)) if eval_set is not None else None
        train_pairs = (_rows_of(user_items), user_items.indices, user_items.data)

        rng = check_random_state(self.random_state)
        K = int(self.factors)
        mu = float(np.mean(user_items.data, dtype=np.float64))
        user_factors = np.zeros((n_users, K), dtype)
        item_factors = (rng.standard_normal((n_items, K)) * self.init_scale).astype(dtype)
        user_bias = np.zeros(n_users, dtype)
        item_bias = np.zeros(n_items, dtype)
        self._set_state(
            user_factors=user_factors, item_factors=item_factors, user_bias=user_bias, item_bias=item_bias,
            global_mean=mu, user_map=IdMap("user", n_users, meta["user_ids"]),
            item_map=IdMap("item", n_items, meta["item_ids"]),
            seen=seen_pattern(user_items.indptr, user_items.indices, user_items.shape, dtype),
        )
        self._prepare_genres(meta, item_genres, n_items)
        self._counts = (np.diff(user_items.indptr).astype(np.float64), np.diff(item_users.indptr).astype(np.float64))
        self.history_ = []
        num_threads = self._threads()
        solver = _SOLVERS[self.solver]
        scale = self.regularization_scaling == "count"
        progress = _Progress(self.iterations, show_progress, type(self).__name__)
        try:
            with blas_limited():
                for epoch in range(1, int(self.iterations) + 1):
                    start = time.perf_counter()
                    status = _als.als_half_sweep(
                        user_items.indptr, user_items.indices, user_items.data, self.item_factors, self.item_bias,
                        mu, self.user_factors, self.user_bias, float(self.regularization),
                        float(self.bias_regularization), scale, None, 0.0, None, 0.0,
                        solver, int(self.cg_steps), num_threads,
                    )
                    self._raise_on_failure(status, "user", self._users, epoch)
                    prior, tau, bias_prior, tau_b = self._item_priors()
                    status = _als.als_half_sweep(
                        item_users.indptr, item_users.indices, item_users.data, self.user_factors, self.user_bias,
                        mu, self.item_factors, self.item_bias, float(self.regularization),
                        float(self.bias_regularization), scale, prior, tau, bias_prior, tau_b,
                        solver, int(self.cg_steps), num_threads,
                    )
                    self._raise_on_failure(status, "item", self._items, epoch)
                    self._after_epoch()
                    seconds = time.perf_counter() - start
                    record = self._epoch_record(epoch, seconds, train_pairs, eval_pairs, num_threads)
                    self.history_.append(record)
                    progress.update(train_rmse=record["train_rmse"], eval_rmse=record.get("eval_rmse"))
                    if callback is not None and callback(epoch, record, self):
                        break
        except KeyboardInterrupt:
            warnings.warn(
                f"{type(self).__name__}.fit interrupted after {len(self.history_)} complete epoch(s); "
                "the model holds the factors of the last completed half-sweep and is usable.",
                RuntimeWarning,
                stacklevel=2,
            )
            raise
        finally:
            progress.close()
        return self

    def _raise_on_failure(self, status, side, idmap, epoch):
        if status >= 0:
            raw = idmap.to_raw(np.array([status]))[0].item()
            raise FloatingPointError(
                f"epoch {epoch}: the Cholesky factorization failed for {side} {raw!r} (index {status}); "
                "its normal equations are not positive definite. Increase regularization / bias_regularization."
            )

    def _eval_pairs(self, eval_set, dtype, shape):
        matrix, _ = training_matrix(eval_set, dtype, name="eval_set")
        if matrix.shape != shape:
            raise ValueError(f"eval_set must have the training shape {shape}, got {matrix.shape}")
        return _rows_of(matrix), matrix.indices, matrix.data

    def _squared_error(self, pairs, num_threads):
        users, items, ratings = pairs
        return _predict.squared_error_sums(users, items, ratings, self.user_factors, self.user_bias,
                                           self.item_factors, self.item_bias, self.global_mean, num_threads)

    def _objective(self, sse) -> float:
        """Training objective L (module docstring) at the current factors, given the training SSE; float64."""
        users_n, items_n = self._counts
        if self.regularization_scaling == "count":
            su, si = users_n, items_n
        else:
            su, si = np.ones_like(users_n), np.ones_like(items_n)
        uf = self.user_factors.astype(np.float64)
        vf = self.item_factors.astype(np.float64)
        reg = float(self.regularization) * (su @ np.einsum("ij,ij->i", uf, uf) + si @ np.einsum("ij,ij->i", vf, vf))
        breg = float(self.bias_regularization) * (su @ np.square(self.user_bias, dtype=np.float64)
                                                  + si @ np.square(self.item_bias, dtype=np.float64))
        return float(sse + reg + breg + self._prior_penalty())

    def _epoch_record(self, epoch, seconds, train_pairs, eval_pairs, num_threads):
        sse, _ = self._squared_error(train_pairs, num_threads)
        n = len(train_pairs[0])
        record = {"epoch": epoch, "seconds": seconds, "train_rmse": float(np.sqrt(sse / n)),
                  "objective": self._objective(sse)}
        if eval_pairs is not None and len(eval_pairs[0]):
            esse, _ = self._squared_error(eval_pairs, num_threads)
            record["eval_rmse"] = float(np.sqrt(esse / len(eval_pairs[0])))
        return record

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
        self._check_fitted()
        idx, r = check_fold_in(self._items.lookup(np.atleast_1d(items)), ratings)
        vec, bias = self._solve_user(idx, r)
        return vec.astype(self.item_factors.dtype), float(bias)

    def _solve_user(self, idx, r):
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

    def _fold_in_rows(self, user_items):
        K = self.item_factors.shape[1]
        vecs = np.zeros((user_items.shape[0], K), self.item_factors.dtype)
        bias = np.zeros(user_items.shape[0], self.item_factors.dtype)
        for row in range(user_items.shape[0]):
            lo, hi = user_items.indptr[row], user_items.indptr[row + 1]
            vecs[row], bias[row] = self._solve_user(user_items.indices[lo:hi],
                                                    user_items.data[lo:hi].astype(np.float64))
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
