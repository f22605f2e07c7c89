import numpy as np
import pytest

from mfcore._memory import CACHE_LINE, aligned_empty, as_aligned


@pytest.mark.parametrize("shape", [(0,), (7,), (13, 5), (1000, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_aligned_empty_is_aligned_contiguous_and_writable(shape, dtype):
    a = aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.size == 0 or a.ctypes.data % CACHE_LINE == 0   # empty arrays have no data
    a[...] = 1
    assert np.all(a == 1)


def test_as_aligned_copies_misaligned_input_and_keeps_values():
    raw = aligned_empty(64 * 8 + 1, np.float32)
    raw[...] = np.arange(raw.size)
    misaligned = raw[1:].reshape(64, 8)          # starts 4 bytes past a cache line
    assert misaligned.ctypes.data % CACHE_LINE == 4
    out = as_aligned(misaligned)
    assert out.ctypes.data % CACHE_LINE == 0
    assert out is not misaligned
    np.testing.assert_array_equal(out, misaligned)


def test_as_aligned_returns_aligned_input_unchanged_and_converts_dtype():
    a = aligned_empty((10, 3), np.float32)
    a[...] = 2.5
    assert as_aligned(a) is a
    b = as_aligned(a, np.float64)
    assert b.dtype == np.float64 and b.ctypes.data % CACHE_LINE == 0
    np.testing.assert_array_equal(b, 2.5)
    c = as_aligned(np.asfortranarray(np.ones((4, 3))))
    assert c.flags.c_contiguous and c.ctypes.data % CACHE_LINE == 0


def test_fitted_models_keep_factors_aligned():
    import scipy.sparse as sp
    from mfcore.models import ExplicitALS

    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.3, random_state=1, format="csr", dtype=np.float64)
    X.data = rng.integers(1, 6, X.nnz).astype(np.float64)
    model = ExplicitALS(factors=8, iterations=2, random_state=0).fit(X, show_progress=False)
    assert model.user_factors.ctypes.data % CACHE_LINE == 0
    assert model.item_factors.ctypes.data % CACHE_LINE == 0
