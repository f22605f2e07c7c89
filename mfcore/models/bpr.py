"""Bayesian Personalized Ranking (Rendle et al. 2009) trained by Hogwild SGD.

For a user u, a positive item i and a sampled negative item j::

    x_uij = u . (v_i - v_j) + b_i - b_j
    maximise  ln sigma(x_uij) - reg_user ||u||^2 - reg_item (||v_i||^2 + ||v_j||^2) - reg_bias (b_i^2 + b_j^2)

One epoch = ``n_samples`` SGD steps (default: one per positive interaction),
split over OpenMP threads, lock-free (see ``mfcore._bpr``). With
``num_threads=1`` a fit is bit-reproducible for a given ``random_state``; with
more threads the order of concurrent updates varies, so results vary slightly
from run to run (quality does not).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .. import _bpr
from .._threads import blas_limited
from .._validation import check_dtype, check_float, check_fold_in, check_int, check_random_state
from ._ids import IdMap
from ._implicit_data import positive_entries, positives
from .als import _Progress
from .base import FactorModel, register_model, seen_pattern, training_matrix


class _RankingFitMixin:
    """Evaluation and early stopping shared by BPR and ImplicitALS."""

    def _eval_setup(self, eval_set, train, dtype):
        if eval_set is None:
            return None
        matrix, _ = training_matrix(eval_set, dtype, name="eval_set")
        if matrix.shape != train.shape:
            raise ValueError(f"eval_set must have the training shape {train.shape}, got {matrix.shape}")
        return matrix

    def _evaluate(self, train, test, k, num_threads):
        from ..metrics import ranking_metrics

        return ranking_metrics(self.user_factors, self.item_factors, train, test, k=k,
                               item_bias=self.item_bias if self.item_bias.any() else None,
                               threshold=self.eval_threshold, num_threads=num_threads)


@register_model
class BPR(_RankingFitMixin, FactorModel):
    """Matrix factorization for implicit feedback, ranking-trained with BPR.

    Parameters
    ----------
    factors : int, default 64
    learning_rate : float, default 0.05
    regularization : float, default 0.01
        L2 weight on user and item vectors (per SGD step).
    bias_regularization : float, default 0.01
    iterations : int, default 100
        Epochs.
    n_samples : int or None, default None
        SGD steps per epoch; None = the number of positive interactions.
    learning_rate_decay : float, default 1.0
        The learning rate is multiplied by this after each epoch.
    positive_threshold : float or None, default 4.0
        With explicit ratings, interactions rated >= this are the positives.
        Lower-rated items are not positives (so they may be drawn as
        negatives: a disliked movie should rank below a liked one) but are
        still filtered from recommendations as already seen. None: every
        interaction is a positive; so is every interaction of an
        ``Interactions`` without ratings, whatever the threshold.
    eval_threshold : float or None, default 4.0
        Relevance threshold used on ``eval_set`` ratings (None: all are relevant).
    init_scale : float, default 0.1
        Standard deviation of the initial factors (divided by sqrt(K)).
    dtype : {"float32", "float64"}
    num_threads : int, default 0
    random_state : int or None, default 0
    """

    _param_names = ("factors", "learning_rate", "regularization", "bias_regularization", "iterations", "n_samples",
                    "learning_rate_decay", "positive_threshold", "eval_threshold", "init_scale", "dtype",
                    "num_threads", "random_state")

    def __init__(self, factors=64, learning_rate=0.05, regularization=0.01, bias_regularization=0.01,
                 iterations=100, n_samples=None, learning_rate_decay=1.0, positive_threshold=4.0,
                 eval_threshold=4.0, init_scale=0.1, dtype="float32", num_threads=0, random_state=0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.n_samples = n_samples
        self.learning_rate_decay = learning_rate_decay
        self.positive_threshold = positive_threshold
        self.eval_threshold = eval_threshold
        self.init_scale = init_scale
        self.dtype = np.dtype(check_dtype(dtype)).name
        self.num_threads = num_threads
        self.random_state = random_state
        self.item_factors = None
        self.history_ = []

    def _validate_params(self):
        check_int(self.factors, "factors", min_value=1)
        check_float(self.learning_rate, "learning_rate", min_value=0.0, min_inclusive=False)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.bias_regularization, "bias_regularization", min_value=0.0)
        check_int(self.iterations, "iterations", min_value=0)
        if self.n_samples is not None:
            check_int(self.n_samples, "n_samples", min_value=1)
        check_float(self.learning_rate_decay, "learning_rate_decay", min_value=0.0, min_inclusive=False)
        if self.positive_threshold is not None:
            check_float(self.positive_threshold, "positive_threshold")
        check_float(self.init_scale, "init_scale", min_value=0.0)

    def fit(self, X, eval_set=None, eval_k=10, early_stopping_rounds=None, callback=None, show_progress=True):
        """Fit to interactions (or explicit ratings thresholded at ``positive_threshold``).

        Parameters
        ----------
        X : mfcore.Interactions or scipy.sparse matrix (n_users, n_items)
        eval_set : same kind, optional
            Held-out interactions; AUC and NDCG@``eval_k`` are logged each epoch
            (candidates: items not in the user's training row).
        eval_k : int
        early_stopping_rounds : int, optional
            Stop when eval NDCG@k has not improved for this many epochs and keep
            the factors of the best epoch (needs ``eval_set``).
        callback : callable, optional
            ``callback(epoch, record, model)``; returning True stops.
        show_progress : bool

        Returns
        -------
        self
        """
        self._validate_params()
        eval_k = check_int(eval_k, "eval_k", min_value=1)
        if early_stopping_rounds is not None:
            early_stopping_rounds = check_int(early_stopping_rounds, "early_stopping_rounds", min_value=1)
            if eval_set is None:
                raise ValueError("early_stopping_rounds needs an eval_set")
        dtype = np.dtype(self.dtype).type
        user_items, meta = training_matrix(X, dtype)
        pos = positives(user_items, self.positive_threshold, meta["has_ratings"])
        if pos.nnz == 0:
            raise ValueError(f"X has no positive interactions (positive_threshold={self.positive_threshold})")
        test = self._eval_setup(eval_set, user_items, dtype)
        n_users, n_items = user_items.shape
        rng = check_random_state(self.random_state)
        K = int(self.factors)
        scale = float(self.init_scale) / np.sqrt(K)
        self._set_state(
            user_factors=(rng.standard_normal((n_users, K)) * scale).astype(dtype),
            item_factors=(rng.standard_normal((n_items, K)) * scale).astype(dtype),
            item_bias=np.zeros(n_items, dtype), global_mean=0.0,
            user_map=IdMap("user", n_users, meta["user_ids"]), item_map=IdMap("item", n_items, meta["item_ids"]),
            seen=seen_pattern(user_items.indptr, user_items.indices, user_items.shape, dtype),
        )
        self._positives = pos
        n_samples = int(self.n_samples) if self.n_samples is not None else int(pos.nnz)
        # user of every stored interaction: lets the kernel sample (u, i) without a binary search
        nnz_rows = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(pos.indptr))
        num_threads = self._threads()
        lr = float(self.learning_rate)
        self.history_ = []
        best = (-np.inf, 0, None)
        progress = _Progress(self.iterations, show_progress, "BPR")
        try:
            with blas_limited():
                for epoch in range(1, int(self.iterations) + 1):
                    start = time.perf_counter()
                    seed = int(rng.integers(0, 2**63 - 1))
                    loss, skipped = _bpr.bpr_epoch(
                        pos.indptr, pos.indices, self.user_factors, self.item_factors, self.item_bias, n_samples,
                        lr, float(self.regularization), float(self.regularization),
                        float(self.bias_regularization), seed, num_threads, None, nnz_rows,
                    )
                    seconds = time.perf_counter() - start
                    if not (np.isfinite(self.user_factors).all() and np.isfinite(self.item_factors).all()
                            and np.isfinite(self.item_bias).all()):
                        raise FloatingPointError(
                            f"BPR diverged in epoch {epoch} (non-finite factors); lower learning_rate "
                            f"(now {lr:g}) or raise regularization"
                        )
                    record = {"epoch": epoch, "seconds": seconds, "loss": float(loss), "skipped": int(skipped),
                              "learning_rate": lr, "samples_per_second": n_samples / max(seconds, 1e-12)}
                    if test is not None:
                        scores = self._evaluate(user_items, test, eval_k, num_threads)
                        record["eval_auc"] = scores["auc"]
                        record[f"eval_ndcg@{eval_k}"] = scores["ndcg"]
                        if scores["ndcg"] > best[0]:
                            best = (scores["ndcg"], epoch, (self.user_factors.copy(), self.item_factors.copy(),
                                                             self.item_bias.copy()))
                    self.history_.append(record)
                    progress.update(loss=record["loss"], ndcg=record.get(f"eval_ndcg@{eval_k}"))
                    lr *= float(self.learning_rate_decay)
                    if callback is not None and callback(epoch, record, self):
                        break
                    if early_stopping_rounds is not None and epoch - best[1] >= early_stopping_rounds:
                        break
        except KeyboardInterrupt:
            warnings.warn(f"BPR.fit interrupted after {len(self.history_)} complete epoch(s); the model holds "
                          "the factors of the last completed epoch and is usable.", RuntimeWarning, stacklevel=2)
            raise
        finally:
            progress.close()
        if early_stopping_rounds is not None and best[2] is not None:
            self.user_factors, self.item_factors, self.item_bias = best[2]
            self.best_epoch_ = best[1]
        return self

    # --------------------------------------------------------------- fold-in
    def fold_in(self, items, ratings=None, *, negatives=500, newton_steps=10):
        """User vector for a new user from their positive items, items held fixed.

        Maximises the user's share of the BPR objective, which is concave in u::

            J(u) = mean_{i in P, j in S} ln sigma(u . (v_i - v_j) + b_i - b_j) - reg ||u||^2

        over the positives P (``items``, filtered by ``positive_threshold`` when
        ``ratings`` are given) and a fixed sample S of up to ``negatives`` items
        the user has not interacted with (drawn with ``random_state``), by
        Newton's method. The same expected objective is what SGD optimises for
        a training user, so a training user's folded vector ranks like its
        trained vector; unlike SGD the result is deterministic.

        Returns
        -------
        vector : numpy.ndarray (K,), bias : float (always 0: BPR has no user bias)
        """
        self._check_fitted()
        idx, _ = positive_entries(*check_fold_in(self._items.lookup(np.atleast_1d(items)), ratings, required=False),
                                  self.positive_threshold)
        negatives = check_int(negatives, "negatives", min_value=1)
        with blas_limited():   # small products: a multi-threaded BLAS only adds synchronisation here
            return self._fold_in_positive(np.unique(idx), negatives, newton_steps, exclude=idx), 0.0

    def _fold_in_positive(self, pos, n_neg, steps, exclude):
        K = self.item_factors.shape[1]
        if len(pos) == 0:
            return np.zeros(K, self.item_factors.dtype)
        rng = check_random_state(self.random_state)
        candidates = np.setdiff1d(np.arange(self.n_items), exclude)
        if len(candidates) == 0:  # every item is a positive: no pair to rank, only the penalty remains (u = 0)
            return np.zeros(K, self.item_factors.dtype)
        neg = candidates if len(candidates) <= n_neg else np.sort(rng.choice(candidates, n_neg, replace=False))
        V, b = self.item_factors, self.item_bias
        Vp, Vn = V[pos].astype(np.float64), V[neg].astype(np.float64)
        bp, bn = b[pos].astype(np.float64), b[neg].astype(np.float64)
        n_pairs = len(pos) * len(neg)
        reg = float(self.regularization)
        u = np.zeros(K)
        for _ in range(int(steps)):
            x = (Vp @ u + bp)[:, None] - (Vn @ u + bn)[None, :]           # (p, n)
            s = 1.0 / (1.0 + np.exp(x))                                    # sigma(-x) = d ln sigma(x) / dx
            h = s * (1.0 - s)                                              # -d^2 ln sigma / dx^2
            grad = (Vp.T @ s.sum(1) - Vn.T @ s.sum(0)) / n_pairs - 2 * reg * u
            cross = Vp.T @ h @ Vn
            hess = (Vp.T * h.sum(1)) @ Vp + (Vn.T * h.sum(0)) @ Vn - cross - cross.T
            hess = hess / n_pairs + 2 * reg * np.eye(K)
            step = np.linalg.solve(hess + 1e-10 * np.eye(K), grad)
            u += step
            if np.linalg.norm(step) <= 1e-6 * (1.0 + np.linalg.norm(u)):
                break
        return u.astype(self.item_factors.dtype)

    def _fold_in_rows(self, user_items):
        K = self.item_factors.shape[1]
        out = np.zeros((user_items.shape[0], K), self.item_factors.dtype)
        for row in range(user_items.shape[0]):
            lo, hi = user_items.indptr[row], user_items.indptr[row + 1]
            out[row] = self.fold_in(self._items.to_raw(user_items.indices[lo:hi]), user_items.data[lo:hi])[0]
        return out, np.zeros(user_items.shape[0], self.item_factors.dtype)
