# cython: language_level=3
"""The instruction-set level the kernels run (``pyx/include/mfcore/simd.h``), for every kernel module.

Inline only, like ``_linalg.pxd``: each module that cimports this file compiles
simd.h into itself, so each has its own level cap. The levels are 2 = AVX-512,
1 = AVX2 + FMA, 0 = baseline; a kernel runs min(CPU level, cap, its top build).
The cap comes from the environment variable ``MFCORE_SIMD`` (read when the module
is imported) and from the module's ``_simd_level(level)`` testing hook.
"""

cdef extern from "mfcore/simd.h":
    int mfc_level() noexcept nogil
    int mfc_cpu_level() noexcept nogil
    int mfc_set_level_cap(int cap) noexcept nogil
    int mfc_build_kind() noexcept nogil


cdef inline str build_kind():
    """How the module's kernels were built: 'simd' (SIMD builds, run-time dispatch),
    'baseline-only' (MFCORE_SIMD_DISPATCH=0) or 'portable' (plain C, MFCORE_PORTABLE=1)."""
    return ("simd", "baseline-only", "portable")[mfc_build_kind()]


cdef inline int env_level_cap() except -2:
    """The cap MFCORE_SIMD asks for: baseline/avx2/avx512 (or 0/1/2) -> 0/1/2, unset/auto -> -1."""
    import os
    value = os.environ.get("MFCORE_SIMD", "").strip().lower()
    levels = {"": -1, "auto": -1, "baseline": 0, "0": 0, "avx2": 1, "1": 1, "avx512": 2, "avx-512": 2, "2": 2}
    if value not in levels:
        raise ValueError(f"MFCORE_SIMD={value!r}: expected one of baseline, avx2, avx512 (or 0, 1, 2) or auto")
    return levels[value]


cdef inline int level_hook(level, int top) except -2:
    """Body of every kernel module's ``_simd_level(level=None)`` testing hook.

    ``level`` caps this module's build (2 = AVX-512, 1 = AVX2+FMA, 0 = baseline;
    -1 removes the cap, leaving ``MFCORE_SIMD`` behind); None leaves it unchanged.
    Returns the level used from now on: min(CPU level, cap, ``top``), ``top`` being
    the module's highest build. (Each module compiles simd.h and its level state
    into itself, hence a ``def`` per module calling this.)
    """
    if level is not None:
        mfc_set_level_cap(int(level))
    return min(mfc_level(), top)
