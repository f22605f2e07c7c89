"""asv: the data figures of the paper (``mfcore.analysis.data``, Figs 1-11).

``setup_cache`` writes each enabled size's ratings (+ genres, titles) once
(``make_interactions``: synthetic ``"1m"`` always, ``"32m"`` with
``MFCORE_BENCH_FULL=1``); ``setup`` reloads them into an ``Interactions``.

``DataFigures.time_all`` / ``peakmem_all``
    Every data function of ``mfcore.analysis.data.FIGURES`` in paper order on
    the same Interactions (what ``mfcore report`` computes before drawing).
    The synthetic data has no tags, so Fig 10 raises ``MissingDataError``
    immediately and is not timed here; ``benchmarks/data_figures.py`` adds an
    ml-32m-sized tag table and reports every function separately.
``DataFigures.time_figure``
    One data function (asv parameter ``figure``).

The budget of issue 9: all data figures on the 32M shape in <= 60 s and
<= 4 GB peak RSS on 2 cores (``peakmem_all`` includes the loaded dataset).
"""

from __future__ import annotations

from pathlib import Path

from mfcore.analysis.data import FIGURES, MissingDataError

from ._datasets import (
    SIZES,
    _load_interactions,
    _save_interactions,
    bench_timeout,
    enabled_sizes,
    make_interactions,
    require,
)

NAMES = [fn.__name__ for _, fn in FIGURES]
_BY_NAME = {fn.__name__: fn for _, fn in FIGURES}


def _run_all(data):
    for _, fn in FIGURES:
        try:
            fn(data)
        except MissingDataError:
            pass


class _Cached:
    """Shared ``setup_cache`` (asv keys it by defining module and line: one run for both suites)."""

    timeout = bench_timeout()
    number = 1
    warmup_time = 0.0

    def setup_cache(self):
        out = {}
        for size in enabled_sizes():
            path = Path(f"analysis-{size}.npz").resolve()
            _save_interactions(make_interactions(size), path)
            out[size] = str(path)
        return out

    setup_cache.timeout = bench_timeout()


class DataFigures(_Cached):
    params = (SIZES, NAMES)
    param_names = ["size", "figure"]
    repeat = (1, 5, 30.0)

    def setup(self, cache, size, figure):
        require(size)
        self.data = _load_interactions(cache[size])
        self.fn = _BY_NAME[figure]

    def time_figure(self, cache, size, figure):
        try:
            self.fn(self.data)
        except MissingDataError:
            pass


class AllDataFigures(_Cached):
    params = (SIZES,)
    param_names = ["size"]
    repeat = (1, 3, 60.0)

    def setup(self, cache, size):
        require(size)
        self.data = _load_interactions(cache[size])

    def time_all(self, cache, size):
        _run_all(self.data)

    def peakmem_all(self, cache, size):
        _run_all(self.data)
