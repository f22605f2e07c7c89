"""Every instruction-set build of the kernels (simd.h's run-time dispatch) computes the same fits.

The kernels run the build for min(CPU level, cap); the cap is lowered here through each
module's ``_simd_level`` hook, so the baseline build (the one a CPU without AVX2 runs)
is exercised on any machine. ``.ci/run`` also runs the kernel-vs-``_reference`` tests
with ``MFCORE_SIMD=baseline``.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore import _als, _bpr, _implicit_als
from mfcore import models as M

MODULES = (_als, _bpr, _implicit_als)
TOP = {_als: 2, _bpr: 1, _implicit_als: 2}


@pytest.fixture
def capped():
    """Cap every kernel module at a level; the caps are lifted afterwards."""
    before = {m: m._simd_level() for m in MODULES}   # MFCORE_SIMD may have capped them

    def cap(level):
        return {m: m._simd_level(level) for m in MODULES}
    yield cap
    for m, level in before.items():
        m._simd_level(level)


def _levels():
    cpu = _als._simd_level()
    return list(range(cpu + 1))


def _data(seed=3, n_users=120, n_items=90):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < 0.15
    mask[:, 0] = True                       # one long column
    ratings = np.clip(np.round(rng.normal(3.6, 1.0, mask.shape) * 2) / 2, 0.5, 5.0)
    return sp.csr_matrix(np.where(mask, ratings, 0.0))


FITS = [
    ("als_exact", lambda K: M.ExplicitALS(factors=K, iterations=2, regularization=1.0, dtype="float64", num_threads=1)),
    ("als_cg", lambda K: M.ExplicitALS(factors=K, iterations=2, regularization=1.0, solver="cg", dtype="float64",
                                       num_threads=1)),
    ("ials_cg", lambda K: M.ImplicitALS(factors=K, iterations=2, regularization=1.0, solver="cg", positive_threshold=3.0,
                                        dtype="float64", num_threads=1)),
    ("bpr", lambda K: M.BPR(factors=K, iterations=2, positive_threshold=3.0, dtype="float64", num_threads=1)),
    # the step with the genre prior (its own vector loop, mfc_*_update_prior_*)
    ("bpr_genres", lambda K: M.BPR(factors=K, iterations=2, positive_threshold=3.0, dtype="float64", num_threads=1,
                                   genre_share=0.9, regularization=0.05, bias_regularization=0.05)),
]


def _genres(n_items, seed=4):
    rng = np.random.default_rng(seed)
    g = (rng.random((n_items, 6)) < 0.3).astype(np.float64)
    g[:, 0] = 1.0
    return sp.csr_matrix(g)


def test_simd_level_hook_caps_and_reports(capped):
    got = capped(-1)
    cpu = got[_als]
    assert cpu in (0, 1, 2)
    assert got == {m: min(cpu, TOP[m]) for m in MODULES}
    got = capped(0)
    assert all(v == 0 for v in got.values())


@pytest.mark.parametrize("K", [13, 64])
@pytest.mark.parametrize("name,make", FITS, ids=[f[0] for f in FITS])
def test_every_build_fits_the_same_model(capped, name, make, K):
    """float64 fits on each build agree with the top build to rounding (the builds differ only in
    vector width and FMA contraction); the baseline build is always among them."""
    X = _data()
    fits = {}
    for level in _levels():
        capped(level)
        opts = {"item_genres": _genres(X.shape[1])} if name.endswith("_genres") else {}
        model = make(K).fit(X, show_progress=False, **opts)
        fits[level] = (model.user_factors, model.item_factors)
    assert 0 in fits
    top = max(fits)
    for level, (U, V) in fits.items():
        np.testing.assert_allclose(U, fits[top][0], rtol=1e-7, atol=1e-9, err_msg=f"{name} level {level}")
        np.testing.assert_allclose(V, fits[top][1], rtol=1e-7, atol=1e-9, err_msg=f"{name} level {level}")
