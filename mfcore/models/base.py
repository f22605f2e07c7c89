"""Shared machinery of every mfcore model: parameters, the fit template, fitted state,
ids, inference, fold-in, save/load.

Every model scores a (user, item) pair as

    score(u, i) = global_mean + user_bias[u] + bias_weight * item_bias[i] + user_factors[u] . item_factors[i]

(models without biases keep them at zero). Ranking for one user only depends on
``bias_weight * item_bias[i] + u . v_i``; returned scores include the constant
``global_mean + user_bias[u]`` so explicit models report predicted ratings.

Ids: a model fitted on an object with vocabularies (``mfcore.Interactions``)
takes and returns the raw ids of that data (MovieLens userId / movieId); a model
fitted on a bare users x items sparse matrix takes and returns row / column
indices, as implicit does.

Coming from implicit
--------------------
Change the import; the calls stay::

    model = mfcore.ImplicitALS(factors=64, confidence="raw")   # implicit's c = alpha * r
    model.fit(user_items)                                        # bare csr_matrix: every stored value
                                                                 # is an interaction (no threshold,
                                                                 # counts not binarized)
    ids, scores = model.recommend(userid, user_items[userid], N=10)
    model.recommend(userids, user_items[userids], recalculate_user=True)   # one kernel call
    model.similar_items(itemid, N=10, filter_items=..., recalculate_item=..., item_users=...)
    model.similar_users(userid, N=10, filter_users=...)
    model.partial_fit_users(userids, user_items[userids])        # grows for new ids
    model.partial_fit_items(itemids, item_users[itemids])
    model.recalculate_user(userids, user_items[userids]); model.recalculate_item(...)
    total, top, weights = model.explain(userid, user_items[userid], itemid)   # ImplicitALS
    model.save(file_or_path); mfcore.load_model(file_or_path)
    model.user_factors, model.item_factors

Differences: ImplicitALS's default confidence is Hu et al.'s ``c = 1 + alpha * r``
(``confidence="linear"``); its L2 penalty grows with a row's number of positives
(``regularization_exponent`` 0.5 for users, ``item_regularization_exponent`` 0.125; both 0
give implicit's single lambda); ``similar_items`` never returns the query item itself
(implicit lists it first); ``recommend`` filters the training items by default without
``user_items``. An ``mfcore.Interactions`` with MovieLens ratings keeps the ratings
threshold (``positive_threshold="auto"`` = 4.0: only liked movies are positives).

Coming from scikit-learn: every model passes ``sklearn.base.clone``, ``get_params(deep=True)``
and ``set_params``; ``__init__`` only stores its arguments; ``random_state`` takes None, an int,
a ``numpy.random.Generator`` or ``RandomState``. ``fit(pandas.DataFrame)`` raises a TypeError
pointing to ``mfcore.Interactions.from_dataframe``; :meth:`FactorModel.recommend_frame`
returns recommendations as a tidy frame (user, rank, item, score).

Writing a model
---------------
A model subclasses :class:`FactorModel`, is decorated with :func:`register_model`
(so :meth:`FactorModel.load` finds it) and provides:

``__init__(self, <parameters>)``
    Stores each parameter under its own name and does nothing else (scikit-learn's
    rule: ``get_params``, ``set_params`` and ``sklearn.base.clone`` read the
    signature). Every model has ``iterations``, ``dtype`` and ``num_threads``.
``_validate_params(self)``
    Checks the parameters (called first by ``fit``); call ``super()._validate_params()``.
``_begin_fit(self, fit, **options)``
    Sets the initial fitted state with :meth:`_start_state`, stores on ``fit`` (a
    :class:`mfcore.models._training.FitState`) what the epochs need, and sets
    ``fit.evaluation`` when ``fit.eval_matrix`` is given. Its keyword-only
    parameters are the model's extra ``fit`` options (e.g. GenreALS's ``item_genres``).
``_run_epoch(self, fit, epoch) -> dict``
    The maths of one epoch (timed); returns extra history fields (may be empty).
``_epoch_metrics(self, fit, record) -> dict`` (optional)
    Untimed per-epoch training metrics (e.g. training RMSE).
``_fold_in_indices(self, item_indices, values) -> (vector, bias)``
    A new user's vector (float64 or model dtype, shape (K,)) and bias from item
    indices and their values (None when the caller gave no ratings).
``_snapshot_arrays``, ``_progress_fields`` (optional class attributes)
    Fitted arrays that early stopping saves and restores; history fields shown in
    the progress bar.

The epoch loop itself (timing, evaluation, early stopping, progress bar, callback,
Ctrl-C) lives in :mod:`mfcore.models._training`; predict, recommend, similar
items/users, batch fold-in and save/load live here.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import warnings

import numpy as np
import scipy.sparse as sp

from .._memory import as_aligned
from .._persist import save_arrays
from .._threads import blas_limited, resolve_num_threads
from .._validation import check_choice, check_csr, check_dtype, check_float, check_fold_in, check_int
from .._topk import _bf16_screening
from .._ranking import _csr_rows, check_user_side, item_bound, item_pack, top_n_checked
from ._ids import IdMap
from ._training import FitState, run_epochs

_MODEL_REGISTRY: dict[str, type] = {}


def _blas_guard(pack, N):
    """BLAS held to one thread around the top-N kernel -- unless its bfloat16 path runs
    (``pack`` available, N <= 256), which calls no BLAS: limiting costs ~50-100 us a call."""
    if pack is not None and N <= 256 and _bf16_screening():
        return contextlib.nullcontext()
    return blas_limited()


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit`` (or ``load``)."""


