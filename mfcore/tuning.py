"""Hyperparameter search on a validation split carved from the training data.

    from mfcore import ExplicitALS, temporal_split
    from mfcore.tuning import LogUniform, IntUniform, random_search

    train, test = temporal_split(data)
    result = random_search(ExplicitALS(iterations=15), {"factors": IntUniform(5, 50),
                           "regularization": LogUniform(0.1, 100)}, train, n_trials=30)
    result.trials            # one row per trial: params, validation metric, epochs, seconds
    model = result.best_model().fit(train)      # then evaluate once on test

The search never sees the test split: it receives ``train`` only and divides
it into a *fit* part and a *validation* part with the same rule as the outer
split (``validation="temporal"``: each user's latest ``validation_fraction``
of their training ratings; ``"random"``: a uniformly random fraction of all
training ratings, for a randomly split dataset). Every trial fits on the fit
part and is scored on the validation part.

Metrics: ``"rmse"`` (explicit models; lower is better) or ``"ndcg"``
(NDCG@``k``; higher is better): candidates are the items not in the user's fit
part, relevant items the validation ratings >= ``threshold`` (every
validation item for implicit data), as in :mod:`mfcore.metrics`.

Early stopping (``early_stopping_rounds``): a trial is scored after every
epoch (through ``fit(callback=...)``) and stops once the metric has not
improved for that many epochs; its score is that of its best epoch, and
``epochs`` records which epoch, so ``best_model()`` trains for exactly that
many.

Threads: ``num_threads`` is the budget of the whole search (0 = every core)
and ``n_jobs`` the number of trials run at once; each fit gets
``max(1, budget // n_jobs)`` OpenMP threads. Trials run in threads of this
process (the kernels release the GIL) with BLAS held to one thread for the
whole search. The default (``n_jobs=None``) runs as many trials at once as
there are threads in the budget, one thread each. Measured on the 2-core
machine (``benchmarks/tuning_threads.py``, interleaved, load 4.5-5.6 from
other jobs): 8 ExplicitALS trials on ml-latest-small took 1.9 s (median)
against 4.2 s with one trial at a time on both threads; 4 trials on the
1M-rating synthetic set 6.6 s against 10.1 s (their fastest runs, 6.5 s and
6.2 s, were within 4%). A second run at load 9-13 gave 5.9 s against 17.8 s
and 17.1 s against 21.4 s. (No idle machine was available.) A busy machine deschedules one of a fit's OpenMP
threads and the other waits at every barrier; single-threaded fits have no
barrier. One thread per fit also makes BPR trials reproducible (BPR is
bit-reproducible with one thread only). The trials are the same whatever the
split of the budget.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._threads import blas_limited, resolve_num_threads
from ._validation import check_choice, check_float, check_int, check_random_state

__all__ = ["LogUniform", "Uniform", "IntUniform", "random_search", "grid_search", "SearchResult",
           "validation_split"]


# ------------------------------------------------------------------------------ distributions
class Uniform:
    """Floats drawn uniformly from ``[low, high]``."""

    def __init__(self, low, high):
        self.low = check_float(low, "low")
        self.high = check_float(high, "high")
        if not self.low < self.high:
            raise ValueError(f"{type(self).__name__} needs low < high, got low={low}, high={high}")

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def __repr__(self):
        return f"{type(self).__name__}({self.low:g}, {self.high:g})"


class LogUniform(Uniform):
    """Floats whose logarithm is uniform on ``[log low, log high]`` (``low > 0``): as many draws per decade."""

    def __init__(self, low, high):
        super().__init__(low, high)
        if self.low <= 0:
            raise ValueError(f"LogUniform needs low > 0, got low={low}")

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


class IntUniform:
    """Integers drawn uniformly from ``{low, ..., high}`` (both ends included), e.g. the latent dimension K."""

    def __init__(self, low, high):
        self.low = check_int(low, "low")
        self.high = check_int(high, "high")
        if not self.low <= self.high:
            raise ValueError(f"IntUniform needs low <= high, got low={low}, high={high}")

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def __repr__(self):
        return f"IntUniform({self.low}, {self.high})"


def _sampler(name, spec):
    """A function rng -> value for one entry of ``param_distributions``."""
    if isinstance(spec, (Uniform, IntUniform)):
        return spec.sample
    if isinstance(spec, (list, tuple)):
        if len(spec) == 0:
            raise ValueError(f"param_distributions[{name!r}] is an empty list; give at least one value")
        values = list(spec)
        return lambda rng: values[int(rng.integers(len(values)))]
    if hasattr(spec, "rvs"):  # a frozen scipy.stats distribution
        return lambda rng: _plain(spec.rvs(random_state=rng))
    raise TypeError(
        f"param_distributions[{name!r}] must be a LogUniform, Uniform or IntUniform, a list of values, "
        f"or a scipy.stats distribution; got {spec!r}"
    )


def _plain(value):
    """numpy scalars -> Python numbers (so params print and serialise cleanly)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


