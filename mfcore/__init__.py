"""mfcore: fast matrix-factorization recommenders for MovieLens-scale data.

Public names only; everything else is private (leading underscore) or lives in
a submodule (``mfcore.data``, ``mfcore.metrics``, ``mfcore.models``).
"""

__version__ = "0.1.0"

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

__all__ = ["show_config", "__version__"]