def register_model(cls):
    """Class decorator: make ``cls`` loadable by :meth:`FactorModel.load` from its name."""
    _MODEL_REGISTRY[cls.__name__] = cls
    return cls


def training_matrix(X, dtype, name="X"):
    """Split a training argument into (users x items CSR of ``dtype``, metadata dict).

    ``X`` is either a scipy sparse matrix (users x items, data = ratings or
    interaction strengths) or an object exposing ``user_items()`` and the
    vocabulary attributes of :class:`mfcore.Interactions` (duck-typed, so models
    never import the data layer).
    """
    meta = {"user_ids": None, "item_ids": None, "item_genres": None, "genre_names": None, "titles": None,
            "has_ratings": True, "kind": "sparse"}
    if type(X).__module__.split(".")[0] in ("pandas", "polars") and not sp.issparse(X):
        raise TypeError(
            f"{name} is a {type(X).__module__.split('.')[0]} {type(X).__name__}: build the users x items data with "
            f"mfcore.Interactions.from_dataframe(frame, user_col=..., item_col=..., rating_col=...) and pass "
            f"that (rating_col=None for implicit feedback; the model then keeps your raw user and item ids)"
        )
    if hasattr(X, "user_items") and callable(X.user_items):
        matrix = X.user_items()
        meta["user_ids"] = getattr(X, "user_ids", None)
        meta["item_ids"] = getattr(X, "item_ids", None)
        meta["item_genres"] = getattr(X, "item_genres", None)
        meta["genre_names"] = getattr(X, "genre_names", None)
        meta["titles"] = getattr(X, "titles", None)
        meta["has_ratings"] = bool(getattr(X, "has_ratings", True))
        meta["kind"] = "ratings" if meta["has_ratings"] else "interactions"
    elif sp.issparse(X):
        matrix = X
    else:
        raise TypeError(
            f"{name} must be an mfcore.Interactions or a scipy.sparse users x items matrix, got {type(X).__name__}"
        )
    return check_csr(matrix, name, dtype=dtype), meta


def seen_pattern(indptr, indices, shape, dtype):
    """The items-seen matrix a model keeps for filtering: the CSR pattern with unit values."""
    return sp.csr_matrix((np.ones(len(indices), dtype), indices, indptr), shape=shape)


def _replace_lines(seen, idx, rows, side):
    """``seen`` (users x items pattern) with the lines ``idx`` replaced by the pattern of ``rows``.

    side "user": rows ``idx`` of ``seen`` become the rows of ``rows``; "item": columns ``idx``
    become the rows of ``rows`` (items x users). O(nnz), no Python loop.
    """
    coo = seen.tocoo()
    line = coo.row if side == "user" else coo.col
    drop = np.zeros(seen.shape[0] if side == "user" else seen.shape[1], bool)
    drop[idx] = True
    keep = ~drop[line]
    new_line = np.repeat(idx, np.diff(rows.indptr))
    new_other = rows.indices.astype(np.int64)
    r = np.concatenate([coo.row[keep], new_line if side == "user" else new_other])
    c = np.concatenate([coo.col[keep], new_other if side == "user" else new_line])
    out = sp.csr_matrix((np.ones(len(r), seen.dtype), (r, c)), shape=seen.shape)
    out.sum_duplicates()
    out.data[:] = 1
    out.indptr = out.indptr.astype(np.int32)
    out.indices = out.indices.astype(np.int32)
    return out


def _json_value(name, value):
    """A parameter value as the model file's JSON header stores it."""
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if name == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
        warnings.warn(f"random_state={type(value).__name__} is saved as None: a generator's state is not a "
                      "parameter (pass an int seed to keep it in the file)", UserWarning, stacklevel=4)
        return None
    return value


