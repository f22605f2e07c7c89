"""A tiny titled MovieLens-like dataset shared by the model-analysis tests."""

import numpy as np
import scipy.sparse as sp

from mfcore import Interactions

GENRES = ["Action", "Children", "Comedy", "Horror", "Sci-Fi", "Thriller", "War"]
TITLES = ["Matrix, The (1999)", "Terminator 2: Judgment Day (1991)", "Blade Runner (1982)", "Toy Story (1995)",
          "Saw (2004)", "Alien (1979)", "Platoon (1986)", "Matrix Reloaded, The (2003)", "Heat (1995)",
          "Heat (1986)", "Airplane! (1980)", "Se7en (1995)"]
ITEM_GENRES = [["Action", "Sci-Fi", "Thriller"], ["Action", "Sci-Fi"], ["Sci-Fi", "Thriller"], ["Children", "Comedy"],
               ["Horror", "Thriller"], ["Horror", "Sci-Fi"], ["War"], ["Action", "Sci-Fi"], ["Action", "Thriller"],
               ["Action"], ["Comedy"], ["Thriller"]]


def tiny_movies(seed=0, n_users=40, density=0.5):
    """Ratings of 12 titled movies with genres, timestamps and raw ids unlike indices."""
    rng = np.random.default_rng(seed)
    n_items = len(TITLES)
    G = np.zeros((n_items, len(GENRES)), np.float32)
    for i, names in enumerate(ITEM_GENRES):
        G[i, [GENRES.index(g) for g in names]] = 1
    V = G @ rng.normal(0, 1, (len(GENRES), 3)) / G.sum(1, keepdims=True)
    U = rng.normal(0, 1, (n_users, 3))
    mask = rng.random((n_users, n_items)) < density
    mask[:, 0] = True                   # The Matrix is the most rated title
    mask[:, 9] = np.arange(n_users) < 3  # Heat (1986) rated 3 times, Heat (1995) more often
    u, i = np.nonzero(mask)
    r = np.clip(np.round(2 * (3.5 + np.einsum("ij,ij->i", U[u], V[i]) + rng.normal(0, 0.3, u.size))) / 2, 0.5, 5)
    return Interactions.from_arrays(u + 100, i * 10 + 1, r, rng.integers(0, 10**6, u.size),
                                    item_ids=np.arange(n_items) * 10 + 1, item_genres=sp.csr_matrix(G),
                                    genre_names=GENRES, titles=TITLES)
