"""mfcore: fast matrix-factorization recommenders for MovieLens-scale data.

Public names only; everything else is private (leading underscore) or lives in
a submodule (``mfcore.data``, ``mfcore.metrics``, ``mfcore.models``).
"""

from ._version import __version__

import warnings as _warnings

from ._config import show_config
from ._openmp import openmp_enabled as _openmp_enabled

if not _openmp_enabled():
    _warnings.warn(
        "mfcore was built without OpenMP: kernels will run on a single thread. "
        "Run `mfcore info` for details.",
        RuntimeWarning,
        stacklevel=2,
    )

from .data import (  # noqa: E402
    Interactions,
    cache_info,
    clear_cache,
    fetch_movielens,
    item_cold_start_split,
    load_movielens,
    make_movielens_like,
    random_split,
    temporal_split,
)
from .models import BPR, BiasBaseline, ExplicitALS, FactorModel, GenreALS, ImplicitALS  # noqa: E402

load_model = FactorModel.load

__all__ = [
    "ExplicitALS", "GenreALS", "BPR", "ImplicitALS", "BiasBaseline", "load_model",
    "Interactions", "load_movielens", "fetch_movielens", "make_movielens_like",
    "temporal_split", "random_split", "item_cold_start_split",
    "evaluate", "show_config", "__version__", "cache_info", "clear_cache",
]


def __getattr__(name):
    # ``evaluate`` pulls in the metrics module; import it on first use only.
    if name == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'mfcore' has no attribute {name!r}")
