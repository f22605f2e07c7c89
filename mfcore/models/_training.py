"""The epoch loop every model shares: timing, held-out evaluation, early stopping,
progress bar, callback and Ctrl-C. Models supply only the maths of one epoch
(see :class:`mfcore.models.FactorModel`).

One epoch of a model is one or two kernel calls (an ALS half-sweep per side, one
BPR pass); the loop around them is Python, so all of the above costs nothing
inside the kernels. ``seconds`` in a history record is the time of the epoch's
maths only; held-out evaluation (and the training metrics of models that need a
pass over the ratings for them) run after the clock stops. The ALS models get
their training loss from the item half-sweep itself, inside ``seconds``.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

from .. import _predict
from .._sparse import row_of_entry
from .._threads import blas_limited
from .._validation import check_csr

#: The package logger: one INFO record per epoch (model, epoch, seconds and metrics),
#: one at the end of each fit. Silent unless the application configures logging.
logger = logging.getLogger("mfcore")


class FitState(SimpleNamespace):
    """What one ``fit()`` call works on.

    The base sets ``user_items`` (canonical users x items CSR of ``dtype``),
    ``meta`` (ids and genres of the training data, see ``training_matrix``),
    ``eval_matrix`` (held-out CSR or None), ``dtype``, ``num_threads`` (resolved) and
    ``evaluation`` (None); a model's ``_begin_fit`` adds what its epochs need and sets
    ``evaluation`` to a :class:`RatingEvaluation` or :class:`RankingEvaluation` when
    ``eval_matrix`` is given. Nothing of it outlives the fit.
    """


def squared_error(model, pairs, num_threads, *, clip=False):
    """(sum of squared errors, sum of absolute errors) of ``model``'s predictions on rating pairs, float64.

    ``pairs`` = (user indices int32, item indices int32, ratings of the model dtype), all (n,).
    ``clip=True`` scores what ``model.predict`` returns (predictions clipped to the model's
    ``rating_scale_`` when it has one); ``False`` the raw predictions (the training objective).
    """
    users, items, ratings = pairs
    lo, hi = -np.inf, np.inf
    if clip and model.rating_scale_ is not None:
        lo, hi = model.rating_scale_
    hook = getattr(model, "_pair_offsets", None)
    offsets = hook(users, items) if hook is not None else None
    if offsets is not None:         # per-pair terms the kernel does not know (GenreALS's cold-item user offsets)
        pred = np.empty(len(users), dtype=model.item_factors.dtype)
        _predict.predict_pairs(np.asarray(users, np.int32), np.asarray(items, np.int32), model.user_factors,
                               model.user_bias, model.item_factors, model.item_bias, model.global_mean, pred,
                               num_threads)
        err = np.asarray(ratings, np.float64) - np.clip(pred.astype(np.float64) + offsets, lo, hi)
        return float(np.dot(err, err)), float(np.abs(err).sum())
    return _predict.squared_error_sums(users, items, ratings, model.user_factors, model.user_bias,
                                       model.item_factors, model.item_bias, model.global_mean, lo, hi,
                                       num_threads)


def rating_pairs(matrix):
    """(user, item, rating) arrays of every stored entry of a users x items CSR."""
    return row_of_entry(matrix.indptr), matrix.indices, matrix.data


class RatingEvaluation:
    """Held-out RMSE of a rating model after each epoch (``eval_rmse``; lower is better).

    Scores what ``predict`` would return: predictions clipped to the training ratings' scale.
    """

    metric = "eval_rmse"
    greater_is_better = False

    def __init__(self, eval_matrix):
        self.pairs = rating_pairs(eval_matrix)

    def __call__(self, model, num_threads) -> dict:
        n = len(self.pairs[0])
        if n == 0:
            return {}
        sse, _ = squared_error(model, self.pairs, num_threads, clip=True)
        return {self.metric: float(np.sqrt(sse / n))}


def begin_rating_fit(fit, *, training_loss):
    """Shared start of the rating models' fits: the items x users CSR, the held-out RMSE and the
    training pairs of :func:`training_loss` (when ``training_loss`` is True, else None; the ALS
    models pass ``"kernel"``: their loss comes from the item half-sweep, see :func:`kernel_training_loss`).

    Sets ``fit.item_users``, ``fit.evaluation``, ``fit.train_pairs`` and ``fit.item_sse``
    (float64 (n_items,) for the kernel to fill when ``training_loss == "kernel"``, else None);
    returns the global mean rating (float64).
    """
    if fit.user_items.nnz == 0:
        raise ValueError("X has no ratings")
    fit.item_users = check_csr(fit.user_items.T.tocsr(), "X (transposed)", dtype=fit.dtype)
    if fit.eval_matrix is not None:
        fit.evaluation = RatingEvaluation(fit.eval_matrix)
    fit.train_pairs = rating_pairs(fit.user_items) if training_loss is True else None
    fit.item_sse = np.empty(fit.user_items.shape[1]) if training_loss == "kernel" else None
    return float(np.mean(fit.user_items.data, dtype=np.float64))


def training_loss(model, fit) -> dict:
    """A rating model's training metrics after an epoch: ``train_rmse`` and ``objective``.

    One pass over the training ratings gives the sum of squared errors; the model's
    ``_objective(sse, fit)`` adds its penalties. Empty when ``fit.train_pairs`` is None
    (``calculate_training_loss=False``).
    """
    if fit.train_pairs is None:
        return {}
    sse, _ = squared_error(model, fit.train_pairs, fit.num_threads)
    return {"train_rmse": float(np.sqrt(sse / len(fit.train_pairs[0]))), "objective": float(model._objective(sse, fit))}


def kernel_training_loss(model, fit) -> dict:
    """``train_rmse`` and ``objective`` of an ALS model from the per-item SSE of its last item half-sweep.

    The item half-sweep is the last kernel call of an epoch, and the SSE it returns is
    taken at the new item vectors with that epoch's user vectors, i.e. at the factors the
    epoch ends with. Empty when ``fit.item_sse`` is None (``calculate_training_loss=False``).
    """
    if fit.item_sse is None:
        return {}
    sse = float(np.sum(fit.item_sse))
    return {"train_rmse": float(np.sqrt(sse / fit.user_items.nnz)), "objective": float(model._objective(sse, fit))}


class RankingEvaluation:
    """AUC and NDCG@k of a ranking model on held-out interactions (``eval_ndcg@k``; higher is better).

    Candidates of a user are the items not in their training row; relevant items are the
    held-out ones rated >= ``threshold`` (all of them when None). See
    :func:`mfcore.metrics.ranking_metrics`.
    """

    greater_is_better = True

    def __init__(self, train, eval_matrix, k, threshold):
        from ..metrics import relevant_items

        # checked before the first epoch rather than by ranking_metrics after it
        relevant = relevant_items(eval_matrix, threshold)
        if relevant.nnz == 0:
            rule = "" if threshold is None else f" rated >= eval_threshold={threshold}"
            raise ValueError(f"eval_set has no interaction{rule}: its ranking metrics would be undefined")
        overlap = relevant.multiply(train).tocoo()
        if overlap.nnz:
            raise ValueError(f"eval_set and X share (user, item) = ({overlap.row[0]}, {overlap.col[0]}) "
                             f"(indices): held-out interactions must not be in the training data")
        self.train, self.test, self.k, self.threshold = train, eval_matrix, k, threshold
        self.metric = f"eval_ndcg@{k}"

    def __call__(self, model, num_threads) -> dict:
        from ..metrics import ranking_metrics

        scores = ranking_metrics(model.user_factors, model.item_factors, self.train, self.test, k=self.k,
                                 item_bias=model.item_bias if model.item_bias.any() else None,
                                 threshold=self.threshold, num_threads=num_threads)
        return {"eval_auc": scores["auc"], self.metric: scores["ndcg"]}


def _interactive(stream) -> bool:
    """True on a terminal or in a Jupyter kernel (where tqdm draws a widget), False for logs and pipes."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return "ipykernel" in sys.modules


