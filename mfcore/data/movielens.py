"""MovieLens readers (CSV and ``::`` layouts) and :func:`load_movielens`.

``load_movielens(path)`` reads a MovieLens directory or ``.zip``:

* CSV layout (ml-latest-small, ml-20m, ml-25m, ml-32m): ``ratings.csv``,
  ``movies.csv``, optional ``tags.csv`` (``links.csv`` and the genome files
  are ignored). Files are UTF-8; a byte-order mark and spaces around the
  header's commas are accepted;
* ``::`` layout (ml-1m, ml-10m): ``ratings.dat``, ``movies.dat``, optional
  ``tags.dat``. Text is decoded as UTF-8, falling back to latin-1 (ml-1m);
* ml-100k layout: ``u.data`` (tab-separated user, item, rating, timestamp, no
  header), ``u.item`` (latin-1, ``|``-separated: id, title, release date,
  video release date, IMDb URL, then one 0/1 flag per genre) and optional
  ``u.genre`` (``name|index`` lines; the 19 published genres when absent).
  The ``unknown`` genre flag means no genre, like ``(no genres listed)``;
  ``u.user``, ``u.occupation`` and the ``u1.base`` ... splits are not read.

The item vocabulary is every movie of the movie file, sorted by movieId, so
movies without ratings exist as items (cold start). The user vocabulary is
the sorted userIds of the ratings and tags. Ids and timestamps are integers:
``1.0`` or ``1e3`` is an error, not a rounded id. Parsing is vectorised (pandas
C engine, NumPy checks); a line number is only computed when something is
wrong, and every problem raises :class:`MovieLensFormatError` naming the file,
the physical 1-based line (the header is line 1) and the value (see
:mod:`mfcore.data._tables`). A zip is listed through
:mod:`mfcore.data._archive`: ambiguous or hostile member lists are refused.

The first load writes a binary cache (:mod:`mfcore.data._cache`) that later
loads memory-map; ``fetch_movielens`` (:mod:`mfcore.data.fetch`) downloads a
release first.
"""

from __future__ import annotations

import contextlib
import csv
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import check_choice
from . import _cache
from ._archive import MEMBER_READ_ERRORS, by_basename, checked_members
from ._errors import MovieLensFormatError
from ._genres import genre_matrix
from ._tables import (DamagedFileError, check_columns, damaged_stream_error, parse_int,
                      read_header, read_table, record_line, where)
from .interactions import Interactions, _latest_rows, _pair_keys, _pairs_to_csr, _sorted_unique, _Vocabulary

__all__ = ["MovieLensFormatError", "load_movielens", "read_movies_file"]

#: Files of each layout: (ratings, movies, tags).
#: (The ml-100k layout has no tags; its third file is the genre list, which also keys the cache.)
LAYOUT_FILES = {"csv": ("ratings.csv", "movies.csv", "tags.csv"), "dat": ("ratings.dat", "movies.dat", "tags.dat"),
                "100k": ("u.data", "u.item", "u.genre")}
#: What a folder or zip must hold, for the error naming the supported formats.
SUPPORTED_LAYOUTS = ("ratings.csv + movies.csv (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m), "
                     "ratings.dat + movies.dat (ml-1m, ml-10m) or u.data + u.item (ml-100k)")
#: ml-100k's genres in flag order (its u.genre file), used when u.genre is absent.
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
                 "Thriller", "War", "Western")
_RATING_MIN, _RATING_MAX = 0.5, 5.0


