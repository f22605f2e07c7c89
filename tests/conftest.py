"""Shared fixtures: seeded generators, per-dtype tolerances, and the data path.

The real MovieLens files live outside the repository: ``$MFCORE_DATA_HOME`` when
set, else ``../shared/data`` beside the clone (where CI and developer machines
have them). Tests that need them are skipped, with the reason shown, only when
neither exists.
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

from tests.tolerances import TOLERANCES  # noqa: E402


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


#: Where the real MovieLens files sit beside a clone of the repository.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _data_home():
    value = os.environ.get("MFCORE_DATA_HOME")
    if value:
        return Path(value)
    return SHARED_DATA if SHARED_DATA.is_dir() else None


@pytest.fixture(scope="session")
def data_home():
    """Directory holding MovieLens folders (``ml-latest-small/``, ``ml-32m/``)."""
    home = _data_home()
    if home is None:
        pytest.skip(f"MovieLens data not found: MFCORE_DATA_HOME is unset and {SHARED_DATA} does not exist")
    if not home.is_dir():
        pytest.fail(f"MFCORE_DATA_HOME={home} is not a directory")
    return home


@pytest.fixture(scope="session")
def ml_small_path(data_home):
    path = data_home / "ml-latest-small"
    if not (path / "ratings.csv").is_file():
        pytest.fail(f"{path}/ratings.csv not found although MFCORE_DATA_HOME is set")
    return path
