"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008).

Every (user, item) cell has a preference p_ui (1 if the user interacted, else
0) and a confidence c_ui (1 for cells without an interaction). On an observed
cell with value r_ui (a count, a strength, or 1)::

    confidence="linear" (default):  c_ui = 1 + alpha * r_ui      (Hu, Koren & Volinsky)
    confidence="raw":               c_ui = alpha * r_ui          (implicit's convention: the
                                                                  matrix holds the confidence)

With implicit's defaults (alpha = 1, binary data) "raw" gives observed cells
confidence 1, the same as unobserved ones; "linear" gives them 1 + alpha. The
model minimises::

    L = sum_{u,i} c_ui (p_ui - u . v_i)^2 + reg (sum_u ||u||^2 + sum_i ||v_i||^2)

Each half-sweep solves, per row, (Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u,
where Y^T Y is shared by all rows and computed once per half-sweep; the kernel
uses conjugate gradient (warm-started, ``cg_steps`` steps) or Cholesky.

Genre prior (``genre_share`` s > 0 and item genres given to ``fit``): as in
GenreALS, the item vectors lean toward their genres' centroid. The share s of
the item regularization pulls toward the centroid instead of toward 0: the
item penalty ``reg * sum_i ||v_i||^2`` becomes::

    reg * (1 - s) * sum_i ||v_i||^2 + tau * ( sum_i ||v_i - c_i||^2 + gamma * ||W||^2 ),
    tau = s * reg,   c_i = (G W)_i

with G the genre multi-hot, rows normalised to sum 1, W (n_genres, K) and gamma
``genre_regularization``; users keep ``reg``. The item system keeps its diagonal
reg I, and its right-hand side gains tau c_i (the kernel's prior argument). W
is then the ridge regression of the item vectors on G. An item with no
positives gets v_i = (U^T U + reg I)^-1 tau c_i rather than 0: never-liked
movies are ranked by their genres. (Parametrised as a share so that one
``regularization`` serves the model with and without genres: the ranking is
unchanged by rescaling U up and V down, under which only the product of the
user and item penalties matters, and a separate absolute weight tau would
have moved the best user regularization.)

Frequency-scaled regularization (``regularization_exponent`` nu, Rendle et al.,
"Revisiting the Performance of iALS on Item Recommendation Benchmarks", 2022):
row r's whole penalty (``reg``, and on the item side with the prior both
``reg (1 - s)`` and ``tau``) is multiplied by::

    s_r = ((n_r + 1) / (nbar + 1)) ** nu

with n_r the row's positives (a user's liked items, an item's users) and nbar
their mean over that side's rows in the training data (stored at ``fit``, so a
folded-in user or a ``partial_fit`` row is scaled the same way). nu = 0 is the
plain model; the normalisation keeps ``regularization`` the weight of an
average row whatever nu.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _predict
from .._memory import as_aligned
from .._threads import blas_limited
from .._sparse import row_of_entry
from .._validation import check_choice, check_csr, check_float, check_int, check_random_state
from ._implicit_data import (check_some_positive, check_threshold, positive_entries, positives, resolve_binarize,
                             resolve_threshold)
from ._kernels import SOLVERS, solve_implicit_rows
from ._training import RankingEvaluation
from .base import FactorModel, register_model
from .._item_features import DEFAULT_YEAR_EDGES, append_year_buckets
from .genre_als import normalised_genres, saved_genre_state


def frequency_scale(counts, nbar, nu):
    """Per-row penalty factors ((n + 1) / (nbar + 1)) ** nu (float64, C-contiguous) of rows with ``counts``
    positives, or None when nu = 0 (the kernel's unscaled path). Shared by the model and the distributed fit."""
    if nu == 0:
        return None
    counts = np.asarray(counts, dtype=np.float64)
    return np.ascontiguousarray(((counts + 1.0) / (float(nbar) + 1.0)) ** float(nu), dtype=np.float64)


