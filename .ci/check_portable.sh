#!/usr/bin/env bash
# The portable plain-C kernels (MFCORE_PORTABLE=1: what a compiler without GCC vector
# extensions gets) built from a clean clone and tested against the NumPy reference.
# Run by .ci/run inside its virtualenv. Usage: .ci/check_portable.sh [WORKDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mfcore-portable-XXXXXX")}
git clone --quiet --no-local "$ROOT" "$WORK/src"
cd "$WORK/src"
# `pip install -e .` built mfcore in an isolated environment: the in-place build here
# needs the build requirements (pyproject.toml's [build-system]) in this venv itself
python -m pip install --quiet "setuptools>=77" "Cython>=3.1"
MFCORE_PORTABLE=1 python setup.py --quiet build_ext --inplace -j 2 >/dev/null
python - <<'PY'
import os
import mfcore
from mfcore import _als, _bpr, _implicit_als
assert mfcore.__file__.startswith(os.getcwd()), mfcore.__file__
builds = {m.__name__: m.SIMD_BUILD for m in (_als, _bpr, _implicit_als)}
assert set(builds.values()) == {"portable"}, builds
print("portable build:", builds)
PY
python -m pytest -q -p no:cacheprovider tests/kernels tests/models/test_contract.py