# ----------------------------------------------------------------------------
# sources: a directory, a zip archive, or one movies file
# ----------------------------------------------------------------------------
class _Source:
    """Files of one MovieLens release, in a directory or inside a zip."""

    def __init__(self, path):
        self.path = Path(path).expanduser().resolve()
        if self.path.is_dir():
            self.zip_members = None
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            wanted = LAYOUT_FILES["csv"] + LAYOUT_FILES["dat"] + LAYOUT_FILES["100k"]
            try:
                with zipfile.ZipFile(self.path) as zf:
                    infos = checked_members(zf, str(self.path), MovieLensFormatError)
            except MovieLensFormatError:
                raise
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
                raise MovieLensFormatError(f"{self.path}: damaged zip archive ({type(exc).__name__}: {exc})") from None
            found = by_basename(infos, wanted, str(self.path), MovieLensFormatError)
            self.zip_members = {base: info.filename for base, info in found.items()}
        elif self.path.exists():
            raise MovieLensFormatError(f"{self.path}: not a directory or a zip archive")
        else:
            raise FileNotFoundError(f"MovieLens path {self.path} does not exist")
        if self.exists("ratings.csv"):
            self.layout = "csv"
        elif self.exists("ratings.dat"):
            self.layout = "dat"
        elif self.exists("u.data"):
            self.layout = "100k"
        else:
            raise FileNotFoundError(
                f"{self.path}: not a supported MovieLens layout: no ratings.csv, ratings.dat or u.data found. "
                f"Supported: {SUPPORTED_LAYOUTS}; for other data build an Interactions with "
                "mfcore.Interactions.from_dataframe"
            )
        movies = LAYOUT_FILES[self.layout][1]
        if not self.exists(movies):
            raise FileNotFoundError(f"{self.path}: {movies} is missing (needed for the item vocabulary)")

    def exists(self, name):
        if self.zip_members is None:
            return (self.path / name).is_file()
        return name in self.zip_members

    def label(self, name):
        if self.zip_members is None:
            return str(self.path / name)
        return f"{self.path}:{self.zip_members[name]}"

    @contextlib.contextmanager
    def open(self, name):
        if self.zip_members is None:
            with open(self.path / name, "rb") as fh:
                yield fh
            return
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.zip_members[name]) as fh:
                yield fh
        except MEMBER_READ_ERRORS as exc:  # whoever was reading: name the file, never a raw zlib error
            raise DamagedFileError(self.label(name), exc) from None

    def files(self):
        """Real files whose state keys the cache."""
        if self.zip_members is not None:
            return [self.path]
        return [self.path / n for n in LAYOUT_FILES[self.layout] if (self.path / n).is_file()]


class _MoviesFile:
    """A lone ``movies.csv`` (the generator's ``movies=`` argument), with the ``_Source`` reading interface."""

    layout = "csv"

    def __init__(self, path):
        self.path = Path(path).expanduser()

    def label(self, name):
        return str(self.path)

    @contextlib.contextmanager
    def open(self, name):
        with open(self.path, "rb") as fh:
            yield fh


# ----------------------------------------------------------------------------
# the three files
# ----------------------------------------------------------------------------
def _csv_read_kwargs(src, name, required):
    """Header checked by us (BOM, spaces, duplicates); pandas gets our clean names for the columns."""
    header = read_header(src, name)
    check_columns(src, name, header, required)
    return {"header": 0, "names": header}


def _check_finite(src, name, values, label, header=True):
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise MovieLensFormatError(f"{where(src, name, r, header=header)}: field {label!r} is missing or NaN")


