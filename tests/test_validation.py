"""mfcore._validation: argument checks and the canonical CSR."""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore._validation import check_csr, check_dtype, check_float, check_int, check_random_state


@pytest.mark.parametrize("fmt", ["coo", "csr", "csc"])
def test_check_csr_refuses_duplicates_in_every_format(fmt):
    coo = sp.coo_matrix((np.array([1.0, 2.0, 3.0]), (np.array([0, 1, 0]), np.array([2, 0, 2]))), shape=(2, 3))
    matrix = {
        "coo": coo,
        "csr": sp.csr_matrix((np.array([1.0, 3.0, 2.0]), np.array([2, 2, 0]), np.array([0, 2, 3])), shape=(2, 3)),
        "csc": sp.csc_matrix((np.array([2.0, 1.0, 3.0]), np.array([1, 0, 0]), np.array([0, 1, 1, 3])), shape=(2, 3)),
    }[fmt]
    with pytest.raises(ValueError, match="duplicate entries, e.g. row 0, column 2"):
        check_csr(matrix, "X")


def test_check_csr_canonical_output():
    m = sp.csr_matrix((np.array([3.0, 1.0]), np.array([2, 0]), np.array([0, 2, 2])), shape=(2, 3))
    out = check_csr(m, "X", dtype=np.float64)
    assert out.indices.dtype == np.int32 and out.indptr.dtype == np.int32 and out.dtype == np.float64
    assert out.has_sorted_indices and list(out.indices) == [0, 2] and list(out.data) == [1.0, 3.0]
    with pytest.raises(ValueError, match="must have shape \\(3, 3\\)"):
        check_csr(m, "X", shape=(3, 3))
    with pytest.raises(TypeError, match="X must be a scipy.sparse matrix"):
        check_csr(np.eye(2), "X")
    bad = sp.csr_matrix(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="non-finite value at row 0, column 1"):
        check_csr(bad, "X")


def test_scalar_checks():
    assert check_int(3, "n", min_value=1) == 3
    with pytest.raises(TypeError, match="n must be an integer"):
        check_int(True, "n")
    with pytest.raises(ValueError, match="n must be <= 5"):
        check_int(6, "n", max_value=5)
    with pytest.raises(ValueError, match="x must be > 0"):
        check_float(0.0, "x", min_value=0.0, min_inclusive=False)
    with pytest.raises(ValueError, match="x must be finite"):
        check_float(float("nan"), "x")
    assert check_dtype("float64") is np.float64
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        check_dtype("int8")
    a, b = check_random_state(7), check_random_state(7)
    assert a.integers(1 << 30) == b.integers(1 << 30)
    with pytest.raises(ValueError, match="non-negative seed"):
        check_random_state(-1)


def _csr(indices, indptr, shape=(3, 4), data=None):
    """A csr_matrix with these raw arrays, assigned after construction (SciPy checks nothing)."""
    m = sp.csr_matrix(shape, dtype=np.float32)
    m.indices = np.asarray(indices)
    m.indptr = np.asarray(indptr)
    m.data = np.ones(len(m.indices), np.float32) if data is None else np.asarray(data)
    return m


@pytest.mark.parametrize("matrix,pattern", [
    (_csr([0, -1], [0, 2, 2, 2]), r"X has column index -1 in row 0, outside \[0, 4\)"),
    (_csr([0, 4], [0, 1, 2, 2]), r"X has column index 4 in row 1, outside \[0, 4\)"),
    (_csr([0, 1], [0, 2, 1, 2]), r"X has a decreasing indptr at row 1"),
    (_csr([0, 1], [1, 2, 2, 2]), r"indptr\[0\] = 1; it must be 0"),
    (_csr([0, 1], [0, 1, 2]), r"indptr of length 3; a matrix with 3 rows needs 4"),
    (_csr([0, 1], [0, 1, 2, 3]), r"indptr\[-1\] = 3 but only 2 stored entries"),
    (_csr([0, 1], [0, 1, 2, 2], data=[1.0]), r"X has 2 indices but 1 values"),
    (_csr(np.array([0.0, 1.0]), [0, 1, 2, 2]), r"indices array of dtype float64; expected integers"),
    (_csr([0, 1], [0, 1, 2, 2], data=np.array([1, 2], dtype=object)), r"X holds values of dtype object"),
])
def test_check_csr_bounds_checks_raw_arrays_before_scipy(matrix, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        check_csr(matrix, "X")


def test_check_csr_other_formats_checked_before_conversion():
    csc = sp.csc_matrix(np.eye(3, dtype=np.float32))
    csc.indices[1] = 7
    with pytest.raises(ValueError, match=r"X has row index 7 in column 1, outside \[0, 3\)"):
        check_csr(csc, "X")
    coo = sp.coo_matrix(np.eye(3, dtype=np.float32))
    coo.coords = (np.array([0, 1, -3]), coo.col)
    with pytest.raises(ValueError, match=r"X has row index -3 \(stored entry 2\), outside \[0, 3\)"):
        check_csr(coo, "X")
    bsr = sp.bsr_matrix(np.eye(4, dtype=np.float32), blocksize=(2, 2))
    bsr.indices[0] = 5
    with pytest.raises(ValueError, match=r"X has block column index 5 in block row 0, outside \[0, 2\)"):
        check_csr(bsr, "X")
    lil = sp.lil_matrix((2, 2), dtype=np.float32)
    lil[0, 1] = 3.0
    assert check_csr(lil, "X").toarray().tolist() == [[0.0, 3.0], [0.0, 0.0]]


def test_stale_sortedness_flag_is_not_trusted():
    m = sp.csr_matrix(np.array([[1.0, 0.0, 2.0]], np.float32))
    m.has_sorted_indices = True
    m.indices[:] = m.indices[::-1].copy()      # now unsorted, flag still says sorted
    m.data[:] = m.data[::-1].copy()
    out = check_csr(m, "X")
    assert out.indices.tolist() == [0, 2] and out.data.tolist() == [1.0, 2.0]
    m.indices[:] = [2, 2]                        # repeated column behind a "sorted" flag
    with pytest.raises(ValueError, match="duplicate entries"):
        check_csr(m, "X")


def test_check_fold_in():
    from mfcore._validation import check_fold_in

    idx, r = check_fold_in(np.array([3, 1]), [4, 5])
    assert idx.dtype == np.int64 and r.dtype == np.float64 and r.tolist() == [4.0, 5.0]
    assert check_fold_in(np.array([2]), None, required=False)[1] is None
    with pytest.raises(TypeError, match="ratings are required"):
        check_fold_in(np.array([2]), None)
    with pytest.raises(TypeError, match="got bool values"):
        check_fold_in(np.array([2]), np.array([True]))
