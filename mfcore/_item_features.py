"""Release-year item features parsed from titles (pure NumPy/SciPy).

Kept below both ``mfcore.data`` and ``mfcore.models`` so that GenreALS can add the
release-year buckets itself when it is fitted on data that carry titles (models
never import the data layer); ``mfcore.data.features`` re-exports these names.
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


def append_year_buckets(features, titles, edges=DEFAULT_YEAR_EDGES, year_weight=1.0):
    """``[features | year_weight * year_buckets(release_years(titles))]`` and the bucket names.

    Parameters
    ----------
    features : (n_items, n_features) sparse or dense matrix
    titles : sequence of str (n_items,)
    edges, year_weight : see :func:`year_buckets` (``year_weight`` > 0)

    Returns
    -------
    stacked : scipy.sparse.csr_matrix (n_items, n_features + len(edges) + 1), float32
    names : list of str (len(edges) + 1,)
        The bucket names only.
    """
    F = sp.csr_matrix(features, dtype=np.float32)
    if len(titles) != F.shape[0]:
        raise ValueError(f"titles has {len(titles)} entries, the item features {F.shape[0]} rows")
    Y, names = year_buckets(release_years(titles), edges)
    return sp.hstack([F, float(year_weight) * Y], format="csr", dtype=np.float32), names