@register_model
class ImplicitALS(FactorModel):
    """Weighted matrix factorization for implicit feedback, trained by ALS.

    Parameters
    ----------
    factors : int, default 64
    regularization : float, default 30.0
    alpha : float, default 4.0
        Confidence slope: c = 1 + alpha * r (``confidence="linear"``) or c = alpha * r
        (``"raw"``) on observed cells. The defaults (lambda 30, alpha 4, linear
        confidence) were chosen by validation NDCG@10 only (never a test set) on
        ml-latest-small, binarized ratings >= 4, K = 64: a grid (lambda 3-100,
        alpha 0.5-9) on a validation split carved from the train part of a
        per-user temporal 80/20 split (temporal again) and of a random 80/20
        split (seed 42; validation seed 1). They are the best on the temporal
        validation (0.1347 vs 0.1273 for the former 10 / 1) and 0.0015 below
        the best on the random one (lambda 45, alpha 6). What matters most is
        lambda relative to the confidence, lambda / (1 + alpha) ~ 6; a larger
        confidence then helps. With ``regularization_exponent`` (below) lambda
        is the weight of a row with its side's mean number of positives (more
        for busier rows); lambda 30 stayed best when the exponents were chosen.
    confidence : {"linear", "raw"}, default "linear"
        How a stored value r becomes a confidence (module docstring). Use "raw" (and
        implicit's alpha) to reproduce a model trained with the ``implicit`` package.
    iterations : int, default 15
    solver : {"cg", "cholesky"}, default "cg"
    cg_steps : int, default 3
    positive_threshold : float, None or "auto", default "auto"
        Explicit ratings below this are dropped before training (not
        positives); None keeps every interaction with r = its value. An
        ``Interactions`` without ratings keeps every interaction. "auto": 4.0 for
        an ``Interactions`` with ratings, None for a bare scipy.sparse matrix (as
        implicit: every stored value is an interaction).
    binarize : bool or "auto", default "auto"
        True: r = 1 for every kept interaction (confidence 1 + alpha), rather
        than the stored value. "auto": True for an ``Interactions`` with ratings
        (stars are not strengths), False otherwise (a bare matrix's counts or
        strengths are the confidence input, as in implicit).
    eval_threshold : float, None or "auto", default "auto"
        Relevance threshold on ``eval_set`` values ("auto" as ``positive_threshold``).
    init_scale : float, default 0.1
    dtype, num_threads, random_state
        As in :class:`mfcore.models.ExplicitALS`.
    calculate_training_loss : bool, default False
        Log the objective L (module docstring, float64) after every epoch
        (``history_``: ``objective``). It costs one more pass over the training
        interactions per epoch, so it is off by default (as in implicit).
    genre_share : float in [0, 1], default 0.9
        s, the share of the item regularization that pulls each item vector
        toward its genres' centroid rather than toward 0 (module docstring).
        Used only when ``fit`` gets genres (``item_genres=``, or an
        ``Interactions`` with genres); 0 switches the prior off. The default
        was chosen on validation only, as lambda and alpha below (same splits,
        lambda 30 and alpha 4 fixed, s in {0.5, 0.7, 0.8, 0.85, 0.9, 0.95}): the
        smallest worst-case gap to each split's best validation NDCG@10 over
        every setting tried with genres (~190 fits of lambda 5-40, alpha 4-8,
        absolute prior weights 3-120): 0.0009 temporal, 0.0008 random; the
        validation AUC rises from 0.892 / 0.914 (no prior) to 0.907 / 0.927.
    genre_regularization : float, default 1.0
        gamma, ridge penalty of the genre projection W.
    regularization_exponent : float in [-4, 4], default 0.5
        nu: frequency-scaled regularization (module docstring): a row with n
        positives has its penalty multiplied by ((n + 1) / (nbar + 1)) ** nu, nbar
        the side's mean count (users, and items unless
        ``item_regularization_exponent`` is given). 0 (with the item exponent 0
        or None) is the plain model, bit for bit.
    item_regularization_exponent : float in [-4, 4] or None, default 0.125
        nu of the item rows; None: ``regularization_exponent``. The defaults
        (0.5 users, 0.125 items, with lambda 30 kept) were chosen on validation
        only, with the protocol of ``regularization`` above (ml-latest-small,
        K = 64, genre prior + release years, popularity bias; validation splits
        carved from the train part of the temporal and the random 80/20 split),
        mean validation NDCG@10 over seeds 0-2, grid nu_user {0, 0.25, 0.375,
        0.5, 0.625, 0.75, 1} x nu_item {0, 0.0625, 0.125, 0.25} x lambda {27.5,
        30, 32.5}: the smallest worst-case gap to each split's best (0.0012;
        0.0107 for nu = 0; ``benchmarks/tools/ials_regularization_exponent.py``). Validation NDCG@10 0.1339 -> 0.1347 temporal (within
        seed noise), 0.2145 -> 0.2240 random; AUC 0.929 -> 0.930, 0.942 ->
        0.946. Without the genre prior the same setting gives 0.1332 -> 0.1321
        temporal, 0.2108 -> 0.2189 random.
    release_years : bool, default True
        With the genre prior on, fitted on an ``Interactions`` with genres and
        titles ending in "(YYYY)" (MovieLens), append one-hot release-year
        buckets to the genres (``mfcore.data.features``), as GenreALS does: the
        centroid is then that of the movie's genres and era (``genre_names``
        lists the columns; ``item_factors_from_genres`` takes rows of all of
        them). Ignored when ``item_genres=`` is passed. On the validation
        splits (lambda 30, alpha 4, s 0.9): AUC +0.012 temporal / +0.007
        random, NDCG@10 -0.0014 / +0.0028.

    popularity_bias : float >= 0, default 0.005
        beta: every item's score gains a fixed bias ``item_bias_i = beta * log(1 +
        n_i)``, with n_i the item's stored entries in the training matrix (every rating,
        also those below ``positive_threshold``: a rated movie was watched).
        It is not trained (the factors are the same with any beta); it moves popular
        movies up among items of similar fit, which mostly lifts AUC (computed over
        every candidate, including never-rated long-tail movies). Scores u.v estimate
        the preference p in [0, 1], so beta is in those units. 0 switches it off.
        ``partial_fit_items`` recomputes it from the given rows; items added by
        ``partial_fit_items`` without interactions get 0. Chosen on validation only
        (module ``benchmarks/ranking_quality.py`` protocol; temporal and random 80/20
        validation splits carved from train, defaults otherwise; beta in {0, 0.005,
        0.01, ..., 0.03}, n_i counting every rating or only positives): the largest
        AUC gain whose validation NDCG@10 stays within 0.001 of beta = 0 on both
        splits: AUC 0.919 -> 0.928 temporal, 0.934 -> 0.942 random.

    Notes
    -----
    ``fit(X, eval_set=..., eval_k=10, early_stopping_rounds=r)`` logs AUC and
    NDCG@``eval_k`` on the held-out interactions and keeps the factors of the epoch
    with the best NDCG; see :meth:`FactorModel.fit`. ``fit(X, item_genres=G)`` takes
    an (n_items, n_genres) multi-hot matrix for the genre prior.
    """

    _progress_fields = ("objective",)
    _count_means = (0.0, 0.0)   # mean positives per user and per item in the training data (fit)
    genre_factors = None
    genre_names = None
    _G = None

    @property
    def _snapshot_arrays(self):
        base = FactorModel._snapshot_arrays
        return base + ("genre_factors",) if self._G is not None else base

    def __init__(self, factors=64, regularization=30.0, alpha=4.0, iterations=15, solver="cg", cg_steps=3,
                 positive_threshold="auto", binarize="auto", eval_threshold="auto", init_scale=0.1, dtype="float32",
                 num_threads=0, random_state=0, calculate_training_loss=False, confidence="linear", genre_share=0.9,
                 genre_regularization=1.0, release_years=True, popularity_bias=0.005, regularization_exponent=0.5,
                 item_regularization_exponent=0.125):
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
        self.confidence = confidence
        self.genre_share = genre_share
        self.genre_regularization = genre_regularization
        self.release_years = release_years
        self.popularity_bias = popularity_bias
        self.regularization_exponent = regularization_exponent
        self.item_regularization_exponent = item_regularization_exponent

    def _validate_params(self):
        super()._validate_params()
        check_int(self.factors, "factors", min_value=1)
        check_float(self.regularization, "regularization", min_value=0.0)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_choice(self.solver, "solver", set(SOLVERS))
        check_int(self.cg_steps, "cg_steps", min_value=1)
        check_threshold(self.positive_threshold, "positive_threshold")
        if not (isinstance(self.binarize, bool) or isinstance(self.binarize, str) and self.binarize == "auto"):
            raise ValueError(f"binarize must be True, False or 'auto', got {self.binarize!r}")
        check_threshold(self.eval_threshold, "eval_threshold")
        check_choice(self.confidence, "confidence", {"linear", "raw"})
        check_float(self.init_scale, "init_scale", min_value=0.0)
        check_choice(self.calculate_training_loss, "calculate_training_loss", {True, False})
        check_float(self.genre_share, "genre_share", min_value=0.0, max_value=1.0)
        check_float(self.genre_regularization, "genre_regularization", min_value=0.0, min_inclusive=False)
        if not isinstance(self.release_years, (bool, np.bool_)):
            raise TypeError(f"release_years must be True or False, got {self.release_years!r}")
        check_float(self.popularity_bias, "popularity_bias", min_value=0.0)
        self._exponents()

    def _exponents(self):
        """(nu_user, nu_item), checked."""
        nu = check_float(self.regularization_exponent, "regularization_exponent", min_value=-4.0, max_value=4.0)
        if self.item_regularization_exponent is None:
            return nu, nu
        return nu, check_float(self.item_regularization_exponent, "item_regularization_exponent", min_value=-4.0,
                               max_value=4.0)

    def _reg_scale(self, side, counts):
        """Per-row penalty factors ((n + 1) / (nbar + 1)) ** nu (float64) for rows with ``counts`` positives
        on ``side``, or None when nu = 0 there (the kernel's unscaled path)."""
        k = 0 if side == "user" else 1
        return frequency_scale(counts, self._count_means[k], self._exponents()[k])

    def _popularity_bias(self, rows, dtype):
        """beta * log(1 + n) per row of ``rows`` (items x users CSR, raw values): n = the row's stored entries."""
        counts = np.diff(rows.indptr)
        return (float(self.popularity_bias) * np.log1p(counts.astype(np.float64))).astype(dtype)

    def _confidence_minus_one(self, r):
        """c - 1 (what the kernels take) of stored values ``r`` (already thresholded / binarized)."""
        c1 = float(self.alpha) * r
        return c1 - 1.0 if self.confidence == "raw" else c1

    def _resolved(self, input_kind):
        """(positive_threshold, binarize) for data of ``input_kind``, "auto" resolved."""
        return (resolve_threshold(self.positive_threshold, input_kind),
                resolve_binarize(self.binarize, input_kind))

    def _confidence(self, user_items, has_ratings=True, input_kind="ratings"):
        threshold, binarize = self._resolved(input_kind)
        pos = positives(user_items, threshold, has_ratings)
        values = np.ones_like(pos.data) if binarize else pos.data
        if (values < 0).any():
            raise ValueError("interaction values must be >= 0 for implicit ALS (confidence 1 + alpha * r)")
        conf = sp.csr_matrix((self._confidence_minus_one(values).astype(pos.dtype), pos.indices, pos.indptr),
                             shape=pos.shape)
        conf.has_sorted_indices = True
        return conf

    # ------------------------------------------------------------------ fit
    def _begin_fit(self, fit, *, eval_k=10, item_genres=None):
        eval_k = check_int(eval_k, "eval_k", min_value=1)
        user_items = fit.user_items
        genres = item_genres if item_genres is not None else fit.meta.get("item_genres")
        G, year_names = None, []
        if genres is not None and float(self.genre_share) > 0:
            G = normalised_genres(genres, user_items.shape[1], np.float64)   # checked before any state changes
            titles = fit.meta.get("titles") if item_genres is None and self.release_years else None
            if titles is not None:
                with_years, names = append_year_buckets(genres, list(titles), DEFAULT_YEAR_EDGES)
                if with_years.nnz > G.nnz:                  # some title carries a year
                    genres, year_names = with_years, names
                    G = normalised_genres(genres, user_items.shape[1], np.float64)
        fit.conf_ui = self._confidence(user_items, fit.meta["has_ratings"], fit.meta["kind"])
        if fit.conf_ui.nnz == 0:
            threshold = resolve_threshold(self.positive_threshold, fit.meta["kind"])
            raise ValueError(f"X has no positive interactions (positive_threshold={self.positive_threshold!r}"
                             f"{'' if threshold == self.positive_threshold else f' = {threshold}'})")
        fit.conf_iu = check_csr(fit.conf_ui.T.tocsr(), "X (transposed)", dtype=fit.dtype)
        if fit.eval_matrix is not None:
            fit.evaluation = RankingEvaluation(user_items, fit.eval_matrix, eval_k,
                                               resolve_threshold(self.eval_threshold, fit.meta["kind"]))
        n_users, n_items = user_items.shape
        rng = check_random_state(self.random_state)
        K = int(self.factors)
        scale = float(self.init_scale) / np.sqrt(K)
        self._start_state(fit, user_factors=(rng.standard_normal((n_users, K)) * scale).astype(fit.dtype),
                          item_factors=(rng.standard_normal((n_items, K)) * scale).astype(fit.dtype),
                          item_bias=self._popularity_bias(user_items.T.tocsr(), fit.dtype))
        fit.solve = dict(reg=self.regularization, solver=self.solver, cg_steps=self.cg_steps,
                         num_threads=fit.num_threads)
        counts = (np.diff(fit.conf_ui.indptr), np.diff(fit.conf_iu.indptr))
        self._count_means = (float(np.mean(counts[0])), float(np.mean(counts[1])))
        fit.reg_scale = {"user": self._reg_scale("user", counts[0]), "item": self._reg_scale("item", counts[1])}
        self._G = G
        self.genre_factors = self.genre_names = self._genre_matrix = None
        if G is not None:
            self._genre_matrix = sp.csr_matrix(genres, dtype=np.float32)
            names = fit.meta.get("genre_names") if item_genres is None else None
            names = (list(names) if names is not None
                     else [f"genre_{g}" for g in range(G.shape[1] - len(year_names))])
            self.genre_names = names + list(year_names)
            self._update_projection(fit.reg_scale["item"], fit)
        # the observed cells as (user, item, c - 1) for the training loss
        fit.observed = ((row_of_entry(fit.conf_ui.indptr), fit.conf_ui.indices, fit.conf_ui.data)
                        if self.calculate_training_loss else None)

    def _run_epoch(self, fit, epoch):
        for side, conf, fixed, solved, ids in (("user", fit.conf_ui, self.item_factors, self.user_factors, self._users),
                                               ("item", fit.conf_iu, self.user_factors, self.item_factors, self._items)):
            solve = fit.solve
            if side == "item" and self._G is not None:
                reg_item, tau = self._item_penalties()
                solve = dict(solve, reg=reg_item, prior=self._centroids(self.item_factors.dtype), prior_weight=tau)
            status = solve_implicit_rows(conf, fixed, solved, reg_scale=fit.reg_scale[side], **solve)
            if status >= 0:
                raise FloatingPointError(f"epoch {epoch}: the solve failed for {side} "
                                         f"{ids.to_raw(np.array([status]))[0].item()!r} (index {status}); "
                                         "increase regularization")
        if self._G is not None:
            self._update_projection(fit.reg_scale["item"], fit)
        return {}

    # ------------------------------------------------------------ genre prior
    def _item_penalties(self):
        """(reg * (1 - s), tau = reg * s): the item side's L2 weight toward 0 and toward the centroid."""
        reg, share = float(self.regularization), float(self.genre_share)
        return reg * (1.0 - share), reg * share

    def _update_projection(self, weights=None, fit=None):
        """W = (G^T G + gamma I)^-1 G^T V: the ridge regression of the item vectors on the genres (float64).

        ``weights`` (n_items,) or None: the items' penalty factors s_i (``regularization_exponent``); the
        regression is then weighted, W = (G^T S G + gamma I)^-1 G^T S V, the minimiser of the prior's terms
        tau (sum_i s_i ||v_i - (G W)_i||^2 + gamma ||W||^2). ``fit``: the fit's state, where S G and the
        Gram are kept between epochs (they do not change during a fit).
        """
        terms = getattr(fit, "projection_terms", None)
        if terms is None:
            G = self._G
            SG = G if weights is None else sp.diags(weights) @ G
            terms = (SG, (G.T @ SG).toarray() + float(self.genre_regularization) * np.eye(G.shape[1]))
            if fit is not None:
                fit.projection_terms = terms
        SG, gram = terms
        self.genre_factors = np.linalg.solve(gram, SG.T @ self.item_factors.astype(np.float64))

    def _centroids(self, dtype=np.float64):
        """c = G W, (n_items, K), C-contiguous, of ``dtype``."""
        return np.ascontiguousarray(self._G @ self.genre_factors, dtype=dtype)

    def item_factors_from_genres(self, genres):
        """Vectors the model gives items with these genres and no positives (the item solve with an empty row).

        Parameters
        ----------
        genres : (n, n_genres) multi-hot matrix (dense or scipy.sparse)

        Returns
        -------
        numpy.ndarray (n, K) of the model's dtype
            ``(U^T U + reg I)^-1 tau c`` for each row's centroid c = G W (tau = reg * genre_share).
        """
        self._check_fitted()
        if self._G is None:
            raise ValueError("this ImplicitALS was fitted without the genre prior (genre_share > 0 and item "
                             "genres passed to fit)")
        rows = normalised_genres(genres, np.shape(genres)[0], np.float64)
        if rows.shape[1] != self.genre_factors.shape[0]:
            raise ValueError(f"genres must have {self.genre_factors.shape[0]} columns, got {rows.shape[1]}")
        reg_item, tau = self._item_penalties()
        scale = self._reg_scale("item", [0])              # an item without positives: n = 0
        if scale is not None:
            reg_item, tau = reg_item * scale[0], tau * scale[0]
        U = self.user_factors.astype(np.float64)
        A = U.T @ U + (reg_item + tau) * np.eye(U.shape[1])
        return np.linalg.solve(A, tau * (rows @ self.genre_factors).T).T.astype(self.item_factors.dtype)

    def _epoch_metrics(self, fit, record):
        if fit.observed is None:
            return {}
        return {"objective": self._objective(fit.observed, fit.num_threads, fit.reg_scale)}

    def _objective(self, observed, num_threads, reg_scale=None) -> float:
        """The objective L at the current factors, float64, without a pass over all users x items.

        With x = U V^T, p = 1 and c = 1 + alpha r on the observed cells O (0 and 1 elsewhere)::

            L = sum_all x^2 - sum_O x^2 + sum_O c (1 - x)^2 + reg (||U||^2 + ||V||^2)
            sum_all x^2 = sum((U^T U) * (V^T V))

        so one pass over the observed cells (x from the prediction kernel) suffices. ``reg_scale``
        ({"user": s or None, "item": s or None}): each row's penalty terms times its s_r.
        """
        users, items, alpha_r = observed
        x = np.empty(len(users), dtype=self.item_factors.dtype)
        # u . v only: the popularity bias is added to scores after training, it is not part of L
        zeros = self._cached("zero_item_bias", lambda: np.zeros_like(self.item_bias))
        _predict.predict_pairs(users, items, self.user_factors, self.user_bias, self.item_factors, zeros,
                               0.0, x, num_threads)
        x = x.astype(np.float64)
        U, V = self.user_factors.astype(np.float64), self.item_factors.astype(np.float64)
        all_cells = float(np.sum((U.T @ U) * (V.T @ V)))
        observed_cells = float(np.sum((1.0 + alpha_r) * np.square(1.0 - x) - np.square(x)))
        su, si = (None, None) if reg_scale is None else (reg_scale["user"], reg_scale["item"])

        def sq(M, s):     # sum_r s_r ||M_r||^2 (s None: every s_r = 1)
            rows = np.sum(M * M, axis=1)
            return float(np.sum(rows if s is None else s * rows))

        if self._G is None:
            penalty = float(self.regularization) * (sq(U, su) + sq(V, si))
        else:
            reg_item, tau = self._item_penalties()
            penalty = (float(self.regularization) * sq(U, su) + reg_item * sq(V, si)
                       + tau * (sq(V - self._centroids(), si)
                                + float(self.genre_regularization) * float(np.sum(self.genre_factors ** 2))))
        return all_cells + observed_cells + penalty

    # --------------------------------------------------------------- fold-in
    def fold_in(self, items, ratings=None):
        """User vector for a new user: one exact user-row solve with items fixed.

        ``items`` are the user's interactions; with ``ratings`` given, only those
        rated >= ``positive_threshold`` count (as in training).

        ``(Y^T Y + Y_u^T (C_u - I) Y_u + reg_u I) x = Y_u^T c_u`` in float64, with reg_u the
        regularization times the user's frequency scale ``((n + 1) / (nbar + 1)) ** nu`` (n = the
        user's positives, nbar and nu as in training).
        Returns (vector, 0.0).
        """
        idx, values = self._fold_in_input(items, ratings)
        check_some_positive(idx, values, self._resolved(self.input_kind_)[0])
        return self._fold_in_one(idx, values)

    def _fold_in_indices(self, idx, r):
        threshold, binarize = self._resolved(self.input_kind_)
        idx, r = positive_entries(idx, r, threshold)  # refuses negative strengths, as fit does
        if r is None or binarize:
            r = np.ones(len(idx))
        Yu = self.item_factors[idx].astype(np.float64)
        c1 = self._confidence_minus_one(r)
        A = self._item_gram() + (Yu.T * c1) @ Yu + self._user_reg(len(idx)) * np.eye(Yu.shape[1])
        return np.linalg.solve(A, Yu.T @ (1.0 + c1)), 0.0

    def _user_reg(self, n_positives):
        """The L2 weight of a user row with ``n_positives`` positives (regularization_exponent applied)."""
        scale = self._reg_scale("user", [n_positives])
        return float(self.regularization) * (1.0 if scale is None else float(scale[0]))

    def _solve_rows(self, side, rows, index=None):
        """Every row of ``rows`` solved exactly (Cholesky) in one half-sweep kernel call, other side fixed.

        ``rows`` holds raw values; the model's threshold, binarization and confidence
        apply as in ``fit``. Y^T Y of the fixed side is cached until the factors change.
        """
        fixed = self.item_factors if side == "user" else self.user_factors
        dtype = fixed.dtype
        prior, reg = {}, self.regularization
        if side == "item" and self._G is not None:
            if index is None or (np.asarray(index) < 0).any():
                raise ValueError("an ImplicitALS with the genre prior re-solves only items it knows (their genres "
                                 "give the prior)")
            reg, tau = self._item_penalties()
            prior = dict(prior=np.ascontiguousarray(self._centroids(dtype)[np.asarray(index)]), prior_weight=tau)
        conf = self._confidence(rows, self.input_kind_ != "interactions", self.input_kind_)
        vecs = as_aligned(np.zeros((rows.shape[0], fixed.shape[1]), dtype), dtype)
        gram = self._cached(("gram", side), lambda: np.ascontiguousarray(
            (fixed.astype(np.float64).T @ fixed.astype(np.float64)).astype(dtype)))
        with blas_limited():
            status = solve_implicit_rows(conf, fixed, vecs, reg=reg, solver="cholesky",
                                         cg_steps=int(self.cg_steps), num_threads=self._threads(), gram=gram,
                                         reg_scale=self._reg_scale(side, np.diff(conf.indptr)), **prior)
        if status >= 0:
            raise FloatingPointError(f"the {side} solve failed for row {status} of the given matrix; "
                                     "increase regularization")
        bias = self._popularity_bias(rows, dtype) if side == "item" else np.zeros(rows.shape[0], dtype)
        return vecs, bias

    # --------------------------------------------------------------- explain
    def explain(self, userid, user_items, itemid, user_weights=None, N=10):
        """Why ``itemid`` scores as it does for a user: each of the user's items' share (implicit's form).

        Hu, Koren & Volinsky (2008, section 5): with ``W_u = (Y^T C_u Y + reg_u I)^-1`` (reg_u as in
        :meth:`fold_in`) the
        user's vector is ``x_u = W_u sum_j c_uj y_j``, so the score splits over the user's
        items j as ``s_j = (y_i^T W_u y_j) c_uj`` and ``x_u . y_i = sum_j s_j``.

        Parameters
        ----------
        userid : id
            Used to pick the user's row when ``user_items`` has one row per model user.
        user_items : scipy.sparse matrix, (1, n_items) or (n_users, n_items)
            The user's interactions (raw values; the model's threshold and confidence apply).
        itemid : id
            The item to explain.
        user_weights : tuple, optional
            The Cholesky factor of ``W_u^-1`` returned by a previous call for this user
            (``scipy.linalg.cho_factor`` form); skips the K x K factorization.
        N : int
            Number of top contributions returned.

        Returns
        -------
        total_score : float
            ``sum_j s_j``, the score of the item for the user re-solved from ``user_items``
            (float64).
        top_contributions : list of (item id, float)
            The N items with the largest ``s_j``, largest first.
        user_weights : tuple
            Pass it back to explain more items for the same user.
        """
        import scipy.linalg

        self._check_fitted()
        N = check_int(N, "N", min_value=1)
        user_items = check_csr(user_items, "user_items", dtype=np.float64)
        if user_items.shape[1] != self.n_items:
            raise ValueError(f"user_items must have one column per item ({self.n_items}), got {user_items.shape[1]}")
        if user_items.shape[0] == 1:
            row = user_items
        elif user_items.shape[0] == self.n_users:
            row = user_items[self._users.lookup(userid)]
        else:
            raise ValueError(f"user_items must hold the user's row (shape (1, {self.n_items})) or one row per "
                             f"model user ({self.n_users}), got {user_items.shape}")
        threshold, binarize = self._resolved(self.input_kind_)
        pos = positives(row, threshold, self.input_kind_ != "interactions")
        idx = pos.indices.astype(np.int64)
        r = np.ones(len(idx)) if binarize else pos.data.astype(np.float64)
        c1 = self._confidence_minus_one(r)                    # c - 1
        Y = self.item_factors
        Yu = Y[idx].astype(np.float64)
        if user_weights is None:
            A = self._item_gram() + (Yu.T * c1) @ Yu + self._user_reg(len(idx)) * np.eye(Y.shape[1])
            user_weights = scipy.linalg.cho_factor(A)
        weighted = scipy.linalg.cho_solve(user_weights, Y[self._items.lookup(itemid)].astype(np.float64))
        contributions = (Yu @ weighted) * (1.0 + c1)          # s_j = (y_i^T W_u y_j) c_uj
        order = np.argsort(-contributions, kind="stable")[:N]
        items = self._items.to_raw(idx[order])
        top = [(item.item() if hasattr(item, "item") else item, float(contributions[k]))
               for item, k in zip(items, order)]
        return float(contributions.sum()), top, user_weights

    def _item_gram(self):
        """Y^T Y of the current item factors in float64, cached until the factors change."""
        return self._cached("item_gram", lambda: self.item_factors.astype(np.float64).T
                            @ self.item_factors.astype(np.float64))

    def _check_can_grow(self, side, n_new):
        if side == "item" and n_new and self._G is not None:
            raise ValueError("an ImplicitALS with the genre prior re-solves known items only (their genres give "
                             "the prior); item_factors_from_genres(genres) gives a new item's vector")
        super()._check_can_grow(side, n_new)

    # ------------------------------------------------------------ persistence
    def _extra_attributes(self):
        # only a model that uses them carries them (a default model's file is as before)
        return {"positive_count_means": list(self._count_means)} if any(self._exponents()) else {}

    def _extra_arrays(self):
        if self._G is None:
            return {}
        G = self._genre_matrix
        return {"genre_factors": self.genre_factors, "genre_indptr": G.indptr.astype(np.int64),
                "genre_indices": G.indices.astype(np.int32), "genre_data": G.data.astype(np.float32),
                "genre_names": np.asarray(self.genre_names, dtype=str)}

    def _restore_extra(self, arrays, attributes):
        means = attributes.get("positive_count_means")     # checked by mfcore._model_file
        if means is None and any(self._exponents()):
            raise ValueError("regularization_exponent is not 0 but the file has no positive_count_means")
        self._count_means = (0.0, 0.0) if means is None else (float(means[0]), float(means[1]))
        if "genre_factors" not in arrays:
            return
        self.genre_names, self._genre_matrix, self._G, _ = saved_genre_state(arrays, self.item_factors.shape[0])
        self.genre_factors = arrays["genre_factors"]
