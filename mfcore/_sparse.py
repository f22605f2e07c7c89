"""Small helpers on the CSR arrays every layer passes around."""

from __future__ import annotations

import numpy as np


def row_of_entry(indptr, dtype=np.int32):
    """Row index of every stored entry of a CSR matrix, given its ``indptr``.

    ``row_of_entry(m.indptr)[e]`` is the row of the entry ``(m.indices[e], m.data[e])``,
    i.e. ``np.repeat(np.arange(n_rows), np.diff(indptr))``.

    Parameters
    ----------
    indptr : array of int, shape (n_rows + 1,)
        CSR row pointers (non-decreasing, starting at 0).
    dtype : integer dtype, default int32
        Of the result (int32 is what the kernels take).

    Returns
    -------
    numpy.ndarray of ``dtype``, shape (indptr[-1],)
    """
    indptr = np.asarray(indptr)
    return np.repeat(np.arange(indptr.shape[0] - 1, dtype=dtype), np.diff(indptr))