# ------------------------------------------------------------------------------ the validation split
def validation_split(train, validation="temporal", validation_fraction=0.2, random_state=0):
    """Divide ``train`` into (fit part, validation part) with the outer split's rule.

    Parameters
    ----------
    train : mfcore.Interactions
        The training half of the outer split (never the test half).
    validation : {"temporal", "random"} or (Interactions, Interactions)
        ``"temporal"``: per user, the latest ``floor(validation_fraction * n_u)``
        training ratings (:func:`mfcore.temporal_split`); ``"random"``: a random
        fraction of all ratings (:func:`mfcore.random_split`, seeded by
        ``random_state``). A pair is used as given.
    validation_fraction : float in (0, 1)
    random_state : int

    Returns
    -------
    fit_part, validation_part : Interactions
        Sharing ``train``'s vocabularies, disjoint, together exactly ``train``.
    """
    from .data.split import random_split, temporal_split

    if isinstance(validation, tuple):
        if len(validation) != 2:
            raise ValueError(f"validation as a tuple must be (fit_part, validation_part), got {len(validation)} items")
        return validation
    check_choice(validation, "validation", {"temporal", "random"})
    if not hasattr(train, "subset"):
        raise TypeError(f"train must be an mfcore.Interactions (it is split into fit and validation parts), "
                        f"got {type(train).__name__}")
    if validation == "temporal":
        if getattr(train, "timestamps", None) is None:
            raise ValueError("validation='temporal' needs timestamps, but train has none; "
                             "pass validation='random' (for a randomly split dataset)")
        return temporal_split(train, validation_fraction)
    return random_split(train, validation_fraction, random_state=random_state)


# ------------------------------------------------------------------------------ scoring
def _is_rating_model(model):
    from .models import ExplicitALS

    return isinstance(model, ExplicitALS)


def top_items(model, exclude, users, n, num_threads=0):
    """Indices of the ``n`` best-scored items of ``users`` (rows of ``exclude`` left out), best first.

    Scores are the models' ranking scores ``u . v_i + item_bias[i]``.

    Parameters
    ----------
    model : fitted mfcore model
    exclude : scipy.sparse CSR (n_users, n_items)
        Items never recommended to a user (their training items).
    users : int array (n,)
        User indices.
    n : int
    num_threads : int

    Returns
    -------
    numpy.ndarray int, shape (len(users), n); -1 pads users with fewer candidates.
    """
    from ._ranking import top_n

    ids, _ = top_n(model.user_factors, model.item_factors, item_bias=model.item_bias, bias_weight=1.0,
                   exclude=exclude, N=n, users=np.asarray(users), num_threads=num_threads)
    return ids


