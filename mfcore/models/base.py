"""Shared machinery of every mfcore model: fitted state, ids, inference, save/load.

Every model scores a (user, item) pair as

    score(u, i) = global_mean + user_bias[u] + bias_weight * item_bias[i] + user_factors[u] . item_factors[i]

(models without biases keep them at zero). Ranking for one user only depends on
``bias_weight * item_bias[i] + u . v_i``; returned scores include the constant
``global_mean + user_bias[u]`` so explicit models report predicted ratings.

Ids: a model fitted on an object with vocabularies (``mfcore.Interactions``)
takes and returns the raw ids of that data (MovieLens userId / movieId); a model
fitted on a bare users x items sparse matrix takes and returns row / column
indices, as implicit does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._memory import as_aligned
from .._persist import save_arrays
from .._threads import blas_limited, resolve_num_threads
from .._validation import check_csr, check_float, check_int, check_choice
from ._ids import IdMap

_MODEL_REGISTRY: dict[str, type] = {}


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
    meta = {"user_ids": None, "item_ids": None, "item_genres": None, "genre_names": None, "has_ratings": True}
    if hasattr(X, "user_items") and callable(X.user_items):
        matrix = X.user_items()
        meta["user_ids"] = getattr(X, "user_ids", None)
        meta["item_ids"] = getattr(X, "item_ids", None)
        meta["item_genres"] = getattr(X, "item_genres", None)
        meta["genre_names"] = getattr(X, "genre_names", None)
        meta["has_ratings"] = bool(getattr(X, "has_ratings", True))
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


def _rows_of(csr):
    return np.repeat(np.arange(csr.shape[0], dtype=np.int32), np.diff(csr.indptr))


class FactorModel:
    """Base class: holds factors and biases and implements the inference API.

    Subclasses implement ``fit`` and list their constructor parameters in
    ``_param_names``.
    """

    _param_names: tuple = ()

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict:
        """Constructor parameters as a dict (JSON-serialisable)."""
        out = {}
        for name in self._param_names:
            value = getattr(self, name)
            if isinstance(value, type) or isinstance(value, np.dtype):
                value = np.dtype(value).name
            out[name] = value
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ----------------------------------------------------------- fitted state
    def _set_state(self, *, user_factors, item_factors, user_bias=None, item_bias=None, global_mean=0.0,
                   user_map=None, item_map=None, seen=None):
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
        return resolve_num_threads(getattr(self, "num_threads", 0))

    # -------------------------------------------------------------- predict
    def predict(self, users, items, *, unknown="error"):
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
        if unknown == "baseline" and not known.all():
            fill = np.full(out.shape, self.global_mean)
            fill += np.where(u >= 0, self.user_bias[np.maximum(u, 0)], 0.0)
            fill += np.where(i >= 0, self.item_bias[np.maximum(i, 0)], 0.0)
            out = np.where(known, out, fill)
        return float(out[0]) if scalar else out

    # ------------------------------------------------------------ recommend
    def _rows_to_exclude(self, user_idx, user_items, filter_already_liked_items):
        """CSR (len(user_idx) x n_items) of items to exclude for each requested user."""
        if not filter_already_liked_items:
            return None
        if user_items is not None:
            return user_items
        if self._seen is None:
            raise ValueError(
                "filter_already_liked_items=True needs the users' items: pass user_items "
                "(this model was loaded or built without its training interactions)"
            )
        return self._seen[user_idx]

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
            Recompute the user vectors from ``user_items`` with :meth:`fold_in`
            instead of using the stored ones (for users unknown to the model too).
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
            string ids) and score -inf. Scores include ``global_mean + user_bias``.
        """
        from .._ranking import top_n

        self._check_fitted()
        N = check_int(N, "N", min_value=1)
        bias_weight = check_float(bias_weight, "bias_weight")
        scalar = np.ndim(userid) == 0
        ids = np.atleast_1d(np.asarray(userid))
        if user_items is not None:
            user_items = check_csr(user_items, "user_items", dtype=self.item_factors.dtype)
            if user_items.shape != (len(ids), self.n_items):
                raise ValueError(
                    f"user_items must have one row per requested user and one column per item: "
                    f"expected shape {(len(ids), self.n_items)}, got {user_items.shape}"
                )
        if recalculate_user:
            if user_items is None:
                raise ValueError("recalculate_user=True needs user_items (the users' ratings)")
            user_vecs, user_bias = self._fold_in_rows(user_items)
            user_idx = None
        else:
            user_idx = self._users.lookup(ids)
            user_vecs, user_bias = self.user_factors[user_idx], self.user_bias[user_idx]
        if filter_already_liked_items and user_items is None and user_idx is None:
            raise ValueError("recalculate_user=True with filtering needs user_items")
        exclude = self._rows_to_exclude(user_idx, user_items, filter_already_liked_items)
        mask = None
        if items is not None:
            mask = np.zeros(self.n_items, np.uint8)
            mask[self._items.lookup(np.atleast_1d(items))] = 1
        if filter_items is not None:
            mask = np.ones(self.n_items, np.uint8) if mask is None else mask
            mask[self._items.lookup(np.atleast_1d(filter_items))] = 0
        with blas_limited():
            idx, scores = top_n(
                np.ascontiguousarray(user_vecs), self.item_factors, item_bias=self.item_bias,
                bias_weight=bias_weight, exclude=exclude, item_mask=mask, N=N, num_threads=self._threads(),
            )
        scores = scores.astype(np.float64) + (self.global_mean + user_bias.astype(np.float64))[:, None]
        scores[idx < 0] = -np.inf
        out_ids = self._items.to_raw(idx)
        if scalar:
            keep = idx[0] >= 0
            return out_ids[0][keep], scores[0][keep]
        return out_ids, scores

    def _similar(self, factors, idmap, ids, N, candidates):
        from .._ranking import top_n

        self._check_fitted()
        N = check_int(N, "N", min_value=1)
        scalar = np.ndim(ids) == 0
        idx = idmap.lookup(np.atleast_1d(np.asarray(ids)))
        norms = np.linalg.norm(factors.astype(np.float64), axis=1)
        unit = (factors / np.where(norms > 0, norms, 1.0)[:, None]).astype(factors.dtype)
        # exclude the query itself: one seen entry per query row
        exclude = sp.csr_matrix(
            (np.ones(len(idx), factors.dtype), idx.astype(np.int32), np.arange(len(idx) + 1, dtype=np.int32)),
            shape=(len(idx), factors.shape[0]),
        )
        mask = None
        if candidates is not None:
            mask = np.zeros(factors.shape[0], np.uint8)
            mask[idmap.lookup(np.atleast_1d(candidates))] = 1
        with blas_limited():
            res, scores = top_n(np.ascontiguousarray(unit[idx]), unit, exclude=exclude, item_mask=mask, N=N,
                                num_threads=self._threads())
        out = idmap.to_raw(res)
        if scalar:
            keep = res[0] >= 0
            return out[0][keep], scores[0][keep].astype(np.float64)
        return out, scores.astype(np.float64)

    def similar_items(self, itemid, N=10, items=None):
        """The N items most similar to ``itemid`` by cosine similarity of item factors.

        The query item itself is excluded. ``items`` restricts the candidates.
        Returns (ids, cosine similarities) as in :meth:`recommend`.
        """
        self._check_fitted()
        return self._similar(self.item_factors, self._items, itemid, N, items)

    def similar_users(self, userid, N=10, users=None):
        """The N users most similar to ``userid`` by cosine similarity of user factors."""
        self._check_fitted()
        return self._similar(self.user_factors, self._users, userid, N, users)

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
        attributes = {"global_mean": self.global_mean, **self._extra_attributes()}
        return save_arrays(path, model=type(self).__name__, params=self.get_params(),
                           attributes=attributes, arrays=arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

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
                seen=seen,
            )
            model._restore_extra(arrays, header["attributes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: inconsistent model file ({type(exc).__name__}: {exc})") from None
        return model
