"""Cache-line-aligned arrays for the factor matrices the kernels gather from.

A 64-float32 factor row is 256 bytes: four 64-byte cache lines when the matrix
starts on a line boundary, five when it does not (NumPy's allocator only
guarantees 16-byte alignment). The kernels fetch random rows, so a misaligned
matrix costs 25% more cache-line transfers; on the 32M benchmark that was ~15%
of an ALS epoch. Models therefore keep their factors in 64-byte-aligned memory.
"""

import numpy as np

#: Bytes per cache line on the CPUs we target (x86-64, most ARM64).
CACHE_LINE = 64


def aligned_empty(shape, dtype, align=CACHE_LINE):
    """Uninitialised C-contiguous array whose data starts at a multiple of ``align`` bytes.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : dtype-like
    align : int, power of two, bytes

    Returns
    -------
    numpy.ndarray
        A view into a slightly larger byte buffer (kept alive by the view's ``base``).
        An empty array has no data to align (NumPy may give it any address).
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(nbytes + align, dtype=np.uint8)
    offset = (-buf.ctypes.data) % align
    return buf[offset:offset + nbytes].view(dtype).reshape(shape)


def as_aligned(a, dtype=None, align=CACHE_LINE):
    """``a`` as a C-contiguous array of ``dtype`` starting on an ``align``-byte boundary.

    Returns ``a`` itself when it already is one (no copy), else an aligned copy.
    """
    a = np.asarray(a)
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    if a.dtype == dtype and a.flags.c_contiguous and a.ctypes.data % align == 0:
        return a
    out = aligned_empty(a.shape, dtype, align)
    out[...] = a
    return out