class _Scorer:
    """The validation metric of a model: RMSE on the validation ratings or NDCG@k against them."""

    def __init__(self, metric, k, threshold, fit_part, val_part):
        from .metrics import relevant_items

        self.metric = metric
        self.k = k
        self.greater_is_better = metric == "ndcg"
        self.name = "rmse" if metric == "rmse" else f"ndcg@{k}"
        self.fit_matrix = fit_part.user_items()
        self.val_part = val_part
        if metric == "ndcg":
            if not getattr(fit_part, "has_ratings", True):
                threshold = None
            self.relevant = relevant_items(val_part.user_items(), threshold)
            self.users = np.flatnonzero(np.diff(self.relevant.indptr) > 0)
            if self.users.size == 0:
                raise ValueError(f"no user has a relevant validation item (threshold={threshold}); "
                                 "NDCG is undefined: lower the threshold or use a larger validation_fraction")

    def __call__(self, model, record, num_threads):
        if self.metric == "rmse":
            if record is not None and "eval_rmse" in record:
                return record["eval_rmse"]
            from .metrics import rmse

            val = self.val_part
            pred = model.predict(val.user_ids[val.users], val.item_ids[val.items])
            return rmse(val.ratings, pred)
        from .metrics import ndcg_at_k

        rec = top_items(model, self.fit_matrix, self.users, self.k, num_threads)
        return ndcg_at_k(rec, self.relevant[self.users], self.k)

    def better(self, a, b):
        """Is score ``a`` strictly better than ``b`` (NaN is never better)?"""
        if not np.isfinite(a):
            return False
        if not np.isfinite(b):
            return True
        return a > b if self.greater_is_better else a < b


# ------------------------------------------------------------------------------ results
@dataclass
class SearchResult:
    """Every trial of a search, as one tidy table, and the best of them.

    Attributes
    ----------
    trials : pandas.DataFrame
        One row per trial, in trial order: ``trial`` (0-based), one column per
        searched parameter, the validation metric (column named ``metric``),
        ``train_rmse`` (explicit models: training RMSE of the fit part at the
        scored epoch, NaN otherwise), ``epochs`` (the scored epoch: the best
        one with early stopping, else the last), ``epochs_run``, ``seconds``
        (wall time of the fit and its scoring) and ``error`` (empty, or why the
        trial failed numerically; its metric is then NaN).
    metric : str
        ``"rmse"`` or ``"ndcg@<k>"``.
    greater_is_better : bool
    best_params : dict
        Searched parameters of the best trial.
    best_score : float
    best_epochs : int
    base_params : dict
        The estimator's other constructor parameters (shared by every trial;
        ``num_threads`` as given to the search's estimator, not the per-fit share).
    estimator_class : type
    search : str
        ``"random"`` or ``"grid"``.
    early_stopping_rounds : int or None
    validation : dict
        ``rule``, ``fraction``, ``fit_ratings`` and ``validation_ratings``.
    threads : dict
        ``budget``, ``n_jobs`` and ``per_fit``.
    """

    trials: pd.DataFrame
    metric: str
    greater_is_better: bool
    best_params: dict
    best_score: float
    best_epochs: int
    base_params: dict
    estimator_class: type
    search: str
    early_stopping_rounds: int | None
    validation: dict = field(default_factory=dict)
    threads: dict = field(default_factory=dict)

    @property
    def param_names(self) -> list:
        """The searched parameters (trial columns between ``trial`` and the metric)."""
        cols = list(self.trials.columns)
        return cols[1:cols.index(self.metric)]

    def best_model(self, *, use_best_epochs=True):
        """An unfitted model with the base parameters and the best trial's parameters.

        With early stopping (and ``use_best_epochs``) ``iterations`` is set to the
        best trial's best epoch.
        """
        params = {**self.base_params, **self.best_params}
        if use_best_epochs and self.early_stopping_rounds is not None and "iterations" not in self.best_params:
            params["iterations"] = int(self.best_epochs)
        return self.estimator_class(**params)

    def to_dict(self) -> dict:
        """JSON-ready summary: the best trial, the setup and every trial as records."""
        trials = self.trials.astype(object).where(self.trials.notna(), None)
        return {"search": self.search, "model": self.estimator_class.__name__, "metric": self.metric,
                "best_params": self.best_params, "best_score": self.best_score, "best_epochs": self.best_epochs,
                "early_stopping_rounds": self.early_stopping_rounds, "validation": self.validation,
                "threads": self.threads, "trials": trials.to_dict(orient="records")}


