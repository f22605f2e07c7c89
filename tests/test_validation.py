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
