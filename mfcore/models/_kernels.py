"""Named calls of the compiled training kernels, one function per half-sweep or epoch.

The kernels (``mfcore._als``, ``mfcore._implicit_als``, ``mfcore._bpr``) take flat
CSR arrays and many scalars in a fixed order; these wrappers take a CSR matrix and
keyword arguments, so a model's epoch reads as its maths. They add no checks:
the models validate once in ``fit`` (see :mod:`mfcore._validation`) and the
kernels check array shapes.
"""

from __future__ import annotations

import numpy as np

from .. import _als, _bpr, _implicit_als

#: ``solver`` names of the ALS models -> kernel codes
SOLVERS = {"cholesky": 0, "cg": 1}


def solve_explicit_rows(ratings, fixed_factors, fixed_bias, mu, factors, bias, *, reg, reg_bias, scale_by_count,
                        solver, cg_steps, num_threads, prior=None, prior_weight=0.0, bias_prior=None,
                        bias_prior_weight=0.0, row_sse=None) -> int:
    """One explicit-ALS half-sweep: re-solve every row's vector and bias, the other side fixed.

    Row r with ratings y_j on columns J solves (see ``mfcore._als.als_half_sweep``)::

        [f_r, b_r] = argmin sum_j (y_j - mu - b_j - f_r . v_j - b_r)^2 + s*reg ||f_r||^2 + s*reg_bias b_r^2
                            + prior_weight ||f_r - c_r||^2 + bias_prior_weight (b_r - d_r)^2

    Parameters
    ----------
    ratings : scipy.sparse.csr_matrix (n_rows, n_cols), canonical, of the factors' dtype
        Rows = the side being solved.
    fixed_factors : (n_cols, K), fixed_bias : (n_cols,)
        The other side, IN.
    mu : float
        Global mean rating.
    factors : (n_rows, K), bias : (n_rows,)
        IN/OUT: overwritten with the solution (read as the warm start by CG).
    reg, reg_bias : float
        lambda and lambda_b.
    scale_by_count : bool
        s = the row's rating count (else 1).
    solver : {"cholesky", "cg"}
    cg_steps : int
    num_threads : int >= 1
    prior, bias_prior : (n_rows, K) and (n_rows,) or None
        Genre-ALS centroids c_r and d_r; their weights are tau and tau_b.
    row_sse : float64 (n_rows,) or None
        OUT: each row's training sum of squared errors at its new solution, derived in
        the kernel from the row's normal equations (no extra pass over the ratings).

    Returns
    -------
    int
        -1, or the lowest row whose solve failed (left unchanged).
    """
    return _als.als_half_sweep(
        indptr=ratings.indptr, indices=ratings.indices, ratings=ratings.data,
        other_factors=fixed_factors, other_bias=fixed_bias, mu=float(mu), factors=factors, bias=bias,
        reg=float(reg), reg_bias=float(reg_bias), scale_by_count=bool(scale_by_count),
        prior=prior, prior_weight=float(prior_weight), bias_prior=bias_prior,
        bias_prior_weight=float(bias_prior_weight),
        solver=SOLVERS[solver], cg_steps=int(cg_steps), num_threads=int(num_threads), row_sse=row_sse,
    )


def implicit_gram(fixed_factors):
    """Y^T Y of the fixed factors, as every implicit half-sweep forms it (dtype of Y, C-contiguous (K, K)).

    Shared with :mod:`mfcore.distributed`, which forms it once on the driver so a
    distributed half-sweep hands its blocks the very same bits.
    """
    return np.ascontiguousarray(fixed_factors.T @ fixed_factors)