# ------------------------------------------------------------------------------ progress
class _TrialProgress:
    """A tqdm bar over trials on a terminal; one plain line per finished trial elsewhere (logs, CI)."""

    def __init__(self, total, enabled, desc, file=None):
        self.file = sys.stderr if file is None else file
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.bar = None
        if enabled and getattr(self.file, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="trial", file=self.file)

    def update(self, row, metric, best):
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix({metric: f"{row[metric]:.4f}", "best": f"{best:.4f}"})
            self.bar.update(1)
            return
        params = "  ".join(f"{k}={_fmt(v)}" for k, v in row["params"].items())
        status = f"{metric}={row[metric]:.4f}" if np.isfinite(row[metric]) else f"failed ({row['error']})"
        print(f"trial {self.done}/{self.total}  {params}  {status}  epochs={row['epochs']}  "
              f"{row['seconds']:.1f} s  best {metric}={best:.4f}", file=self.file, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ------------------------------------------------------------------------------ the search
def _estimator(estimator):
    """(class, base params) from a model instance or class."""
    from .models import FactorModel

    if isinstance(estimator, type) and issubclass(estimator, FactorModel):
        return estimator, estimator().get_params()
    if isinstance(estimator, FactorModel):
        return type(estimator), estimator.get_params()
    raise TypeError(f"estimator must be an mfcore model (ExplicitALS, GenreALS, BPR, ImplicitALS) or its class, "
                    f"got {estimator!r}")


def _check_names(names, klass, base, what):
    unknown = [n for n in names if n not in base]
    if unknown:
        raise ValueError(f"{what} names unknown parameter(s) {unknown} of {klass.__name__}; "
                         f"its parameters are {sorted(base)}")
    if "num_threads" in names:
        raise ValueError("num_threads is set by the search's thread budget (num_threads=, n_jobs=), not searched")


def _run_trial(index, params, klass, base, per_fit, fit_part, val_part, scorer, early_stopping_rounds,
               fit_kwargs):
    model = klass(**{**base, **params, "num_threads": per_fit})
    explicit = _is_rating_model(model)
    state = {"best": float("nan"), "epoch": 0, "train_rmse": float("nan"), "last": 0}

    def callback(epoch, record, m):
        state["last"] = epoch
        score = scorer(m, record, per_fit)
        if scorer.better(score, state["best"]):
            state.update(best=score, epoch=epoch, train_rmse=record.get("train_rmse", float("nan")))
        return epoch - state["epoch"] >= early_stopping_rounds

    start = time.perf_counter()
    error = ""
    kwargs = dict(fit_kwargs)
    if explicit:
        kwargs["eval_set"] = val_part   # the models log its RMSE each epoch (cheap)
    if early_stopping_rounds is not None:
        kwargs["callback"] = callback
    try:
        model.fit(fit_part, show_progress=False, **kwargs)
        if early_stopping_rounds is None:
            last = model.history_[-1] if model.history_ else None
            state["best"] = scorer(model, last, per_fit)
            state["epoch"] = state["last"] = len(model.history_)
            if last is not None:
                state["train_rmse"] = last.get("train_rmse", float("nan"))
    except FloatingPointError as exc:   # a numerically failed fit (e.g. lambda = 0) is a result, not a crash
        error = str(exc)
        state["best"] = float("nan")
    seconds = time.perf_counter() - start
    return {"trial": index, "params": params, scorer.name: float(state["best"]),
            "train_rmse": float(state["train_rmse"]), "epochs": int(state["epoch"]),
            "epochs_run": int(state["last"] or len(model.history_)), "seconds": seconds, "error": error}


def _search(kind, estimator, candidates, train, *, metric, k, threshold, validation, validation_fraction,
            early_stopping_rounds, random_state, num_threads, n_jobs, show_progress, fit_kwargs, progress_file):
    klass, base = _estimator(estimator)
    metric = check_choice(metric, "metric", {"rmse", "ndcg"})
    k = check_int(k, "k", min_value=1)
    if threshold is not None:
        threshold = check_float(threshold, "threshold")
    if early_stopping_rounds is not None:
        early_stopping_rounds = check_int(early_stopping_rounds, "early_stopping_rounds", min_value=1)
    taken = sorted({"eval_set", "callback", "show_progress"} & set(fit_kwargs))
    if taken:
        raise ValueError(f"fit_kwargs may not set {taken}: the search passes the validation part, its own "
                         "early-stopping callback and its own progress")
    budget = resolve_num_threads(num_threads)
    if n_jobs is None:
        n_jobs = max(1, min(budget, len(candidates)))
    n_jobs = check_int(n_jobs, "n_jobs", min_value=1)
    per_fit = max(1, budget // n_jobs)
    probe = klass(**base)
    if metric == "rmse" and not _is_rating_model(probe):
        raise ValueError(f"metric='rmse' needs a rating model (ExplicitALS, GenreALS); {klass.__name__} "
                         "ranks items: use metric='ndcg'")
    fit_part, val_part = validation_split(train, validation, validation_fraction, random_state)
    if len(val_part) == 0:
        raise ValueError(f"the validation part is empty (validation={validation!r}, "
                         f"validation_fraction={validation_fraction}); users need at least "
                         f"{math.ceil(1 / validation_fraction)} ratings for the temporal rule")
    scorer = _Scorer(metric, k, threshold, fit_part, val_part)
    rows = [None] * len(candidates)
    progress = _TrialProgress(len(candidates), show_progress, f"{kind} search ({klass.__name__})", progress_file)
    best = float("nan")

    def finish(row):
        nonlocal best
        rows[row["trial"]] = row
        if scorer.better(row[scorer.name], best):
            best = row[scorer.name]
        progress.update(row, scorer.name, best)

    args = (klass, base, per_fit, fit_part, val_part, scorer, early_stopping_rounds, fit_kwargs)
    try:
        # BLAS held to one thread for the whole search: concurrent fits then never restore it to more
        with blas_limited():
            if n_jobs == 1:
                for i, params in enumerate(candidates):
                    finish(_run_trial(i, params, *args))
            else:
                with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                    futures = [pool.submit(_run_trial, i, params, *args) for i, params in enumerate(candidates)]
                    try:
                        for fut in futures:
                            finish(fut.result())
                    except BaseException:      # Ctrl-C or a failing trial: drop the trials not yet started
                        for fut in futures:
                            fut.cancel()
                        raise
    finally:
        progress.close()

    names = list(candidates[0]) if candidates else []
    table = pd.DataFrame([{"trial": r["trial"], **r["params"], **{c: r[c] for c in
                          (scorer.name, "train_rmse", "epochs", "epochs_run", "seconds", "error")}}
                          for r in rows], columns=["trial", *names, scorer.name, "train_rmse", "epochs",
                                                   "epochs_run", "seconds", "error"])
    scores = table[scorer.name].to_numpy(dtype=float)
    if not np.isfinite(scores).any():
        raise RuntimeError(f"every trial failed; first error: {table['error'].iloc[0]}")
    best_row = int(np.nanargmax(scores) if scorer.greater_is_better else np.nanargmin(scores))
    best_params = {n: _plain(table[n].iloc[best_row]) for n in names}
    return SearchResult(
        trials=table, metric=scorer.name, greater_is_better=scorer.greater_is_better, best_params=best_params,
        best_score=float(scores[best_row]), best_epochs=int(table["epochs"].iloc[best_row]),
        base_params=base, estimator_class=klass, search=kind, early_stopping_rounds=early_stopping_rounds,
        validation={"rule": validation if isinstance(validation, str) else "given",
                    "fraction": validation_fraction, "fit_ratings": len(fit_part),
                    "validation_ratings": len(val_part)},
        threads={"budget": budget, "n_jobs": n_jobs, "per_fit": per_fit},
    )


_COMMON_DOC = """
    train : mfcore.Interactions
        The training half of the outer split. It is divided into a fit part and
        a validation part (see ``validation``); the test half is never given here.
    metric : {"rmse", "ndcg"}, default "rmse"
        Validation RMSE (rating models; lower is better) or NDCG@``k`` (higher is better).
    k : int, default 10
        Cut-off of NDCG.
    threshold : float or None, default 4.0
        A validation rating >= threshold is relevant for NDCG (every item when the
        data has no ratings, or with None).
    validation : {"temporal", "random"} or (fit_part, validation_part), default "temporal"
        How the validation part is carved from ``train``: the same rule as the
        outer split (see :func:`validation_split`).
    validation_fraction : float in (0, 1), default 0.2
    early_stopping_rounds : int or None
        Score every epoch and stop a trial after this many epochs without
        improvement; the trial keeps its best epoch's score (column ``epochs``).
    num_threads : int, default 0
        Thread budget of the whole search (0 = every core).
    n_jobs : int or None, default None
        Trials run at once; each fit gets ``max(1, budget // n_jobs)`` threads.
        None: one trial per thread of the budget (at most the number of trials).
    show_progress : bool, default True
        A progress bar over trials on a terminal, else one line per trial.
    fit_kwargs : dict, optional
        Extra keyword arguments of every ``fit`` (e.g. ``item_genres``).
    progress_file : file, optional
        Where progress goes (default ``sys.stderr``).

    Returns
    -------
    SearchResult
"""


def random_search(estimator, param_distributions, train, *, n_trials=20, metric="rmse", k=10, threshold=4.0,
                  validation="temporal", validation_fraction=0.2, early_stopping_rounds=None, random_state=0,
                  num_threads=0, n_jobs=None, show_progress=True, fit_kwargs=None, progress_file=None):
    klass, base = _estimator(estimator)
    if not isinstance(param_distributions, dict) or not param_distributions:
        raise TypeError("param_distributions must be a non-empty dict of parameter name -> distribution")
    _check_names(param_distributions, klass, base, "param_distributions")
    n_trials = check_int(n_trials, "n_trials", min_value=1)
    samplers = {name: _sampler(name, spec) for name, spec in param_distributions.items()}
    rng = check_random_state(random_state)
    candidates = [{name: draw(rng) for name, draw in samplers.items()} for _ in range(n_trials)]
    return _search("random", estimator, candidates, train, metric=metric, k=k, threshold=threshold,
                   validation=validation, validation_fraction=validation_fraction,
                   early_stopping_rounds=early_stopping_rounds, random_state=random_state,
                   num_threads=num_threads, n_jobs=n_jobs, show_progress=show_progress,
                   fit_kwargs=fit_kwargs or {}, progress_file=progress_file)


def grid_search(estimator, param_grid, train, *, metric="rmse", k=10, threshold=4.0, validation="temporal",
                validation_fraction=0.2, early_stopping_rounds=None, random_state=0, num_threads=0, n_jobs=None,
                show_progress=True, fit_kwargs=None, progress_file=None):
    klass, base = _estimator(estimator)
    if not isinstance(param_grid, dict) or not param_grid:
        raise TypeError("param_grid must be a non-empty dict of parameter name -> list of values")
    _check_names(param_grid, klass, base, "param_grid")
    for name, values in param_grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
            raise TypeError(f"param_grid[{name!r}] must be a non-empty list of values, got {values!r}")
    names = list(param_grid)
    candidates = [dict(zip(names, map(_plain, combo))) for combo in itertools.product(*param_grid.values())]
    return _search("grid", estimator, candidates, train, metric=metric, k=k, threshold=threshold,
                   validation=validation, validation_fraction=validation_fraction,
                   early_stopping_rounds=early_stopping_rounds, random_state=random_state,
                   num_threads=num_threads, n_jobs=n_jobs, show_progress=show_progress,
                   fit_kwargs=fit_kwargs or {}, progress_file=progress_file)


random_search.__doc__ = """Random search: ``n_trials`` parameter sets drawn independently, each fitted and scored on validation.

    Parameters
    ----------
    estimator : mfcore model instance or class
        Its parameters are the base of every trial (e.g. ``ExplicitALS(iterations=20)``).
    param_distributions : dict
        Parameter name -> :class:`LogUniform` / :class:`Uniform` (floats),
        :class:`IntUniform` (integers, e.g. ``factors``), a list (uniform
        choice) or a frozen ``scipy.stats`` distribution. Any constructor
        parameter of the model except ``num_threads``.
    n_trials : int, default 20
    random_state : int, default 0
        Seeds the draws (made up front, in trial order, so results do not
        depend on ``n_jobs``) and a random validation split.
{common}""".format(common=_COMMON_DOC.lstrip("\n"))
grid_search.__doc__ = """Grid search: every combination of the listed values (the last parameter varies fastest).

    Parameters
    ----------
    estimator : mfcore model instance or class
    param_grid : dict
        Parameter name -> list of values.
    random_state : int, default 0
        Seeds a random validation split only.
{common}""".format(common=_COMMON_DOC.lstrip("\n"))
