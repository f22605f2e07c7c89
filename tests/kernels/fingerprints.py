"""Bit-identity fingerprints of every compiled kernel path (issue 13: reshape without changing a result).

``fingerprints.json`` holds the SHA-256 of every fitted array (factors, biases, genre
projections) of each configuration in :data:`CONFIGS`, fitted on the synthetic problem
of :func:`make_problem`, as the code produced it before the kernels' C moved from
Cython strings into ``pyx/include/mfcore/*.h``. ``test_fingerprints.py`` refits and
compares digests, so any change of a single bit in any result fails.

The configurations cover each model and solver in float32 and float64 at K = 64 (the
unrolled/whole-vector paths) and at an odd K (padding lanes): ExplicitALS exact (LDL^T
and its dual form for short rows) and CG (including a row long enough to be applied
through its Gram), GenreALS, BPR on one thread, ImplicitALS exact and CG.

The kernels choose an instruction-set build at run time, so the digests hold for the
CPU features recorded with them (``cpu_features``); on another CPU the test skips.

Regenerate only on purpose (a deliberate change of results), from the repository root
with the extensions built in place::

    python -m tests.kernels.fingerprints                       # every configuration
    python -m tests.kernels.fingerprints ials_exact_K64_f32 ...  # only these, the rest kept

Added later (recorded when added): ``ials_freq_*``, ImplicitALS with frequency-scaled
regularization (``regularization_exponent``).

Re-recorded on purpose so far: the four ``ials_exact_*`` configurations, when ImplicitALS's
Cholesky path moved to ``_linalg.lapack_cholesky_solve`` (uplo 'U' -> 'L' on the full
matrix: the factors changed in their last bits, max relative difference 2.9e-5 in float32
and 1.4e-13 in float64 against the previous digests' factors).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tests.models.fixtures.pre_refactor import cpu_features

FINGERPRINTS = Path(__file__).with_name("fingerprints.json")

#: arrays whose digests are recorded (the genre ones exist only for GenreALS)
ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "genre_factors", "genre_bias")


_PLAIN = dict(regularization_exponent=0.0, item_regularization_exponent=None)


def _configs():
    out = []
    for dt, tag in (("float32", "f32"), ("float64", "f64")):
        for K in (64, 13):
            common = dict(factors=K, dtype=dt, iterations=2, random_state=7 + K)
            out += [
                (f"als_exact_K{K}_{tag}", "ExplicitALS",
                 dict(common, regularization=2.0, bias_regularization=1.0, num_threads=2)),
                (f"als_cg_K{K}_{tag}", "ExplicitALS",
                 dict(common, regularization=2.0, bias_regularization=1.0, solver="cg", cg_steps=3,
                      num_threads=2)),
                (f"genre_K{K}_{tag}", "GenreALS",
                 # cold_bias="prior": the half-sweep's own bias for the unrated item 5 (the kernels' bits;
                 # the "ratings" map is checked against its reference in tests/models/test_als.py)
                 dict(common, regularization=2.0, bias_regularization=1.0, genre_weight=3.0,
                      genre_bias_weight=2.0, num_threads=2, cold_bias="prior")),
                (f"bpr_K{K}_{tag}", "BPR",
                 dict(common, learning_rate=0.05, regularization=0.01, bias_regularization=0.01, iterations=2,
                      n_samples=20000, positive_threshold=3.5, num_threads=1)),
                # popularity_bias pinned to 0: recorded before it existed (a fixed log-count, no kernel result);
                # the regularization exponents pinned to 0 likewise (the kernel's unscaled path, bit for bit)
                (f"ials_exact_K{K}_{tag}", "ImplicitALS",
                 dict(common, regularization=1.0, alpha=2.0, solver="cholesky", positive_threshold=3.0,
                      binarize=True, num_threads=2, popularity_bias=0.0, **_PLAIN)),
                (f"ials_cg_K{K}_{tag}", "ImplicitALS",
                 dict(common, regularization=1.0, alpha=2.0, solver="cg", cg_steps=3, positive_threshold=3.0,
                      binarize=True, num_threads=2, popularity_bias=0.0, **_PLAIN)),
            ]
    # ImplicitALS's frequency-scaled regularization (the kernel's reg_scale path), at the class's exponents
    for name, dt, K, solver in (("ials_freq_cg_K64_f32", "float32", 64, "cg"),
                                ("ials_freq_exact_K13_f64", "float64", 13, "cholesky")):
        out.append((name, "ImplicitALS",
                    dict(factors=K, dtype=dt, iterations=2, random_state=7 + K, regularization=1.0, alpha=2.0,
                         solver=solver, cg_steps=3, positive_threshold=3.0, binarize=True, num_threads=2,
                         popularity_bias=0.0, regularization_exponent=0.5, item_regularization_exponent=0.125)))
    return out


#: (name, model class name, constructor parameters)
CONFIGS = _configs()


def make_problem(seed=20261204, n_users=4300, n_items=300, n_genres=8):
    """Half-star ratings with skewed activity/popularity; item 0 is rated by every user.

    Item 0's column has 4,300 entries, so at K = 64 in float32 its gathered block
    (4,300 x 64 x 4 bytes) exceeds the CG kernel's Gram threshold (1 MiB).
    """
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.5, n_users) + 1.0
    popularity = rng.pareto(1.0, n_items) + 1.0
    p = np.outer(activity, popularity)
    p *= 0.04 * n_users * n_items / p.sum()
    mask = rng.random((n_users, n_items)) < np.minimum(p, 0.9)
    mask[:, 0] = True
    mask[:2] = False                         # users with no ratings
    mask[2:, 0] = True
    mask[:, 1] = False                       # an item with no ratings
    ratings = np.clip(np.round(rng.normal(3.6, 1.0, mask.shape) * 2) / 2, 0.5, 5.0)
    train = sp.csr_matrix(np.where(mask, ratings, 0.0).astype(np.float32))
    genres = (rng.random((n_items, n_genres)) < 0.3).astype(np.float32)
    genres[5] = 0.0
    return train, sp.csr_matrix(genres)


def fit_config(name, train, genres):
    """Fit configuration ``name``; returns the fitted model."""
    import mfcore.models as models

    _, cls_name, params = next(c for c in CONFIGS if c[0] == name)
    kwargs = {"show_progress": False}
    if cls_name == "GenreALS":
        kwargs["item_genres"] = genres
    return getattr(models, cls_name)(**params).fit(train, **kwargs)


def digests(model):
    """{array name: SHA-256 hex of its dtype, shape and C-order bytes} for the fitted arrays."""
    out = {}
    for name in ARRAYS:
        a = getattr(model, name, None)
        if a is None:
            continue
        a = np.ascontiguousarray(a)
        h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
        out[name] = h.hexdigest()
    return out


def main(argv=None) -> int:
    names = sys.argv[1:] if argv is None else list(argv)
    known = [c[0] for c in CONFIGS]
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown configuration(s) {unknown}; known: {known}", file=sys.stderr)
        return 2
    train, genres = make_problem()
    record = {"cpu_features": cpu_features(), "nnz": int(train.nnz), "configs": {}}
    if names:
        old = json.loads(FINGERPRINTS.read_text())
        if old["cpu_features"] != record["cpu_features"] or old["nnz"] != record["nnz"]:
            print("the recorded fingerprints come from another CPU or problem: re-record all of them",
                  file=sys.stderr)
            return 2
        record["configs"] = old["configs"]
    for name in names or known:
        record["configs"][name] = digests(fit_config(name, train, genres))
    FINGERPRINTS.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FINGERPRINTS} ({len(CONFIGS)} configurations, cpu features: {record['cpu_features']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
