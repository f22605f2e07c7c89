"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008).

Every (user, item) cell has a preference p_ui (1 if the user interacted, else
0) and a confidence c_ui = 1 + alpha * r_ui (1 for cells without an
interaction). The model minimises::

    sum_{u,i} c_ui (p_ui - u . v_i)^2 + reg (sum_u ||u||^2 + sum_i ||v_i||^2)

Each half-sweep solves, per row, (Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u,
where Y^T Y is shared by all rows and computed once per half-sweep; the kernel
uses conjugate gradient (warm-started, ``cg_steps`` steps) or Cholesky.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

from .. import _implicit_als
from .._threads import blas_limited
from .._validation import (check_choice, check_csr, check_dtype, check_float, check_fold_in, check_int,
                           check_random_state)
from ._ids import IdMap
from ._implicit_data import positive_entries, positives
from .als import _Progress
from .base import FactorModel, register_model, seen_pattern, training_matrix
from .bpr import _RankingFitMixin

_SOLVERS = {"cholesky": 0, "cg": 1}


@register_model
class ImplicitALS(_RankingFitMixin, FactorModel):
    """Weighted matrix factorization for implicit feedback, trained by ALS.

    Parameters
    ----------
    factors : int, default 64
    regularization : float, default 10.0
        (With MovieLens-sized data and binarized confidences, values around
        10 rank best in our grid on ml-latest-small.)
    alpha : float, default 1.0
        Confidence slope: c = 1 + alpha * r on observed cells.
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
    """

    _param_names = ("factors", "regularization", "alpha", "iterations", "solver", "cg_steps", "positive_threshold",
                    "binarize", "eval_threshold", "init_scale", "dtype", "num_threads", "random_state")

    def __init__(self, factors=64, regularization=10.0, alpha=1.0, iterations=15, solver="cg", cg_steps=3,
                 positive_threshold=4.0, binarize=True, eval_threshold=4.0, init_scale=0.1, dtype="float32",
                 num_threads=0, random_state=0):
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
        self.dtype = np.dtype(check_dtype(dtype)).name
        self.num_threads = num_threads
        self.random_state = random_state
        self.item_factors = None
        self.history_ = []

    def _validate_params(self):
        check_int(self.factors, "factors", min_value=1)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_int(self.iterations, "iterations", min_value=0)
        check_choice(self.solver, "solver", set(_SOLVERS))
        check_int(self.cg_steps, "cg_steps", min_value=1)
        check_float(self.init_scale, "init_scale", min_value=0.0)

    def _confidence(self, user_items, has_ratings=True):
        pos = positives(user_items, self.positive_threshold, has_ratings)  # refuses negative strengths
        values = np.ones_like(pos.data) if self.binarize else pos.data
        conf = sp.csr_matrix(((float(self.alpha) * values).astype(pos.dtype), pos.indices, pos.indptr),
                             shape=pos.shape)
        conf.has_sorted_indices = True
        return conf

    def fit(self, X, eval_set=None, eval_k=10, callback=None, show_progress=True):
        """Fit to implicit interactions (or explicit ratings, see ``positive_threshold``).

        Parameters and returns as :meth:`mfcore.models.BPR.fit` (without early stopping).
        """
        self._validate_params()
        eval_k = check_int(eval_k, "eval_k", min_value=1)
        dtype = np.dtype(self.dtype).type
        user_items, meta = training_matrix(X, dtype)
        conf_ui = self._confidence(user_items, meta["has_ratings"])
        if conf_ui.nnz == 0:
            raise ValueError("X has no positive interactions")
        conf_iu = check_csr(conf_ui.T.tocsr(), "X (transposed)", dtype=dtype)
        test = self._eval_setup(eval_set, user_items, dtype)
        n_users, n_items = user_items.shape
        rng = check_random_state(self.random_state)
        K = int(self.factors)
        scale = float(self.init_scale) / np.sqrt(K)
        self._set_state(
            user_factors=(rng.standard_normal((n_users, K)) * scale).astype(dtype),
            item_factors=(rng.standard_normal((n_items, K)) * scale).astype(dtype),
            user_map=IdMap("user", n_users, meta["user_ids"]), item_map=IdMap("item", n_items, meta["item_ids"]),
            seen=seen_pattern(user_items.indptr, user_items.indices, user_items.shape, dtype),
        )
        num_threads = self._threads()
        solver = _SOLVERS[self.solver]
        reg = float(self.regularization)
        self.history_ = []
        progress = _Progress(self.iterations, show_progress, "ImplicitALS")
        try:
            with blas_limited():
                for epoch in range(1, int(self.iterations) + 1):
                    start = time.perf_counter()
                    for side, conf, other, mine in (("user", conf_ui, self.item_factors, self.user_factors),
                                                    ("item", conf_iu, self.user_factors, self.item_factors)):
                        YtY = np.ascontiguousarray(other.T @ other)
                        status = _implicit_als.implicit_als_half_sweep(
                            conf.indptr, conf.indices, conf.data, other, mine, YtY, reg, solver,
                            int(self.cg_steps), num_threads)
                        if status >= 0:
                            ids = self._users if side == "user" else self._items
                            raise FloatingPointError(
                                f"epoch {epoch}: the solve failed for {side} {ids.to_raw(np.array([status]))[0].item()!r}"
                                f" (index {status}); increase regularization")
                    record = {"epoch": epoch, "seconds": time.perf_counter() - start}
                    if test is not None:
                        scores = self._evaluate(user_items, test, eval_k, num_threads)
                        record["eval_auc"] = scores["auc"]
                        record[f"eval_ndcg@{eval_k}"] = scores["ndcg"]
                    self.history_.append(record)
                    progress.update(ndcg=record.get(f"eval_ndcg@{eval_k}"))
                    if callback is not None and callback(epoch, record, self):
                        break
        except KeyboardInterrupt:
            warnings.warn(f"ImplicitALS.fit interrupted after {len(self.history_)} complete epoch(s); the model "
                          "holds the factors of the last completed half-sweep and is usable.",
                          RuntimeWarning, stacklevel=2)
            raise
        finally:
            progress.close()
        return self

    def fold_in(self, items, ratings=None):
        """User vector for a new user: one exact user-row solve with items fixed.

        ``items`` are the user's interactions; with ``ratings`` given, only those
        rated >= ``positive_threshold`` count (as in training).

        ``(Y^T Y + Y_u^T (C_u - I) Y_u + reg I) x = Y_u^T c_u`` in float64.
        Returns (vector, 0.0).
        """
        self._check_fitted()
        idx, r = positive_entries(*check_fold_in(self._items.lookup(np.atleast_1d(items)), ratings, required=False),
                                  self.positive_threshold)
        if r is None:
            r = np.ones(len(idx))
        if self.binarize:
            r = np.ones_like(r)
        Yu = self.item_factors[idx].astype(np.float64)
        c1 = float(self.alpha) * r
        with blas_limited():
            A = self._item_gram() + (Yu.T * c1) @ Yu + float(self.regularization) * np.eye(Yu.shape[1])
            x = np.linalg.solve(A, Yu.T @ (1.0 + c1))
        return x.astype(self.item_factors.dtype), 0.0

    def _item_gram(self):
        """Y^T Y of the current item factors in float64, cached until the factors change."""
        cached = getattr(self, "_gram_cache", None)
        if cached is None or cached[0] is not self.item_factors:
            Y = self.item_factors.astype(np.float64)
            cached = (self.item_factors, Y.T @ Y)
            self._gram_cache = cached
        return cached[1]

    def _fold_in_rows(self, user_items):
        K = self.item_factors.shape[1]
        out = np.zeros((user_items.shape[0], K), self.item_factors.dtype)
        for row in range(user_items.shape[0]):
            lo, hi = user_items.indptr[row], user_items.indptr[row + 1]
            out[row] = self.fold_in(self._items.to_raw(user_items.indices[lo:hi]), user_items.data[lo:hi])[0]
        return out, np.zeros(user_items.shape[0], self.item_factors.dtype)
