"""Small planted rating problems shared by the model tests."""

import numpy as np
import pytest
import scipy.sparse as sp
from tests.models.model_data import RatingsWithIds


def planted_ratings(rng, n_users=60, n_items=40, k=3, density=0.35, n_genres=5, noise=0.3):
    """A users x items CSR of ratings from mu + b_u + b_i + u.v + noise, with genres.

    Every user rates at least 2 items; item vectors sit near their genre centroid.
    Returns (matrix, item_genres multi-hot CSR).
    """
    genres = (rng.random((n_items, n_genres)) < 0.3).astype(np.float32)
    genres[np.arange(n_items), rng.integers(0, n_genres, n_items)] = 1.0
    centroids = rng.normal(0, 0.8, (n_genres, k))
    V = genres @ centroids / genres.sum(1, keepdims=True) + rng.normal(0, 0.2, (n_items, k))
    U = rng.normal(0, 0.8, (n_users, k))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[np.arange(n_users), (np.arange(n_users) * 7) % n_items] = True
    full = 3.5 + bu[:, None] + bi[None, :] + U @ V.T + rng.normal(0, noise, (n_users, n_items))
    full = np.clip(full, 0.5, 5.0)
    m = sp.csr_matrix(np.where(mask, full, 0.0).astype(np.float32))
    m.eliminate_zeros()
    return m, sp.csr_matrix(genres)


@pytest.fixture
def planted(rng):
    return planted_ratings(rng)


@pytest.fixture
def planted_with_ids(planted):
    matrix, genres = planted
    user_ids = np.arange(matrix.shape[0]) * 10 + 1000      # raw ids unlike indices
    item_ids = np.arange(matrix.shape[1]) * 3 + 7
    names = [f"G{g}" for g in range(genres.shape[1])]
    return RatingsWithIds(matrix, user_ids, item_ids, genres, names)


def planted_implicit(rng, n_users=120, n_items=90, k=3, per_user=15):
    """Implicit interactions with structure: each user picks ``per_user`` items, with
    probability proportional to exp(2 * u.v). Returns a binary users x items CSR (float32)."""
    U = rng.normal(0, 1, (n_users, k))
    V = rng.normal(0, 1, (n_items, k))
    logits = 2.0 * U @ V.T
    rows, cols = [], []
    for u in range(n_users):
        p = np.exp(logits[u] - logits[u].max())
        items = rng.choice(n_items, per_user, replace=False, p=p / p.sum())
        rows.extend([u] * per_user)
        cols.extend(items)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


@pytest.fixture
def implicit_data(rng):
    return planted_implicit(rng)
