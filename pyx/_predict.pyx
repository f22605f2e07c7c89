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
