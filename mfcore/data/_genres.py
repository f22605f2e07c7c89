"""MovieLens genre strings -> a multi-hot matrix (one implementation for the loader and the generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: The movies.csv value meaning "this movie has no genre" (not a genre of its own).
NO_GENRES = "(no genres listed)"


def genre_matrix(genres, *, leading=()):
    """Multi-hot CSR of ``|``-separated genre strings.

    Parameters
    ----------
    genres : sequence of str (n_items,)
        E.g. ``"Adventure|Animation"``. Tokens are stripped of surrounding
        whitespace; empty tokens and :data:`NO_GENRES` are no genre; a genre
        listed twice for one movie is one membership.
    leading : sequence of str
        Genre names that come first, in this order, whether used or not (the
        generator's 19 MovieLens genres); every other name found follows,
        sorted.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix, float32, shape (n_items, n_genres)
        0/1 values, int32 indices sorted within rows.
    names : list of str (n_genres,)
    """
    exploded = pd.Series(np.asarray(genres, dtype=object), dtype=object).str.split("|").explode()
    tokens = exploded.to_numpy(dtype=object)
    rows = np.asarray(exploded.index, dtype=np.int64)
    keep = np.array([isinstance(t, str) and t.strip() not in ("", NO_GENRES) for t in tokens], dtype=bool)
    tokens = np.array([t.strip() for t in tokens[keep]] + [""], dtype=object)[:-1]
    rows = rows[keep]
    leading = list(leading)
    names = leading + sorted(set(tokens.tolist()) - set(leading))
    lookup = {name: j for j, name in enumerate(names)}
    cols = np.fromiter((lookup[t] for t in tokens), dtype=np.int64, count=tokens.size)
    mat = sp.coo_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                        shape=(len(genres), len(names))).tocsr()
    mat.sum_duplicates()
    mat.data[:] = 1.0
    out = sp.csr_matrix((mat.data.astype(np.float32), mat.indices.astype(np.int32), mat.indptr.astype(np.int32)),
                        shape=mat.shape)
    out.has_sorted_indices = True
    return out, names
