"""Item features beyond genres, for GenreALS's prior: the release year parsed from MovieLens titles.

MovieLens titles end with the release year in parentheses ("Heat (1995)"). The
year, bucketed into eras, is a second kind of multi-hot item feature: stacked
beside the genres (``item_features_with_years``), GenreALS pulls each movie's
vector and bias toward the centroid of its genres *and* its era, which helps
most for movies with no ratings (item cold start). GenreALS does this itself
when fitted on an ``Interactions`` that carries titles (``release_years=True``,
its default); these functions build the same matrix for a bare-matrix fit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._item_features import DEFAULT_YEAR_EDGES, append_year_buckets, release_years, year_buckets

__all__ = ["DEFAULT_YEAR_EDGES", "release_years", "year_buckets", "item_features_with_years"]


def item_features_with_years(item_genres, genre_names, titles, edges=DEFAULT_YEAR_EDGES, year_weight=1.0):
    """The genre multi-hot with release-year buckets appended, for ``GenreALS.fit(item_genres=...)``.

    Parameters
    ----------
    item_genres : (n_items, n_genres) matrix
    genre_names : sequence of str (n_genres,)
    titles : sequence of str (n_items,)
    edges : see :func:`year_buckets`
    year_weight : float > 0
        Weight of the year column next to each genre's 1 (GenreALS normalises
        every row to sum 1, so this is the era's share against the genres').

    Returns
    -------
    features : scipy.sparse.csr_matrix (n_items, n_genres + len(edges) + 1), float32
    names : list of str
    """
    G = sp.csr_matrix(item_genres, dtype=np.float32)
    if len(titles) != G.shape[0]:
        raise ValueError(f"titles has {len(titles)} entries, item_genres {G.shape[0]} rows")
    if len(genre_names) != G.shape[1]:
        raise ValueError(f"genre_names has {len(genre_names)} entries, item_genres {G.shape[1]} columns")
    if not (np.isfinite(year_weight) and year_weight > 0):
        raise ValueError(f"year_weight must be a positive finite number, got {year_weight!r}")
    features, ynames = append_year_buckets(G, titles, edges, year_weight)
    return features, list(genre_names) + ynames
