"""Build script: compiles every ``pyx/*.pyx`` into an extension ``mfcore._<stem>``.

OpenMP is detected by test-compiling a tiny program. Without it the build still
succeeds (kernels run serially) unless ``MFCORE_REQUIRE_OPENMP=1`` is set.

Environment switches
--------------------
MFCORE_REQUIRE_OPENMP=1  fail the build when OpenMP cannot be used.
MFCORE_CYTHON_DEBUG=1    turn bounds/wraparound checks back on (slow; for debugging).
MFCORE_EXTENSIONS=a,b    build only these modules (e.g. ``_als,_topk``); developer use.
MFCORE_SIMD_DISPATCH=0   compile only the baseline build of the kernels (no AVX2/AVX-512
                         builds, no run-time dispatch). At run time, without rebuilding,
                         ``MFCORE_SIMD=baseline|avx2|avx512`` caps the build the kernels use.
MFCORE_PORTABLE=1        compile the portable plain-C kernels (no GCC vector extensions,
                         attributes or builtins; what other compilers get). CI builds it.

Supported compilers
-------------------
GCC >= 8 or clang >= 7 get the SIMD kernels (GCC vector extensions and, on x86-64,
per-function ``target`` attributes chosen at run time). Any other C99 compiler gets
the portable plain-C kernels (``MFC_PORTABLE`` in ``pyx/include/mfcore/simd.h``),
chosen by the preprocessor; MSVC is untested. Kernel C headers:
``pyx/include/mfcore/*.h``.
"""

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent.resolve()

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_flag_default(name, default):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def openmp_flags(compiler):
    """Return (compile_args, link_args) enabling OpenMP, or None if it does not work."""
    ctype = getattr(compiler, "compiler_type", "")
    if ctype == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp(prefix="mfcore-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(OPENMP_PROBE)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=lflags)
            except Exception:  # any compiler/linker failure means "not this flag set"
                continue
            return cflags, lflags
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that adds optimisation and (if available) OpenMP flags."""

    def build_extensions(self):
        if not self.extensions:
            raise RuntimeError(
                "mfcore: no extension to build: pyx/*.pyx not found next to setup.py (an sdist "
                "without the Cython sources?) or MFCORE_EXTENSIONS matched none"
            )
        if self.compiler.compiler_type == "msvc":
            print("mfcore: MSVC: building the portable plain-C kernels (no SIMD builds; untested "
                  "with MSVC, which must accept C99 variable-length arrays)", file=sys.stderr)
        flags = openmp_flags(self.compiler)
        if flags is None:
            if _env_flag("MFCORE_REQUIRE_OPENMP"):
                raise RuntimeError(
                    "MFCORE_REQUIRE_OPENMP=1 but the C compiler cannot build OpenMP code "
                    "(tried -fopenmp). Install an OpenMP-capable compiler or unset the variable."
                )
            print("mfcore: OpenMP NOT available; kernels will run on one thread.", file=sys.stderr)
            cflags, lflags = [], []
        else:
            print(f"mfcore: building with OpenMP ({' '.join(flags[0])})", file=sys.stderr)
            cflags, lflags = flags
        opt = ["/O2"] if self.compiler.compiler_type == "msvc" else ["-O3"]
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + opt + cflags
            ext.extra_link_args = list(ext.extra_link_args or []) + lflags
        super().build_extensions()


INCLUDE = HERE / "pyx" / "include"  # the kernels' C headers, pyx/include/mfcore/*.h


def extensions():
    headers = [str(p.relative_to(HERE)) for p in sorted((INCLUDE / "mfcore").glob("*.h"))]
    wanted = {s.strip() for s in os.environ.get("MFCORE_EXTENSIONS", "").split(",") if s.strip()}
    simd_macros = [] if _env_flag_default("MFCORE_SIMD_DISPATCH", True) else [("MFC_NO_DISPATCH", "1")]
    if _env_flag("MFCORE_PORTABLE"):
        simd_macros.append(("MFC_PORTABLE", "1"))
    exts = []
    for pyx in sorted((HERE / "pyx").glob("*.pyx")):
        stem = pyx.stem
        if wanted and stem not in wanted:
            continue
        exts.append(
            Extension(
                f"mfcore.{stem}",
                [str(pyx.relative_to(HERE))],
                include_dirs=[numpy.get_include(), str(HERE / "pyx"), str(INCLUDE)],
                depends=headers,
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")] + simd_macros,
            )
        )
    if not exts:
        raise SystemExit(
            f"mfcore: no extension to build: no pyx/*.pyx under {HERE}"
            + (f" matching MFCORE_EXTENSIONS={os.environ['MFCORE_EXTENSIONS']!r}" if wanted else "")
            + " (the source distribution must ship pyx/*.pyx, *.pxd and pyx/include/mfcore/*.h)"
        )
    return exts


debug = _env_flag("MFCORE_CYTHON_DEBUG")
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": not debug,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        extensions(),
        compiler_directives=directives,
        include_path=[str(HERE / "pyx")],
        annotate=False,
    ),
    cmdclass={"build_ext": BuildExt},
)
