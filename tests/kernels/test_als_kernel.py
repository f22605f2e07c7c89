"""mfcore._als.als_half_sweep against its NumPy twin mfcore._reference.als_half_sweep."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mfcore import _reference
from mfcore._als import _spd_solve, als_half_sweep

from tests.tolerances import TOLERANCES

K = 8
# Row degrees: empty, single, fewer than K+1 (dual path), exactly K+1, more than K+1,
# and more than the small chunk used below (several ?syrk blocks).
DEGREES = [0, 1, 2, 3, 5, 8, 9, 10, 17, 25, 40, 0, 1, 4, 12, 33]


def make_problem(rng, dtype, k=K, degrees=DEGREES, n_cols=45):
    n_rows = len(degrees)
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    indptr[1:] = np.cumsum(degrees)
    indices = np.concatenate(
        [np.sort(rng.choice(n_cols, size=d, replace=False)) for d in degrees]
    ).astype(np.int32)
    ratings = rng.choice(np.arange(0.5, 5.01, 0.5), size=indptr[-1]).astype(dtype)
    prob = dict(
        indptr=indptr,
        indices=indices,
        ratings=ratings,
        other_factors=(0.5 * rng.standard_normal((n_cols, k))).astype(dtype),
        other_bias=(0.3 * rng.standard_normal(n_cols)).astype(dtype),
        mu=3.5,
        factors=(0.1 * rng.standard_normal((n_rows, k))).astype(dtype),
        bias=(0.1 * rng.standard_normal(n_rows)).astype(dtype),
        prior=(0.4 * rng.standard_normal((n_rows, k))).astype(dtype),
        bias_prior=(0.2 * rng.standard_normal(n_rows)).astype(dtype),
    )
    return prob


def csr(prob):
    n_rows = len(prob["indptr"]) - 1
    n_cols = prob["other_factors"].shape[0]
    return sp.csr_matrix(
        (prob["ratings"], prob["indices"], prob["indptr"]), shape=(n_rows, n_cols)
    )


def run_kernel(prob, *, reg=0.5, reg_bias=0.3, scale_by_count=False, use_prior=False,
               use_bias_prior=False, tau=2.0, tau_b=1.5, solver=0, cg_steps=0, num_threads=1,
               **kw):
    factors = prob["factors"].copy()
    bias = prob["bias"].copy()
    with threadpool_limits(1):
        status = als_half_sweep(
            prob["indptr"], prob["indices"], prob["ratings"],
            prob["other_factors"], prob["other_bias"], prob["mu"],
            factors, bias, reg, reg_bias, scale_by_count,
            prob["prior"] if use_prior else None, tau,
            prob["bias_prior"] if use_bias_prior else None, tau_b,
            solver, cg_steps, num_threads, **kw,
        )
    return status, factors, bias


def run_reference(prob, *, reg=0.5, reg_bias=0.3, scale_by_count=False, use_prior=False,
                  use_bias_prior=False, tau=2.0, tau_b=1.5):
    f64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for k, v in prob.items()}
    return _reference.als_half_sweep(
        csr(f64), f64["other_factors"], f64["other_bias"], f64["mu"], reg, reg_bias,
        scale_by_count=scale_by_count,
        prior=f64["prior"] if use_prior else None, prior_weight=tau,
        bias_prior=f64["bias_prior"] if use_bias_prior else None, bias_prior_weight=tau_b,
    )


@pytest.mark.parametrize("scale_by_count", [False, True], ids=["plain", "scaled"])
@pytest.mark.parametrize("priors", ["none", "prior", "bias_prior", "both"])
@pytest.mark.parametrize("dual_threshold", [-1, 0], ids=["dual", "primal"])
def test_matches_reference(rng, dtype, tol, scale_by_count, priors, dual_threshold):
    prob = make_problem(rng, dtype)
    opts = dict(scale_by_count=scale_by_count, use_prior=priors in ("prior", "both"),
                use_bias_prior=priors in ("bias_prior", "both"))
    # chunk_rows=7 splits the longer rows into several gathered ?syrk blocks.
    status, f, b = run_kernel(prob, dual_threshold=dual_threshold, chunk_rows=7, **opts)
    f_ref, b_ref = run_reference(prob, **opts)
    assert status == -1
    assert f.dtype == dtype and b.dtype == dtype
    np.testing.assert_allclose(f, f_ref, **tol)
    np.testing.assert_allclose(b, b_ref, **tol)


def test_default_chunk_and_lapack_match_reference(rng, dtype, tol):
    prob = make_problem(rng, dtype, degrees=[0, 3, 300, 700, 9, 1], n_cols=800)
    f_ref, b_ref = run_reference(prob, use_prior=True, scale_by_count=True)
    for kw in ({}, {"use_lapack": True}, {"use_lapack": True, "dual_threshold": 0}):
        status, f, b = run_kernel(prob, use_prior=True, scale_by_count=True, **kw)
        assert status == -1
        np.testing.assert_allclose(f, f_ref, **tol)
        np.testing.assert_allclose(b, b_ref, **tol)


def test_empty_rows_get_prior_only_solution(rng):
    prob = make_problem(rng, np.float64, degrees=[0, 0, 3])
    _, f, b = run_kernel(prob, use_prior=True, use_bias_prior=True, reg=0.5, reg_bias=0.25,
                         tau=2.0, tau_b=1.0)
    np.testing.assert_allclose(f[:2], 2.0 * prob["prior"][:2] / 2.5, rtol=1e-12)
    np.testing.assert_allclose(b[:2], 1.0 * prob["bias_prior"][:2] / 1.25, rtol=1e-12)
    _, f, b = run_kernel(prob)                     # no prior: zeros
    assert np.all(f[:2] == 0) and np.all(b[:2] == 0)


@pytest.mark.parametrize("k", [0, 1, 3])
def test_small_k_matches_reference(rng, dtype, tol, k):
    prob = make_problem(rng, dtype, k=k)
    status, f, b = run_kernel(prob, use_prior=True, use_bias_prior=True)
    f_ref, b_ref = run_reference(prob, use_prior=True, use_bias_prior=True)
    assert status == -1
    np.testing.assert_allclose(f, f_ref, **tol)
    np.testing.assert_allclose(b, b_ref, **tol)


# CG variants: passes over the gathered rows only, the Gram for every row, the Gram for
# rows of >= 100 ratings (here only the 200-rating row)
CG_MODES = [dict(solver=1, cg_gram_rows=0), dict(solver=1, cg_gram_rows=1),
            dict(solver=1, cg_gram_rows=100)]
CG_MODE_IDS = ["cg-passes", "cg-gram", "cg-mixed"]


@pytest.mark.parametrize("mode", [dict(solver=0)] + CG_MODES, ids=["cholesky"] + CG_MODE_IDS)
def test_larger_k_matches_reference(rng, dtype, tol, mode):
    # K = 40: several SIMD column blocks and row tiles, rows on both sides of K + 1
    # (dual / primal), one row longer than a gathered block (128 rows).
    solver = mode["solver"]
    k = 40
    prob = make_problem(rng, dtype, k=k, degrees=[0, 1, 7, 39, 40, 41, 45, 200, 3], n_cols=300)
    opts = dict(use_prior=True, use_bias_prior=True, scale_by_count=True)
    f_ref, b_ref = run_reference(prob, **opts)
    if solver == 1:   # CG from the exact answer's neighbourhood, enough steps to converge
        prob = dict(prob, factors=(f_ref + 0.01).astype(dtype), bias=b_ref.astype(dtype))
    status, f, b = run_kernel(prob, cg_steps=2 * (k + 1), **mode, **opts)
    assert status == -1
    np.testing.assert_allclose(f, f_ref, **tol)
    np.testing.assert_allclose(b, b_ref, **tol)


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_cg_gram_mode_takes_the_same_steps_as_passes(rng, steps):
    # Same CG iterates whether A is applied by passes over the rows or by the Gram
    # (float64: they differ only in summation order).
    k = 24
    prob = make_problem(rng, np.float64, k=k, degrees=[1, 5, 30, 150, 400], n_cols=500)
    opts = dict(use_prior=True, use_bias_prior=True, scale_by_count=True, solver=1, cg_steps=steps)
    _, f0, b0 = run_kernel(prob, cg_gram_rows=0, **opts)
    _, f1, b1 = run_kernel(prob, cg_gram_rows=1, **opts)
    np.testing.assert_allclose(f1, f0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b1, b0, rtol=1e-10, atol=1e-12)
    if steps:
        assert np.abs(f0 - prob["factors"]).max() > 1e-3   # the steps did move the rows


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 12),
       reg=st.sampled_from([1e-3, 0.1, 1.0, 10.0]), scaled=st.booleans())
def test_random_problems_float64(seed, k, reg, scaled):
    rng = np.random.default_rng(seed)
    degrees = list(rng.integers(0, 3 * k + 3, size=12))
    prob = make_problem(rng, np.float64, k=k, degrees=degrees, n_cols=3 * k + 5)
    status, f, b = run_kernel(prob, reg=reg, reg_bias=reg / 2, scale_by_count=scaled, use_prior=True)
    f_ref, b_ref = run_reference(prob, reg=reg, reg_bias=reg / 2, scale_by_count=scaled, use_prior=True)
    assert status == -1
    np.testing.assert_allclose(f, f_ref, **TOLERANCES[np.float64])
    np.testing.assert_allclose(b, b_ref, **TOLERANCES[np.float64])


@pytest.mark.parametrize("mode", [dict(solver=0), dict(solver=1, cg_gram_rows=0),
                                  dict(solver=1, cg_gram_rows=1)], ids=["cholesky", "cg", "cg-gram"])
def test_bit_identical_across_thread_counts(rng, dtype, mode):
    prob = make_problem(rng, dtype, degrees=DEGREES * 8)
    prob["prior"] = np.ascontiguousarray(np.tile(prob["prior"][: len(DEGREES)], (8, 1)))
    runs = [run_kernel(prob, use_prior=True, scale_by_count=True, cg_steps=3, **mode,
                       num_threads=n) for n in (1, 2, 2)]
    for status, f, b in runs[1:]:
        assert status == runs[0][0] == -1
        assert np.array_equal(f, runs[0][1]) and np.array_equal(b, runs[0][2])


@pytest.mark.parametrize("gram_rows", [0, 1], ids=["passes", "gram"])
@pytest.mark.parametrize("k", [K, 16], ids=["k8", "k16"])   # k16: K a multiple of the SIMD width
def test_cg_converges_to_cholesky(rng, k, gram_rows):
    prob = make_problem(rng, np.float64, k=k)
    opts = dict(use_prior=True, use_bias_prior=True, scale_by_count=True)
    _, f_exact, b_exact = run_kernel(prob, solver=0, **opts)
    errors = []
    for steps in (0, 1, 2, 4, 6, k + 1):
        status, f, b = run_kernel(prob, solver=1, cg_steps=steps, cg_gram_rows=gram_rows, **opts)
        assert status == -1
        errors.append(np.sum((f - f_exact) ** 2, axis=1) + (b - b_exact) ** 2)  # per row
    errors = np.array(errors)
    # CG's Euclidean error is non-increasing in every row (Hestenes & Stiefel 1952).
    assert np.all(np.diff(errors, axis=0) <= 1e-12 * (1 + errors[:-1]))
    assert errors[0].sum() > 1e-2                  # the warm start was really off
    assert errors[-1].max() < 1e-16 * (1 + errors[0].max())  # exact after K+1 steps
    np.testing.assert_allclose(f, f_exact, rtol=1e-7, atol=1e-9)


def test_cg_warm_start_is_used(rng):
    prob = make_problem(rng, np.float64)
    _, f_exact, b_exact = run_kernel(prob, solver=0)
    start = dict(prob, factors=f_exact, bias=b_exact)
    _, f, b = run_kernel(start, solver=1, cg_steps=1)
    np.testing.assert_allclose(f, f_exact, rtol=1e-9, atol=1e-12)
    _, f_cold, _ = run_kernel(prob, solver=1, cg_steps=1)
    assert np.abs(f_cold - f_exact).max() > 1e-3


def test_singular_row_reported_and_left_unchanged(dtype):
    k = 4
    # Columns 0..3 share the all-ones vector: a row rating only them has
    # A = n * ones((K+1, K+1)), exactly singular (pivot 2 is exactly 0 for n = 4).
    rng = np.random.default_rng(7)
    other = rng.standard_normal((30, k)).astype(dtype)
    other[:4] = 1
    other_bias = np.zeros(30, dtype=dtype)
    other_bias[:4] = 0
    rows = [list(range(4, 30)), list(range(5, 25)), [0, 1, 2, 3], list(range(6, 28)), [0, 1, 2, 3]]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int32)
    prob = dict(indptr=indptr, indices=np.concatenate(rows).astype(np.int32),
                ratings=rng.uniform(1, 5, indptr[-1]).astype(dtype), other_factors=other,
                other_bias=other_bias, mu=3.0,
                factors=rng.standard_normal((5, k)).astype(dtype),
                bias=rng.standard_normal(5).astype(dtype), prior=None, bias_prior=None)
    for threads in (1, 2):
        status, f, b = run_kernel(prob, reg=0.0, reg_bias=0.0, num_threads=threads)
        assert status == 2                            # lowest failing row (rows 2 and 4 fail)
        for r in (2, 4):                             # failed rows untouched, not NaN
            assert np.array_equal(f[r], prob["factors"][r]) and b[r] == prob["bias"][r]
        assert np.all(np.isfinite(f)) and np.all(np.isfinite(b))
        good = [0, 1, 3]
        sub = dict(prob, indptr=np.concatenate([[0], np.cumsum([len(rows[r]) for r in good])]).astype(np.int32),
                   indices=np.concatenate([rows[r] for r in good]).astype(np.int32),
                   ratings=np.concatenate([prob["ratings"][indptr[r]:indptr[r + 1]] for r in good]),
                   factors=prob["factors"][good], bias=prob["bias"][good])
        f_ref, b_ref = run_reference(sub, reg=0.0, reg_bias=0.0)
        np.testing.assert_allclose(f[good], f_ref, **TOLERANCES[dtype])
        np.testing.assert_allclose(b[good], b_ref, **TOLERANCES[dtype])
    # With regularisation the same rows are fine.
    status, f, b = run_kernel(prob, reg=0.1, reg_bias=0.1)
    assert status == -1


SOLVERS = [dict(use_lapack=False), dict(use_lapack=False, bordered=True), dict(use_lapack=True)]
SOLVER_IDS = ["own", "own-bordered", "lapack"]


@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("n", [1, 2, 9, 37, 66])
def test_solver_reads_only_row_major_upper_triangle(rng, dtype, tol, solver, n):
    # The kernel stores symmetric matrices in the row-major upper triangle and passes
    # uplo='L' to LAPACK; garbage (NaN) below the diagonal must not be read. Sizes cover
    # one pivot, a partial four-pivot pass, several SIMD vectors per row (37, 66) and,
    # bordered, a 65 x 65 block of whole float32 vectors plus the border (66).
    G = rng.standard_normal((n, n))
    S = G @ G.T + n * np.eye(n)
    rhs = rng.standard_normal(n)
    A = np.triu(S) + np.tril(np.full((n, n), np.nan), -1)
    x = rhs.astype(dtype)
    info = _spd_solve(A.astype(dtype), x, **solver)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(S, rhs), **tol)
    if n > 1:
        # The other choice (reading the lower triangle) would see NaN:
        x_wrong = rhs.astype(dtype)
        info = _spd_solve(np.ascontiguousarray(A.T).astype(dtype), x_wrong, **solver)
        assert info != 0 or not np.all(np.isfinite(x_wrong))


@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
def test_spd_solve_reports_non_positive_pivot(dtype, solver):
    A = np.array([[1.0, 2.0], [0.0, 1.0]], dtype=dtype)   # [[1, 2], [2, 1]] is indefinite
    assert _spd_solve(A, np.ones(2, dtype=dtype), **solver) == 2
    # a negative first pivot is reported as pivot 1; here the last one is -1: pivot 3
    assert _spd_solve(np.array([[-1.0]], dtype=dtype), np.ones(1, dtype=dtype), **solver) == 1
    S = np.array([[2.0, 1.0, 3.0], [0.0, 2.0, 3.0], [0.0, 0.0, 5.0]], dtype=dtype)
    assert _spd_solve(S, np.ones(3, dtype=dtype), **solver) == 3


def test_wrong_dtype_or_layout_raises(rng):
    prob = make_problem(rng, np.float32)
    args = [prob[k] for k in ("indptr", "indices", "ratings", "other_factors", "other_bias", "mu",
                              "factors", "bias")]
    tail = [0.1, 0.1, False, None, 0.0, None, 0.0, 0, 0, 1]

    def call(i, value, tail=tail):
        a = list(args)
        a[i] = value
        return als_half_sweep(*a, *tail)

    assert call(0, args[0]) == -1
    with pytest.raises((TypeError, ValueError)):
        call(6, args[6].astype(np.float64))                  # factors float64, rest float32
    with pytest.raises((TypeError, ValueError)):
        call(3, np.asfortranarray(args[3]))                  # not C-contiguous
    with pytest.raises((TypeError, ValueError)):
        call(1, args[1].astype(np.int64))                    # int64 indices
    with pytest.raises((TypeError, ValueError)):
        call(3, args[3][:, :-1].copy())                      # K mismatch
    with pytest.raises(ValueError):
        call(0, args[0][:-1].copy())                         # indptr length
    with pytest.raises((TypeError, ValueError)):
        a = list(args)
        als_half_sweep(*a, 0.1, 0.1, False, prob["prior"].astype(np.float64), 1.0, None, 0.0, 0, 0, 1)
    with pytest.raises(ValueError):
        als_half_sweep(*args, 0.1, 0.1, False, None, 0.0, None, 0.0, 2, 0, 1)   # solver
    with pytest.raises(ValueError):
        als_half_sweep(*args, 0.1, 0.1, False, None, 0.0, None, 0.0, 0, 0, 0)   # threads


SSE_MODES = [dict(solver=0), dict(solver=0, dual_threshold=0), dict(solver=0, use_lapack=True),
             dict(solver=1, cg_gram_rows=0), dict(solver=1, cg_gram_rows=1), dict(solver=1, cg_gram_rows=30)]
SSE_MODE_IDS = ["cholesky", "cholesky-primal", "lapack", "cg-passes", "cg-gram", "cg-mixed"]


@pytest.mark.parametrize("mode", SSE_MODES, ids=SSE_MODE_IDS)
@pytest.mark.parametrize("priors", [False, True], ids=["plain", "priors"])
@pytest.mark.parametrize("k", [K, 16, 13], ids=["k8", "k16", "k13"])
def test_row_sse_matches_reference(rng, dtype, tol, mode, priors, k):
    # The training SSE the kernel derives from each row's normal equations equals the
    # squared errors recomputed from the ratings at the factors it wrote.
    prob = make_problem(rng, dtype, k=k, degrees=DEGREES + [150, 60], n_cols=160)
    n_rows = len(prob["indptr"]) - 1
    row_sse = np.full(n_rows, np.nan)
    opts = dict(use_prior=priors, use_bias_prior=priors, scale_by_count=priors)
    status, f, b = run_kernel(prob, cg_steps=3, row_sse=row_sse, **mode, **opts)
    assert status == -1
    f64 = {key: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for key, v in prob.items()}
    ref = _reference.als_row_sse(csr(f64), f64["other_factors"], f64["other_bias"], f64["mu"], f, b)
    assert ref.min() == 0 and ref.max() > 1          # empty rows, and rows that do not fit exactly
    np.testing.assert_allclose(row_sse, ref, **tol)
    np.testing.assert_allclose(row_sse.sum(), ref.sum(), rtol=tol["rtol"])


def test_row_sse_is_optional_and_checked(rng):
    prob = make_problem(rng, np.float64)
    status, f, b = run_kernel(prob)
    _, f2, b2 = run_kernel(prob, row_sse=np.zeros(len(DEGREES)))
    assert np.array_equal(f, f2) and np.array_equal(b, b2)     # asking for it changes nothing
    with pytest.raises(ValueError, match="row_sse must have shape"):
        run_kernel(prob, row_sse=np.zeros(3))
    with pytest.raises(TypeError, match="row_sse must be a writable C-contiguous float64"):
        run_kernel(prob, row_sse=np.zeros(len(DEGREES), np.float32))
