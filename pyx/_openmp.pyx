"""Whether this build has OpenMP, and how many threads it may use.

The C preprocessor decides (``pyx/include/mfcore/openmp.h``): ``_OPENMP`` is defined only when the extension was
compiled with the OpenMP flag found by ``setup.py``.
"""

cdef extern from "mfcore/openmp.h":
    int mfc_openmp_enabled() nogil
    int mfc_omp_max_threads() nogil


def openmp_enabled():
    """Return True if the compiled kernels were built with OpenMP."""
    return bool(mfc_openmp_enabled())


def omp_max_threads():
    """Return OpenMP's default team size (``omp_get_max_threads``), 1 without OpenMP."""
    return mfc_omp_max_threads()
