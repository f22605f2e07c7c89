"""Item features beyond genres, for GenreALS's prior: the release year parsed from MovieLens titles.

MovieLens titles end with the release year in parentheses ("Heat (1995)"). The
year, bucketed into eras, is a second kind of multi-hot item feature: stacked
beside the genres (``item_features_with_years``), GenreALS pulls each movie's
vector and bias toward the centroid of its genres *and* its era, which helps
most for movies with no ratings (item cold start).
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

#: Left edges of the release-year buckets after the first ("before 1950", "1950-1969", ..., "2015+").
DEFAULT_YEAR_EDGES = (1950, 1970, 1980, 1990, 1995, 2000, 2005, 2010, 2015)

_YEAR = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


def release_years(titles):
    """Release year of each title, from a trailing ``(YYYY)`` (or ``(YYYY-)``/``(YYYY-YYYY)``).

    Parameters
    ----------
    titles : sequence of str (n_items,)

    Returns
    -------
    numpy.ndarray (n_items,), float64
        The year, NaN where the title has none (or is not a string).
    """
    out = np.full(len(titles), np.nan)
    for k, title in enumerate(titles):
        if isinstance(title, str):
            m = _YEAR.search(title)
            if m:
                out[k] = float(m.group(1))
    return out


def year_buckets(years, edges=DEFAULT_YEAR_EDGES):
    """One-hot release-year buckets.

    Parameters
    ----------
    years : array-like (n_items,), float
        NaN = unknown: an empty row.
    edges : increasing sequence of numbers
        Bucket b holds ``edges[b-1] <= year < edges[b]`` (bucket 0: before
        ``edges[0]``; the last: from ``edges[-1]`` on).

    Returns
    -------
    features : scipy.sparse.csr_matrix (n_items, len(edges) + 1), float32
    names : list of str
        ``"year<1950"``, ``"year1950-1969"``, ..., ``"year2015+"``.
    """
    years = np.asarray(years, dtype=np.float64).ravel()
    edges = np.asarray(edges, dtype=np.float64).ravel()
    if edges.size == 0 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be a non-empty increasing sequence of finite numbers, got {edges.tolist()}")
    known = np.flatnonzero(np.isfinite(years))
    bucket = np.searchsorted(edges, years[known], side="right")
    n_buckets = edges.size + 1
    features = sp.csr_matrix((np.ones(known.size, np.float32), (known, bucket)), shape=(years.size, n_buckets))
    ints = [int(e) if float(e).is_integer() else float(e) for e in edges]
    names = [f"year<{ints[0]}"] + [f"year{a}-{b - 1 if isinstance(b, int) else b}" for a, b in zip(ints, ints[1:])]
    names.append(f"year{ints[-1]}+")
    return features, names


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
    Y, ynames = year_buckets(release_years(titles), edges)
    return sp.hstack([G, float(year_weight) * Y], format="csr", dtype=np.float32), list(genre_names) + ynames