class FactorModel:
    """Base class of every mfcore model: parameters, the fit loop, fitted state and inference.

    See the module docstring for what a subclass implements.

    Attributes
    ----------
    user_factors, item_factors : numpy.ndarray (n_users, K), (n_items, K)
        Fitted factors (None before ``fit``), 64-byte aligned, of the model dtype.
    user_bias, item_bias : numpy.ndarray (n_users,), (n_items,)
        Fitted biases (zeros for models without them).
    global_mean : float
    rating_scale_ : (float, float) or None
        Lowest and highest rating of the training data (rating models; None for BPR and
        ImplicitALS). :meth:`predict` clips to it by default; ``recommend`` scores are not clipped
        (clipping would tie every item above the top of the scale).
    input_kind_ : {"ratings", "interactions", "sparse"}
        What ``fit`` got: an ``Interactions`` with ratings, one of implicit feedback, or a bare
        scipy.sparse matrix (decides ``"auto"`` thresholds of the ranking models).
    history_ : list of dict
        One record per epoch of the last ``fit`` (see :meth:`history_frame`).
    best_epoch_ : int or None
        The epoch whose factors the model holds after ``fit(early_stopping_rounds=...)``;
        None after a fit without early stopping.
    """

    user_factors = None
    item_factors = None
    #: rating_scale_ (lowest, highest training rating) of a fitted rating model, for clipping
    #: ``predict``; None for the ranking models (their scores are not ratings)
    rating_scale_ = None
    #: True for the models that predict ratings (ExplicitALS, GenreALS, BiasBaseline)
    _rating_model = False

    #: fitted arrays early stopping saves at the best epoch and restores
    _snapshot_arrays = ("user_factors", "item_factors", "user_bias", "item_bias")
    #: history fields shown in the progress bar (the evaluation metric is added)
    _progress_fields: tuple = ()

    # ------------------------------------------------------------------ params
    @classmethod
    def _get_param_names(cls) -> list:
        """Constructor parameter names, read from the signature of ``__init__``."""
        init = cls.__init__
        if init is object.__init__:
            return []
        names = []
        for p in inspect.signature(init).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly (no *args/**kwargs)")
            names.append(p.name)
        return names

    def get_params(self, deep=True) -> dict:
        """Constructor parameters as a dict ``{name: value}``, as given (scikit-learn API).

        ``deep`` is accepted for scikit-learn compatibility; mfcore models hold no
        nested estimators.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters by name (validated at the next ``fit``); returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self):
        """Check the parameters every model has; subclasses extend it."""
        check_int(self.iterations, "iterations", min_value=0)
        check_dtype(self.dtype)
        resolve_num_threads(self.num_threads)

    # --------------------------------------------------------------------- fit
    def fit(self, X, eval_set=None, *, early_stopping_rounds=None, callback=None, show_progress=True, **options):
        """Fit the model; returns self.

        Parameters
        ----------
        X : mfcore.Interactions or scipy.sparse matrix, shape (n_users, n_items)
            Training data: ratings, or interaction strengths for the implicit models.
            With ``Interactions`` the model keeps its raw ids.
        eval_set : same kind, optional
            Held-out interactions over the same users and items. After each epoch its
            metric is logged in ``history_``: ``eval_rmse`` for the rating models
            (ExplicitALS, GenreALS, BiasBaseline), ``eval_auc`` and ``eval_ndcg@k`` for
            the ranking models (BPR, ImplicitALS).
        early_stopping_rounds : int, optional
            Stop when the eval metric (``eval_rmse``, lower is better; ``eval_ndcg@k``,
            higher is better) has not improved for this many epochs, and keep the
            factors of the best epoch (``best_epoch_``). Needs ``eval_set``.
        callback : callable, optional
            ``callback(epoch, record, model)`` after every epoch; returning True stops.
        show_progress : bool
            A tqdm progress bar over epochs.
        **options
            Model-specific: ``item_genres`` (GenreALS), ``eval_k`` (BPR, ImplicitALS).

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_fit_options(options)
        if early_stopping_rounds is not None:
            early_stopping_rounds = check_int(early_stopping_rounds, "early_stopping_rounds", min_value=1)
            if eval_set is None:
                raise ValueError("early_stopping_rounds needs an eval_set")
        dtype = check_dtype(self.dtype)
        user_items, meta = training_matrix(X, dtype)
        eval_matrix = None
        if eval_set is not None:
            eval_matrix, _ = training_matrix(eval_set, dtype, name="eval_set")
            if eval_matrix.shape != user_items.shape:
                raise ValueError(f"eval_set must have the training shape {user_items.shape}, got {eval_matrix.shape}")
            if early_stopping_rounds is not None and eval_matrix.nnz == 0:
                raise ValueError("early_stopping_rounds needs an eval_set with at least one interaction")
        fit = FitState(user_items=user_items, meta=meta, eval_matrix=eval_matrix, dtype=dtype,
                       num_threads=resolve_num_threads(self.num_threads), evaluation=None)
        self.history_ = []
        self.best_epoch_ = None
        self._begin_fit(fit, **options)
        if eval_matrix is not None and fit.evaluation is None:
            raise NotImplementedError(f"{type(self).__name__} does not evaluate an eval_set")
        run_epochs(self, fit, iterations=int(self.iterations), early_stopping_rounds=early_stopping_rounds,
                   callback=callback, show_progress=show_progress)
        self._end_fit(fit)
        return self

    def _check_fit_options(self, options):
        accepted = [p.name for p in inspect.signature(self._begin_fit).parameters.values()
                    if p.kind == p.KEYWORD_ONLY]
        for name in options:
            if name not in accepted:
                extra = f"; its extra options: {', '.join(accepted)}" if accepted else ""
                raise TypeError(f"{type(self).__name__}.fit() got an unexpected keyword argument {name!r}{extra}")

    def _begin_fit(self, fit, **options):
        raise NotImplementedError

    def _run_epoch(self, fit, epoch) -> dict:
        raise NotImplementedError

    def _end_fit(self, fit) -> None:
        """Subclass hook: after the last epoch (and the early-stopping restore)."""

    def _epoch_metrics(self, fit, record) -> dict:
        return {}

    def history_frame(self):
        """``history_`` as a pandas DataFrame: one row per epoch, one column per field.

        Columns: ``epoch``, ``seconds`` (the epoch's training maths), then the model's
        fields (``train_rmse``, ``objective`` for the rating models, ``loss`` for BPR...)
        and the eval metrics (``eval_rmse``, ``eval_auc``, ``eval_ndcg@k``) when an
        ``eval_set`` was given. Empty for a model read by :meth:`load`.
        """
        import pandas as pd

        self._check_fitted()
        history = getattr(self, "history_", None) or []
        return pd.DataFrame.from_records(history, columns=None if history else ["epoch", "seconds"])

    # ----------------------------------------------------------- fitted state
    def _set_state(self, *, user_factors, item_factors, user_bias=None, item_bias=None, global_mean=0.0,
                   user_map=None, item_map=None, seen=None, rating_scale=None, input_kind="ratings"):
        dtype = item_factors.dtype
        # 64-byte aligned: the kernels gather random factor rows (see mfcore._memory)
        self.user_factors = as_aligned(user_factors, dtype)
        self.item_factors = as_aligned(item_factors, dtype)
        n_users, n_items = self.user_factors.shape[0], self.item_factors.shape[0]
        self.user_bias = (np.zeros(n_users, dtype) if user_bias is None
                          else np.ascontiguousarray(user_bias, dtype=dtype))
        self.item_bias = (np.zeros(n_items, dtype) if item_bias is None
                          else np.ascontiguousarray(item_bias, dtype=dtype))
        self.global_mean = float(global_mean)
        self._users = user_map or IdMap("user", n_users)
        self._items = item_map or IdMap("item", n_items)
        self._seen = seen
        self.rating_scale_ = None if rating_scale is None else (float(rating_scale[0]), float(rating_scale[1]))
        self.input_kind_ = input_kind
        self._fitted_changed()

    def _start_state(self, fit, *, user_factors, item_factors, user_bias=None, item_bias=None, global_mean=0.0):
        """:meth:`_set_state` at the start of a fit: ids and the seen-items pattern from the training data."""
        user_items = fit.user_items
        n_users, n_items = user_items.shape
        scale = None
        if self._rating_model and user_items.nnz:
            scale = (float(user_items.data.min()), float(user_items.data.max()))
        self._set_state(user_factors=user_factors, item_factors=item_factors, user_bias=user_bias,
                        item_bias=item_bias, global_mean=global_mean, rating_scale=scale,
                        input_kind=fit.meta["kind"],
                        user_map=IdMap("user", n_users, fit.meta["user_ids"]),
                        item_map=IdMap("item", n_items, fit.meta["item_ids"]),
                        seen=seen_pattern(user_items.indptr, user_items.indices, user_items.shape, fit.dtype))

    def _fitted_changed(self):
        """Forget values cached from the fitted arrays (call after changing them in place)."""
        self._cache = {}

    def _cached(self, key, compute):
        """``compute()``, kept until the fitted arrays change."""
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def _check_fitted(self):
        if getattr(self, "item_factors", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() or load() first")

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return self.user_factors.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.item_factors.shape[0]

    @property
    def user_ids(self):
        """Raw user ids by index (None when the model was fitted on a bare matrix)."""
        self._check_fitted()
        return self._users.raw_ids

    @property
    def item_ids(self):
        """Raw item ids by index (None when the model was fitted on a bare matrix)."""
        self._check_fitted()
        return self._items.raw_ids

    def user_index(self, userid):
        """Index (or indices) of raw user id(s); KeyError names an unknown id."""
        self._check_fitted()
        return self._users.lookup(userid)

    def item_index(self, itemid):
        """Index (or indices) of raw item id(s); KeyError names an unknown id."""
        self._check_fitted()
        return self._items.lookup(itemid)

    def _threads(self):
        return resolve_num_threads(self.num_threads)

    # --------------------------------------------------------------- fold-in
    def _fold_in_input(self, items, ratings, *, ratings_required=False):
        """Indices (int64) and float64 values of a new user's interactions, checked once.

        ``ratings`` None gives values None (unless ``ratings_required``).
        """
        self._check_fitted()
        if ratings is None and ratings_required:
            raise ValueError(f"{type(self).__name__}.fold_in needs the user's ratings")
        # one check for every model: no repeated item, real and finite values of the items' length
        return check_fold_in(self._items.lookup(np.atleast_1d(items)), ratings, required=ratings_required)

    def _fold_in_one(self, idx, values, **options):
        """(vector of the model dtype, float bias) of one new user."""
        vec, bias = self._fold_in_indices(idx, values, **options)
        return np.asarray(vec).astype(self.item_factors.dtype), float(bias)

    def _solve_rows(self, side, rows, index=None):
        """Vectors (n, K) and biases (n,) of the model dtype for the rows of ``rows``, the other side fixed.

        Parameters
        ----------
        side : {"user", "item"}
            "user": ``rows`` is users x the model's items; "item": items x the model's users.
        rows : scipy.sparse.csr_matrix, canonical, of the model dtype (checked by the caller)
        index : numpy.ndarray of int64 (n,), optional
            Model indices of the rows (-1 for ids the model does not know).

        Models with a half-sweep kernel (the ALS models) solve every row in one kernel call;
        this default solves user rows one by one with ``_fold_in_indices``.
        """
        if side != "user":
            raise NotImplementedError(f"{type(self).__name__} cannot re-solve item rows (no item-side solve)")
        dtype = self.item_factors.dtype
        n = rows.shape[0]
        vecs = np.zeros((n, self.item_factors.shape[1]), dtype)
        bias = np.zeros(n, dtype)
        # small products: a multi-threaded BLAS only adds synchronisation
        with blas_limited():
            for row in range(n):
                lo, hi = rows.indptr[row], rows.indptr[row + 1]
                vec, b = self._fold_in_indices(rows.indices[lo:hi].astype(np.int64),
                                               rows.data[lo:hi].astype(np.float64))
                vecs[row], bias[row] = vec, b
        return vecs, bias

    def _check_rows(self, rows, n_rows, side):
        """``rows`` (user_items / item_users) as a canonical CSR of the model dtype, one row per id."""
        name, n_cols, what = (("user_items", self.n_items, "item") if side == "user"
                              else ("item_users", self.n_users, "user"))
        rows = check_csr(rows, name, dtype=self.item_factors.dtype)
        if rows.shape != (n_rows, n_cols):
            raise ValueError(f"{name} must have one row per requested {side} and one column per {what} of the "
                             f"model: expected shape {(n_rows, n_cols)}, got {rows.shape}")
        return rows

    def recalculate_user(self, userid, user_items):
        """User vector(s) re-solved from ``user_items`` with the items held fixed (implicit's API).

        Nothing in the model changes (see :meth:`partial_fit_users` to store them). All
        rows are solved in one kernel call (the ALS models' half-sweep, BPR's batch
        fold-in); BiasBaseline solves them one by one.

        Parameters
        ----------
        userid : id or array of ids
            Only their number matters (the users need not be known to the model).
        user_items : scipy.sparse matrix (len(userid), n_items)
            Each user's interactions / ratings over the model's items (raw values, the
            model's thresholds and confidence applied as in ``fit``).

        Returns
        -------
        numpy.ndarray of the model dtype, (K,) for a scalar ``userid``, else (n, K)
        """
        self._check_fitted()
        scalar = np.ndim(userid) == 0
        n = 1 if scalar else len(np.atleast_1d(np.asarray(userid)))
        vecs, _ = self._solve_rows("user", self._check_rows(user_items, n, "user"))
        return vecs[0] if scalar else vecs

    def recalculate_item(self, itemid, item_users):
        """Item vector(s) re-solved from ``item_users`` (items x the model's users), users fixed.

        As :meth:`recalculate_user` with the roles swapped; ALS models only.
        """
        self._check_fitted()
        scalar = np.ndim(itemid) == 0
        ids = np.atleast_1d(np.asarray(itemid))
        rows = self._check_rows(item_users, len(ids), "item")
        vecs, _ = self._solve_rows("item", rows, self._items.lookup(ids, missing="mask"))
        return vecs[0] if scalar else vecs

    def partial_fit_users(self, userids, user_items):
        """Re-solve (or add) the given users from their interactions, items fixed; returns self.

        As implicit's ``partial_fit_users``: ``user_items`` row r holds user ``userids[r]``'s
        complete interactions (they replace that user's training row, used to filter
        recommendations). Unknown users are added: a model with raw ids appends them; a model
        fitted on a bare matrix grows to ``max(userids) + 1`` users (users in between get zero
        vectors). One kernel call solves every row (ALS models, BPR).

        Parameters
        ----------
        userids : array of ids, no repeats
        user_items : scipy.sparse matrix (len(userids), n_items)
        """
        return self._partial_fit("user", userids, user_items)

    def partial_fit_items(self, itemids, item_users):
        """Re-solve (or add) the given items from their interactions (items x users), users fixed.

        The item-side twin of :meth:`partial_fit_users` (ALS models; GenreALS adds new items
        with :meth:`GenreALS.add_items` first).
        """
        return self._partial_fit("item", itemids, item_users)

    def _partial_fit(self, side, ids, rows):
        self._check_fitted()
        ids = np.atleast_1d(np.asarray(ids))
        if ids.ndim != 1:
            raise ValueError(f"{side}ids must be 1-D, got shape {ids.shape}")
        rows = self._check_rows(rows, len(ids), side)
        idmap = self._users if side == "user" else self._items
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"{side}ids lists an id twice; give each {side} once")
        idx = idmap.lookup(ids, missing="mask")
        if idmap.uses_raw_ids:
            new = idx < 0
            grown = idmap.extend(ids[new]) if new.any() else idmap
            idx = np.where(new, idmap.n + np.cumsum(new) - 1, idx)
        else:
            if ids.size and not np.issubdtype(ids.dtype, np.integer):
                raise TypeError(f"{side}ids must be integer indices (the model was fitted without raw ids), "
                                f"got {ids.dtype}")
            if ids.size and ids.min() < 0:
                raise ValueError(f"{side}ids must be >= 0, got {ids.min()}")
            idx = ids.astype(np.int64)
            grown = IdMap(side, max(idmap.n, int(idx.max()) + 1 if idx.size else 0))
        self._check_can_grow(side, grown.n - idmap.n)
        vecs, bias = self._solve_rows(side, rows, np.where(idx < idmap.n, idx, -1))
        if grown.n > idmap.n:
            self._grow(side, grown)
        factors, biases = ((self.user_factors, self.user_bias) if side == "user"
                           else (self.item_factors, self.item_bias))
        factors[idx] = vecs
        biases[idx] = bias
        if self._seen is not None:
            self._seen = _replace_lines(self._seen, idx, rows, side)
        self._fitted_changed()
        return self

    def _check_can_grow(self, side, n_new):
        """Subclass hook: refuse adding ``n_new`` rows on ``side`` when the model cannot."""

    def _grow(self, side, idmap):
        """Append zero rows to ``side``'s factors and biases up to ``idmap.n``; install ``idmap``."""
        n_new = idmap.n - (self._users.n if side == "user" else self._items.n)
        if side == "user":
            self.user_factors = as_aligned(np.vstack([self.user_factors,
                                                      np.zeros((n_new, self.user_factors.shape[1]),
                                                               self.user_factors.dtype)]))
            self.user_bias = np.concatenate([self.user_bias, np.zeros(n_new, self.user_bias.dtype)])
            self._users = idmap
        else:
            self.item_factors = as_aligned(np.vstack([self.item_factors,
                                                      np.zeros((n_new, self.item_factors.shape[1]),
                                                               self.item_factors.dtype)]))
            self.item_bias = np.concatenate([self.item_bias, np.zeros(n_new, self.item_bias.dtype)])
            self._items = idmap
        if self._seen is not None:          # new users have empty rows; new items, empty columns
            seen = self._seen
            indptr = np.concatenate([seen.indptr, np.full(self._users.n - seen.shape[0], seen.indptr[-1],
                                                          seen.indptr.dtype)])
            self._seen = sp.csr_matrix((seen.data, seen.indices, indptr), shape=(self._users.n, self._items.n))

    def _fold_in_indices(self, idx, values):
        raise NotImplementedError

    # -------------------------------------------------------------- predict
    def predict(self, users, items, *, unknown="error", clip=True):
        """Predicted scores for (user, item) pairs.

        Parameters
        ----------
        users, items : array-like of ids, same length (or scalars)
            Raw ids when the model was fitted on ``Interactions``; indices otherwise.
        unknown : {"error", "nan", "baseline"}
            What to do with ids the model does not know: raise KeyError, return
            NaN, or fall back to the known parts (``global_mean + user_bias`` for an
            unknown item, ``global_mean + item_bias`` for an unknown user,
            ``global_mean`` when both are unknown).
        clip : bool, default True
            Clip predictions to ``rating_scale_`` (the training ratings' range) for rating
            models; no effect for the ranking models (``rating_scale_`` None). False gives the
            raw ``mu + b_u + b_i + u . v_i``.

        Returns
        -------
        numpy.ndarray of float64, shape (n,) (a float for scalar input)
        """
        from .. import _predict

        self._check_fitted()
        check_choice(unknown, "unknown", {"error", "nan", "baseline"})
        scalar = np.ndim(users) == 0 and np.ndim(items) == 0
        users_a, items_a = np.atleast_1d(users), np.atleast_1d(items)
        if users_a.shape != items_a.shape or users_a.ndim != 1:
            raise ValueError(f"users and items must be 1-D and of equal length, got {users_a.shape} and {items_a.shape}")
        missing = "error" if unknown == "error" else "mask"
        u = self._users.lookup(users_a, missing=missing)
        i = self._items.lookup(items_a, missing=missing)
        known = (u >= 0) & (i >= 0)
        out = np.full(u.shape[0], np.nan, dtype=np.float64)
        buf = np.empty(int(known.sum()), dtype=self.item_factors.dtype)
        _predict.predict_pairs(
            u[known].astype(np.int32), i[known].astype(np.int32), self.user_factors, self.user_bias,
            self.item_factors, self.item_bias, self.global_mean, buf, self._threads(),
        )
        out[known] = buf
        offsets = self._pair_offsets(u[known], i[known])
        if offsets is not None:
            out[known] += offsets
        if unknown == "baseline" and not known.all():
            fill = np.full(out.shape, self.global_mean)
            fill += np.where(u >= 0, self.user_bias[np.maximum(u, 0)], 0.0)
            fill += np.where(i >= 0, self.item_bias[np.maximum(i, 0)], 0.0)
            out = np.where(known, out, fill)
        if clip and self.rating_scale_ is not None:
            np.clip(out, self.rating_scale_[0], self.rating_scale_[1], out=out)
        return float(out[0]) if scalar else out

    def _pair_offsets(self, users, items):
        """Subclass hook: float64 terms (n,) added to ``mu + b_u + b_i + u . v_i`` of the (user index, item
        index) pairs, or None (nothing added; the default). GenreALS adds its users' offsets for items
        without training ratings."""
        return None

    # ------------------------------------------------------------ recommend
    def _item_side(self):
        """(max ||v_i||, max |b_i|, item_bias or None when all zero) of the fitted items, cached.

        What the overflow check and the kernel need from the item side depends only on the
        fitted model: computed once, forgotten by :meth:`_fitted_changed` (fit, partial_fit,
        load, add_items).
        """
        def compute():
            if not np.isfinite(self.item_factors).all() or not np.isfinite(self.item_bias).all():
                raise ValueError("the model's item factors or biases are not finite")
            norm, bias_max = item_bound(self.item_factors, self.item_bias)
            return norm, bias_max, (self.item_bias if bias_max > 0 else None)

        return self._cached("item_side", compute)

    def _item_pack(self, key, V, bias):
        """The top-N kernel's bfloat16 item side (:func:`mfcore._ranking.item_pack`), cached.

        Ordered for the typical user (median norm of the fitted users) and bias weight 1;
        any bias weight gives the same results with it (the order only affects speed).
        """
        def compute():
            from .._topk import _median_norm

            return item_pack(V, bias, 1.0, _median_norm(self.user_factors) if key == "items" else 1.0)

        return self._cached(("pack", key), compute)

    def _item_mask(self, items, filter_items, idmap=None):
        """uint8 candidate mask (None = every item): ``items`` allowed, ``filter_items`` removed."""
        idmap = self._items if idmap is None else idmap
        mask = None
        if items is not None:
            mask = np.zeros(idmap.n, np.uint8)
            mask[idmap.lookup(np.atleast_1d(items))] = 1
        if filter_items is not None:
            mask = np.ones(idmap.n, np.uint8) if mask is None else mask
            mask[idmap.lookup(np.atleast_1d(filter_items))] = 0
        return mask

    def recommend(self, userid, user_items=None, N=10, filter_already_liked_items=True, filter_items=None,
                  recalculate_user=False, items=None, bias_weight=1.0):
        """Top-N items for one user or a batch of users.

        Parameters
        ----------
        userid : id or array of ids
            Raw ids (model fitted on ``Interactions``) or indices.
        user_items : scipy.sparse matrix, optional
            Rows aligned with ``userid`` (one row per requested user), columns
            = the model's items. Items present are excluded when
            ``filter_already_liked_items``; with ``recalculate_user`` the rows'
            ratings are folded in. Default: the training interactions.
        N : int
            Number of items per user.
        filter_already_liked_items : bool
            Exclude the user's (training or given) items.
        filter_items : array of item ids, optional
            Items never to recommend.
        recalculate_user : bool
            Recompute the user vectors from ``user_items`` (:meth:`recalculate_user`:
            one kernel call for all rows of the ALS models) instead of using the stored
            ones (for users unknown to the model too).
        items : array of item ids, optional
            Restrict candidates to these items.
        bias_weight : float
            Weight alpha of the item bias in the ranking score
            (``alpha * b_i + u . v_i``); 0 ranks by the dot product only.

        Returns
        -------
        ids, scores : numpy.ndarray
            Shape (N,) for one user, (n_users, N) for a batch, best first.
            A user with fewer than N candidates gets padding: id -1 (or '' for
            string ids) and score -inf. Scores include ``global_mean + user_bias``
            and are *not* clipped to ``rating_scale_`` (unlike :meth:`predict`):
            clipping would tie every item predicted above the scale.

        Notes
        -----
        Arguments are validated once per call; what depends only on the fitted items
        (their largest norm for the overflow check, the BLAS thread-pool controller) is
        cached, so one user over 87,585 items at K = 64 costs well under a millisecond
        more than the kernel (``benchmarks/pytest/test_recommend_latency.py``).
        """
        self._check_fitted()
        N = check_int(N, "N", min_value=1)
        bias_weight = check_float(bias_weight, "bias_weight")
        scalar = np.ndim(userid) == 0
        ids = np.atleast_1d(np.asarray(userid))
        if user_items is not None:
            user_items = self._check_rows(user_items, len(ids), "user")
        if recalculate_user:
            if user_items is None:
                raise ValueError("recalculate_user=True needs user_items (the users' ratings)")
            user_vecs, user_bias = self._solve_rows("user", user_items)
            user_idx = None
        else:
            user_idx = self._users.lookup(ids)
            user_vecs, user_bias = self.user_factors[user_idx], self.user_bias[user_idx]
        ex_indptr = ex_indices = None
        if filter_already_liked_items:
            if user_items is not None:
                ex_indptr, ex_indices = user_items.indptr, user_items.indices
            elif self._seen is None:
                raise ValueError("filter_already_liked_items=True needs the users' items: pass user_items "
                                 "(this model was loaded or built without its training interactions)")
            else:
                ex_indptr, ex_indices = _csr_rows(self._seen.indptr, self._seen.indices, user_idx)
        mask = self._item_mask(items, filter_items)
        idx, scores = self._top_n(user_vecs, user_bias, user_idx, user_items, ex_indptr, ex_indices, mask, N,
                                  bias_weight)
        scores = scores.astype(np.float64) + (self.global_mean + user_bias.astype(np.float64))[:, None]
        scores[idx < 0] = -np.inf
        out_ids = self._items.to_raw(idx)
        if scalar:
            keep = idx[0] >= 0
            return out_ids[0][keep], scores[0][keep]
        return out_ids, scores

    def _top_n(self, user_vecs, user_bias, user_idx, user_items, ex_indptr, ex_indices, mask, N, bias_weight):
        """(item indices, scores ``bias_weight * b_i + u . v_i``) of :meth:`recommend`'s checked users, best
        first; ``mask`` the uint8 candidate mask or None. ``user_idx`` (stored users) or ``user_items``
        (re-solved users, their rows) say whose vectors these are, for subclasses that need it."""
        item_norm, bias_max, item_bias = self._item_side()
        check_user_side(user_vecs, item_norm, bias_max, bias_weight)
        pack = self._item_pack("items", self.item_factors, item_bias)
        with _blas_guard(pack, N):
            return top_n_checked(np.ascontiguousarray(user_vecs), self.item_factors, item_bias, bias_weight,
                                 ex_indptr, ex_indices, mask, min(N, self.item_factors.shape[0]), None,
                                 16384, self._threads(), pack)

    def recommend_frame(self, userids, user_items=None, N=10, **options):
        """:meth:`recommend` for many users as a tidy pandas DataFrame.

        Parameters
        ----------
        userids : array of ids
        user_items, N, **options
            As in :meth:`recommend` (``filter_items``, ``recalculate_user``, ``items``, ...).

        Returns
        -------
        pandas.DataFrame
            Columns ``user``, ``rank`` (1 = best), ``item``, ``score`` (float64); one row per
            recommended item, users in the order given; padding (users with fewer than N
            candidates) is dropped.
        """
        import pandas as pd

        users = np.atleast_1d(np.asarray(userids))
        ids, scores = self.recommend(users, user_items=user_items, N=N, **options)
        n = ids.shape[1]
        keep = np.isfinite(scores).ravel()
        return pd.DataFrame({
            "user": np.repeat(users, n)[keep],
            "rank": np.tile(np.arange(1, n + 1), len(users))[keep],
            "item": ids.ravel()[keep],
            "score": scores.ravel()[keep],
        })

    def _unit(self, side):
        """Rows of ``side``'s factors scaled to unit norm (zero rows stay zero), cached."""
        def compute():
            factors = self.user_factors if side == "user" else self.item_factors
            norms = np.sqrt(np.einsum("ij,ij->i", factors, factors, dtype=np.float64))
            return as_aligned((factors / np.where(norms > 0, norms, 1.0)[:, None]).astype(factors.dtype),
                              factors.dtype)

        return self._cached(("unit", side), compute)

    def _similar(self, side, ids, N, filter_ids, candidates, query=None):
        """Cosine top-N on ``side``; ``query`` (n, K) replaces the stored vectors of ``ids``."""
        self._check_fitted()
        N = check_int(N, "N", min_value=1)
        idmap = self._users if side == "user" else self._items
        unit = self._unit(side)
        scalar = np.ndim(ids) == 0
        arr = np.atleast_1d(np.asarray(ids))
        if query is None:
            idx = idmap.lookup(arr)
            Q = unit[idx]
        else:
            idx = idmap.lookup(arr, missing="mask")
            norms = np.sqrt(np.einsum("ij,ij->i", query, query, dtype=np.float64))
            Q = (query / np.where(norms > 0, norms, 1.0)[:, None]).astype(unit.dtype)
        # exclude the query itself (when the model knows it): one entry per such row
        known = idx >= 0
        ex_indptr = np.zeros(len(idx) + 1, np.int32)
        np.cumsum(known, out=ex_indptr[1:])
        ex_indices = idx[known].astype(np.int32)
        mask = self._item_mask(candidates, filter_ids, idmap)
        check_user_side(Q, 1.0, 0.0, 0.0)
        pack = self._item_pack(("unit", side), unit, None)
        with _blas_guard(pack, N):
            res, scores = top_n_checked(np.ascontiguousarray(Q), unit, None, 0.0, ex_indptr, ex_indices, mask,
                                        min(N, unit.shape[0]), None, 16384, self._threads(), pack)
        out = idmap.to_raw(res)
        if scalar:
            keep = res[0] >= 0
            return out[0][keep], scores[0][keep].astype(np.float64)
        return out, scores.astype(np.float64)

    def similar_items(self, itemid, N=10, filter_items=None, recalculate_item=False, item_users=None, items=None):
        """The N items most similar to ``itemid`` by cosine similarity of item factors.

        Parameters
        ----------
        itemid : id or array of ids
        N : int
        filter_items : array of item ids, optional
            Items never returned.
        recalculate_item : bool
            Use the vector(s) :meth:`recalculate_item` solves from ``item_users``
            (items x the model's users) instead of the stored ones (items unknown to
            the model too).
        item_users : scipy.sparse matrix (len(itemid), n_users), optional
        items : array of item ids, optional
            Restrict the candidates to these items.

        Returns
        -------
        ids, similarities : as in :meth:`recommend`; the query item itself is never returned
        (implicit lists it first with similarity 1).
        """
        self._check_fitted()
        query = None
        if recalculate_item:
            if item_users is None:
                raise ValueError("recalculate_item=True needs item_users (the items' interactions)")
            query = np.atleast_2d(self.recalculate_item(itemid, item_users))
        return self._similar("item", itemid, N, filter_items, items, query)

    def similar_users(self, userid, N=10, filter_users=None, users=None):
        """The N users most similar to ``userid`` by cosine similarity of user factors.

        ``filter_users`` are never returned; ``users`` restricts the candidates; the query
        user itself is never returned. Returns (ids, similarities) as :meth:`similar_items`.
        """
        self._check_fitted()
        return self._similar("user", userid, N, filter_users, users)

    # ------------------------------------------------------------ persistence
    def _extra_arrays(self) -> dict:
        """Subclass hook: additional arrays to save."""
        return {}

    def _extra_attributes(self) -> dict:
        return {}

    def _restore_extra(self, arrays: dict, attributes: dict) -> None:
        """Subclass hook: restore what ``_extra_arrays`` / ``_extra_attributes`` saved."""

    def save(self, path):
        """Write the fitted model to ``path`` (``.npz`` appended if missing), atomically.

        ``path`` may also be a binary file object (``io.BytesIO``, an open file), as in
        implicit; it is written in place from its current position. Returns the path
        written (or the file object).

        The file holds the parameters, the factors and biases, the id
        vocabularies and the training interactions used for filtering, each
        array with a sha256 checksum. Load it with :meth:`load`; no pickle is used.
        """
        self._check_fitted()
        arrays = {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "user_bias": self.user_bias,
            "item_bias": self.item_bias,
        }
        if self._users.raw_ids is not None:
            arrays["user_ids"] = self._users.raw_ids
        if self._items.raw_ids is not None:
            arrays["item_ids"] = self._items.raw_ids
        if self._seen is not None:
            arrays["seen_indptr"] = self._seen.indptr
            arrays["seen_indices"] = self._seen.indices
        arrays.update(self._extra_arrays())
        attributes = {"global_mean": self.global_mean, "input_kind": self.input_kind_, **self._extra_attributes()}
        if self.rating_scale_ is not None:
            attributes["rating_scale"] = list(self.rating_scale_)
        params = {name: _json_value(name, value) for name, value in self.get_params().items()}
        return save_arrays(path, model=type(self).__name__, params=params,
                           attributes=attributes, arrays=arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` from a path or a binary file object.

        Called on a concrete class it checks the file holds that class; called
        on ``FactorModel`` it returns whichever model the file holds. Corrupted,
        truncated, tampered, inconsistent (see :mod:`mfcore._model_file`) or
        newer-format files raise :class:`mfcore._persist.ModelFileError` before
        any model is built; no half-built model is returned.
        """
        from .._model_file import ModelFileError, read_model_file

        expected = None if cls is FactorModel else cls.__name__
        header, arrays = read_model_file(path, expected_model=expected)  # every structural invariant
        klass = _MODEL_REGISTRY.get(header["model"])
        if klass is None:
            raise ModelFileError(f"{path}: unknown model class {header['model']!r}")
        try:
            model = klass(**header["params"])
            model._validate_params()
            n_users = arrays["user_factors"].shape[0]
            n_items = arrays["item_factors"].shape[0]
            seen = None
            if "seen_indptr" in arrays:
                seen = seen_pattern(arrays["seen_indptr"], arrays["seen_indices"], (n_users, n_items),
                                    arrays["item_factors"].dtype)
            model._set_state(
                user_factors=arrays["user_factors"], item_factors=arrays["item_factors"],
                user_bias=arrays["user_bias"], item_bias=arrays["item_bias"],
                global_mean=header["attributes"]["global_mean"],
                user_map=IdMap("user", n_users, arrays.get("user_ids")),
                item_map=IdMap("item", n_items, arrays.get("item_ids")),
                seen=seen, rating_scale=header["attributes"].get("rating_scale"),
                input_kind=header["attributes"].get("input_kind", "ratings"),   # files before 0.x: ratings
            )
            model._restore_extra(arrays, header["attributes"])
            model.history_ = []          # the training history is not saved
            model.best_epoch_ = None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: inconsistent model file ({type(exc).__name__}: {exc})") from None
        return model
