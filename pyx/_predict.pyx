# cython: language_level=3
"""Pointwise predictions of the biased factor model, in parallel.

    r_hat[n] = mu + user_bias[users[n]] + item_bias[items[n]]
               + user_factors[users[n]] . item_factors[items[n]]

Used for ``predict`` on arbitrary (user, item) pairs, for ``evaluate``'s
RMSE/MAE and for the per-epoch eval RMSE, without materialising an (n_pairs, K) gather in NumPy.
"""

from cython.parallel import prange

cimport cython
from libc.stdint cimport int32_t

ctypedef fused floating:
    float
    double


def predict_pairs(
    const int32_t[::1] users,            # IN (n,) user indices, validated in [0, n_users)
    const int32_t[::1] items,            # IN (n,) item indices, validated in [0, n_items)
    const floating[:, ::1] user_factors, # IN (n_users, K)
    const floating[::1] user_bias,       # IN (n_users,)
    const floating[:, ::1] item_factors, # IN (n_items, K)
    const floating[::1] item_bias,       # IN (n_items,)
    double mu,
    floating[::1] out,                   # OUT (n,) predictions
    int num_threads,
):
    """Write the model's prediction for every (users[n], items[n]) pair into ``out``."""
    cdef Py_ssize_t n = users.shape[0]
    cdef Py_ssize_t k, K = user_factors.shape[1]
    cdef Py_ssize_t p
    cdef int32_t u, i
    cdef double acc
    with nogil:
        for p in prange(n, schedule="static", num_threads=num_threads):
            u = users[p]
            i = items[p]
            acc = 0.0
            for k in range(K):
                acc = acc + user_factors[u, k] * item_factors[i, k]
            out[p] = <floating>(mu + user_bias[u] + item_bias[i] + acc)


def squared_error_sums(
    const int32_t[::1] users,            # IN (n,)
    const int32_t[::1] items,            # IN (n,)
    const floating[::1] ratings,         # IN (n,) observed ratings
    const floating[:, ::1] user_factors, # IN (n_users, K)
    const floating[::1] user_bias,       # IN (n_users,)
    const floating[:, ::1] item_factors, # IN (n_items, K)
    const floating[::1] item_bias,       # IN (n_items,)
    double mu,
    double lo,                           # IN predictions are clipped to [lo, hi] (what ``predict`` returns);
    double hi,                           #    -inf / +inf for raw predictions
    int num_threads,
):
    """Return (sum of squared errors, sum of absolute errors) over the pairs, in float64.

    NumPy: ``e = ratings - clip(mu + b_u + b_i + (U[users] * V[items]).sum(1), lo, hi)``;
    ``((e ** 2).sum(), abs(e).sum())``.
    """
    cdef Py_ssize_t n = users.shape[0]
    cdef Py_ssize_t k, K = user_factors.shape[1]
    cdef Py_ssize_t p
    cdef int32_t u, i
    cdef double acc, pred, err
    cdef double sse = 0.0
    cdef double sae = 0.0
    with nogil:
        for p in prange(n, schedule="static", num_threads=num_threads):
            u = users[p]
            i = items[p]
            acc = 0.0
            for k in range(K):
                acc = acc + user_factors[u, k] * item_factors[i, k]
            pred = mu + user_bias[u] + item_bias[i] + acc
            if pred < lo:
                pred = lo
            elif pred > hi:
                pred = hi
            err = ratings[p] - pred
            sse += err * err
            sae += err if err >= 0 else -err
    return sse, sae


def row_residual_sums(
    const int[::1] indptr,               # IN (n_rows + 1,) int32, CSR rows (e.g. items x users)
    const int[::1] indices,              # IN (nnz,) int32 column indices, validated in [0, n_cols)
    const floating[::1] ratings,         # IN (nnz,) observed ratings
    const floating[:, ::1] col_factors,  # IN (n_cols, K) the other side's vectors
    const floating[::1] col_bias,        # IN (n_cols,) the other side's biases
    const double[:, ::1] row_vectors,    # IN (n_rows, K) float64, the vectors the rows are scored with
    double mu,
    double[::1] out,                     # OUT (n_rows,) float64
    int num_threads,
):
    """Per row r, the sum over its entries of ``rating - mu - col_bias[j] - col_factors[j] . row_vectors[r]``.

    Every term is accumulated in float64 in the row's stored order (one thread per
    row: the same bits for any thread count, and for any CSR holding the row's
    entries in that order, e.g. a distributed block with local column indices).
    GenreALS's cold-start bias map reads it with ``row_vectors`` = the genre
    vectors of items without ratings.
    """
    cdef Py_ssize_t n_rows = row_vectors.shape[0]
    cdef Py_ssize_t K = row_vectors.shape[1]
    if indptr.shape[0] != n_rows + 1 or out.shape[0] != n_rows:
        raise ValueError(f"indptr must have n_rows + 1 = {n_rows + 1} entries and out n_rows, got "
                         f"{indptr.shape[0]} and {out.shape[0]}")
    if col_factors.shape[1] != K or col_bias.shape[0] != col_factors.shape[0]:
        raise ValueError("col_factors must have K columns and col_bias one entry per column")
    if ratings.shape[0] != indices.shape[0] or (n_rows and indptr[n_rows] != indices.shape[0]):
        raise ValueError("ratings and indices must have indptr[-1] entries")
    cdef Py_ssize_t r, jj, k
    cdef int j
    cdef double acc, dot
    with nogil:
        for r in prange(n_rows, schedule="dynamic", num_threads=num_threads):
            acc = 0.0
            for jj in range(indptr[r], indptr[r + 1]):
                j = indices[jj]
                dot = 0.0
                for k in range(K):
                    dot = dot + col_factors[j, k] * row_vectors[r, k]
                acc = acc + (ratings[jj] - mu - col_bias[j] - dot)
            out[r] = acc