def _read_ratings(src):
    """Return (file name, has header, users raw int64, movies raw int64, ratings float32, timestamps int64)."""
    kinds = {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"}
    if src.layout == "csv":
        name, header, fields = "ratings.csv", True, None
        df = read_table(src, name, kinds, _csv_read_kwargs(src, name, tuple(kinds)))
    elif src.layout == "100k":
        name, header = "u.data", False
        fields = {"userId": "user id", "movieId": "item id", "rating": "rating", "timestamp": "timestamp"}
        df = read_table(src, name, kinds, {"sep": "\t", "header": None, "names": list(kinds),
                                           "quoting": csv.QUOTE_NONE}, header=False, fields=fields)
    else:
        name, header = "ratings.dat", False
        fields = {"userId": "UserID", "movieId": "MovieID", "rating": "Rating", "timestamp": "Timestamp"}
        names = ["userId", "s1", "movieId", "s2", "rating", "s3", "timestamp"]
        df = read_table(src, name, kinds, {"sep": ":", "header": None, "names": names, "quoting": csv.QUOTE_NONE},
                        header=False, fields=fields)
        seps = df[["s1", "s2", "s3"]].notna().to_numpy().any(axis=1)
        if seps.any():
            r = int(np.flatnonzero(seps)[0])
            raise MovieLensFormatError(
                f"{where(src, name, r, header=False, quoting=False)}: expected "
                "UserID::MovieID::Rating::Timestamp separated by '::'"
            )
    users = df["userId"].to_numpy()
    movies = df["movieId"].to_numpy()
    ratings = df["rating"].to_numpy()
    timestamps = df["timestamp"].to_numpy()
    del df
    rlabel = (fields or {}).get("rating", "rating")
    _check_finite(src, name, ratings, rlabel, header)
    out = (ratings < _RATING_MIN) | (ratings > _RATING_MAX)
    if out.any():
        r = int(np.flatnonzero(out)[0])
        raise MovieLensFormatError(
            f"{where(src, name, r, header=header, quoting=header)}: {rlabel} {float(ratings[r])!r} is outside "
            f"[{_RATING_MIN}, {_RATING_MAX}]"
        )
    return name, header, users, movies, ratings.astype(np.float32), timestamps


def _decode(src, name):
    """Text of a ``::`` file: UTF-8 (a byte-order mark is dropped), else latin-1 (ml-1m)."""
    try:
        with src.open(name) as fh:
            data = fh.read()
    except DamagedFileError:
        raise damaged_stream_error(src, name) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _dat_lines(text):
    """(physical line number, text) of the non-blank lines (split on newlines only)."""
    return [(k + 1, line.rstrip("\r")) for k, line in enumerate(text.split("\n")) if line.strip()]


def _read_movies(src):
    """Return (file name, movie ids int64, titles object, genre strings object, line of row), in file order.

    Raises MovieLensFormatError for a repeated movieId, naming both lines.
    """
    if src.layout == "100k":
        name, (ids, titles, genres, lines) = "u.item", _read_u_item(src)
    elif src.layout == "csv":
        name = "movies.csv"
        required = ("movieId", "title", "genres")
        kw = _csv_read_kwargs(src, name, required)
        kw.update(keep_default_na=False, na_filter=False)
        df = read_table(src, name, {"movieId": "int", "title": "str", "genres": "str"}, kw)
        ids = df["movieId"].to_numpy()
        titles = df["title"].to_numpy(dtype=object)
        genres = df["genres"].to_numpy(dtype=object)
        lines = None
    else:
        name = "movies.dat"
        ids_l, titles_l, genres_l, lines = [], [], [], []
        for line_no, line in _dat_lines(_decode(src, name)):
            parts = line.split("::")
            if len(parts) != 3:
                raise MovieLensFormatError(
                    f"{src.label(name)}, line {line_no}: expected 3 '::'-separated fields "
                    f"(MovieID::Title::Genres), got {len(parts)}: {line!r}"
                )
            ids_l.append(parse_int(src, name, line_no, "MovieID", parts[0]))
            titles_l.append(parts[1])
            genres_l.append(parts[2])
            lines.append(line_no)
        ids = np.array(ids_l, dtype=np.int64)
        titles = np.array(titles_l + [None], dtype=object)[:-1]
        genres = np.array(genres_l + [None], dtype=object)[:-1]
        lines = np.array(lines, dtype=np.int64)

    def line_of(pos):
        if lines is not None:
            return f"{src.label(name)}, line {int(lines[pos])}"
        return where(src, name, pos)

    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if same.size:
        a, b = order[same[0]], order[same[0] + 1]
        raise MovieLensFormatError(
            f"{line_of(b)}: duplicate movieId {int(ids[a])} (first defined at "
            f"{line_of(a).rsplit(', ', 1)[-1]})"
        )
    return name, ids, titles, genres, line_of


def _ml100k_genre_names(src):
    """Genre names of the ml-100k flags, in flag order: from ``u.genre`` if present, else the published 19."""
    if not src.exists("u.genre"):
        return list(ML100K_GENRES)
    names = {}
    for line_no, line in _dat_lines(_decode(src, "u.genre")):
        name, sep, index = line.rpartition("|")
        if not sep or not name.strip():
            raise MovieLensFormatError(f"{src.label('u.genre')}, line {line_no}: expected 'name|index', got {line!r}")
        k = parse_int(src, "u.genre", line_no, "genre index", index)
        if k in names or k < 0:
            raise MovieLensFormatError(f"{src.label('u.genre')}, line {line_no}: genre index {k} is repeated "
                                       "or negative")
        names[k] = name.strip()
    if sorted(names) != list(range(len(names))):
        raise MovieLensFormatError(f"{src.label('u.genre')}: genre indices {sorted(names)} are not 0..{len(names) - 1}")
    return [names[k] for k in range(len(names))]


def _read_u_item(src):
    """ml-100k ``u.item``: (ids int64, titles, '|'-joined genre strings, line numbers), in file order.

    Each line is ``id|title|release date|video release date|IMDb URL|flag_0|...|flag_{g-1}``
    with one 0/1 flag per genre of ``u.genre``; the file is latin-1 (UTF-8 accepted).
    """
    name = "u.item"
    genre_names = _ml100k_genre_names(src)
    n_fields = 5 + len(genre_names)
    ids_l, titles_l, genres_l, lines = [], [], [], []
    for line_no, line in _dat_lines(_decode(src, name)):
        parts = line.split("|")
        if len(parts) != n_fields:
            raise MovieLensFormatError(
                f"{src.label(name)}, line {line_no}: expected {n_fields} '|'-separated fields (movie id, title, "
                f"release date, video release date, IMDb URL and {len(genre_names)} genre flags), "
                f"got {len(parts)}: {line!r}")
        ids_l.append(parse_int(src, name, line_no, "movie id", parts[0]))
        titles_l.append(parts[1])
        flags = parts[5:]
        bad = [f for f in flags if f.strip() not in ("0", "1")]
        if bad:
            raise MovieLensFormatError(f"{src.label(name)}, line {line_no}: genre flag {bad[0]!r} is not 0 or 1")
        # "unknown" is no genre (as "(no genres listed)" in the CSV releases)
        genres_l.append("|".join(g for g, f in zip(genre_names, flags) if f.strip() == "1" and g != "unknown"))
        lines.append(line_no)
    return (np.array(ids_l, dtype=np.int64), np.array(titles_l + [None], dtype=object)[:-1],
            np.array(genres_l + [None], dtype=object)[:-1], np.array(lines, dtype=np.int64))


def read_movies_file(path):
    """A standalone MovieLens ``movies.csv``: (movie ids int64, titles, genre strings), in file order.

    The same reader as :func:`load_movielens` (same checks and messages).
    """
    _, ids, titles, genres, _ = _read_movies(_MoviesFile(path))
    return ids, titles, genres


def _read_tags(src):
    """Return (name, lines or None, users raw int64, movies raw int64, tags object, timestamps) or None."""
    if src.layout == "100k":
        return None
    if src.layout == "csv":
        name = "tags.csv"
        if not src.exists(name):
            return None
        kinds = {"userId": "int", "movieId": "int", "tag": "str", "timestamp": "int"}
        kw = _csv_read_kwargs(src, name, tuple(kinds))
        kw.update(keep_default_na=False, na_filter=False)
        df = read_table(src, name, kinds, kw)
        return (name, None, df["userId"].to_numpy(), df["movieId"].to_numpy(),
                df["tag"].to_numpy(dtype=object), df["timestamp"].to_numpy())
    name = "tags.dat"
    if not src.exists(name):
        return None
    u, m, t, ts, lines = [], [], [], [], []
    for line_no, line in _dat_lines(_decode(src, name)):
        parts = line.split("::")
        if len(parts) < 4:
            raise MovieLensFormatError(
                f"{src.label(name)}, line {line_no}: expected 4 '::'-separated fields "
                f"(UserID::MovieID::Tag::Timestamp), got {len(parts)}: {line!r}"
            )
        u.append(parse_int(src, name, line_no, "UserID", parts[0]))
        m.append(parse_int(src, name, line_no, "MovieID", parts[1]))
        t.append("::".join(parts[2:-1]))
        ts.append(parse_int(src, name, line_no, "Timestamp", parts[-1]))
        lines.append(line_no)
    tags = np.array(t + [None], dtype=object)[:-1]
    return (name, np.array(lines, dtype=np.int64), np.array(u, dtype=np.int64),
            np.array(m, dtype=np.int64), tags, np.array(ts, dtype=np.int64))


# ----------------------------------------------------------------------------
# the whole release
# ----------------------------------------------------------------------------
def _readonly_obj(arr):
    arr = np.asarray(arr, dtype=object).view()
    arr.flags.writeable = False
    return arr


def _unique_ints(values):
    """Sorted unique int64 values (O(n) bitmap for a compact range)."""
    if values.size == 0:
        return values.astype(np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo + 1 <= max(1 << 22, 8 * values.size):
        present = np.zeros(hi - lo + 1, dtype=bool)
        present[values - lo] = True
        return np.flatnonzero(present).astype(np.int64) + lo
    return np.unique(values).astype(np.int64)


def _parse(src, duplicates):
    """Parse a source into ``(Interactions, n_dropped)`` (no cache)."""
    mname, movie_ids, titles, genre_strings, _ = _read_movies(src)
    order = np.argsort(movie_ids, kind="stable")
    movie_ids, titles = movie_ids[order], titles[order]
    genres, genre_names = genre_matrix(genre_strings[order])
    item_vocab = _Vocabulary(movie_ids, "item")
    rname, rheader, users_raw, movies_raw, ratings, timestamps = _read_ratings(src)
    tag_data = _read_tags(src)

    def items_of(raw, fname, header, lines, what):
        try:
            return item_vocab.lookup(raw)
        except KeyError:
            idx = np.isin(raw, movie_ids, invert=True)
            r = int(np.flatnonzero(idx)[0])
            at = f"{src.label(fname)}, line {int(lines[r])}" if lines is not None else where(src, fname, r,
                                                                                            header=header)
            raise MovieLensFormatError(
                f"{at}: movieId {int(raw[r])} {what} is not in {src.label(mname)}"
            ) from None

    items = items_of(movies_raw, rname, rheader, None, "of this rating")
    del movies_raw
    all_users = users_raw if tag_data is None else np.concatenate([users_raw, tag_data[2]])
    user_vocab = _Vocabulary(_unique_ints(all_users), "user")
    del all_users
    users = user_vocab.lookup(users_raw)

    # ordered files (MovieLens) are checked in O(n); others get their user x item CSR built
    # here (SciPy counting sort), which both finds repeats and is kept for user_items()
    user_items, dup = None, None
    key = _pair_keys(users, items, item_vocab.ids.size)
    if not _sorted_unique(key):
        del key
        user_items, dup = _pairs_to_csr(users, items, ratings, len(user_vocab), len(item_vocab))
    else:
        del key
    n_dropped = 0
    if dup is not None:
        if duplicates == "error":
            a, b = dup
            quoting = rheader
            raise MovieLensFormatError(
                f"{where(src, rname, b, header=rheader, quoting=quoting)}: duplicate rating of userId "
                f"{int(users_raw[b])} for movieId {int(item_vocab.ids[items[b]])} (first at line "
                f"{record_line(src, rname, a, header=rheader, quoting=quoting)}); pass "
                "duplicates='keep_latest' to keep the latest by timestamp"
            )
        keep = _latest_rows(users, items, timestamps, item_vocab.ids.size)
        n_dropped = int((~keep).sum())
        warnings.warn(
            f"{src.label(rname)}: dropped {n_dropped} duplicate (user, movie) rating(s), "
            "keeping the latest by timestamp",
            UserWarning, stacklevel=3,
        )
        users, items, ratings, timestamps = users[keep], items[keep], ratings[keep], timestamps[keep]
        user_items = None
    del users_raw

    tags = None
    if tag_data is not None:
        tname, tlines, tu_raw, tm_raw, ttext, tts = tag_data
        ti = items_of(tm_raw, tname, True, tlines, "of this tag")
        tu = user_vocab.lookup(tu_raw)
        empty = np.array([not s.strip() for s in ttext], dtype=bool) if ttext.size else np.zeros(0, bool)
        if empty.any():
            r = int(np.flatnonzero(empty)[0])
            at = f"{src.label(tname)}, line {int(tlines[r])}" if tlines is not None else where(src, tname, r)
            warnings.warn(f"{src.label(tname)}: {int(empty.sum())} empty tag(s), kept as '' (first at {at})",
                          UserWarning, stacklevel=3)
        tags = pd.DataFrame({"user": tu.astype(np.int32), "item": ti.astype(np.int32), "tag": ttext,
                             "timestamp": tts.astype(np.int64)})
    inter = Interactions._trusted(
        users.astype(np.int32, copy=False), items.astype(np.int32, copy=False), ratings,
        timestamps.astype(np.int64, copy=False), True, user_vocab, item_vocab,
        genres, genre_names, _readonly_obj(titles), tags, user_items=user_items,
    )
    return inter, n_dropped


def load_movielens(path, *, duplicates="error", cache=True, cache_dir=None) -> Interactions:
    """Load a MovieLens release (directory or .zip, CSV or ``::`` layout).

    Parameters
    ----------
    path : str or Path
        A folder holding ``ratings.csv`` + ``movies.csv`` (+ ``tags.csv``),
        ``ratings.dat`` + ``movies.dat`` (+ ``tags.dat``) or ml-100k's ``u.data``
        + ``u.item`` (+ ``u.genre``), or a zip of one.
    duplicates : {"error", "keep_latest"}
        A user rating the same movie twice raises :class:`MovieLensFormatError`
        (naming both lines), or keeps the latest by timestamp with a warning
        giving the count. Ratings are never summed.
    cache : bool
        Read/write the binary cache (see :mod:`mfcore.data._cache`: it is
        used only when the source files are provably unchanged, and every
        member it promises is present and structurally valid).
    cache_dir : str or Path, optional
        Where the cache lives. Default ``$MFCORE_CACHE_DIR``, else
        ``~/.cache/mfcore/cache``. Nothing is ever written beside the source
        files or under the data home (often shared and read-only).

    Returns
    -------
    Interactions
        float32 ratings in [0.5, 5], int64 timestamps, raw ``movieId`` /
        ``userId`` vocabularies (every movie of the movie file is an item),
        multi-hot genres (``"(no genres listed)"`` is no genre), titles and tags.

    Raises
    ------
    MovieLensFormatError
        Naming the file, the physical 1-based line (header = line 1) and the value.
    FileNotFoundError
        When the ratings or movie file is missing; the message lists the
        supported layouts when no ratings file is found.
    """
    check_choice(duplicates, "duplicates", ("error", "keep_latest"))
    src = _Source(path)
    if not cache:
        return _parse(src, duplicates)[0]
    entry = _cache.Entry(_cache.resolve_cache_dir(cache_dir), src, duplicates)
    found = entry.load()
    if found is not None:
        inter, n_dropped = found
        if n_dropped:
            warnings.warn(f"{src.path}: dropped {n_dropped} duplicate (user, movie) rating(s), keeping the "
                          "latest by timestamp (from cache)", UserWarning, stacklevel=2)
        return inter
    with entry.fingerprinting():
        inter, n_dropped = _parse(src, duplicates)
    entry.save(inter, n_dropped)
    return inter


# Names that moved to mfcore.data.fetch / the cache module, still importable from here.
_MOVED = {"fetch_movielens": "fetch", "MovieLensDownloadError": "fetch", "DATASETS": "fetch",
          "MOVIELENS_URL": "fetch"}


def __getattr__(name):
    if name in _MOVED:
        from . import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

