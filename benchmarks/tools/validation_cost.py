"""In-process A/B of the validation functions on the hot paths, old against new, interleaved.

    python benchmarks/tools/validation_cost.py --old /path/to/old/checkout --data /path/to/ml-32m-like

Process-level timings (``validation_overhead.py``) are dominated by machine
noise on a shared box; this times only what changed, in one process, so the
same noise hits both sides:

* fit setup: ``check_csr`` (called on X and on its transpose by every fit)
  from the old tree's ``mfcore/_validation.py`` (loaded by file path) against
  the new one, on a fresh 32M-entry CSR and on the flagged ``Interactions``
  matrix;
* ``load_model``: the old ``load_arrays`` (``numpy.load`` + checksums) against the
  new ``read_model_file`` (own reader + checksums + every structural check),
  and the structural checks alone;
* cache load: the new structural checks of a cache entry (which include
  building the users x items CSR that the first ``user_items()`` builds in
  both trees) and that CSR build alone.

Prints min and median seconds over ``--repeats`` interleaved runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, type=Path, help="checkout of the old tree")
    parser.add_argument("--data", required=True, type=Path, help="MovieLens folder (ratings.csv + movies.csv)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    import mfcore
    from mfcore import _model_file, _validation
    from mfcore.data import _cache, load_movielens
    from mfcore.data.interactions import _pairs_to_csr
    from mfcore.data.movielens import _Source
    from mfcore.models._ids import IdMap
    from mfcore.models.base import seen_pattern

    old_validation = _load_module(args.old / "mfcore" / "_validation.py", "old_validation")
    old_persist = _load_module(args.old / "mfcore" / "_persist.py", "old_persist")

    with tempfile.TemporaryDirectory(prefix="mfcore-cost-") as work:
        data = load_movielens(args.data, cache_dir=Path(work) / "cache")
        flagged = data.user_items()
        fresh = sp.csr_matrix((flagged.data.copy(), flagged.indices.copy(), flagged.indptr.copy()), shape=flagged.shape)
        n_users, n_items = flagged.shape
        rng = np.random.default_rng(0)
        model = mfcore.ExplicitALS(factors=64)
        model._set_state(user_factors=rng.standard_normal((n_users, 64), dtype=np.float32),
                         item_factors=rng.standard_normal((n_items, 64), dtype=np.float32),
                         user_bias=np.zeros(n_users, np.float32), item_bias=np.zeros(n_items, np.float32),
                         global_mean=3.5, user_map=IdMap("user", n_users, data.user_ids),
                         item_map=IdMap("item", n_items, data.item_ids),
                         seen=seen_pattern(flagged.indptr, flagged.indices, flagged.shape, np.float32))
        path = model.save(Path(work) / "model")
        header, arrays = _model_file.read_model_file(path)
        entry = _cache.Entry(Path(work) / "cache", _Source(args.data), "error")
        cache_arrays = _cache._npz_arrays(entry.path)
        cache_head = _cache._header(cache_arrays)

        cases = {
            "check_csr fresh X (old)": lambda: old_validation.check_csr(fresh, "X"),
            "check_csr fresh X (new)": lambda: _validation.check_csr(fresh, "X"),
            "check_csr Interactions X (old)": lambda: old_validation.check_csr(flagged, "X"),
            "check_csr Interactions X (new)": lambda: _validation.check_csr(flagged, "X"),
            "load_model reader (old load_arrays)": lambda: old_persist.load_arrays(path),
            "load_model reader (new read_model_file)": lambda: _model_file.read_model_file(path),
            "model structural checks alone (new)": lambda: _model_file.check_model_state(path, header, arrays),
            "cache entry checks incl. CSR build (new)": lambda: _cache._interactions(cache_arrays, cache_head),
            "users x items CSR build (both, first user_items)": lambda: _pairs_to_csr(
                cache_arrays["users"], cache_arrays["items"], cache_arrays["ratings"], n_users, n_items),
        }
        times = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, fn in cases.items():
                times[name].append(_time(fn))
    print(f"{'call (32M entries, K=64)':<50}{'min s':>9}{'median s':>10}   (n={args.repeats}, interleaved)")
    for name, t in times.items():
        print(f"{name:<50}{min(t):>9.3f}{statistics.median(t):>10.3f}")


if __name__ == "__main__":
    main()
