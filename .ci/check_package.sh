#!/usr/bin/env bash
# Packaging check (issue 11): from a clean `git clone` of this repository, build the
# sdist and a wheel, install each into a fresh virtualenv, import mfcore and fit a
# tiny model. The sdist must ship pyx/*.pyx, *.pxd and pyx/include/mfcore/*.h and
# no generated C. Run by .ci/run after the tests; takes a few minutes (two builds).
# Usage: .ci/check_package.sh [WORKDIR]   (default: a new temporary directory)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mfcore-package-XXXXXX")}
PY=${PYTHON:-python3}
echo "packaging check in $WORK"
git clone --quiet --no-local "$ROOT" "$WORK/src"
cd "$WORK/src"

"$PY" -m venv "$WORK/venv"
# shellcheck disable=SC1091
source "$WORK/venv/bin/activate"
python -m pip install --quiet --upgrade pip
# build requirements of pyproject.toml, and the runtime dependencies
python -m pip install --quiet "setuptools>=77" "Cython>=3.1" "numpy>=2" "scipy>=1.11" wheel \
    "pandas>=2.0" "threadpoolctl>=3.1" "tqdm>=4.60"

python setup.py --quiet sdist --dist-dir "$WORK/dist" >/dev/null
SDIST=$(ls "$WORK"/dist/mfcore-*.tar.gz)
echo "sdist: $SDIST"
listing=$(tar -tzf "$SDIST")
for want in pyx/_als.pyx pyx/_linalg.pxd pyx/_simd.pxd pyx/include/mfcore/simd.h pyx/include/mfcore/gram_ldl.h \
            pyx/include/mfcore/cg_row.h pyx/include/mfcore/bpr.h setup.py pyproject.toml; do
    grep -q "/$want\$" <<<"$listing" || { echo "FAIL: the sdist lacks $want"; exit 1; }
done
if grep -E '\.(c|so|pyd)$' <<<"$listing"; then echo "FAIL: the sdist ships generated C or binaries"; exit 1; fi

fit_tiny() {
    (cd "$WORK" && python - <<'PY'
import numpy as np, scipy.sparse as sp
import mfcore
from mfcore.models import BPR, ExplicitALS, ImplicitALS
assert "site-packages" in mfcore.__file__, mfcore.__file__
rng = np.random.default_rng(0)
X = sp.csr_matrix(np.where(rng.random((60, 40)) < 0.2, rng.integers(1, 6, (60, 40)), 0).astype(np.float32))
for m in (ExplicitALS(factors=4, iterations=2), ImplicitALS(factors=4, iterations=2, positive_threshold=3.0),
          BPR(factors=4, iterations=2, positive_threshold=3.0)):
    m.fit(X, show_progress=False)
    assert np.isfinite(m.item_factors).all()
print("installed mfcore", mfcore.__version__, "fits: ok")
PY
    )
}

echo "== wheel built from the sdist"
python -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/wheels" "$SDIST"
python -m pip install --quiet --no-deps "$WORK"/wheels/mfcore-*.whl
fit_tiny
python -m pip uninstall --quiet -y mfcore

echo "== sdist installed directly"
python -m pip install --quiet --no-deps --no-build-isolation "$SDIST"
fit_tiny
echo "packaging check: OK"
