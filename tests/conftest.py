"""Shared fixtures: seeded generators, per-dtype tolerances, and the data path.

The real MovieLens files live outside the repository; ``.ci/run`` points
``MFCORE_DATA_HOME`` at ``../shared/data``. Tests that need them are skipped
(with the reason shown) only when that variable is unset, which never happens
in CI.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")

# Tolerances for comparing a kernel with its float64 NumPy reference.
# float32 has a unit roundoff of 6e-8; the kernels accumulate sums of up to a
# few hundred products and solve systems whose condition number is bounded by
# the regularisation (kappa <~ 1e3 on the test problems), so relative errors
# of ~1e-4 are expected and 2e-3 leaves a safety margin without hiding bugs
# (a wrong index or a missing term gives errors of order 1).
TOLERANCES = {
    np.float64: {"rtol": 1e-8, "atol": 1e-10},
    np.float32: {"rtol": 2e-3, "atol": 2e-4},
}


@pytest.fixture
def rng():
    """A NumPy Generator with a fixed seed (fresh for every test)."""
    return np.random.default_rng(20261127)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOLERANCES[dtype]


def _data_home():
    value = os.environ.get("MFCORE_DATA_HOME")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def data_home():
    """Directory holding MovieLens folders (``ml-latest-small/``, ``ml-32m/``)."""
    home = _data_home()
    if home is None:
        pytest.skip("MFCORE_DATA_HOME is not set (CI sets it to ../shared/data)")
    if not home.is_dir():
        pytest.fail(f"MFCORE_DATA_HOME={home} is not a directory")
    return home


@pytest.fixture(scope="session")
def ml_small_path(data_home):
    path = data_home / "ml-latest-small"
    if not (path / "ratings.csv").is_file():
        pytest.fail(f"{path}/ratings.csv not found although MFCORE_DATA_HOME is set")
    return path
