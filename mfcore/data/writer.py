"""``write_ratings_csv``: any ``Interactions`` as MovieLens CSV files, fast enough for the 32M shape.

``ratings.csv`` rows are formatted in NumPy, a chunk at a time: every field is
written zero-padded into a fixed-width byte matrix, column by column, and one
boolean compress drops the padding (32M rows in about 15 s). Ids that are not
non-negative integers, or ratings that are not half stars, take a slower
pandas path. ``movies.csv`` is written by pandas with the MovieLens quoting.
Both files are written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._validation import check_int
from ._genres import NO_GENRES

__all__ = ["write_ratings_csv"]

_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def _n_digits(v):
    return 1 + np.searchsorted(_POW10, v, side="right")


def _put_digits(mat, col, width, v):
    """Write non-negative ints ``v`` zero-padded to ``width`` digits into ``mat[:, col:col + width]``."""
    v = v.astype(np.int32 if v.size == 0 or int(v.max()) < 2**31 else np.int64)
    digits = np.empty((width, v.size), dtype=np.uint8)  # contiguous per digit, one strided copy at the end
    for k in range(width - 1, -1, -1):
        q = v // 10
        digits[k] = v - q * 10
        v = q
    digits += 48
    mat[:, col:col + width] = digits.T


def _format_chunk(user_raw, item_raw, ratings, times):
    """Bytes for rows 'user,item,rating,timestamp\n' (non-negative integer ids and times,
    half-star ratings in [0, 10)).

    Every field is first written zero-padded into a fixed-width (rows x W) byte
    matrix, column by column (contiguous vector ops, no scatter); a boolean mask
    then drops the padding zeros in one compress, which also yields the rows in
    order.
    """
    nu, ni, nt = _n_digits(user_raw), _n_digits(item_raw), _n_digits(times)
    wu, wi, wt = int(nu.max()), int(ni.max()), int(nt.max())
    cu, ci, cr, ct = 0, wu + 1, wu + wi + 2, wu + wi + 6
    width = ct + wt + 1
    mat = np.empty((len(ratings), width), dtype=np.uint8)
    keep = np.ones((len(ratings), width), dtype=bool)
    for col, w, v, nd in ((cu, wu, user_raw, nu), (ci, wi, item_raw, ni), (ct, wt, times, nt)):
        _put_digits(mat, col, w, v)
        if w > 1:
            keep[:, col:col + w] = np.arange(w)[None, :] >= (w - nd)[:, None]
    r2 = np.rint(ratings.astype(np.float64) * 2).astype(np.int32)
    mat[:, cr] = r2 // 2
    mat[:, cr] += 48
    mat[:, cr + 1] = 46
    mat[:, cr + 2] = np.where(r2 % 2 == 1, 53, 48)
    mat[:, [ci - 1, cr - 1, ct - 1]] = 44
    mat[:, width - 1] = 10
    return mat[keep]


def _atomically(path, write):
    """Call ``write(binary file)`` on a fresh temporary file beside ``path``, then rename it to ``path``.

    The temporary file is created exclusively (``O_EXCL | O_NOFOLLOW``) under a
    random name, so nothing planted at a predictable name is written through.
    """
    path = Path(path)
    while True:  # like mkstemp, but the file gets the usual 0o666 & ~umask permissions of a data file
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _output_paths(path, movies_path):
    """(ratings path, movies path or None) from the arguments of :func:`write_ratings_csv`."""
    path = Path(path)
    if path.is_dir() or (not path.suffix and not path.exists()):
        path.mkdir(parents=True, exist_ok=True)
        ratings_path = path / "ratings.csv"
    else:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"write_ratings_csv: directory {path.parent} does not exist")
        ratings_path = path
    if movies_path == "auto":
        if ratings_path.name == "ratings.csv":
            movies_path = ratings_path.with_name("movies.csv")
        else:
            movies_path = ratings_path.with_name(ratings_path.stem + ".movies.csv")
    elif movies_path is not None:
        movies_path = Path(movies_path)
    return ratings_path, movies_path


def _write_ratings(fh, data, chunk_size):
    """The ``ratings.csv`` rows of ``data``, ``chunk_size`` at a time (fast path when ids and stars allow)."""
    import pandas as pd

    user_ids = np.asarray(data.user_ids)
    item_ids = np.asarray(data.item_ids)
    users, items = np.asarray(data.users), np.asarray(data.items)
    ratings, times = np.asarray(data.ratings), np.asarray(data.timestamps)
    fast_ids = (np.issubdtype(user_ids.dtype, np.integer) and np.issubdtype(item_ids.dtype, np.integer)
                and (user_ids.size == 0 or user_ids.min() >= 0) and (item_ids.size == 0 or item_ids.min() >= 0))
    fh.write(b"userId,movieId,rating,timestamp\n")
    for lo in range(0, len(users), chunk_size):
        hi = min(lo + chunk_size, len(users))
        r = ratings[lo:hi]
        t = times[lo:hi]
        r2 = r.astype(np.float64) * 2
        fast = fast_ids and np.all(r2 == np.rint(r2)) and np.all((r2 >= 0) & (r2 < 20)) and np.all(t >= 0)
        if fast:
            buf = _format_chunk(user_ids[users[lo:hi]].astype(np.int64),
                                item_ids[items[lo:hi]].astype(np.int64), r, t.astype(np.int64))
            fh.write(memoryview(buf))
        else:  # general (slower) path: arbitrary ids / rating values
            pd.DataFrame({
                "userId": user_ids[users[lo:hi]], "movieId": item_ids[items[lo:hi]],
                "rating": r.astype(np.float64), "timestamp": t,
            }).to_csv(fh, header=False, index=False, lineterminator="\n")


def _write_movies(fh, data):
    """``movies.csv``: movieId, title (quoted like MovieLens when needed), ``|``-joined genres."""
    import pandas as pd

    item_ids = np.asarray(data.item_ids)
    n_items = len(item_ids)
    genres = getattr(data, "item_genres", None)
    names = list(getattr(data, "genre_names", None) or [])
    if genres is not None and len(names):
        g = sp.csr_matrix(genres)
        g.sort_indices()
        labels = np.asarray(names, dtype=object)
        genre_col = ["|".join(labels[g.indices[g.indptr[k]:g.indptr[k + 1]]]) or NO_GENRES for k in range(n_items)]
    else:
        genre_col = [NO_GENRES] * n_items
    titles = getattr(data, "titles", None)
    titles = [""] * n_items if titles is None else [("" if t is None else str(t)) for t in titles]
    pd.DataFrame({"movieId": item_ids, "title": titles, "genres": genre_col}).to_csv(
        fh, index=False, lineterminator="\n")


def write_ratings_csv(data, path, *, movies_path="auto", chunk_size=1_000_000):
    """Write ``data`` in MovieLens CSV format (``ratings.csv`` and ``movies.csv``).

    ``ratings.csv`` has the header ``userId,movieId,rating,timestamp`` and one
    row per rating in the order stored in ``data`` (raw ids, rating with one
    decimal, e.g. ``4.0``; implicit data is written with rating ``1.0``).
    ``movies.csv`` has ``movieId,title,genres`` with ``|``-joined genre names
    (``(no genres listed)`` for none; empty titles when ``data.titles`` is
    None), quoted like MovieLens when a title contains a comma or a quote.
    Files are written to a temporary name and renamed, so a reader never sees
    a half-written file.

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    path : path-like
        A directory (``ratings.csv`` and ``movies.csv`` are written inside it,
        created if missing) or a file name for the ratings.
    movies_path : path-like, "auto" or None, default "auto"
        Where to write ``movies.csv``. "auto": ``<dir>/movies.csv`` when
        ``path`` is a directory or a file named ``ratings.csv``, else
        ``<path stem>.movies.csv`` beside it. None: do not write it.
    chunk_size : int, default 1_000_000
        Rows formatted per chunk (bounds the extra memory to ~60 bytes/row).

    Returns
    -------
    dict
        ``{"ratings": Path, "movies": Path or None}``.
    """
    chunk_size = check_int(chunk_size, "chunk_size", min_value=1)
    if getattr(data, "timestamps", None) is None:
        raise ValueError("write_ratings_csv: data has no timestamps; MovieLens ratings.csv needs a timestamp column")
    ratings_path, movies_path = _output_paths(path, movies_path)
    final = _atomically(ratings_path, lambda fh: _write_ratings(fh, data, chunk_size))
    if movies_path is not None:
        _atomically(movies_path, lambda fh: _write_movies(fh, data))
    return {"ratings": final, "movies": movies_path}
