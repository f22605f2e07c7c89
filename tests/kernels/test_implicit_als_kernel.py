"""Tests of the implicit-ALS half-sweep kernel (mfcore._implicit_als) against mfcore._reference."""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from mfcore import _reference as ref
from mfcore._implicit_als import _cg_build, implicit_als_half_sweep

CHOLESKY, CG = 0, 1


def _problem(rng, n_rows=40, n_cols=25, K=6, density=0.25, dtype=np.float64):
    """Confidence CSR (c - 1 values) with empty and one-entry rows, Y, and a warm start X."""
    dense = (rng.random((n_rows, n_cols)) < density) * rng.uniform(0.5, 4.0, (n_rows, n_cols))
    dense[0] = 0          # empty row
    dense[1] = 0
    dense[1, 3] = 2.5     # one-entry row
    dense[5] = 0          # another empty row in the middle
    C = sp.csr_matrix(dense)
    C.sort_indices()
    C.indptr = C.indptr.astype(np.int32)
    C.indices = C.indices.astype(np.int32)
    C.data = C.data.astype(dtype)
    Y = rng.standard_normal((n_cols, K)).astype(dtype)
    X = rng.standard_normal((n_rows, K)).astype(dtype)
    return C, Y, X


def _run(C, Y, X, reg, solver, cg_steps=3, threads=1, **kw):
    X = X.copy()
    YtY = np.ascontiguousarray(Y.T @ Y)
    with threadpool_limits(1):
        status = implicit_als_half_sweep(C.indptr, C.indices, C.data, Y, X, YtY, reg, solver,
                                         cg_steps, threads, **kw)
    return status, X


@pytest.mark.parametrize("K", [1, 6, 17])
def test_cholesky_matches_reference(rng, dtype, tol, K):
    C, Y, X = _problem(rng, K=K, dtype=dtype)
    expected = ref.implicit_als_half_sweep(C, Y, 0.3)
    status, got = _run(C, Y, X, 0.3, CHOLESKY)
    assert status == -1
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, **tol)
    assert (got[0] == 0).all() and (got[5] == 0).all()  # empty rows


def test_cholesky_blocked_and_gathered_agree(rng, dtype, tol):
    """Rows longer than the gather buffer are accumulated in blocks."""
    C, Y, X = _problem(rng, n_rows=20, n_cols=60, K=5, density=0.6, dtype=dtype)
    expected = ref.implicit_als_half_sweep(C, Y, 0.1)
    for gather_rows in (1, 3, 7, -1):
        status, got = _run(C, Y, X, 0.1, CHOLESKY, gather_rows=gather_rows)
        assert status == -1
        np.testing.assert_allclose(got, expected, **tol)


def _a_norm_error(C, Y, reg, X, X_star):
    """sum_r (x_r - x*_r)^T A_r (x_r - x*_r), the quantity CG decreases monotonically."""
    C64 = C.astype(np.float64)
    Y64 = Y.astype(np.float64)
    base = Y64.T @ Y64 + reg * np.eye(Y.shape[1])
    total = 0.0
    for r in range(C.shape[0]):
        s, e = C.indptr[r], C.indptr[r + 1]
        Yr = Y64[C.indices[s:e]]
        A = base + (Yr * C64.data[s:e, None]).T @ Yr
        d = X[r].astype(np.float64) - X_star[r]
        total += d @ A @ d
    return total


@pytest.mark.parametrize("gather_rows", [-1, 0])
def test_cg_converges_to_exact_solution(rng, gather_rows):
    K = 8
    C, Y, X = _problem(rng, K=K)
    reg = 0.2
    exact = ref.implicit_als_half_sweep(C, Y, reg)
    errors = []
    for steps in (1, 2, 3, 5):
        status, got = _run(C, Y, X, reg, CG, cg_steps=steps, gather_rows=gather_rows)
        assert status == -1
        errors.append(_a_norm_error(C, Y, reg, got, exact))
    start = _a_norm_error(C, Y, reg, X, exact)
    assert start > errors[0] > errors[1] > errors[2] > errors[3]
    # CG reaches the exact solution in at most K steps (up to rounding)
    status, got = _run(C, Y, X, reg, CG, cg_steps=K + 4, gather_rows=gather_rows)
    np.testing.assert_allclose(got, exact, rtol=1e-7, atol=1e-9)


