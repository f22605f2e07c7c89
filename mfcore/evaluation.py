"""``mfcore.evaluate``: every metric for any fitted model, in bounded user batches."""

from __future__ import annotations

import numpy as np

from ._sparse import row_of_entry
from ._threads import resolve_num_threads
from ._validation import check_csr, check_int
from .metrics import ranking_metrics
from .models._training import squared_error


def _matrix(data, name, dtype):
    """users x items CSR from an Interactions (duck-typed) or a sparse matrix."""
    if hasattr(data, "user_items") and callable(data.user_items):
        data = data.user_items()
    return check_csr(data, name, dtype=dtype)


def evaluate(model, train, test, k=10, *, threshold=4.0, bias_weight=None, rating_metrics=None,
             clip=True, batch_size=4096, num_threads=None):
    """Ranking (and, for rating models, error) metrics of a fitted model on held-out data.

    Parameters
    ----------
    model : fitted mfcore model (ExplicitALS, GenreALS, BPR, ImplicitALS, BiasBaseline)
    train, test : mfcore.Interactions or scipy.sparse matrix (n_users, n_items)
        Over the model's users and items (the two halves of one split).
        Candidates for a user are all items not in their ``train`` row.
    k : int
        Cut-off of the ranking metrics.
    threshold : float or None
        A test item is relevant when its rating is >= threshold (None: every
        test item). Users with no relevant test item are not counted.
    bias_weight : float or None
        Weight of the item bias in the ranking score; default 1.0.
    rating_metrics : bool or None
        Also compute RMSE and MAE of ``model.predict`` on the test ratings;
        default: True for the explicit models (those with a non-zero global mean).
    clip : bool, default True
        Score the predictions as ``model.predict`` returns them, clipped to the
        training ratings' scale (``model.rating_scale_``); False scores the raw
        ``mu + b_u + b_i + u . v`` (what ``predict(..., clip=False)`` returns).
    batch_size : int
        Users scored per batch (memory is O(batch_size * n_items) for AUC).
    num_threads : int or None
        Default: the model's ``num_threads``.

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``,
        ``auc``, ``coverage@k``, ``n_users`` (users counted), and ``rmse`` /
        ``mae`` for rating models. See :mod:`mfcore.metrics` for definitions.
    """
    shape = (model.n_users, model.n_items)        # NotFittedError before fit
    k = check_int(k, "k", min_value=1)
    dtype = model.item_factors.dtype
    train_m = _matrix(train, "train", dtype)
    test_m = _matrix(test, "test", dtype)
    for name, m in (("train", train_m), ("test", test_m)):
        if m.shape != shape:
            raise ValueError(f"{name} has shape {m.shape} but the model has {shape[0]} users and {shape[1]} items")
    threads = resolve_num_threads(model.num_threads if num_threads is None else num_threads)
    scores = ranking_metrics(
        model.user_factors, model.item_factors, train_m, test_m, k=k,
        item_bias=model.item_bias, bias_weight=1.0 if bias_weight is None else bias_weight,
        threshold=threshold, batch_size=batch_size, num_threads=threads,
    )
    out = {f"{name}@{k}" if name not in ("auc", "n_users") else name: value for name, value in scores.items()}
    if rating_metrics is None:
        rating_metrics = model.global_mean != 0.0
    if rating_metrics and test_m.nnz:
        sse, sae = squared_error(model, (row_of_entry(test_m.indptr), test_m.indices, test_m.data), threads,
                                 clip=bool(clip))
        out["rmse"] = float(np.sqrt(sse / test_m.nnz))
        out["mae"] = float(sae / test_m.nnz)
    return out
