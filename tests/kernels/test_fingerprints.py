"""Every compiled path gives bit-identical results to the recorded ones (see tests/kernels/fingerprints.py)."""

import json
import os

import pytest

from tests.kernels.fingerprints import CONFIGS, FINGERPRINTS, cpu_features, digests, fit_config, make_problem

RECORD = json.loads(FINGERPRINTS.read_text())


@pytest.fixture(scope="module")
def problem():
    if RECORD["cpu_features"] != cpu_features():
        pytest.skip(f"fingerprints recorded on a CPU with features {RECORD['cpu_features']!r}, this one has "
                    f"{cpu_features()!r}: the kernels pick another SIMD build, whose rounding differs")
    if os.environ.get("MFCORE_SIMD", "auto").strip().lower() not in ("", "auto"):
        pytest.skip(f"MFCORE_SIMD={os.environ['MFCORE_SIMD']} caps the kernels' SIMD build; the fingerprints "
                    "hold for the CPU's own build")
    from mfcore import _als, _bpr, _implicit_als

    builds = {m.__name__: m.SIMD_BUILD for m in (_als, _bpr, _implicit_als)}
    if set(builds.values()) != {"simd"}:
        pytest.skip(f"the kernels are not the SIMD builds the fingerprints were recorded with: {builds}")
    train, genres = make_problem()
    assert train.nnz == RECORD["nnz"]
    return train, genres


@pytest.mark.parametrize("name", [c[0] for c in CONFIGS])
def test_results_bit_identical_to_the_recorded_ones(problem, name):
    expected = RECORD["configs"][name]
    got = digests(fit_config(name, *problem))
    assert got.keys() == expected.keys()
    changed = [k for k in got if got[k] != expected[k]]
    assert not changed, f"{name}: {changed} differ from the recorded fingerprints"
