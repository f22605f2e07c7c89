"""Thread-count resolution and BLAS thread limiting.

Threading contract
------------------
* ``num_threads`` is resolved once, in Python, by :func:`resolve_num_threads`
  (0 means "every core this process may run on") and passed explicitly to
  every compiled kernel.
* BLAS thread pools (NumPy's and SciPy's OpenBLAS/MKL, both reached by
  threadpoolctl) are held to one thread for the whole of a fit or batched
  scoring call by :func:`blas_limited`, so OpenMP threads calling BLAS do not
  oversubscribe the machine.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from ._openmp import omp_max_threads, openmp_enabled

_warned_no_openmp = False

#: Largest ``num_threads`` accepted. OpenMP runtimes abort or crash when thread
#: creation fails (100,000 threads segfaulted libgomp here), and the kernels
#: allocate scratch per thread, so absurd requests are refused up front.
MAX_THREADS = 1024


def available_cores() -> int:
    """Number of cores this process may run on (CPU affinity aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_num_threads(num_threads) -> int:
    """Turn a user's ``num_threads`` into the thread count passed to kernels.

    Parameters
    ----------
    num_threads : int
        0 means all cores the process may use; a positive integer up to
        :data:`MAX_THREADS` is taken as is. Without OpenMP any request above 1
        warns once and resolves to 1.

    Returns
    -------
    int
        The number of OpenMP threads, at least 1.
    """
    global _warned_no_openmp
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int,)) and not hasattr(
        num_threads, "__index__"
    ):
        raise TypeError(f"num_threads must be an integer >= 0, got {num_threads!r}")
    n = int(num_threads)
    if n < 0:
        raise ValueError(f"num_threads must be >= 0 (0 = all cores), got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"num_threads must be <= {MAX_THREADS} (0 = all cores), got {n}")
    if n == 0:
        n = min(available_cores(), max(1, omp_max_threads())) if openmp_enabled() else 1
    if not openmp_enabled() and n > 1:
        if not _warned_no_openmp:
            warnings.warn(
                "mfcore was built without OpenMP: kernels run on one thread "
                f"(num_threads={num_threads} ignored). See `mfcore info`.",
                RuntimeWarning,
                stacklevel=2,
            )
            _warned_no_openmp = True
        n = 1
    return n


_blas_controller = None
_blas_controller_key = None


def blas_controller():
    """A threadpoolctl controller over the process's BLAS pools, scanned once and cached.

    Scanning the loaded libraries costs milliseconds (``threadpool_limits`` does it on
    every entry); limiting through a cached controller costs tens of microseconds. The
    scan is redone when a module was imported since (``len(sys.modules)`` changed), so a
    BLAS loaded later (e.g. by a newly imported package) is still reached.
    """
    global _blas_controller, _blas_controller_key
    key = len(sys.modules)
    if _blas_controller is None or key != _blas_controller_key:
        _blas_controller = ThreadpoolController().select(user_api="blas")
        _blas_controller_key = key
    return _blas_controller


@contextmanager
def blas_limited(limit: int = 1):
    """Hold every BLAS pool in the process to ``limit`` threads inside the block."""
    with blas_controller().limit(limits=limit):
        yield