def _shown(record, fields):
    return {k: f"{record[k]:.4f}" for k in fields if isinstance(record.get(k), (int, float))}


class Progress:
    """Progress of a fit when asked for: a tqdm bar over epochs on a terminal (or in Jupyter);
    elsewhere (stderr redirected to a file or a pipe) no bar but one plain line when the fit
    ends, so logs get no carriage-return updates. Per-epoch detail goes to :data:`logger`.
    """

    def __init__(self, total, enabled, desc, stream=None):
        self.bar, self.lines = None, False
        self.total, self.desc, self.done, self.seconds, self.last = total, desc, 0, 0.0, {}
        self.stream = sys.stderr if stream is None else stream
        if enabled:
            if _interactive(self.stream):
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False, file=self.stream)
            else:
                self.lines = True

    def update(self, record, fields):
        self.done += 1
        self.seconds += float(record.get("seconds", 0.0))
        self.last = _shown(record, fields)
        if self.bar is not None:
            self.bar.set_postfix(self.last)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.lines and self.done:
            metrics = "".join(f", {k} {v}" for k, v in self.last.items())
            print(f"{self.desc}: {self.done}/{self.total} epochs, {self.seconds:.2f} s{metrics}",
                  file=self.stream, flush=True)


class EarlyStopping:
    """Tracks the best epoch of the evaluation metric and keeps a copy of its fitted arrays.

    Training stops once ``rounds`` epochs have passed without improving on the best
    (strictly); :meth:`restore` then writes the best epoch's arrays back in place (so
    the arrays keep their alignment and identity). Until the metric is finite once
    (e.g. NaN when no held-out item is relevant) nothing stops training.
    """

    def __init__(self, model, evaluation, rounds):
        self.model, self.rounds = model, rounds
        self.metric, self.greater_is_better = evaluation.metric, evaluation.greater_is_better
        self.best_value, self.best_epoch, self.saved = None, 0, None

    def _improves(self, value) -> bool:
        if value is None or not np.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.greater_is_better else value < self.best_value

    def update(self, epoch, record) -> None:
        value = record.get(self.metric)
        if self._improves(value):
            self.best_value, self.best_epoch = value, epoch
            self.saved = {name: getattr(self.model, name).copy() for name in self.model._snapshot_arrays}

    def should_stop(self, epoch) -> bool:
        return self.saved is not None and epoch - self.best_epoch >= self.rounds

    def restore(self):
        """Put the best epoch's arrays back; returns that epoch (None if no epoch had a finite metric)."""
        if self.saved is None:
            return None
        for name, array in self.saved.items():
            getattr(self.model, name)[...] = array
        self.model._fitted_changed()
        return self.best_epoch


