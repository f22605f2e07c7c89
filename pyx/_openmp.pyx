"""Whether this build has OpenMP, and how many threads it may use.

The C preprocessor decides: ``_OPENMP`` is defined only when the extension was
compiled with the OpenMP flag found by ``setup.py``.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int mfcore_openmp_enabled(void) { return 1; }
    static int mfcore_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int mfcore_openmp_enabled(void) { return 0; }
    static int mfcore_omp_max_threads(void) { return 1; }
    #endif
    """
    int mfcore_openmp_enabled() nogil
    int mfcore_omp_max_threads() nogil


def openmp_enabled():
    """Return True if the compiled kernels were built with OpenMP."""
    return bool(mfcore_openmp_enabled())


def omp_max_threads():
    """Return OpenMP's default team size (``omp_get_max_threads``), 1 without OpenMP."""
    return mfcore_omp_max_threads()
