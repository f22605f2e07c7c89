"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008).

Every (user, item) cell has a preference p_ui (1 if the user interacted, else
0) and a confidence c_ui = 1 + alpha * r_ui (1 for cells without an
interaction). The model minimises::

    L = sum_{u,i} c_ui (p_ui - u . v_i)^2 + reg (sum_u ||u||^2 + sum_i ||v_i||^2)

Each half-sweep solves, per row, (Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u,
where Y^T Y is shared by all rows and computed once per half-sweep; the kernel
uses conjugate gradient (warm-started, ``cg_steps`` steps) or Cholesky.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _predict
from .._sparse import row_of_entry
from .._validation import check_choice, check_csr, check_float, check_int, check_random_state
from ._implicit_data import positive_entries, positives
from ._kernels import SOLVERS, solve_implicit_rows
from ._training import RankingEvaluation
from .base import FactorModel, register_model


@register_model
class ImplicitALS(FactorModel):
    """Weighted matrix factorization for implicit feedback, trained by ALS.

    Parameters
    ----------
    factors : int, default 64
    regularization : float, default 30.0
    alpha : float, default 4.0
        Confidence slope: c = 1 + alpha * r on observed cells. The defaults
        (lambda 30, alpha 4) were chosen by validation NDCG@10 only (never a
        test set) on ml-latest-small, binarized ratings >= 4, K = 64: a grid
        (lambda 3-100, alpha 0.5-9) on a validation split carved from the
        train part of a per-user temporal 80/20 split (temporal again) and of
        a random 80/20 split (seed 42; validation seed 1). They are the best
        on the temporal validation (0.1347 vs 0.1273 for the former 10 / 1)
        and 0.0015 below the best on the random one (lambda 45, alpha 6).
        What matters most is lambda relative to the confidence ~ lambda /
        (1 + alpha) ~ 6; a larger confidence then helps.
    iterations : int, default 15
    solver : {"cg", "cholesky"}, default "cg"
    cg_steps : int, default 3
    positive_threshold : float or None, default 4.0
        Explicit ratings below this are dropped before training (not
        positives); None keeps every interaction with r = its value. An
        ``Interactions`` without ratings keeps every interaction.
    binarize : bool, default True
        Use r = 1 for every kept interaction (confidence 1 + alpha), rather
        than the rating value.
    eval_threshold : float or None, default 4.0
    init_scale : float, default 0.1
    dtype, num_threads, random_state
        As in :class:`mfcore.models.ExplicitALS`.
    calculate_training_loss : bool, default False
        Log the objective L (module docstring, float64) after every epoch
        (``history_``: ``objective``). It costs one more pass over the training
        interactions per epoch, so it is off by default (as in implicit).

    Notes
    -----
    ``fit(X, eval_set=..., eval_k=10, early_stopping_rounds=r)`` logs AUC and
    NDCG@``eval_k`` on the held-out interactions and keeps the factors of the epoch
    with the best NDCG; see :meth:`FactorModel.fit`.
    """

    _progress_fields = ("objective",)

    def __init__(self, factors=64, regularization=30.0, alpha=4.0, iterations=15, solver="cg", cg_steps=3,
                 positive_threshold=4.0, binarize=True, eval_threshold=4.0, init_scale=0.1, dtype="float32",
                 num_threads=0, random_state=0, calculate_training_loss=False):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.positive_threshold = positive_threshold
        self.binarize = binarize
        self.eval_threshold = eval_threshold
        self.init_scale = init_scale
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state
        self.calculate_training_loss = calculate_training_loss

    def _validate_params(self):
        super()._validate_params()
        check_int(self.factors, "factors", min_value=1)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_choice(self.solver, "solver", set(SOLVERS))
        check_int(self.cg_steps, "cg_steps", min_value=1)
        if self.positive_threshold is not None:
            check_float(self.positive_threshold, "positive_threshold")
        check_choice(self.binarize, "binarize", {True, False})
        if self.eval_threshold is not None:
            check_float(self.eval_threshold, "eval_threshold")
        check_float(self.init_scale, "init_scale", min_value=0.0)
        check_choice(self.calculate_training_loss, "calculate_training_loss", {True, False})

    def _confidence(self, user_items, has_ratings=True):
        pos = positives(user_items, self.positive_threshold, has_ratings)
        values = np.ones_like(pos.data) if self.binarize else pos.data
        if (values < 0).any():
            raise ValueError("interaction values must be >= 0 for implicit ALS (confidence 1 + alpha * r)")
        conf = sp.csr_matrix(((float(self.alpha) * values).astype(pos.dtype), pos.indices, pos.indptr),
                             shape=pos.shape)
        conf.has_sorted_indices = True
        return conf

    # ------------------------------------------------------------------ fit
    def _begin_fit(self, fit, *, eval_k=10):
        eval_k = check_int(eval_k, "eval_k", min_value=1)
        user_items = fit.user_items
        fit.conf_ui = self._confidence(user_items, fit.meta["has_ratings"])
        if fit.conf_ui.nnz == 0:
            raise ValueError("X has no positive interactions")
        fit.conf_iu = check_csr(fit.conf_ui.T.tocsr(), "X (transposed)", dtype=fit.dtype)
        if fit.eval_matrix is not None:
            fit.evaluation = RankingEvaluation(user_items, fit.eval_matrix, eval_k, self.eval_threshold)
        n_users, n_items = user_items.shape
        rng = check_random_state(self.random_state)
        K = int(self.factors)
        scale = float(self.init_scale) / np.sqrt(K)
        self._start_state(fit, user_factors=(rng.standard_normal((n_users, K)) * scale).astype(fit.dtype),
                          item_factors=(rng.standard_normal((n_items, K)) * scale).astype(fit.dtype))
        fit.solve = dict(reg=self.regularization, solver=self.solver, cg_steps=self.cg_steps,
                         num_threads=fit.num_threads)
        # the observed cells as (user, item, c - 1) for the training loss
        fit.observed = ((row_of_entry(fit.conf_ui.indptr), fit.conf_ui.indices, fit.conf_ui.data)
                        if self.calculate_training_loss else None)

    def _run_epoch(self, fit, epoch):
        for side, conf, fixed, solved, ids in (("user", fit.conf_ui, self.item_factors, self.user_factors, self._users),
                                               ("item", fit.conf_iu, self.user_factors, self.item_factors, self._items)):
            status = solve_implicit_rows(conf, fixed, solved, **fit.solve)
            if status >= 0:
                raise FloatingPointError(f"epoch {epoch}: the solve failed for {side} "
                                         f"{ids.to_raw(np.array([status]))[0].item()!r} (index {status}); "
                                         "increase regularization")
        return {}

    def _epoch_metrics(self, fit, record):
        if fit.observed is None:
            return {}
        return {"objective": self._objective(fit.observed, fit.num_threads)}

    def _objective(self, observed, num_threads) -> float:
        """The objective L at the current factors, float64, without a pass over all users x items.

        With x = U V^T, p = 1 and c = 1 + alpha r on the observed cells O (0 and 1 elsewhere)::

            L = sum_all x^2 - sum_O x^2 + sum_O c (1 - x)^2 + reg (||U||^2 + ||V||^2)
            sum_all x^2 = sum((U^T U) * (V^T V))

        so one pass over the observed cells (x from the prediction kernel) suffices.
        """
        users, items, alpha_r = observed
        x = np.empty(len(users), dtype=self.item_factors.dtype)
        _predict.predict_pairs(users, items, self.user_factors, self.user_bias, self.item_factors, self.item_bias,
                               0.0, x, num_threads)
        x = x.astype(np.float64)
        U, V = self.user_factors.astype(np.float64), self.item_factors.astype(np.float64)
        all_cells = float(np.sum((U.T @ U) * (V.T @ V)))
        observed_cells = float(np.sum((1.0 + alpha_r) * np.square(1.0 - x) - np.square(x)))
        penalty = float(self.regularization) * (float(np.sum(U * U)) + float(np.sum(V * V)))
        return all_cells + observed_cells + penalty

    # --------------------------------------------------------------- fold-in
    def fold_in(self, items, ratings=None):
        """User vector for a new user: one exact user-row solve with items fixed.

        ``items`` are the user's interactions; with ``ratings`` given, only those
        rated >= ``positive_threshold`` count (as in training).

        ``(Y^T Y + Y_u^T (C_u - I) Y_u + reg I) x = Y_u^T c_u`` in float64.
        Returns (vector, 0.0).
        """
        return self._fold_in_one(*self._fold_in_input(items, ratings))

    def _fold_in_indices(self, idx, r):
        idx, r = positive_entries(idx, r, self.positive_threshold)  # refuses negative strengths, as fit does
        if r is None:
            r = np.ones(len(idx))
        if self.binarize:
            r = np.ones_like(r)
        Yu = self.item_factors[idx].astype(np.float64)
        c1 = float(self.alpha) * r
        A = self._item_gram() + (Yu.T * c1) @ Yu + float(self.regularization) * np.eye(Yu.shape[1])
        return np.linalg.solve(A, Yu.T @ (1.0 + c1)), 0.0

    def _item_gram(self):
        """Y^T Y of the current item factors in float64, cached until the factors change."""
        return self._cached("item_gram", lambda: self.item_factors.astype(np.float64).T
                            @ self.item_factors.astype(np.float64))
