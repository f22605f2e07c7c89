"""A/B wall times of the public calls that validation touches, old tree against new tree, interleaved.

    python benchmarks/tools/validation_overhead.py --old /path/to/old/checkout --new . \\
        --data /path/to/ml-32m-like --repeats 5

Each measurement runs in a fresh subprocess with ``PYTHONPATH`` set to one tree
(both trees built in place), alternating old / new, so both see the same
machine load; the medians are printed. Measured:

* ``load_model``: ``mfcore.load_model`` of an ExplicitALS file with the 32M
  shape (K = 64 float32 factors for every user and item of ``--data``, its
  seen-items CSR and int64 ids; written once by the new tree, a format both
  trees read);
* ``fit_setup_csr`` / ``fit_setup_interactions``: ``ExplicitALS(factors=64).fit``
  from the call until the first kernel call (the kernel is replaced by one
  that stops the fit), on a fresh ``scipy.sparse.csr_matrix`` and on the
  ``Interactions`` that ``load_movielens`` returns;
* ``cache_warm_load``: ``load_movielens(--data)`` from a warm cache (each
  tree its own cache directory); ``cache_load_then_fit_setup``: that load
  followed by the fit setup above (what a user waits for before the first
  epoch: the new cache builds the users x items CSR while validating it);
* ``source_sha256``: the full-content SHA-256 of the source files (the cost
  the new cache pays once after any change to them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

_PREPARE = """
import sys, numpy as np, mfcore
from mfcore.data import load_movielens
data = load_movielens(sys.argv[1], cache_dir=sys.argv[3])
ui = data.user_items()
np.savez(sys.argv[2] + "/csr.npz", indptr=ui.indptr, indices=ui.indices, data=ui.data, shape=np.array(ui.shape))
rng = np.random.default_rng(0)
model = mfcore.ExplicitALS(factors=64)
n_users, n_items = ui.shape
from mfcore.models._ids import IdMap
from mfcore.models.base import seen_pattern
model._set_state(user_factors=rng.standard_normal((n_users, 64), dtype=np.float32) * 0.1,
                 item_factors=rng.standard_normal((n_items, 64), dtype=np.float32) * 0.1,
                 user_bias=rng.standard_normal(n_users, dtype=np.float32) * 0.1,
                 item_bias=rng.standard_normal(n_items, dtype=np.float32) * 0.1, global_mean=3.5,
                 user_map=IdMap("user", n_users, data.user_ids), item_map=IdMap("item", n_items, data.item_ids),
                 seen=seen_pattern(ui.indptr, ui.indices, ui.shape, np.float32))
print(model.save(sys.argv[2] + "/model"))
"""

_MEASURE = {
    "load_model": """
import time, mfcore
t = time.perf_counter(); m = mfcore.load_model(WORK + "/model.npz"); print(time.perf_counter() - t)
""",
    "fit_setup_csr": """
import time, numpy as np, scipy.sparse as sp, mfcore
from mfcore import _als
z = np.load(WORK + "/csr.npz")
X = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
class Stop(Exception): pass
def first_kernel_call(*a, **k): raise Stop
_als.als_half_sweep = first_kernel_call
t = time.perf_counter()
try: mfcore.ExplicitALS(factors=64, num_threads=1).fit(X, show_progress=False)
except Stop: print(time.perf_counter() - t)
""",
    "fit_setup_interactions": """
import time, mfcore
from mfcore import _als
from mfcore.data import load_movielens
X = load_movielens(DATA, cache_dir=CACHE)
X.user_items()
class Stop(Exception): pass
def first_kernel_call(*a, **k): raise Stop
_als.als_half_sweep = first_kernel_call
t = time.perf_counter()
try: mfcore.ExplicitALS(factors=64, num_threads=1).fit(X, show_progress=False)
except Stop: print(time.perf_counter() - t)
""",
    "cache_warm_load": """
import time
from mfcore.data import load_movielens
t = time.perf_counter(); load_movielens(DATA, cache_dir=CACHE); print(time.perf_counter() - t)
""",
    "cache_load_then_fit_setup": """
import time, mfcore
from mfcore import _als
from mfcore.data import load_movielens
class Stop(Exception): pass
def first_kernel_call(*a, **k): raise Stop
_als.als_half_sweep = first_kernel_call
t = time.perf_counter()
try: mfcore.ExplicitALS(factors=64, num_threads=1).fit(load_movielens(DATA, cache_dir=CACHE), show_progress=False)
except Stop: print(time.perf_counter() - t)
""",
    "source_sha256": """
import hashlib, time
from pathlib import Path
t = time.perf_counter()
for name in ("ratings.csv", "movies.csv", "tags.csv"):
    p = Path(DATA) / name
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
print(time.perf_counter() - t)
""",
}


def _run(tree, code, env_extra):
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", **env_extra)
    prelude = "".join(f"{k} = {v!r}\n" for k, v in env_extra.items() if k in ("WORK", "DATA", "CACHE"))
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, type=Path, help="checkout of the old tree (built in place)")
    parser.add_argument("--new", required=True, type=Path, help="checkout of the new tree (built in place)")
    parser.add_argument("--data", required=True, type=Path, help="MovieLens folder (ratings.csv + movies.csv)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(_MEASURE), choices=list(_MEASURE))
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mfcore-ab-") as work:
        caches = {"old": Path(work) / "cache-old", "new": Path(work) / "cache-new"}
        subprocess.run([sys.executable, "-c", _PREPARE, str(args.data), work, str(caches["new"])], check=True,
                       env=dict(os.environ, PYTHONPATH=str(args.new)), capture_output=True)
        for side, tree in (("old", args.old), ("new", args.new)):  # warm each tree's own cache
            _run(tree, _MEASURE["cache_warm_load"], {"WORK": work, "DATA": str(args.data), "CACHE": str(caches[side])})
        times = {name: {"old": [], "new": []} for name in args.only}
        for _ in range(args.repeats):
            for name in args.only:
                for side, tree in (("old", args.old), ("new", args.new)):
                    env = {"WORK": work, "DATA": str(args.data), "CACHE": str(caches[side])}
                    times[name][side].append(_run(tree, _MEASURE[name], env))
    print(f"{'measurement':<24}{'old median s':>14}{'new median s':>14}{'new/old':>9}   (n={args.repeats})")
    for name, t in times.items():
        old, new = statistics.median(t["old"]), statistics.median(t["new"])
        print(f"{name:<24}{old:>14.3f}{new:>14.3f}{new / old:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps(times, indent=1))


if __name__ == "__main__":
    main()