def solve_implicit_rows(confidence, fixed_factors, factors, *, reg, solver, cg_steps, num_threads,
                        gram=None, prior=None, prior_weight=0.0, reg_scale=None) -> int:
    """One implicit-ALS half-sweep: re-solve every row of ``factors``, the other side fixed.

    Row u solves ``(Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u`` with Y the
    fixed factors; Y^T Y is formed here once for all rows (BLAS, single-threaded inside
    the model's ``blas_limited`` block).

    Parameters
    ----------
    confidence : scipy.sparse.csr_matrix (n_rows, n_cols)
        c - 1 on observed cells (alpha * r), rows = the side being solved.
    fixed_factors : (n_cols, K), IN
    factors : (n_rows, K), IN/OUT
    reg : float
    solver : {"cholesky", "cg"}
    cg_steps, num_threads : int
    gram : (K, K) array or None
        Y^T Y of the WHOLE fixed side (:func:`implicit_gram`; a model caches it for
        fold-in); None forms it from ``fixed_factors`` (which must then be the whole fixed side).
    prior : (n_rows, K) of the factors' dtype, C-contiguous, or None
        ImplicitALS's genre prior: row r also minimises ``prior_weight * ||x_r - prior[r]||^2``
        (the system gains ``prior_weight * I``, the right-hand side ``prior_weight * prior[r]``).
    prior_weight : float >= 0
    reg_scale : float64 (n_rows,) or None
        Per-row factor of the penalty (frequency-scaled regularization): row r uses
        ``reg * reg_scale[r]`` and ``prior_weight * reg_scale[r]``. None: no scaling.

    Returns
    -------
    int
        -1, or the lowest row whose solve failed.
    """
    if gram is None:
        gram = implicit_gram(fixed_factors)
    return _implicit_als.implicit_als_half_sweep(
        indptr=confidence.indptr, indices=confidence.indices, confidence=confidence.data,
        other_factors=fixed_factors, factors=factors, YtY=gram, reg=float(reg),
        solver=SOLVERS[solver], cg_steps=int(cg_steps), num_threads=int(num_threads),
        prior=prior, prior_weight=float(prior_weight), reg_scale=reg_scale,
    )


def bpr_sgd_epoch(positives, user_of_entry, user_factors, item_factors, item_bias, *, n_samples, learning_rate,
                  regularization, bias_regularization, seed, num_threads, run_length=1, prior=None,
                  bias_prior=None, prior_weight=0.0, bias_prior_weight=0.0):
    """One BPR epoch: ``n_samples`` lock-free SGD steps on sampled (user, positive, negative) triples.

    Parameters
    ----------
    positives : scipy.sparse.csr_matrix (n_users, n_items)
        The positive interactions (pattern only).
    user_of_entry : int32 (positives.nnz,)
        Row of every stored positive (lets the kernel sample a pair without a search).
    user_factors, item_factors, item_bias : IN/OUT
    n_samples : int
    learning_rate, regularization, bias_regularization : float
        The same L2 weight applies to user and item vectors.
    seed : int
        Seeds the kernel's per-thread generators.
    num_threads : int
    run_length : int, default 1
        Positives drawn in runs of this many consecutive stored entries (see ``mfcore._bpr``).
    prior : (n_items, K) of the factors' dtype or None, bias_prior : (n_items,) or None
        Item priors (the genre centroids): each step pulls the item vectors / biases
        toward them with ``prior_weight`` / ``bias_prior_weight`` (see ``mfcore._bpr``).

    Returns
    -------
    loss : float
        Mean -ln sigma(x_uij) over the performed steps (float64; NaN if none).
    skipped : int
        Samples skipped because their user interacted with every item.
    """
    return _bpr.bpr_epoch(
        indptr=positives.indptr, indices=positives.indices, user_factors=user_factors,
        item_factors=item_factors, item_bias=item_bias, n_samples=int(n_samples),
        learning_rate=float(learning_rate), reg_user=float(regularization), reg_item=float(regularization),
        reg_bias=float(bias_regularization), seed=int(seed), num_threads=int(num_threads),
        nnz_rows=user_of_entry, run_length=int(run_length), prior=prior, bias_prior=bias_prior,
        prior_weight=float(prior_weight), bias_prior_weight=float(bias_prior_weight),
    )


def bpr_fold_in_rows(pos_indptr, pos_indices, neg_indptr, neg_ranks, item_factors, item_bias, *, regularization,
                     newton_steps, num_threads):
    """BPR fold-in of many users in one kernel call: float64 (n_users, K) vectors, items fixed.

    Parameters
    ----------
    pos_indptr, pos_indices : int32 CSR (n_users + 1,), (nnz,)
        Each user's positive items, sorted, no repeats.
    neg_indptr, neg_ranks : int32 CSR
        Each user's negatives as ranks among the items that are not their positives.
    item_factors, item_bias : the model's (n_items, K), (n_items,)
    regularization : float
    newton_steps, num_threads : int

    Returns
    -------
    out : float64 (n_users, K)
    bad : int
        -1, or the first row whose Newton system was not positive definite (left zero).
    """
    out = np.zeros((len(pos_indptr) - 1, item_factors.shape[1]))
    bad = _bpr.bpr_fold_in(pos_indptr, pos_indices, neg_indptr, neg_ranks, item_factors, item_bias,
                           float(regularization), int(newton_steps), int(num_threads), out)
    return out, bad
