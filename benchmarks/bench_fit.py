"""asv: per-epoch training time and peak memory of every model.

What is measured
----------------
``track_fit_epoch_seconds``
    What a user waits for: fits the model for 3 epochs with its default
    settings (ALS: training RMSE and objective logged) and reports the
    **median fit() wall time per epoch**, the time between successive epoch
    callbacks (the first measured from the start of ``fit``, so it carries the
    one-off setup; the median keeps that out). Unit: seconds.
``track_epoch_seconds``
    The kernel time alone, beside it: fits for 3 epochs and reports the
    **median of ``history_[e]["seconds"]``** (unit: seconds). The models time each epoch
    around the kernel calls only (ALS: the user and the item half-sweep, plus
    the genre projection for GenreALS; BPR: one ``bpr_epoch`` call of
    ``n_samples`` = number of positives SGD steps; ImplicitALS: both
    half-sweeps including the Y^T Y products), so input validation, the CSR
    transpose, initialisation and the per-epoch training-RMSE/eval bookkeeping
    are *not* included. The first epoch is included in the median but cannot
    dominate it. Chosen over a ``time_`` benchmark of ``fit(iterations=1)``
    because that would mostly time the one-off setup; the price is that asv has
    one value per run (no samples), so ``asv continuous`` compares these
    with its factor threshold only.
``peakmem_fit``
    Peak RSS of the benchmark process (asv: ``ru_maxrss``) after loading the
    users x items CSR (and genres) and fitting one epoch: what a user needs to
    train on that data. Targets at 32M (issue "Performance tracking"):
    ExplicitALS K=64 <= 2.5 GB, BPR <= 1.5 GB.

Parameters: ``size`` in {"1m", "32m"} (see ``_datasets``; "32m" only with
``MFCORE_BENCH_FULL=1``), ``factors`` in {13, 64}, and the solver for
ExplicitALS. Threads: ``$MFCORE_BENCH_THREADS`` (default all cores). Model
hyperparameters other than ``factors``/``solver`` are the library defaults.
"""

from __future__ import annotations

import statistics
import time

import mfcore

from ._datasets import SIZES, FitData, load_matrices, require, threads

FACTORS = [13, 64]
EPOCHS = 3


def _median_epoch_seconds(model):
    seconds = [float(h["seconds"]) for h in model.history_]
    if len(seconds) != EPOCHS:
        raise RuntimeError(f"{type(model).__name__} ran {len(seconds)} epochs, expected {EPOCHS}")
    return statistics.median(seconds)


class _Stamps:
    """A fit callback recording ``time.perf_counter()`` after every epoch."""

    def __init__(self):
        self.start = time.perf_counter()
        self.stamps = []

    def __call__(self, *_):
        self.stamps.append(time.perf_counter())

    def median_epoch_seconds(self):
        if len(self.stamps) != EPOCHS:
            raise RuntimeError(f"the fit ran {len(self.stamps)} epochs, expected {EPOCHS}")
        return statistics.median(b - a for a, b in zip([self.start] + self.stamps[:-1], self.stamps))


class _FitSuite(FitData):
    # A fit takes long at 32M: one process per parameter set, no warm-up repeats.
    rounds = 1
    repeat = 1
    number = 1
    warmup_time = 0.0
    needs_genres = False

    def setup(self, cache, size, *args):
        require(size)
        self.X, self.G = load_matrices(cache[size], genres=self.needs_genres)

    def _fit(self, model, callback=None):
        if self.needs_genres:
            return model.fit(self.X, item_genres=self.G, show_progress=False, callback=callback)
        return model.fit(self.X, show_progress=False, callback=callback)

    def _fit_wall(self, model):
        stamps = _Stamps()
        self._fit(model, callback=stamps)
        return stamps.median_epoch_seconds()


class ExplicitALS(_FitSuite):
    params = (SIZES, FACTORS, ["cholesky", "cg"])
    param_names = ["size", "factors", "solver"]

    def _model(self, factors, solver, iterations):
        return mfcore.ExplicitALS(factors=factors, solver=solver, iterations=iterations, num_threads=threads(),
                                  random_state=0)

    def track_fit_epoch_seconds(self, cache, size, factors, solver):
        return self._fit_wall(self._model(factors, solver, EPOCHS))

    track_fit_epoch_seconds.unit = "seconds"

    def track_epoch_seconds(self, cache, size, factors, solver):
        return _median_epoch_seconds(self._fit(self._model(factors, solver, EPOCHS)))

    track_epoch_seconds.unit = "seconds"

    def peakmem_fit(self, cache, size, factors, solver):
        self._fit(self._model(factors, solver, 1))


class GenreALS(_FitSuite):
    params = (SIZES, FACTORS)
    param_names = ["size", "factors"]
    needs_genres = True

    def _model(self, factors, iterations):
        return mfcore.GenreALS(factors=factors, iterations=iterations, num_threads=threads(), random_state=0)

    def setup(self, cache, size, *args):
        super().setup(cache, size, *args)
        if self.G is None:
            raise RuntimeError(f"the {size} benchmark data has no item genres; GenreALS needs them")

    def track_fit_epoch_seconds(self, cache, size, factors):
        return self._fit_wall(self._model(factors, EPOCHS))

    track_fit_epoch_seconds.unit = "seconds"

    def track_epoch_seconds(self, cache, size, factors):
        return _median_epoch_seconds(self._fit(self._model(factors, EPOCHS)))

    track_epoch_seconds.unit = "seconds"

    def peakmem_fit(self, cache, size, factors):
        self._fit(self._model(factors, 1))


class BPR(_FitSuite):
    """BPR with the default ``positive_threshold=4.0``: an epoch is one SGD step per rating >= 4."""

    params = (SIZES, FACTORS)
    param_names = ["size", "factors"]

    def _model(self, factors, iterations):
        return mfcore.BPR(factors=factors, iterations=iterations, num_threads=threads(), random_state=0)

    def track_fit_epoch_seconds(self, cache, size, factors):
        return self._fit_wall(self._model(factors, EPOCHS))

    track_fit_epoch_seconds.unit = "seconds"

    def track_epoch_seconds(self, cache, size, factors):
        return _median_epoch_seconds(self._fit(self._model(factors, EPOCHS)))

    track_epoch_seconds.unit = "seconds"

    def track_samples_per_second(self, cache, size, factors):
        model = self._fit(self._model(factors, EPOCHS))
        return statistics.median(float(h["samples_per_second"]) for h in model.history_)

    track_samples_per_second.unit = "samples/s"

    def peakmem_fit(self, cache, size, factors):
        self._fit(self._model(factors, 1))


class ImplicitALS(_FitSuite):
    """ImplicitALS with its defaults (CG solver, 3 CG steps, every rating a positive)."""

    params = (SIZES, FACTORS)
    param_names = ["size", "factors"]

    def _model(self, factors, iterations):
        return mfcore.ImplicitALS(factors=factors, iterations=iterations, num_threads=threads(), random_state=0)

    def track_fit_epoch_seconds(self, cache, size, factors):
        return self._fit_wall(self._model(factors, EPOCHS))

    track_fit_epoch_seconds.unit = "seconds"

    def track_epoch_seconds(self, cache, size, factors):
        return _median_epoch_seconds(self._fit(self._model(factors, EPOCHS)))

    track_epoch_seconds.unit = "seconds"

    def peakmem_fit(self, cache, size, factors):
        self._fit(self._model(factors, 1))