def test_cg_float32_converges(rng):
    C, Y, X = _problem(rng, K=6, dtype=np.float32)
    exact = ref.implicit_als_half_sweep(C, Y, 0.5)
    status, got = _run(C, Y, X, 0.5, CG, cg_steps=12)
    assert status == -1 and got.dtype == np.float32
    np.testing.assert_allclose(got, exact, rtol=2e-3, atol=2e-3)


def test_cg_gather_paths_agree(rng, dtype):
    """Gathered and in-place rows run the same sums in the same order: identical CG iterates."""
    C, Y, X = _problem(rng, K=7, dtype=dtype)
    _, a = _run(C, Y, X, 0.2, CG, cg_steps=3, gather_rows=-1)
    _, b = _run(C, Y, X, 0.2, CG, cg_steps=3, gather_rows=0)
    _, c = _run(C, Y, X, 0.2, CG, cg_steps=3, gather_rows=2)  # mixed: short rows gathered
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.fixture
def cg_build():
    """Run a test with a cap on the CG kernel build (AVX-512 / AVX2 / baseline), then lift it."""
    before = _cg_build()   # MFCORE_SIMD may have capped it
    yield _cg_build
    _cg_build(before)


def _cg_levels():
    """The CG kernel builds this CPU can run (0 = baseline, 1 = AVX2+FMA, 2 = AVX-512)."""
    top = _cg_build()
    return list(range(top + 1))


@pytest.mark.parametrize("K", [1, 3, 5, 17, 64, 68])
def test_cg_builds_match_reference(rng, dtype, tol, cg_build, K):
    """Every kernel build the CPU supports, for K with and without full vectors: the CG
    iterates of the builds agree, and enough steps reach the exact solution."""
    C, Y, X = _problem(rng, n_rows=30, n_cols=40, K=K, density=0.5, dtype=dtype)
    Y *= 0.5
    exact = ref.implicit_als_half_sweep(C, Y, 1.0)
    three = {}
    for level in _cg_levels():
        assert cg_build(level) == level
        status, three[level] = _run(C, Y, X, 1.0, CG, cg_steps=3)
        assert status == -1
        status, converged = _run(C, Y, X, 1.0, CG, cg_steps=K + 10)
        assert status == -1
        np.testing.assert_allclose(converged, exact, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)
        # the in-place path of the same build gives the same iterates
        np.testing.assert_array_equal(_run(C, Y, X, 1.0, CG, cg_steps=3, gather_rows=0)[1], three[level])
    for level, got in three.items():
        np.testing.assert_allclose(got, three[0], **tol)


def test_cg_warm_start_at_solution_stays(rng):
    C, Y, _ = _problem(rng, K=5)
    exact = ref.implicit_als_half_sweep(C, Y, 0.4)
    status, got = _run(C, Y, exact, 0.4, CG, cg_steps=3)
    assert status == -1
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("solver,K", [(CHOLESKY, 8), (CG, 8), (CG, 64)])
def test_thread_count_invariance(rng, dtype, solver, K):
    C, Y, X = _problem(rng, n_rows=300, n_cols=40, K=K, dtype=dtype)
    _, one = _run(C, Y, X, 0.3, solver, threads=1)
    for threads in (2, 3):
        _, many = _run(C, Y, X, 0.3, solver, threads=threads)
        np.testing.assert_array_equal(many, one)


def test_cholesky_failure_reports_first_row_and_leaves_rows(rng):
    C, Y, X = _problem(rng, K=4)
    Y[:, 2] = 0.0  # Y^T Y singular and no entry fills that direction; with reg = 0 -> not PD
    status, got = _run(C, Y, X, 0.0, CHOLESKY)
    first_nonempty = int(np.flatnonzero(np.diff(C.indptr) > 0)[0])
    assert status == first_nonempty == 1
    np.testing.assert_array_equal(got[1], X[1])  # failed row untouched
    assert np.isfinite(got).all()


