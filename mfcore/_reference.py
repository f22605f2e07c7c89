"""Plain float64 NumPy/SciPy reference implementations: the executable spec.

Every compiled kernel in :mod:`mfcore` has a twin here. The twins favour
readability over speed (loops over rows are fine), are written in float64
throughout, and serve three purposes:

* the specification of what a kernel computes (the equation is in each
  docstring),
* the oracle that kernel tests compare against (``tests/kernels``),
* the baseline beside each kernel in the pytest-benchmark groups.

Notation (explicit-feedback models)
-----------------------------------
A users x items CSR matrix ``R`` holds the observed ratings ``r_ui``. The
model is::

    r_ui ~ mu + b_u + b_i + u . v

with ``mu`` the global mean (fixed, never learned), ``b_u`` / ``b_i`` user and
item biases and ``u`` / ``v`` the K-dimensional user and item factors.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from mfcore._sparse import row_of_entry
from mfcore._validation import check_csr, check_float, check_int, check_random_state

__all__ = [
    "bias_baseline",
    "als_half_sweep",
    "als_objective",
    "fit_explicit_als",
    "genre_centroid_matrix",
    "genre_projection",
    "genre_bias_projection",
    "genre_als_objective",
    "fit_genre_als",
    "cold_item_prediction",
    "row_residual_sums",
    "genre_cold_bias",
    "genre_cold_user_bias",
    "predict",
    "squared_error_sums",
    "bpr_sgd",
    "bpr_sample",
    "bpr_log_loss",
    "implicit_als_half_sweep",
    "top_n",
    "auc_rows",
]


# --------------------------------------------------------------------------- helpers


def _csr64(matrix, name, shape=None):
    """Canonical float64 CSR copy (int32 sorted indices, no duplicates, finite data)."""
    return check_csr(matrix, name, dtype=np.float64, shape=shape)


def _as_2d(array, name, shape=None):
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {out.shape}")
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    return out


def _as_1d(array, name, length=None):
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {out.shape}")
    if length is not None and out.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got {out.shape[0]}")
    return out


def _row_of_entry(csr):
    """Row index of every stored entry of a CSR matrix, shape (nnz,)."""
    return row_of_entry(csr.indptr, dtype=np.int64)


def _row_counts(csr):
    """Number of stored entries per row, float64 (n_rows,)."""
    return np.diff(csr.indptr).astype(np.float64)


# --------------------------------------------------------------------------- biases


def bias_baseline(user_items, reg_user=5.0, reg_item=5.0, iterations=10):
    """Regularised user/item bias baseline ``r_ui ~ mu + b_u + b_i``.

    ``mu`` is the global mean rating and stays fixed. Starting from
    ``b_u = 0``, each iteration performs the two closed-form ridge updates
    (item biases first, then user biases with the new item biases)::

        b_i = sum_{u in U(i)} (r_ui - mu - b_u) / (reg_item + n_i)
        b_u = sum_{i in I(u)} (r_ui - mu - b_i) / (reg_user + n_u)

    where ``n_i`` / ``n_u`` are the numbers of ratings of item ``i`` / by user
    ``u``. This is block coordinate descent on::

        sum_(u,i) (r_ui - mu - b_u - b_i)^2 + reg_user sum_u b_u^2 + reg_item sum_i b_i^2

    Rows/columns with no ratings get a bias of 0.

    The defaults (5, 5) were chosen on the ml-latest-small per-user temporal
    80/20 split (tests/test_reference.py): test RMSE 0.8960 there, against
    0.8945 at (3, 3) (best tried), 0.8995 at (1, 1), 0.9148 at (10, 25) and
    0.9313 at (50, 50); the global mean alone gives 1.0684.

    Parameters
    ----------
    user_items : scipy.sparse matrix, shape (n_users, n_items)
        Observed ratings (stored entries), e.g. ``Interactions.user_items()``.
    reg_user, reg_item : float, >= 0
        Ridge penalties on user / item biases (pseudo-count of ratings equal to mu).
    iterations : int, >= 1
        Number of (item, user) update pairs.

    Returns
    -------
    mu : float
        Global mean of the stored ratings (0.0 if there are none).
    user_bias : ndarray, float64 (n_users,)
    item_bias : ndarray, float64 (n_items,)
    """
    R = _csr64(user_items, "user_items")
    reg_user = check_float(reg_user, "reg_user", min_value=0.0)
    reg_item = check_float(reg_item, "reg_item", min_value=0.0)
    iterations = check_int(iterations, "iterations", min_value=1)
    n_users, n_items = R.shape
    mu = float(R.data.mean()) if R.nnz else 0.0
    users = _row_of_entry(R)
    items = R.indices
    n_u = np.bincount(users, minlength=n_users).astype(np.float64)
    n_i = np.bincount(items, minlength=n_items).astype(np.float64)
    # Empty rows with reg = 0 would divide 0 by 0; their bias is defined as 0.
    den_u = np.where(n_u > 0, reg_user + n_u, 1.0)
    den_i = np.where(n_i > 0, reg_item + n_i, 1.0)
    user_bias = np.zeros(n_users)
    item_bias = np.zeros(n_items)
    for _ in range(iterations):
        resid = R.data - mu - user_bias[users]
        item_bias = np.bincount(items, weights=resid, minlength=n_items) / den_i
        resid = R.data - mu - item_bias[items]
        user_bias = np.bincount(users, weights=resid, minlength=n_users) / den_u
    return mu, user_bias, item_bias


# --------------------------------------------------------------------------- explicit ALS


def als_half_sweep(ratings_csr, other_factors, other_bias, mu, reg, reg_bias, *,
                   scale_by_count=False, prior=None, prior_weight=0.0,
                   bias_prior=None, bias_prior_weight=0.0):
    """One exact ALS half-sweep: update every row's factors and bias jointly.

    Rows of ``ratings_csr`` are the side being updated (pass ``user_items``
    to update users, ``user_items.T.tocsr()`` to update items); the columns'
    factors and biases are fixed. For row ``r`` with observed columns ``J``::

        y_j = r_rj - mu - b_j                    (target without the fixed bias)
        x_j = [v_j, 1]                           (augmented column, length K+1)
        s   = |J| if scale_by_count else 1
        A   = sum_j x_j x_j^T + diag(s*reg, ..., s*reg, s*reg_bias)
                              + diag(tau, ..., tau, tau_b)
        rhs = sum_j y_j x_j + [tau * c_r, tau_b * bc_r]
        [f_r, b_r] = A^{-1} rhs

    with ``tau = prior_weight``, ``c_r = prior[r]``, ``tau_b = bias_prior_weight``,
    ``bc_r = bias_prior[r]`` (a missing prior contributes nothing). This is the
    exact minimiser over ``[f_r, b_r]`` of the row's part of :func:`als_objective`::

        sum_j (y_j - f_r . v_j - b_r)^2 + s*reg ||f_r||^2 + s*reg_bias b_r^2
            + tau ||f_r - c_r||^2 + tau_b (b_r - bc_r)^2

    Rows with no ratings get the prior-only solution, component-wise
    ``f_r = tau c_r / (s*reg + tau)`` and ``b_r = tau_b bc_r / (s*reg_bias + tau_b)``
    (``s`` is 1, or 0 with ``scale_by_count``); a component whose denominator is
    0 (no prior and nothing to regularise) is set to 0. So an empty row is all
    zeros when there is no prior.

    Parameters
    ----------
    ratings_csr : scipy.sparse matrix, shape (n_rows, n_cols)
        Ratings of the side being updated (rows) against the fixed side.
    other_factors : array_like, float (n_cols, K)
    other_bias : array_like, float (n_cols,)
    mu : float
        Global mean, subtracted from every rating.
    reg, reg_bias : float, >= 0
        Ridge penalties on factors / on the bias (multiplied by ``|J|`` when
        ``scale_by_count``).
    scale_by_count : bool
        Weighted-lambda regularisation (Zhou et al. 2008).
    prior : array_like, float (n_rows, K) or None
        Factor centroids ``c_r`` (Genre-ALS: ``G W``).
    prior_weight : float, >= 0
        ``tau``.
    bias_prior : array_like, float (n_rows,) or None
        Bias centroids ``bc_r`` (Genre-ALS: ``G w_b``).
    bias_prior_weight : float, >= 0
        ``tau_b``.

    Returns
    -------
    factors : ndarray, float64 (n_rows, K)
    bias : ndarray, float64 (n_rows,)

    Raises
    ------
    numpy.linalg.LinAlgError
        If some row's ``A`` is singular (only possible with ``reg == 0`` or
        ``reg_bias == 0``); the message names the row.
    """
    V = _as_2d(other_factors, "other_factors")
    n_cols, K = V.shape
    R = _csr64(ratings_csr, "ratings_csr")
    if R.shape[1] != n_cols:
        raise ValueError(f"ratings_csr has {R.shape[1]} columns but other_factors has {n_cols} rows")
    n_rows = R.shape[0]
    b_other = _as_1d(other_bias, "other_bias", n_cols)
    mu = check_float(mu, "mu")
    reg = check_float(reg, "reg", min_value=0.0)
    reg_bias = check_float(reg_bias, "reg_bias", min_value=0.0)
    tau = check_float(prior_weight, "prior_weight", min_value=0.0)
    tau_b = check_float(bias_prior_weight, "bias_prior_weight", min_value=0.0)
    C = np.zeros((n_rows, K)) if prior is None else _as_2d(prior, "prior", (n_rows, K))
    bc = np.zeros(n_rows) if bias_prior is None else _as_1d(bias_prior, "bias_prior", n_rows)
    if prior is None:
        tau = 0.0
    if bias_prior is None:
        tau_b = 0.0

    counts = _row_counts(R)
    s = counts if scale_by_count else np.ones(n_rows)
    # Diagonal added to every row's Gram matrix: s*[reg]*K + [reg_bias] plus the prior weights.
    diag_reg = np.append(np.full(K, reg), reg_bias)
    diag_prior = np.append(np.full(K, tau), tau_b)
    prior_rhs = np.hstack([tau * C, (tau_b * bc)[:, None]])  # (n_rows, K+1)

    X_all = np.hstack([V, np.ones((n_cols, 1))])  # augmented columns x_j = [v_j, 1]
    out = np.zeros((n_rows, K + 1))
    for r in range(n_rows):
        start, end = R.indptr[r], R.indptr[r + 1]
        diag = s[r] * diag_reg + diag_prior
        if start == end:
            # Prior-only solution; 0 where nothing pulls the component anywhere.
            with np.errstate(divide="ignore", invalid="ignore"):
                out[r] = np.where(diag > 0, prior_rhs[r] / diag, 0.0)
            continue
        X = X_all[R.indices[start:end]]                  # (|J|, K+1)
        y = R.data[start:end] - mu - b_other[R.indices[start:end]]
        A = X.T @ X + np.diag(diag)
        rhs = X.T @ y + prior_rhs[r]
        try:
            out[r] = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"als_half_sweep: system for row {r} is singular ({exc})") from None
    return out[:, :K].copy(), out[:, K].copy()


def als_row_sse(ratings_csr, other_factors, other_bias, mu, factors, bias):
    """Per-row training sum of squared errors: the twin of ``row_sse`` of ``mfcore._als.als_half_sweep``.

    For row ``r`` (the side just solved, with factors ``f_r`` and bias ``b_r``) and its
    observed columns ``J``::

        sse_r = sum_j (r_rj - mu - b_j - f_r . v_j - b_r)^2

    Summed over the rows of the item half-sweep (which ends an epoch) it is the
    training SSE of :func:`als_objective`. Accumulated in float64.

    Parameters
    ----------
    ratings_csr : scipy.sparse matrix (n_rows, n_cols)
    other_factors : (n_cols, K); other_bias : (n_cols,)
    mu : float
    factors : (n_rows, K); bias : (n_rows,)

    Returns
    -------
    ndarray, float64 (n_rows,)
    """
    R = _csr64(ratings_csr, "ratings_csr")
    n_rows, n_cols = R.shape
    F = _as_2d(factors, "factors")
    K = F.shape[1]
    F = _as_2d(F, "factors", (n_rows, K))
    V = _as_2d(other_factors, "other_factors", (n_cols, K))
    b_other = _as_1d(other_bias, "other_bias", n_cols)
    b = _as_1d(bias, "bias", n_rows)
    rows = _row_of_entry(R)
    resid = R.data - mu - b_other[R.indices] - b[rows] - np.einsum("nk,nk->n", F[rows], V[R.indices])
    return np.bincount(rows, weights=resid * resid, minlength=n_rows).astype(np.float64)


def als_objective(user_items, mu, user_factors, user_bias, item_factors, item_bias, reg, reg_bias, *,
                  scale_by_count=False, item_prior=None, prior_weight=0.0,
                  item_bias_prior=None, bias_prior_weight=0.0):
    """The objective that every :func:`als_half_sweep` minimises exactly over one side.

    ::

        L = sum_{(u,i) observed} (r_ui - mu - b_u - b_i - u.v_i)^2
            + sum_u s_u (reg ||u||^2 + reg_bias b_u^2)
            + sum_i s_i (reg ||v_i||^2 + reg_bias b_i^2)
            + tau   sum_i ||v_i - c_i||^2
            + tau_b sum_i (b_i - bc_i)^2

    with ``s_u = n_u`` / ``s_i = n_i`` (number of ratings) when
    ``scale_by_count`` else 1, ``c = item_prior``, ``tau = prior_weight``,
    ``bc = item_bias_prior``, ``tau_b = bias_prior_weight`` (a missing prior
    contributes nothing). Note: no factor 1/2, squared errors are summed, not
    averaged. Accumulated in float64.

    Parameters
    ----------
    user_items : scipy.sparse matrix (n_users, n_items)
    mu : float
    user_factors : (n_users, K); user_bias : (n_users,)
    item_factors : (n_items, K); item_bias : (n_items,)
    reg, reg_bias : float
    scale_by_count : bool
    item_prior : (n_items, K) or None; prior_weight : float
    item_bias_prior : (n_items,) or None; bias_prior_weight : float

    Returns
    -------
    float
    """
    R = _csr64(user_items, "user_items")
    n_users, n_items = R.shape
    U = _as_2d(user_factors, "user_factors")
    K = U.shape[1]
    U = _as_2d(U, "user_factors", (n_users, K))
    V = _as_2d(item_factors, "item_factors", (n_items, K))
    bu = _as_1d(user_bias, "user_bias", n_users)
    bi = _as_1d(item_bias, "item_bias", n_items)
    users = _row_of_entry(R)
    items = R.indices
    resid = R.data - mu - bu[users] - bi[items] - np.einsum("nk,nk->n", U[users], V[items])
    loss = float(resid @ resid)
    if scale_by_count:
        s_u = _row_counts(R)
        s_i = np.bincount(items, minlength=n_items).astype(np.float64)
    else:
        s_u = np.ones(n_users)
        s_i = np.ones(n_items)
    loss += float(s_u @ (reg * np.einsum("uk,uk->u", U, U) + reg_bias * bu ** 2))
    loss += float(s_i @ (reg * np.einsum("ik,ik->i", V, V) + reg_bias * bi ** 2))
    if item_prior is not None and prior_weight:
        C = _as_2d(item_prior, "item_prior", (n_items, K))
        loss += float(prior_weight) * float(np.sum((V - C) ** 2))
    if item_bias_prior is not None and bias_prior_weight:
        bc = _as_1d(item_bias_prior, "item_bias_prior", n_items)
        loss += float(bias_prior_weight) * float(np.sum((bi - bc) ** 2))
    return loss


def predict(mu, user_factors, user_bias, item_factors, item_bias, users, items):
    """Predicted ratings ``mu + b_u + b_i + u . v_i`` for index pairs.

    Parameters
    ----------
    mu : float
    user_factors : (n_users, K); user_bias : (n_users,)
    item_factors : (n_items, K); item_bias : (n_items,)
    users, items : int array_like (n,)
        Row indices into the user / item arrays (same length).

    Returns
    -------
    ndarray, float64 (n,)
    """
    U = _as_2d(user_factors, "user_factors")
    V = _as_2d(item_factors, "item_factors")
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"user_factors has K={U.shape[1]} but item_factors has K={V.shape[1]}")
    bu = _as_1d(user_bias, "user_bias", U.shape[0])
    bi = _as_1d(item_bias, "item_bias", V.shape[0])
    users = np.asarray(users, dtype=np.intp)
    items = np.asarray(items, dtype=np.intp)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"users and items must be 1-D of equal length, got {users.shape} and {items.shape}")
    return float(mu) + bu[users] + bi[items] + np.einsum("nk,nk->n", U[users], V[items])


def squared_error_sums(mu, user_factors, user_bias, item_factors, item_bias, users, items, ratings, clip=None):
    """Sums of squared and of absolute prediction errors over index pairs (twin of ``_predict.squared_error_sums``).

    ``e_n = ratings[n] - clip(mu + b_u + b_i + u . v_i)`` with ``(u, i) = (users[n], items[n])``.

    Parameters
    ----------
    mu, user_factors, user_bias, item_factors, item_bias, users, items
        As for :func:`predict`.
    ratings : float array_like (n,)
        Observed ratings of the pairs.
    clip : (float, float) or None
        Predictions are clipped to ``[clip[0], clip[1]]`` first (None: raw predictions).

    Returns
    -------
    (float, float)
        ``(sum(e ** 2), sum(|e|))`` in float64.
    """
    pred = predict(mu, user_factors, user_bias, item_factors, item_bias, users, items)
    if clip is not None:
        pred = np.clip(pred, clip[0], clip[1])
    r = np.asarray(ratings, dtype=np.float64)
    if r.shape != pred.shape:
        raise ValueError(f"ratings has shape {r.shape}, the pairs {pred.shape}")
    err = r - pred
    return float(np.sum(err * err)), float(np.sum(np.abs(err)))


def _epoch_log(history, epoch, step, value):
    history.append({"epoch": epoch, "step": step, "objective": value})


def fit_explicit_als(user_items, factors=13, reg=5.0, reg_bias=5.0, iterations=10, random_state=0,
                     init_scale=0.1, scale_by_count=False, track_objective=True):
    """Biased explicit-feedback ALS by alternating exact half-sweeps.

    Minimises :func:`als_objective` (no priors)::

        sum_(u,i) (r_ui - mu - b_u - b_i - u.v_i)^2
            + sum_u s_u (reg ||u||^2 + reg_bias b_u^2) + sum_i s_i (reg ||v_i||^2 + reg_bias b_i^2)

    Initialisation: ``mu`` = global mean (fixed); item factors
    ``~ N(0, init_scale^2)`` drawn from ``numpy.random.default_rng(random_state)``;
    all biases zero (NOT the bias baseline); user factors are never read before
    the first user half-sweep. Each epoch: users half-sweep, then items
    half-sweep. Every half-sweep is an exact block minimisation, so the
    objective is non-increasing along ``history``.

    Parameters
    ----------
    user_items : scipy.sparse matrix (n_users, n_items)
    factors : int, K >= 1
    reg, reg_bias : float, >= 0
    iterations : int, >= 0
        Number of epochs.
    random_state : None, int or numpy Generator
    init_scale : float, >= 0
    scale_by_count : bool
    track_objective : bool
        Compute the objective after every half-sweep (costs O(nnz K) each).

    Returns
    -------
    dict
        ``mu`` (float), ``user_factors`` (n_users, K), ``user_bias`` (n_users,),
        ``item_factors`` (n_items, K), ``item_bias`` (n_items,), all float64, and
        ``history``: list of ``{"epoch", "step", "objective"}`` with step
        ``"init"``, ``"users"`` or ``"items"`` (empty if not tracked).
    """
    R = _csr64(user_items, "user_items")
    K = check_int(factors, "factors", min_value=1)
    iterations = check_int(iterations, "iterations", min_value=0)
    init_scale = check_float(init_scale, "init_scale", min_value=0.0)
    rng = check_random_state(random_state)
    n_users, n_items = R.shape
    RT = R.T.tocsr()
    mu = float(R.data.mean()) if R.nnz else 0.0
    V = rng.normal(0.0, init_scale, size=(n_items, K)) if init_scale > 0 else np.zeros((n_items, K))
    bi = np.zeros(n_items)
    U = np.zeros((n_users, K))
    bu = np.zeros(n_users)
    history = []

    def objective():
        return als_objective(R, mu, U, bu, V, bi, reg, reg_bias, scale_by_count=scale_by_count)

    if track_objective:
        _epoch_log(history, 0, "init", objective())
    for epoch in range(1, iterations + 1):
        U, bu = als_half_sweep(R, V, bi, mu, reg, reg_bias, scale_by_count=scale_by_count)
        if track_objective:
            _epoch_log(history, epoch, "users", objective())
        V, bi = als_half_sweep(RT, U, bu, mu, reg, reg_bias, scale_by_count=scale_by_count)
        if track_objective:
            _epoch_log(history, epoch, "items", objective())
    return {"mu": mu, "user_factors": U, "user_bias": bu, "item_factors": V, "item_bias": bi,
            "history": history}


# --------------------------------------------------------------------------- Genre-ALS


def genre_centroid_matrix(item_genres):
    """Row-normalised multi-hot genre matrix ``G``.

    ::

        G[i, g] = m[i, g] / sum_g' m[i, g']     (m = multi-hot 0/1)

    so every row of an item with at least one genre sums to 1; items without
    a genre are zero rows. ``(G W)_i`` is then the mean of the genre vectors
    ``W_g`` of the item's genres.

    Parameters
    ----------
    item_genres : scipy.sparse matrix or ndarray (n_items, n_genres), 0/1

    Returns
    -------
    G : ndarray, float64 (n_items, n_genres) (dense; n_genres is small)
    """
    M = item_genres.toarray() if sp.issparse(item_genres) else np.asarray(item_genres)
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2:
        raise ValueError(f"item_genres must be 2-dimensional (n_items, n_genres), got shape {M.shape}")
    if not np.all((M == 0) | (M == 1)):
        bad = np.argwhere((M != 0) & (M != 1))[0]
        raise ValueError(f"item_genres must be multi-hot 0/1, found {M[tuple(bad)]} at item {bad[0]}, genre {bad[1]}")
    counts = M.sum(axis=1)
    return M / np.where(counts > 0, counts, 1.0)[:, None]


def genre_projection(item_factors, G, reg_w):
    """Closed-form ridge fit of genre vectors ``W`` to item factors.

    ::

        W = argmin_W sum_i ||v_i - (G W)_i||^2 + reg_w ||W||_F^2
          = (G^T G + reg_w I)^{-1} G^T V

    The item centroids are then ``C = G W`` (n_items, K). With
    ``reg_w == 0`` and a rank-deficient ``G`` (e.g. an unused genre) the
    system is singular and numpy raises LinAlgError.

    Parameters
    ----------
    item_factors : (n_items, K) or (n_items,)
        A 1-D input is treated as one column (used for the bias prior) and a
        1-D result is returned.
    G : (n_items, n_genres)
        From :func:`genre_centroid_matrix`.
    reg_w : float, >= 0

    Returns
    -------
    W : ndarray, float64 (n_genres, K) (or (n_genres,) for 1-D input)
    """
    V = np.asarray(item_factors, dtype=np.float64)
    G = _as_2d(G, "G")
    if V.shape[0] != G.shape[0]:
        raise ValueError(f"item_factors has {V.shape[0]} rows but G has {G.shape[0]} items")
    reg_w = check_float(reg_w, "reg_w", min_value=0.0)
    A = G.T @ G + reg_w * np.eye(G.shape[1])
    return np.linalg.solve(A, G.T @ V)


def genre_bias_projection(item_bias, G, reg_w):
    """Genre weights for item biases: ``w_b = (G^T G + reg_w I)^{-1} G^T b_items``.

    The bias prior is ``bc = G w_b`` (n_items,). Same as
    :func:`genre_projection` on a single column.

    Returns
    -------
    w_b : ndarray, float64 (n_genres,)
    """
    return genre_projection(_as_1d(item_bias, "item_bias"), G, reg_w)


def genre_als_objective(user_items, G, mu, user_factors, user_bias, item_factors, item_bias, W, w_bias,
                        reg, reg_bias, genre_weight, genre_bias_weight, reg_w, *, scale_by_count=False):
    """Joint Genre-ALS objective, non-increasing under every step of :func:`fit_genre_als`.

    ::

        J = als_objective(..., item_prior=G W, prior_weight=tau,
                          item_bias_prior=G w_b, bias_prior_weight=tau_b)
            + tau reg_w ||W||_F^2 + tau_b reg_w ||w_b||^2

    The ``W`` penalty is scaled by ``tau`` (and ``w_b``'s by ``tau_b``) so
    that minimising J over ``W`` is exactly :func:`genre_projection`:
    ``tau (sum_i ||v_i - (G W)_i||^2 + reg_w ||W||^2)``. With ``tau_b == 0``
    (bias prior disabled) pass ``w_bias=None``.
    """
    G = _as_2d(G, "G")
    W = _as_2d(W, "W")
    tau = float(genre_weight)
    tau_b = float(genre_bias_weight)
    loss = als_objective(user_items, mu, user_factors, user_bias, item_factors, item_bias, reg, reg_bias,
                         scale_by_count=scale_by_count, item_prior=G @ W, prior_weight=tau,
                         item_bias_prior=None if w_bias is None else G @ w_bias,
                         bias_prior_weight=tau_b if w_bias is not None else 0.0)
    loss += tau * reg_w * float(np.sum(W ** 2))
    if w_bias is not None:
        loss += tau_b * reg_w * float(np.sum(np.asarray(w_bias, dtype=np.float64) ** 2))
    return loss


def fit_genre_als(user_items, item_genres, factors=13, reg=5.0, reg_bias=5.0, genre_weight=5.0,
                  genre_bias_weight=0.0, reg_w=1.0, iterations=10, random_state=0, init_scale=0.1,
                  scale_by_count=False, track_objective=True):
    """Genre-ALS: explicit ALS whose item factors (and optionally biases) are pulled to genre centroids.

    Minimises :func:`genre_als_objective`::

        sum (r_ui - mu - b_u - b_i - u.v_i)^2 + ridge terms of als_objective
            + tau   sum_i ||v_i - (G W)_i||^2 + tau reg_w ||W||^2
            + tau_b sum_i (b_i - (G w_b)_i)^2 + tau_b reg_w ||w_b||^2

    by block coordinate descent. Initialisation as :func:`fit_explicit_als`
    (item factors ~ N(0, init_scale^2), zero biases), then ``W`` =
    :func:`genre_projection` of the initial item factors and ``w_b = 0``.
    Each epoch:

    1. users half-sweep (no prior);
    2. items half-sweep with ``prior = G W`` (weight tau) and
       ``bias_prior = G w_b`` (weight tau_b);
    3. ``W = genre_projection(V, G, reg_w)``, ``w_b = genre_bias_projection(b_items, G, reg_w)``.

    Each step is an exact block minimisation of the joint objective, so
    ``history`` is non-increasing.

    Parameters
    ----------
    user_items : scipy.sparse matrix (n_users, n_items)
    item_genres : (n_items, n_genres) multi-hot 0/1 (sparse or dense)
    factors : int
    reg, reg_bias : float
    genre_weight : float, tau >= 0
    genre_bias_weight : float, tau_b >= 0; 0 disables the bias prior (``w_bias`` is None)
    reg_w : float, >= 0
    iterations : int
    random_state, init_scale, scale_by_count, track_objective : see :func:`fit_explicit_als`

    Returns
    -------
    dict
        As :func:`fit_explicit_als` plus ``G`` (n_items, n_genres), ``W``
        (n_genres, K), ``w_bias`` (n_genres,) or None; history steps
        ``"init"``, ``"users"``, ``"items"``, ``"genres"``.
    """
    R = _csr64(user_items, "user_items")
    K = check_int(factors, "factors", min_value=1)
    iterations = check_int(iterations, "iterations", min_value=0)
    init_scale = check_float(init_scale, "init_scale", min_value=0.0)
    tau = check_float(genre_weight, "genre_weight", min_value=0.0)
    tau_b = check_float(genre_bias_weight, "genre_bias_weight", min_value=0.0)
    reg_w = check_float(reg_w, "reg_w", min_value=0.0)
    rng = check_random_state(random_state)
    n_users, n_items = R.shape
    G = genre_centroid_matrix(item_genres)
    if G.shape[0] != n_items:
        raise ValueError(f"item_genres has {G.shape[0]} rows but user_items has {n_items} items")
    RT = R.T.tocsr()
    mu = float(R.data.mean()) if R.nnz else 0.0
    V = rng.normal(0.0, init_scale, size=(n_items, K)) if init_scale > 0 else np.zeros((n_items, K))
    bi = np.zeros(n_items)
    U = np.zeros((n_users, K))
    bu = np.zeros(n_users)
    W = genre_projection(V, G, reg_w)
    w_b = np.zeros(G.shape[1]) if tau_b > 0 else None
    history = []

    def objective():
        return genre_als_objective(R, G, mu, U, bu, V, bi, W, w_b, reg, reg_bias, tau, tau_b, reg_w,
                                   scale_by_count=scale_by_count)

    if track_objective:
        _epoch_log(history, 0, "init", objective())
    for epoch in range(1, iterations + 1):
        U, bu = als_half_sweep(R, V, bi, mu, reg, reg_bias, scale_by_count=scale_by_count)
        if track_objective:
            _epoch_log(history, epoch, "users", objective())
        V, bi = als_half_sweep(RT, U, bu, mu, reg, reg_bias, scale_by_count=scale_by_count,
                               prior=G @ W, prior_weight=tau,
                               bias_prior=None if w_b is None else G @ w_b, bias_prior_weight=tau_b)
        if track_objective:
            _epoch_log(history, epoch, "items", objective())
        W = genre_projection(V, G, reg_w)
        if w_b is not None:
            w_b = genre_bias_projection(bi, G, reg_w)
        if track_objective:
            _epoch_log(history, epoch, "genres", objective())
    return {"mu": mu, "user_factors": U, "user_bias": bu, "item_factors": V, "item_bias": bi,
            "G": G, "W": W, "w_bias": w_b, "history": history}


def cold_item_prediction(item_genres, W, w_bias, reg, reg_bias, genre_weight, genre_bias_weight=0.0):
    """Factors and bias of items with genres but no ratings (the Genre-ALS cold start).

    For a zero-rating item the items half-sweep has ``A = diag(reg + tau, ..., reg_bias + tau_b)``
    and ``rhs = [tau c, tau_b bc]`` (``scale_by_count=False``), so::

        v  = tau   / (reg      + tau)   * W^T g          (g = normalised genre row, c = W^T g)
        b  = tau_b / (reg_bias + tau_b) * w_b . g

    which is what this returns (0 where the denominator is 0). With
    ``scale_by_count=True`` an empty row has ``s = 0`` and the half-sweep gives
    ``v = c`` exactly; pass ``reg=0, reg_bias=0`` to get that.

    Parameters
    ----------
    item_genres : (n, n_genres) multi-hot 0/1 rows of the cold items
    W : (n_genres, K); w_bias : (n_genres,) or None
    reg, reg_bias, genre_weight (tau), genre_bias_weight (tau_b) : float

    Returns
    -------
    factors : ndarray float64 (n, K); bias : ndarray float64 (n,)
    """
    G = genre_centroid_matrix(item_genres)
    W = _as_2d(W, "W")
    if G.shape[1] != W.shape[0]:
        raise ValueError(f"item_genres has {G.shape[1]} genres but W has {W.shape[0]} rows")
    tau = float(genre_weight)
    tau_b = float(genre_bias_weight)
    shrink = tau / (reg + tau) if reg + tau > 0 else 0.0
    factors = shrink * (G @ W)
    if w_bias is None or reg_bias + tau_b == 0:
        bias = np.zeros(G.shape[0])
    else:
        bias = tau_b / (reg_bias + tau_b) * (G @ _as_1d(w_bias, "w_bias", G.shape[1]))
    return factors, bias


def row_residual_sums(rows, mu, col_factors, col_bias, row_vectors):
    """Per row r of a CSR (e.g. items x users): ``sum_j (y_rj - mu - b_j - f_j . x_r)``, float64.

    Twin of ``_predict.row_residual_sums``. ``rows`` (n_rows, n_cols) holds the
    ratings y; ``col_factors`` f (n_cols, K) and ``col_bias`` b (n_cols,) the other
    side; ``row_vectors`` x (n_rows, K) the vectors the rows are scored with.
    Returns ndarray float64 (n_rows,).
    """
    R = _csr64(rows, "rows")
    F = np.asarray(col_factors, dtype=np.float64)
    X = np.asarray(row_vectors, dtype=np.float64)
    b = np.asarray(col_bias, dtype=np.float64)
    out = np.zeros(R.shape[0])
    for r in range(R.shape[0]):
        cols = R.indices[R.indptr[r]:R.indptr[r + 1]]
        y = R.data[R.indptr[r]:R.indptr[r + 1]]
        out[r] = np.sum(y - mu - b[cols] - F[cols] @ X[r])
    return out


def genre_cold_bias(user_items, mu, user_factors, user_bias, G, cold_vectors, reg_w):
    """GenreALS's cold-start bias map, fitted against the rating loss (``cold_bias="ratings"``)::

        w = argmin_w sum_(u,i) (r_ui - mu - b_u - u . x_i - G_i w)^2 + reg_w ||w||^2

    solved here as one ridge regression with a row per training rating (design
    ``G[item of the rating]``), not through per-item sums as the model does.

    Parameters
    ----------
    user_items : (n_users, n_items) ratings
    mu : float; user_factors : (n_users, K); user_bias : (n_users,)
    G : (n_items, n_features) normalised feature rows (:func:`genre_centroid_matrix`)
    cold_vectors : (n_items, K) x_i, the vectors the items are scored with
    reg_w : float > 0

    Returns
    -------
    w : ndarray float64 (n_features,)
    """
    R = _csr64(user_items, "user_items").tocoo()
    G = np.asarray(G.toarray() if sp.issparse(G) else G, dtype=np.float64)
    U = np.asarray(user_factors, dtype=np.float64)
    X = np.asarray(cold_vectors, dtype=np.float64)
    y = R.data - mu - np.asarray(user_bias, dtype=np.float64)[R.row] - np.einsum("nk,nk->n", U[R.row], X[R.col])
    D = G[R.col]
    return np.linalg.solve(D.T @ D + float(reg_w) * np.eye(G.shape[1]), D.T @ y)


def genre_cold_user_bias(user_items, mu, user_factors, user_bias, cold_vectors, cold_biases, shrinkage):
    """GenreALS's per-user offsets for items without ratings (``cold_user_bias``)::

        d_u = sum_(i rated by u) (r_ui - mu - b_u - u . x_i - c_i) / (n_u + shrinkage)

    every training rating scored as if its item were new (cold vector x_i, cold bias c_i), one
    rating at a time here (the model sums per user in its kernel).

    Parameters
    ----------
    user_items : (n_users, n_items) ratings
    mu : float; user_factors : (n_users, K); user_bias : (n_users,)
    cold_vectors : (n_items, K) x_i; cold_biases : (n_items,) c_i
    shrinkage : float > 0

    Returns
    -------
    d : ndarray float64 (n_users,), 0 for users without ratings
    """
    R = _csr64(user_items, "user_items").tocoo()
    U = np.asarray(user_factors, dtype=np.float64)
    X = np.asarray(cold_vectors, dtype=np.float64)
    c = np.asarray(cold_biases, dtype=np.float64)
    e = R.data - mu - np.asarray(user_bias, dtype=np.float64)[R.row] - np.einsum("nk,nk->n", U[R.row], X[R.col]) \
        - c[R.col]
    n = R.shape[0]
    return np.bincount(R.row, weights=e, minlength=n) / (np.bincount(R.row, minlength=n) + float(shrinkage))


# --------------------------------------------------------------------------- BPR


def bpr_log_loss(user_factors, item_factors, item_bias, users, pos_items, neg_items):
    """Summed BPR log-loss ``sum -ln sigma(x_uij)``, ``x_uij = u.(v_i - v_j) + b_i - b_j`` (float64)."""
    U = np.asarray(user_factors, dtype=np.float64)
    V = np.asarray(item_factors, dtype=np.float64)
    b = np.asarray(item_bias, dtype=np.float64)
    u, i, j = (np.asarray(a, dtype=np.intp) for a in (users, pos_items, neg_items))
    x = np.einsum("nk,nk->n", U[u], V[i] - V[j]) + b[i] - b[j]
    return float(np.sum(np.logaddexp(0.0, -x)))


def bpr_sgd(user_factors, item_factors, item_bias, users, pos_items, neg_items, learning_rate,
            reg_user, reg_item, reg_bias, prior=None, bias_prior=None, prior_weight=0.0, bias_prior_weight=0.0):
    """Sequential BPR-SGD over explicit triples (Rendle et al. 2009), updating in place.

    For each triple ``(u, i, j)`` in order, with all right-hand sides taken
    from the values BEFORE this step::

        x     = u.(v_i - v_j) + b_i - b_j
        g     = d ln sigma(x) / dx = sigma(-x) = 1 / (1 + exp(x))
        u    += lr * (g (v_i - v_j) - reg_user u)
        v_i  += lr * (g u           - reg_item v_i)
        v_j  += lr * (-g u          - reg_item v_j)
        b_i  += lr * (g             - reg_bias b_i)
        b_j  += lr * (-g            - reg_bias b_j)

    i.e. gradient ascent on ``ln sigma(x) - reg/2 ||theta||^2`` restricted to
    the parameters of the triple. With an item prior C (``prior``, (n_items, K))
    and d (``bias_prior``, (n_items,)), the item updates gain the pull toward it::

        v_i  += lr * (g u  - reg_item v_i + prior_weight c_i)       (v_j: -g u, c_j)
        b_i  += lr * (g    - reg_bias b_i + bias_prior_weight d_i)  (b_j: -g, d_j)
 ``i == j`` is rejected (ValueError): the
    paper's sampler never produces it and the in-place result would depend on
    write order.

    Parameters
    ----------
    user_factors : ndarray float (n_users, K), IN/OUT (modified in place)
    item_factors : ndarray float (n_items, K), IN/OUT
    item_bias : ndarray float (n_items,), IN/OUT
    users, pos_items, neg_items : int array_like (n,)
    learning_rate, reg_user, reg_item, reg_bias : float
    prior : ndarray float (n_items, K) or None, bias_prior : ndarray float (n_items,) or None
    prior_weight, bias_prior_weight : float

    Returns
    -------
    float
        ``sum_n -ln sigma(x_n)`` with each ``x_n`` evaluated before its own
        update, accumulated in float64.
    """
    U, V, b = user_factors, item_factors, item_bias
    for name, arr in (("user_factors", U), ("item_factors", V), ("item_bias", b)):
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
            raise TypeError(f"{name} must be a floating ndarray updated in place, got {type(arr).__name__}")
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise ValueError(f"user_factors {U.shape} and item_factors {V.shape} must be (n, K) with equal K")
    if b.shape != (V.shape[0],):
        raise ValueError(f"item_bias must have shape ({V.shape[0]},), got {b.shape}")
    u_arr, i_arr, j_arr = (np.asarray(a, dtype=np.intp) for a in (users, pos_items, neg_items))
    if not (u_arr.shape == i_arr.shape == j_arr.shape) or u_arr.ndim != 1:
        raise ValueError("users, pos_items and neg_items must be 1-D arrays of equal length")
    if np.any(i_arr == j_arr):
        k = int(np.flatnonzero(i_arr == j_arr)[0])
        raise ValueError(f"triple {k} has pos_items == neg_items == {i_arr[k]}")
    lr = float(learning_rate)
    C = None if prior is None else np.asarray(prior, dtype=np.float64)
    d = None if bias_prior is None else np.asarray(bias_prior, dtype=np.float64)
    if C is not None and C.shape != V.shape:
        raise ValueError(f"prior must have shape {V.shape}, got {C.shape}")
    if d is not None and d.shape != b.shape:
        raise ValueError(f"bias_prior must have shape {b.shape}, got {d.shape}")
    tau, tau_b = float(prior_weight), float(bias_prior_weight)
    loss = 0.0
    for u, i, j in zip(u_arr.tolist(), i_arr.tolist(), j_arr.tolist()):
        pu = U[u].astype(np.float64)  # copies: every right-hand side uses the pre-step values
        qi = V[i].astype(np.float64)
        qj = V[j].astype(np.float64)
        bi, bj = float(b[i]), float(b[j])
        x = float(pu @ (qi - qj)) + bi - bj
        # -ln sigma(x) = ln(1 + exp(-x)) and g = sigma(-x), both evaluated without overflow.
        if x >= 0.0:
            e = math.exp(-x)
            loss += math.log1p(e)
            g = e / (1.0 + e)
        else:
            e = math.exp(x)
            loss += -x + math.log1p(e)
            g = 1.0 / (1.0 + e)
        U[u] = pu + lr * (g * (qi - qj) - reg_user * pu)
        pull_i = tau * C[i] if C is not None else 0.0
        pull_j = tau * C[j] if C is not None else 0.0
        V[i] = qi + lr * (g * pu - reg_item * qi + pull_i)
        V[j] = qj + lr * (-g * pu - reg_item * qj + pull_j)
        b[i] = bi + lr * (g - reg_bias * bi + (tau_b * d[i] if d is not None else 0.0))
        b[j] = bj + lr * (-g - reg_bias * bj + (tau_b * d[j] if d is not None else 0.0))
    return loss


def bpr_fold_in(pos_indptr, pos_indices, neg_indptr, neg_ranks, item_factors, item_bias, reg, newton_steps=10):
    """Twin of ``mfcore._bpr.bpr_fold_in``: each user's BPR vector by Newton's method, items fixed.

    User r with positives P (row r of the CSR ``pos_indptr``/``pos_indices``) and
    negatives S -- ranks ``neg_ranks[neg_indptr[r]:neg_indptr[r+1]]`` among the items
    that are not in P, in increasing id order -- maximises the concave
    ``mean_{i in P, j in S} ln sigma(u.(v_i - v_j) + b_i - b_j) - reg ||u||^2`` from
    u = 0 by up to ``newton_steps`` Newton steps (stop: ||step|| <= 1e-6 (1 + ||u||)).
    A user without positives or negatives gets the zero vector.

    Returns
    -------
    numpy.ndarray float64 (n_users, K)
    """
    V = np.asarray(item_factors, dtype=np.float64)
    b = np.asarray(item_bias, dtype=np.float64)
    n_users, (n_items, K) = len(pos_indptr) - 1, V.shape
    out = np.zeros((n_users, K))
    for r in range(n_users):
        pos = np.asarray(pos_indices[pos_indptr[r]:pos_indptr[r + 1]], dtype=np.intp)
        ranks = np.asarray(neg_ranks[neg_indptr[r]:neg_indptr[r + 1]], dtype=np.intp)
        if len(pos) == 0 or len(ranks) == 0:
            continue
        neg = np.setdiff1d(np.arange(n_items), pos)[ranks]
        Vp, Vn, bp, bn = V[pos], V[neg], b[pos], b[neg]
        n_pairs = len(pos) * len(neg)
        u = np.zeros(K)
        for _ in range(int(newton_steps)):
            x = (Vp @ u + bp)[:, None] - (Vn @ u + bn)[None, :]           # (p, n)
            with np.errstate(over="ignore"):
                s = 1.0 / (1.0 + np.exp(x))                                # sigma(-x) = d ln sigma(x) / dx
            h = s * (1.0 - s)                                              # -d^2 ln sigma / dx^2
            grad = (Vp.T @ s.sum(1) - Vn.T @ s.sum(0)) / n_pairs - 2 * reg * u
            cross = Vp.T @ h @ Vn
            hess = (Vp.T * h.sum(1)) @ Vp + (Vn.T * h.sum(0)) @ Vn - cross - cross.T
            hess = hess / n_pairs + 2 * reg * np.eye(K)
            step = np.linalg.solve(hess + 1e-10 * np.eye(K), grad)
            u += step
            if np.linalg.norm(step) <= 1e-6 * (1.0 + np.linalg.norm(u)):
                break
        out[r] = u
    return out


def bpr_sample(user_items, n_samples, rng):
    """Draw BPR training triples.

    ``(u, i)`` is drawn uniformly over the stored interactions (so users are
    weighted by their number of interactions); ``j`` uniformly over all items,
    redrawn until ``(u, j)`` is not stored. Draw order from ``rng``: first all
    ``n_samples`` interaction indices (``rng.integers(0, nnz, n_samples)``),
    then negatives in rounds: ``rng.integers(0, n_items, m)`` for the ``m``
    triples still rejected, in triple order.

    Parameters
    ----------
    user_items : scipy.sparse matrix (n_users, n_items)
    n_samples : int, >= 0
    rng : None, int or numpy Generator

    Returns
    -------
    users, pos_items, neg_items : ndarray int32 (n_samples,)

    Raises
    ------
    ValueError
        If there are no interactions, or a sampled user has interacted with every item.
    """
    R = _csr64(user_items, "user_items")
    n_samples = check_int(n_samples, "n_samples", min_value=0)
    rng = check_random_state(rng, "rng")
    n_users, n_items = R.shape
    if R.nnz == 0 and n_samples > 0:
        raise ValueError("user_items has no interactions to sample from")
    rows = _row_of_entry(R)
    counts = np.diff(R.indptr)
    idx = rng.integers(0, R.nnz, n_samples) if n_samples else np.zeros(0, dtype=np.int64)
    users = rows[idx]
    pos = R.indices[idx]
    full = counts[users] >= n_items
    if np.any(full):
        raise ValueError(f"user index {users[np.flatnonzero(full)[0]]} has interacted with every item; "
                         "no negative item exists")
    # Stored (u, j) pairs as sorted keys u * n_items + j (CSR rows sorted, indices sorted).
    keys = rows.astype(np.int64) * n_items + R.indices
    neg = np.empty(n_samples, dtype=np.int64)
    todo = np.arange(n_samples)
    while todo.size:
        cand = rng.integers(0, n_items, todo.size)
        q = users[todo].astype(np.int64) * n_items + cand
        pos_at = np.searchsorted(keys, q)
        hit = (pos_at < keys.size) & (keys[np.minimum(pos_at, keys.size - 1)] == q)
        neg[todo[~hit]] = cand[~hit]
        todo = todo[hit]
    return users.astype(np.int32), pos.astype(np.int32), neg.astype(np.int32)


# --------------------------------------------------------------------------- implicit ALS


def implicit_als_half_sweep(confidence_csr, other_factors, reg, prior=None, prior_weight=0.0, reg_scale=None):
    """One implicit-ALS half-sweep (Hu, Koren & Volinsky 2008), exact solve per row.

    ``confidence_csr`` stores ``c_rj - 1 = alpha * r_rj`` for the observed
    (positive) pairs; every stored entry has preference ``p_rj = 1``, every
    other pair ``p = 0`` and confidence 1. For each row ``r``::

        (Y^T Y + Y^T (C_r - I) Y + reg I) x_r = Y^T C_r p_r
        i.e. (Y^T Y + sum_j (c_rj - 1) y_j y_j^T + reg I) x_r = sum_j c_rj y_j   (j stored in row r)

    Rows with no stored entries get ``x_r = 0``. With a prior (ImplicitALS's genre
    prior: row r pulled toward c_r with weight tau, ``+ tau ||x_r - c_r||^2`` in the loss)::

        (Y^T Y + sum_j (c_rj - 1) y_j y_j^T + (reg + tau) I) x_r = sum_j c_rj y_j + tau c_r

    for every row, rows without entries included. With ``reg_scale`` (s_r > 0 per row:
    ImplicitALS's frequency-scaled regularization) row r's whole penalty is scaled,
    ``reg -> s_r reg`` and ``tau -> s_r tau`` (in the system and the right-hand side).

    Parameters
    ----------
    confidence_csr : scipy.sparse matrix (n_rows, n_cols), data = c - 1 (>= 0 expected)
    other_factors : (n_cols, K), Y
    reg : float, > 0 (>= 0 accepted; singular systems raise LinAlgError naming the row)
    prior : (n_rows, K) or None
        c_r per row; ``prior_weight`` is ignored when None.
    prior_weight : float >= 0, tau
    reg_scale : (n_rows,) positive finite floats or None (every s_r = 1)

    Returns
    -------
    factors : ndarray float64 (n_rows, K)
    """
    Y = _as_2d(other_factors, "other_factors")
    C1 = _csr64(confidence_csr, "confidence_csr")
    if C1.shape[1] != Y.shape[0]:
        raise ValueError(f"confidence_csr has {C1.shape[1]} columns but other_factors has {Y.shape[0]} rows")
    reg = check_float(reg, "reg", min_value=0.0)
    K = Y.shape[1]
    tau = 0.0
    if prior is not None:
        prior = _as_2d(prior, "prior")
        if prior.shape != (C1.shape[0], K):
            raise ValueError(f"prior must have shape ({C1.shape[0]}, {K}), got {prior.shape}")
        tau = check_float(prior_weight, "prior_weight", min_value=0.0)
    if reg_scale is None:
        scale = np.ones(C1.shape[0])
    else:
        scale = _as_1d(reg_scale, "reg_scale", C1.shape[0])
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("reg_scale must be positive and finite")
    YtY = Y.T @ Y
    out = np.zeros((C1.shape[0], K))
    for r in range(C1.shape[0]):
        start, end = C1.indptr[r], C1.indptr[r + 1]
        if start == end and prior is None:
            continue
        Yr = Y[C1.indices[start:end]]
        cm1 = C1.data[start:end]
        A = YtY + (scale[r] * (reg + tau)) * np.eye(K) + (Yr * cm1[:, None]).T @ Yr
        rhs = Yr.T @ (1.0 + cm1)
        if prior is not None:
            rhs = rhs + scale[r] * tau * prior[r]
        try:
            out[r] = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"implicit_als_half_sweep: system for row {r} is singular ({exc})") from None
    return out


# --------------------------------------------------------------------------- top-N


def top_n(user_factors, item_factors, item_bias=None, bias_weight=1.0, exclude_csr=None, item_mask=None, N=10):
    """Brute-force top-N twin of ``mfcore._topk.topk`` in float64.

    ::

        score[b, i] = user_factors[b] . item_factors[i] + bias_weight * item_bias[i]

    (no bias term when ``item_bias`` is None). Candidates of row ``b`` are the
    items with ``item_mask[i] == 1`` (all if None) that are not stored in row
    ``b`` of ``exclude_csr``. Results are sorted by score descending, ties by
    lower item id; rows with fewer than N candidates are padded with id -1 and
    score -inf.

    Parameters
    ----------
    user_factors : (n_batch, K)
    item_factors : (n_items, K)
    item_bias : (n_items,) or None
    bias_weight : float
    exclude_csr : scipy.sparse matrix (n_batch, n_items) or None (stored entries are excluded,
        whatever their value)
    item_mask : bool/uint8 array (n_items,) or None
    N : int, >= 0

    Returns
    -------
    ids : ndarray int32 (n_batch, N)
    scores : ndarray float64 (n_batch, N)
    """
    U = _as_2d(user_factors, "user_factors")
    V = _as_2d(item_factors, "item_factors")
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"user_factors has K={U.shape[1]} but item_factors has K={V.shape[1]}")
    n_batch, n_items = U.shape[0], V.shape[0]
    N = check_int(N, "N", min_value=0)
    scores = U @ V.T
    if item_bias is not None:
        scores = scores + float(bias_weight) * _as_1d(item_bias, "item_bias", n_items)[None, :]
    candidate = np.ones((n_batch, n_items), dtype=bool)
    if item_mask is not None:
        mask = np.asarray(item_mask)
        if mask.shape != (n_items,):
            raise ValueError(f"item_mask must have shape ({n_items},), got {mask.shape}")
        candidate &= (mask != 0)[None, :]
    if exclude_csr is not None:
        E = sp.csr_matrix(exclude_csr)
        if E.shape != (n_batch, n_items):
            raise ValueError(f"exclude_csr must have shape {(n_batch, n_items)}, got {E.shape}")
        candidate[_row_of_entry(E), E.indices] = False
    ids = np.full((n_batch, N), -1, dtype=np.int32)
    out = np.full((n_batch, N), -np.inf)
    for b in range(n_batch):
        cand = np.flatnonzero(candidate[b])
        if N == 0 or cand.size == 0:
            continue
        if cand.size > N:
            # Keep only candidates scoring at least the N-th best (all ties at the threshold survive).
            threshold = np.partition(scores[b, cand], cand.size - N)[cand.size - N]
            cand = cand[scores[b, cand] >= threshold]
        order = np.lexsort((cand, -scores[b, cand]))[:N]  # primary: score desc; secondary: id asc
        ids[b, :order.size] = cand[order]
        out[b, :order.size] = scores[b, cand[order]]
    return ids, out


def auc_rows(scores, relevant, excluded=None):
    """Per-row AUC of a dense score block (twin of ``_topk.auc_rows``).

    Parameters
    ----------
    scores : (n_rows, n_items) float array
    relevant : scipy.sparse (n_rows, n_items)
        Stored entries mark each row's relevant items R.
    excluded : scipy.sparse (n_rows, n_items), optional
        Stored entries mark items that are not candidates (disjoint from R).

    Returns
    -------
    ndarray, float64 (n_rows,)
        With Q the items neither relevant nor excluded:
        ``(#{(r, q): s_r > s_q} + #{(r, q): s_r == s_q} / 2) / (|R| |Q|)``, NaN if R or Q
        is empty.
    """
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {S.shape}")
    rel = sp.csr_matrix(relevant).toarray() != 0
    ex = np.zeros_like(rel) if excluded is None else sp.csr_matrix(excluded).toarray() != 0
    if rel.shape != S.shape or ex.shape != S.shape:
        raise ValueError(f"relevant/excluded must have the shape of scores {S.shape}")
    out = np.full(S.shape[0], np.nan)
    for u in range(S.shape[0]):
        r = S[u, rel[u]]
        q = S[u, ~rel[u] & ~ex[u]]
        if r.size and q.size:
            d = r[:, None] - q[None, :]
            out[u] = (np.count_nonzero(d > 0) + 0.5 * np.count_nonzero(d == 0)) / (r.size * q.size)
    return out
