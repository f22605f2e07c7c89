"""Build and runtime configuration report (``mfcore.show_config`` / ``mfcore info``)."""

from __future__ import annotations

import os
import platform
import sys


#: names of the instruction-set levels of the kernels' builds (pyx/include/mfcore/simd.h)
SIMD_LEVELS = {2: "AVX-512", 1: "AVX2+FMA", 0: "baseline"}


def simd_builds() -> dict:
    """The build each compiled kernel runs on this CPU: {kernel: 'AVX-512' | 'AVX2+FMA' | 'baseline' | ...}.

    The kernels pick the build at run time (the CPU's level, lowered by the environment
    variable ``MFCORE_SIMD=baseline|avx2|avx512`` when it is set at import).
    """
    from . import _als, _bpr, _implicit_als, _topk

    def name(module):
        if module.SIMD_BUILD == "portable":
            return "plain C (portable build)"
        build = SIMD_LEVELS[module._simd_level()]
        return build + " (baseline-only build)" if module.SIMD_BUILD == "baseline-only" else build

    return {
        "explicit ALS (mfcore._als)": name(_als),
        "implicit ALS CG (mfcore._implicit_als)": name(_implicit_als),
        "BPR step (mfcore._bpr)": name(_bpr),
        "top-N float32 (mfcore._topk)": (name(_topk) + " + BF16 screening") if _topk._bf16_screening()
        else name(_topk) + " (float32 gemm)",
    }


def config_info() -> dict:
    """Return versions, OpenMP status, thread counts and BLAS pools as a dict."""
    import numpy
    import scipy
    from threadpoolctl import threadpool_info

    from ._version import __version__
    from ._openmp import omp_max_threads, openmp_enabled
    from ._threads import available_cores, resolve_num_threads

    return {
        "mfcore": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "openmp": openmp_enabled(),
        "omp_max_threads": omp_max_threads(),
        "available_cores": available_cores(),
        "default_num_threads": resolve_num_threads(0),
        "simd": simd_builds(),
        "MFCORE_SIMD": os.environ.get("MFCORE_SIMD") or None,
        "threadpools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}
            for p in threadpool_info()
        ],
    }


def show_config(file=None) -> None:
    """Print mfcore's build and runtime configuration.

    Shows the mfcore, NumPy and SciPy versions, whether the kernels were built
    with OpenMP, the default thread count, the SIMD build (AVX-512 / AVX2+FMA /
    baseline) each kernel runs, and every BLAS/OpenMP thread pool
    loaded in the process (through threadpoolctl).
    """
    info = config_info()
    out = file or sys.stdout
    w = lambda s="": print(s, file=out)  # noqa: E731
    w(f"mfcore {info['mfcore']}  (python {info['python']}, {info['platform']})")
    w(f"  numpy  {info['numpy']}")
    w(f"  scipy  {info['scipy']}")
    if info["openmp"]:
        w(f"  OpenMP: on   (omp_get_max_threads={info['omp_max_threads']}, cores available={info['available_cores']})")
    else:
        w("  OpenMP: OFF  (built without OpenMP: kernels run on one thread)")
    w(f"  default num_threads (0 = all cores): {info['default_num_threads']}")
    cap = f"  (capped by MFCORE_SIMD={info['MFCORE_SIMD']})" if info["MFCORE_SIMD"] else ""
    w(f"  SIMD builds in use{cap}:")
    for kernel, build in info["simd"].items():
        w(f"    {kernel:<40} {build}")
    w("  thread pools (threadpoolctl):")
    if not info["threadpools"]:
        w("    none loaded")
    for p in info["threadpools"]:
        w(
            f"    {p['user_api']:<7} {p['internal_api']:<10} {p['version'] or '?':<10} "
            f"threads={p['num_threads']}  {p['filepath']}"
        )