def test_argument_errors(rng):
    C, Y, X = _problem(rng, K=3)
    YtY = Y.T @ Y
    args = (C.indptr, C.indices, C.data, Y, X.copy())
    with pytest.raises(ValueError, match="solver"):
        implicit_als_half_sweep(*args, YtY, 0.1, 2, 3, 1)
    with pytest.raises(ValueError, match="cg_steps"):
        implicit_als_half_sweep(*args, YtY, 0.1, CG, 0, 1)
    with pytest.raises(ValueError, match="num_threads"):
        implicit_als_half_sweep(*args, YtY, 0.1, CG, 3, 0)
    with pytest.raises(ValueError, match="YtY"):
        implicit_als_half_sweep(*args, np.eye(4), 0.1, CG, 3, 1)
    with pytest.raises(ValueError, match="factors"):
        implicit_als_half_sweep(C.indptr, C.indices, C.data, Y, X[:-1].copy(), YtY, 0.1, CG, 3, 1)
    with pytest.raises(ValueError, match="columns"):
        implicit_als_half_sweep(C.indptr, C.indices, C.data, Y[:, :2].copy(), X.copy(), YtY, 0.1, CG, 3, 1)


def test_long_rows_cross_block_boundaries(rng, dtype, tol):
    """Long rows (around 2048 entries, 5000) and rows longer than small gather buffers."""
    n_cols, K = 5200, 4
    lengths = [0, 1, 2047, 2048, 2049, 5000]
    rows, cols = [], []
    for r, n in enumerate(lengths):
        cols.append(rng.choice(n_cols, n, replace=False))
        rows.append(np.full(n, r))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    C = sp.csr_matrix((rng.uniform(0.1, 3.0, rows.size), (rows, cols)), shape=(len(lengths), n_cols))
    C.sort_indices()
    C.indptr, C.indices, C.data = C.indptr.astype(np.int32), C.indices.astype(np.int32), C.data.astype(dtype)
    Y = (rng.standard_normal((n_cols, K)) * 0.1).astype(dtype)
    X = rng.standard_normal((len(lengths), K)).astype(dtype)
    exact = ref.implicit_als_half_sweep(C, Y, 1.0)
    status, chol = _run(C, Y, X, 1.0, CHOLESKY)
    assert status == -1
    np.testing.assert_allclose(chol, exact, **tol)
    _, blocked = _run(C, Y, X, 1.0, CHOLESKY, gather_rows=1000)
    np.testing.assert_allclose(blocked, exact, **tol)
    cg = {g: _run(C, Y, X, 1.0, CG, cg_steps=3, gather_rows=g)[1] for g in (-1, 0, 2100)}
    np.testing.assert_allclose(cg[-1], cg[0], **tol)
    np.testing.assert_allclose(cg[2100], cg[0], **tol)
    _, converged = _run(C, Y, X, 1.0, CG, cg_steps=K + 6)
    np.testing.assert_allclose(converged, exact, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


# --------------------------------------------------------------------------- the prior (genre prior)
# Tolerances: the prior adds tau I to A_r and tau c_r to b_r, so the systems are no worse conditioned than
# without it (tau >= 0 only raises the smallest eigenvalue): the per-dtype table applies unchanged.


def _prior(rng, X, dtype):
    return np.ascontiguousarray(rng.standard_normal(X.shape).astype(dtype))


@pytest.mark.parametrize("K", [1, 6, 17])
def test_prior_cholesky_matches_reference(rng, dtype, tol, K):
    C, Y, X = _problem(rng, K=K, dtype=dtype)
    c = _prior(rng, X, dtype)
    expected = ref.implicit_als_half_sweep(C, Y, 0.3, prior=c, prior_weight=2.5)
    status, got = _run(C, Y, X, 0.3, CHOLESKY, prior=c, prior_weight=2.5)
    assert status == -1 and got.dtype == dtype
    np.testing.assert_allclose(got, expected, **tol)
    # an empty row gets the prior-only solution (Y^T Y + (reg + tau) I)^-1 tau c, not 0
    Y64 = Y.astype(np.float64)
    empty = np.linalg.solve(Y64.T @ Y64 + 2.8 * np.eye(K), 2.5 * c[0].astype(np.float64))
    np.testing.assert_allclose(got[0], empty, **tol)
    assert np.abs(got[0]).max() > 0.01


@pytest.mark.parametrize("K", [1, 5, 17, 64])
def test_prior_cg_builds_match_reference(rng, dtype, tol, cg_build, K):
    """Every CG build: enough steps reach the reference's exact solution with the prior; builds agree."""
    C, Y, X = _problem(rng, n_rows=30, n_cols=40, K=K, density=0.5, dtype=dtype)
    Y *= 0.5
    c = _prior(rng, X, dtype)
    exact = ref.implicit_als_half_sweep(C, Y, 1.0, prior=c, prior_weight=3.0)
    three = {}
    for level in _cg_levels():
        assert cg_build(level) == level
        status, three[level] = _run(C, Y, X, 1.0, CG, cg_steps=3, prior=c, prior_weight=3.0)
        assert status == -1
        status, converged = _run(C, Y, X, 1.0, CG, cg_steps=K + 10, prior=c, prior_weight=3.0)
        assert status == -1
        np.testing.assert_allclose(converged, exact, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)
        np.testing.assert_array_equal(_run(C, Y, X, 1.0, CG, cg_steps=3, gather_rows=0, prior=c,
                                           prior_weight=3.0)[1], three[level])
    for level, got in three.items():
        np.testing.assert_allclose(got, three[0], **tol)


@pytest.mark.parametrize("solver", [CHOLESKY, CG])
def test_prior_weight_zero_is_bit_identical_to_no_prior(rng, dtype, solver):
    """tau = 0 (or no prior) leaves the old arithmetic untouched; a nonzero tau changes every row."""
    C, Y, X = _problem(rng, K=8, dtype=dtype)
    c = _prior(rng, X, dtype)
    _, plain = _run(C, Y, X, 0.3, solver)
    _, zero = _run(C, Y, X, 0.3, solver, prior=c, prior_weight=0.0)
    _, ignored = _run(C, Y, X, 0.3, solver, prior=None, prior_weight=5.0)
    np.testing.assert_array_equal(zero, plain)
    np.testing.assert_array_equal(ignored, plain)
    _, pulled = _run(C, Y, X, 0.3, solver, prior=c, prior_weight=1.0)
    assert (np.abs(pulled - plain).max(axis=1) > 1e-4).all()


@pytest.mark.parametrize("solver", [CHOLESKY, CG])
def test_prior_thread_count_invariance(rng, dtype, solver):
    C, Y, X = _problem(rng, n_rows=300, n_cols=40, K=8, dtype=dtype)
    c = _prior(rng, X, dtype)
    _, one = _run(C, Y, X, 0.3, solver, prior=c, prior_weight=2.0)
    for threads in (2, 3):
        np.testing.assert_array_equal(_run(C, Y, X, 0.3, solver, threads=threads, prior=c, prior_weight=2.0)[1],
                                      one)


def test_prior_argument_errors(rng):
    C, Y, X = _problem(rng, K=3)
    YtY = Y.T @ Y
    args = (C.indptr, C.indices, C.data, Y, X.copy(), YtY, 0.1, CG, 3, 1)
    with pytest.raises(ValueError, match=r"prior must have shape \(40, 3\)"):
        implicit_als_half_sweep(*args, prior=np.zeros((39, 3)), prior_weight=1.0)
    with pytest.raises(TypeError, match="prior must be a C-contiguous float64"):
        implicit_als_half_sweep(*args, prior=np.zeros((40, 3), np.float32), prior_weight=1.0)
    with pytest.raises(TypeError, match="prior must be a C-contiguous"):
        implicit_als_half_sweep(*args, prior=np.zeros((3, 40)).T, prior_weight=1.0)
    with pytest.raises(ValueError, match="prior_weight must be >= 0"):
        implicit_als_half_sweep(*args, prior=np.zeros((40, 3)), prior_weight=-1.0)


# --------------------------------------------------------------------------- per-row penalty (reg_scale)
# ImplicitALS's frequency-scaled regularization: row r uses reg * s_r and tau * s_r. Scales in [0.3, 3] keep
# the systems at least as well conditioned as reg * 0.3 alone; the per-dtype table applies unchanged.


def _scale(rng, n_rows):
    return rng.uniform(0.3, 3.0, n_rows)


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("K", [1, 6, 17, 64])
def test_reg_scale_cholesky_matches_reference(rng, dtype, tol, K, with_prior):
    C, Y, X = _problem(rng, K=K, dtype=dtype)
    s = _scale(rng, X.shape[0])
    prior = dict(prior=_prior(rng, X, dtype), prior_weight=2.5) if with_prior else {}
    expected = ref.implicit_als_half_sweep(C, Y, 0.3, reg_scale=s, **prior)
    status, got = _run(C, Y, X, 0.3, CHOLESKY, reg_scale=s, **prior)
    assert status == -1 and got.dtype == dtype
    np.testing.assert_allclose(got, expected, **tol)
    # the scale matters: the unscaled reference differs on every non-empty row
    plain = ref.implicit_als_half_sweep(C, Y, 0.3, **prior)
    rows = np.diff(C.indptr) > 0 if not with_prior else np.ones(X.shape[0], bool)
    assert (np.abs(plain - expected).max(axis=1)[rows] > 1e-6).all()


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("K", [1, 5, 17, 64])
def test_reg_scale_cg_builds_match_reference(rng, dtype, tol, cg_build, K, with_prior):
    """Every CG build: enough steps reach the reference's exact solution with per-row scales; builds agree."""
    C, Y, X = _problem(rng, n_rows=30, n_cols=40, K=K, density=0.5, dtype=dtype)
    Y *= 0.5
    s = _scale(rng, X.shape[0])
    prior = dict(prior=_prior(rng, X, dtype), prior_weight=3.0) if with_prior else {}
    exact = ref.implicit_als_half_sweep(C, Y, 1.0, reg_scale=s, **prior)
    three = {}
    for level in _cg_levels():
        assert cg_build(level) == level
        status, three[level] = _run(C, Y, X, 1.0, CG, cg_steps=3, reg_scale=s, **prior)
        assert status == -1
        status, converged = _run(C, Y, X, 1.0, CG, cg_steps=K + 10, reg_scale=s, **prior)
        assert status == -1
        np.testing.assert_allclose(converged, exact, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)
        np.testing.assert_array_equal(_run(C, Y, X, 1.0, CG, cg_steps=3, gather_rows=0, reg_scale=s,
                                           **prior)[1], three[level])
    for level, got in three.items():
        np.testing.assert_allclose(got, three[0], **tol)


@pytest.mark.parametrize("solver", [CHOLESKY, CG])
def test_reg_scale_none_and_ones_match_plain(rng, dtype, solver):
    """reg_scale=None is the old path bit for bit; all-ones gives the same numbers (x * 1.0 is exact)."""
    C, Y, X = _problem(rng, K=8, dtype=dtype)
    c = _prior(rng, X, dtype)
    for prior in ({}, dict(prior=c, prior_weight=2.0)):
        _, plain = _run(C, Y, X, 0.3, solver, **prior)
        _, none = _run(C, Y, X, 0.3, solver, reg_scale=None, **prior)
        _, ones = _run(C, Y, X, 0.3, solver, reg_scale=np.ones(X.shape[0]), **prior)
        np.testing.assert_array_equal(none, plain)
        np.testing.assert_array_equal(ones, plain)
        # a uniform scale s is the same as reg * s and tau * s
        _, scaled = _run(C, Y, X, 0.3, solver, reg_scale=np.full(X.shape[0], 2.0), **prior)
        _, direct = _run(C, Y, X, 0.6, solver, **({} if not prior else dict(prior=c, prior_weight=4.0)))
        np.testing.assert_array_equal(scaled, direct)


@pytest.mark.parametrize("solver", [CHOLESKY, CG])
def test_reg_scale_thread_count_invariance(rng, dtype, solver):
    C, Y, X = _problem(rng, n_rows=300, n_cols=40, K=8, dtype=dtype)
    s = _scale(rng, X.shape[0])
    _, one = _run(C, Y, X, 0.3, solver, reg_scale=s)
    for threads in (2, 3):
        np.testing.assert_array_equal(_run(C, Y, X, 0.3, solver, threads=threads, reg_scale=s)[1], one)


def test_reg_scale_argument_errors(rng):
    C, Y, X = _problem(rng, K=3)
    YtY = Y.T @ Y
    args = (C.indptr, C.indices, C.data, Y, X.copy(), YtY, 0.1, CG, 3, 1)
    with pytest.raises(ValueError, match=r"reg_scale must have 40 entries"):
        implicit_als_half_sweep(*args, reg_scale=np.ones(39))
    with pytest.raises(TypeError, match="reg_scale must be a contiguous float64"):
        implicit_als_half_sweep(*args, reg_scale=np.ones(40, np.float32))
    for bad in (0.0, -1.0, np.inf, np.nan):
        s = np.ones(40)
        s[7] = bad
        with pytest.raises(ValueError, match="reg_scale must be positive and finite"):
            implicit_als_half_sweep(*args, reg_scale=s)
    with pytest.raises(ValueError, match="reg_scale must be positive and finite"):
        ref.implicit_als_half_sweep(C, Y, 0.1, reg_scale=np.zeros(40))