def run_epochs(model, fit, *, iterations, early_stopping_rounds, callback, show_progress):
    """Train ``model`` for up to ``iterations`` epochs, appending one record per epoch to ``model.history_``.

    Each record holds ``epoch``, ``seconds`` (the epoch's maths), what the model's
    ``_run_epoch`` and ``_epoch_metrics`` return, and the held-out metrics of
    ``fit.evaluation``. ``callback(epoch, record, model)`` returning True stops
    training. With ``early_stopping_rounds`` the model ends (also on a callback stop
    or Ctrl-C) with the arrays of its best epoch, recorded in ``model.best_epoch_``.
    Ctrl-C warns, leaves a usable model and re-raises.
    """
    evaluation = fit.evaluation
    stopper = None if early_stopping_rounds is None else EarlyStopping(model, evaluation, early_stopping_rounds)
    shown = model._progress_fields + ((evaluation.metric,) if evaluation is not None else ())
    progress = Progress(iterations, show_progress, type(model).__name__)
    try:
        with blas_limited():
            for epoch in range(1, iterations + 1):
                start = time.perf_counter()
                record = {"epoch": epoch, "seconds": 0.0}
                fields = model._run_epoch(fit, epoch)
                record["seconds"] = time.perf_counter() - start
                model._fitted_changed()
                record.update(fields)
                record.update(model._epoch_metrics(fit, record))
                if evaluation is not None:
                    record.update(evaluation(model, fit.num_threads))
                model.history_.append(record)
                if logger.isEnabledFor(logging.INFO):
                    logger.info("%s epoch %d/%d: %s", type(model).__name__, epoch, iterations,
                                ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in record.items() if k != "epoch"),
                                extra={"mfcore_model": type(model).__name__, "mfcore_record": dict(record)})
                if stopper is not None:
                    stopper.update(epoch, record)
                progress.update(record, shown)
                if callback is not None and callback(epoch, record, model):
                    break
                if stopper is not None and stopper.should_stop(epoch):
                    break
    except KeyboardInterrupt:
        model._fitted_changed()          # the interrupted epoch may have changed arrays after the last reset
        best = stopper.restore() if stopper is not None else None
        model.best_epoch_ = best
        state = (f"the factors of its best epoch ({best})" if best is not None
                 else "the factors of the last completed kernel call")
        warnings.warn(f"{type(model).__name__}.fit interrupted after {len(model.history_)} complete epoch(s); "
                      f"the model holds {state} and is usable.", RuntimeWarning, stacklevel=3)
        raise
    finally:
        progress.close()
    if stopper is not None:
        model.best_epoch_ = stopper.restore()
        if model.best_epoch_ is None and model.history_:
            warnings.warn(f"early stopping: {stopper.metric} was never finite on the eval_set, so "
                          f"{type(model).__name__} keeps its last epoch ({len(model.history_)})",
                          RuntimeWarning, stacklevel=3)
