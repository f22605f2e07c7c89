/* mfcore/openmp.h: whether this build has OpenMP (mfcore._openmp).

   _OPENMP is defined only when the extension is compiled with the OpenMP flag
   that setup.py found. */
#ifndef MFCORE_OPENMP_H
#define MFCORE_OPENMP_H

#ifdef _OPENMP
#include <omp.h>
/* 1 when compiled with OpenMP, else 0. */
static int mfc_openmp_enabled(void) { return 1; }
/* OpenMP's default team size, omp_get_max_threads(); 1 without OpenMP. */
static int mfc_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static int mfc_openmp_enabled(void) { return 0; }
static int mfc_omp_max_threads(void) { return 1; }
#endif

#endif /* MFCORE_OPENMP_H */
