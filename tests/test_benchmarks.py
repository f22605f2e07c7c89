"""The asv suites must keep running: asv quick mode on the small sizes.

This is not a speed test (nothing is timed or compared); it fails when a
benchmark raises or the suite cannot be imported, so the suites never rot.
The 32M sizes are skipped by the suites themselves unless MFCORE_BENCH_FULL=1.

It takes about half a minute, so a plain ``pytest`` leaves it out (marker
``asv``, deselected in pyproject's addopts); ``.ci/run`` runs it with
``pytest -m asv``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.asv
def test_asv_quick_mode_runs_every_benchmark(tmp_path):
    asv = shutil.which("asv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if asv is None:
        pytest.fail("asv is not installed; it is part of the test extras: pip install -e '.[test]'")
    if not (ROOT / "asv.conf.json").is_file():
        pytest.fail(f"asv.conf.json not found at {ROOT}")
    env = dict(os.environ, HOME=str(tmp_path))   # asv machine writes ~/.asv-machine.json
    env.pop("MFCORE_BENCH_FULL", None)
    subprocess.run([asv, "machine", "--yes"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    run = subprocess.run([asv, "run", "--python=same", "--quick", "--show-stderr"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    # asv 0.6: 0 = every benchmark ran or was skipped, 2 = a benchmark failed, 1 = the suite is broken
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "failed" not in run.stdout.lower(), run.stdout[-4000:]
