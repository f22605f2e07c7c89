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

import numbers

import numpy as np

from .._sparse import row_of_entry
from .._threads import blas_limited
from .._validation import check_float, check_int, check_random_state
from ._implicit_data import check_some_positive, check_threshold, positive_entries, positives, resolve_threshold
from ._kernels import bpr_fold_in_rows, bpr_sgd_epoch
from ._training import RankingEvaluation
from .base import FactorModel, register_model


@register_model
class BPR(FactorModel):
    """Matrix factorization for implicit feedback, ranking-trained with BPR.

    Parameters
    ----------
    factors : int, default 64
    learning_rate : float, default 0.05
    regularization : float, default 0.003
        L2 weight on user and item vectors (per SGD step).
    bias_regularization : float, default 0.001
        The defaults (0.003 / 0.001; formerly 0.01 / 0.01) were chosen on
        validation only: ml-latest-small, ratings >= 4 as positives, K = 64,
        100 epochs, validation split carved from the train part of a per-user
        temporal 80/20 split (temporal again) and of a random 80/20 split (seed
        42; validation seed 43); grid lr {0.05, 0.1} x reg {0.003, 0.01, 0.03}
        x bias reg {0.001, 0.01}, then the four low-reg settings at lr 0.05
        over three seeds. 0.003 / 0.001 has the smallest worst-case gap to each
        split's best mean validation NDCG@10 (0.0027; the former defaults
        0.0065: 0.098 vs 0.105 on the temporal validation).
    iterations : int, default 100
        Epochs.
    n_samples : int or None, default None
        SGD steps per epoch; None = the number of positive interactions.
    learning_rate_decay : float, default 1.0
        The learning rate is multiplied by this after each epoch.
    positive_threshold : float, None or "auto", default "auto"
        With explicit ratings, interactions rated >= this are the positives.
        Lower-rated items are not positives (so they may be drawn as
        negatives: a disliked movie should rank below a liked one) but are
        still filtered from recommendations as already seen. None: every
        stored interaction is a positive; so is every interaction of an
        ``Interactions`` without ratings, whatever the threshold. "auto": 4.0
        for an ``Interactions`` with ratings (MovieLens stars), None for a bare
        scipy.sparse matrix (as in implicit: every stored value is an interaction).
    eval_threshold : float, None or "auto", default "auto"
        Relevance threshold used on ``eval_set`` ratings (None: all are relevant;
        "auto" as for ``positive_threshold``).
    init_scale : float, default 0.1
        Standard deviation of the initial factors (divided by sqrt(K)).
    dtype : {"float32", "float64"}
    num_threads : int, default 0
    random_state : int, numpy Generator or RandomState, or None, default 0
    run_length : int, default 8
        Positives are sampled in runs of this many consecutive stored
        interactions from a uniform random start (``mfcore._bpr``): every
        sample's (user, positive) is still uniform over the positives, but
        consecutive samples usually share the user, whose row stays in cache
        (about 1.5x the samples per second on 32M positives). 1 = independent
        uniform draws (the sampler before this option). Ranking quality on
        ml-latest-small (K = 64, 100 epochs, 10 seeds, temporal and random
        splits) is the same within one standard error for 1, 4, 8 and 16.

    Notes
    -----
    ``fit(X, eval_set=..., eval_k=10, early_stopping_rounds=r)`` logs AUC and
    NDCG@``eval_k`` on the held-out interactions (candidates: items not in the
    user's training row) and keeps the factors of the epoch with the best NDCG; see
    :meth:`FactorModel.fit`. ``history_`` also holds each epoch's mean BPR loss,
    skipped samples, learning rate and SGD samples per second.
    """

    _progress_fields = ("loss",)

    def __init__(self, factors=64, learning_rate=0.05, regularization=0.003, bias_regularization=0.001,
                 iterations=100, n_samples=None, learning_rate_decay=1.0, positive_threshold="auto",
                 eval_threshold="auto", init_scale=0.1, dtype="float32", num_threads=0, random_state=0,
                 run_length=8):
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
        self.dtype = dtype
        self.num_threads = num_threads
        self.run_length = run_length
        self.random_state = random_state

    def _validate_params(self):
        super()._validate_params()
        check_int(self.factors, "factors", min_value=1)
        check_float(self.learning_rate, "learning_rate", min_value=0.0, min_inclusive=False)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.bias_regularization, "bias_regularization", min_value=0.0)
        if self.n_samples is not None:
            check_int(self.n_samples, "n_samples", min_value=1)
        check_float(self.learning_rate_decay, "learning_rate_decay", min_value=0.0, min_inclusive=False)
        check_threshold(self.positive_threshold, "positive_threshold")
        check_threshold(self.eval_threshold, "eval_threshold")
        check_float(self.init_scale, "init_scale", min_value=0.0)
        check_int(self.run_length, "run_length", min_value=1)

    # ------------------------------------------------------------------ fit
    def _begin_fit(self, fit, *, eval_k=10):
        eval_k = check_int(eval_k, "eval_k", min_value=1)
        user_items = fit.user_items
        threshold = resolve_threshold(self.positive_threshold, fit.meta["kind"])
        pos = positives(user_items, threshold, fit.meta["has_ratings"])
        if pos.nnz == 0:
            raise ValueError(f"X has no positive interactions (positive_threshold={self.positive_threshold!r}"
                             f"{'' if threshold == self.positive_threshold else f' = {threshold}'})")
        if fit.eval_matrix is not None:
            fit.evaluation = RankingEvaluation(user_items, fit.eval_matrix, eval_k,
                                               resolve_threshold(self.eval_threshold, fit.meta["kind"]))
        n_users, n_items = user_items.shape
        fit.rng = check_random_state(self.random_state)
        K = int(self.factors)
        scale = float(self.init_scale) / np.sqrt(K)
        self._start_state(fit, user_factors=(fit.rng.standard_normal((n_users, K)) * scale).astype(fit.dtype),
                          item_factors=(fit.rng.standard_normal((n_items, K)) * scale).astype(fit.dtype))
        fit.positives = pos
        fit.user_of_entry = row_of_entry(pos.indptr)   # lets the kernel sample (u, i) without a binary search
        fit.n_samples = int(self.n_samples) if self.n_samples is not None else int(pos.nnz)
        fit.learning_rate = float(self.learning_rate)

    def _run_epoch(self, fit, epoch):
        lr = fit.learning_rate
        loss, skipped = bpr_sgd_epoch(
            fit.positives, fit.user_of_entry, self.user_factors, self.item_factors, self.item_bias,
            n_samples=fit.n_samples, learning_rate=lr, regularization=self.regularization,
            bias_regularization=self.bias_regularization, seed=int(fit.rng.integers(0, 2**63 - 1)),
            num_threads=fit.num_threads, run_length=int(self.run_length),
        )
        if not (np.isfinite(self.user_factors).all() and np.isfinite(self.item_factors).all()
                and np.isfinite(self.item_bias).all()):
            raise FloatingPointError(f"BPR diverged in epoch {epoch} (non-finite factors); lower learning_rate "
                                     f"(now {lr:g}) or raise regularization")
        fit.learning_rate = lr * float(self.learning_rate_decay)
        return {"loss": float(loss), "skipped": int(skipped), "learning_rate": lr}

    def _epoch_metrics(self, fit, record):
        return {"samples_per_second": fit.n_samples / max(record["seconds"], 1e-12)}

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
        negatives = check_int(negatives, "negatives", min_value=1)
        newton_steps = check_int(newton_steps, "newton_steps", min_value=1)
        idx, values = self._fold_in_input(items, ratings)
        check_some_positive(idx, values, resolve_threshold(self.positive_threshold, self.input_kind_))
        return self._fold_in_one(idx, values, negatives=negatives, newton_steps=newton_steps)

    def _fold_in_indices(self, idx, values, negatives=500, newton_steps=10):
        idx, _ = positive_entries(idx, values, resolve_threshold(self.positive_threshold, self.input_kind_))  # refuses negative strengths, as fit does
        pos = np.unique(idx).astype(np.int32)
        vecs = self._fold_in_users(np.array([0, len(pos)], np.int32), pos, negatives, newton_steps, num_threads=1)
        return vecs[0], 0.0

    def _solve_rows(self, side, rows, index=None):
        """BPR fold-in of every row of ``rows`` (users x the model's items) in one kernel call.

        Each row's positives are its entries passing ``positive_threshold`` (negative
        strengths refused, as in ``fit``); :meth:`fold_in` explains the objective.
        """
        if side != "user":
            raise NotImplementedError(f"{type(self).__name__} cannot re-solve item rows (no item-side solve)")
        pos = positives(rows, resolve_threshold(self.positive_threshold, self.input_kind_))
        vecs = self._fold_in_users(pos.indptr.astype(np.int32), pos.indices.astype(np.int32), 500, 10,
                                   num_threads=self._threads())
        dtype = self.item_factors.dtype
        return vecs.astype(dtype), np.zeros(rows.shape[0], dtype)

    def _negative_ranks(self, counts, n_neg):
        """Each user's negatives as sorted ranks among the items that are not their positives (CSR).

        The sample :meth:`fold_in` has always drawn: for a user with c > 0 positives and
        m = n_items - c > n_neg other items, ``sort(rng.choice(m, n_neg, replace=False))``
        with ``rng = check_random_state(random_state)`` made afresh for the user (so an int
        seed gives every user with the same m the same ranks: computed once per m); all m
        items when m <= n_neg; none for a user without positives.
        """
        n_items = self.n_items
        seed = self.random_state
        fixed_seed = isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_))
        cache = {}
        parts = []
        indptr = np.zeros(len(counts) + 1, np.int64)
        for r, c in enumerate(counts.tolist()):
            m = n_items - c
            if c == 0:
                ranks = None
            else:
                rng = None if fixed_seed else check_random_state(seed)   # advances a RandomState per user, as before
                if m <= n_neg:
                    ranks = np.arange(m, dtype=np.int32)
                elif fixed_seed:
                    ranks = cache.get(m)
                    if ranks is None:
                        ranks = cache[m] = np.sort(check_random_state(seed).choice(m, n_neg, replace=False)
                                                   ).astype(np.int32)
                else:
                    ranks = np.sort(rng.choice(m, n_neg, replace=False)).astype(np.int32)
            if ranks is not None and len(ranks):
                parts.append(ranks)
                indptr[r + 1] = len(ranks)
        np.cumsum(indptr, out=indptr)
        ranks = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        return indptr, ranks

    def _fold_in_users(self, pos_indptr, pos_indices, n_neg, steps, *, num_threads):
        """float64 (n, K) vectors of the users whose positives are the CSR rows given (int32, sorted)."""
        neg_indptr, neg_ranks = self._negative_ranks(np.diff(pos_indptr), int(n_neg))
        if neg_indptr[-1] > np.iinfo(np.int32).max:
            raise ValueError(f"too many negatives in one call ({int(neg_indptr[-1])}): fold in fewer users at once")
        with blas_limited():   # the kernel calls BLAS/LAPACK from its OpenMP threads
            out, bad = bpr_fold_in_rows(pos_indptr, pos_indices, neg_indptr.astype(np.int32), neg_ranks,
                                        self.item_factors, self.item_bias, regularization=self.regularization,
                                        newton_steps=steps, num_threads=num_threads)
        if bad >= 0:
            raise FloatingPointError(f"BPR fold-in: the Newton system of row {bad} is not positive definite; "
                                     "raise regularization")
        return out
