"""MovieLens readers (CSV and ``::`` layouts), a binary cache, and a verified downloader.

``load_movielens(path)`` reads a MovieLens directory or ``.zip``:

* CSV layout (ml-latest-small, ml-20m, ml-25m, ml-32m): ``ratings.csv``,
  ``movies.csv``, optional ``tags.csv`` (``links.csv`` and the genome files
  are ignored);
* ``::`` layout (ml-1m, ml-10m): ``ratings.dat``, ``movies.dat``, optional
  ``tags.dat``. Text is decoded as UTF-8, falling back to latin-1 (ml-1m).

The item vocabulary is every movie of the movie file, sorted by movieId, so
movies without ratings exist as items (cold start). The user vocabulary is
the sorted userIds of the ratings and tags. Parsing is vectorised (pandas C
engine with explicit dtypes, NumPy checks); a line number is only computed
when something is wrong, and every problem raises :class:`MovieLensFormatError`
naming the file, the 1-based line (the header is line 1) and the value.

The first load writes an ``.npz`` cache (no pickles; strings as NUL-joined
UTF-8 bytes) under ``cache_dir`` (default ``$MFCORE_CACHE_DIR`` or
``~/.cache/mfcore/cache``, never beside the data); it is keyed by the source
files' path, size, mtime_ns and a SHA-256 of their first and last MiB, written
atomically (temporary file + ``os.replace``), memory-mapped on reload with
every member's CRC-32 checked, and rebuilt with a warning when stale or
unreadable.

``fetch_movielens(name)`` finds ``<data_home>/<name>/`` or downloads the
GroupLens zip with urllib, checks its MD5 (published ``.md5`` file, plus a
pinned checksum and size for ml-32m), extracts only the expected members
after rejecting absolute, ``..`` and symlink entries, and loads it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import mmap
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._validation import check_choice
from .interactions import Interactions, _latest_rows, _pair_keys, _pairs_to_csr, _sorted_unique, _Vocabulary

__all__ = [
    "MovieLensFormatError",
    "MovieLensDownloadError",
    "load_movielens",
    "fetch_movielens",
    "MOVIELENS_URL",
    "DATASETS",
]

#: Base URL of the GroupLens files; ``MFCORE_MOVIELENS_URL`` overrides it.
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens"

#: Known datasets: layout and the files extracted from the zip.
DATASETS = {
    "ml-latest-small": {"layout": "csv"},
    "ml-1m": {"layout": "dat"},
    "ml-20m": {"layout": "csv"},
    "ml-25m": {"layout": "csv"},
    "ml-32m": {"layout": "csv", "md5": "d472be332d4daa821edc399621853b57", "size": 238_950_008},
}
_EXTRACT = {
    "csv": ("ratings.csv", "movies.csv", "tags.csv", "README.txt"),
    "dat": ("ratings.dat", "movies.dat", "tags.dat", "README"),
}
_REQUIRED = {"csv": ("ratings.csv", "movies.csv"), "dat": ("ratings.dat", "movies.dat")}

_NO_GENRES = "(no genres listed)"
_RATING_MIN, _RATING_MAX = 0.5, 5.0
_CACHE_FORMAT = 2
_HASH_SPAN = 1 << 20  # bytes hashed at each end of a source file
_INT_RE = r"\s*[+-]?\d+\s*"


class MovieLensFormatError(ValueError):
    """A MovieLens file is malformed; the message names the file, line and value."""


class MovieLensDownloadError(OSError):
    """Downloading, verifying or extracting a MovieLens archive failed."""


# ----------------------------------------------------------------------------
# sources: a directory or a zip archive
# ----------------------------------------------------------------------------
class _Source:
    """Files of one MovieLens release, in a directory or inside a zip."""

    def __init__(self, path):
        self.path = Path(path).expanduser().resolve()
        if self.path.is_dir():
            self.zip_members = None
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
            self.zip_members = {}
            for n in names:
                base = n.rsplit("/", 1)[-1]
                self.zip_members.setdefault(base, n)
        elif self.path.exists():
            raise MovieLensFormatError(f"{self.path}: not a directory or a zip archive")
        else:
            raise FileNotFoundError(f"MovieLens path {self.path} does not exist")
        if self.exists("ratings.csv"):
            self.layout = "csv"
        elif self.exists("ratings.dat"):
            self.layout = "dat"
        else:
            raise FileNotFoundError(
                f"{self.path}: no ratings.csv (CSV layout) or ratings.dat (:: layout) found"
            )
        movies = "movies.csv" if self.layout == "csv" else "movies.dat"
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
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.zip_members[name]) as fh:
                yield fh

    def files(self):
        """Real files whose state keys the cache."""
        if self.zip_members is not None:
            return [self.path]
        layout = _EXTRACT[self.layout][:3]
        return [self.path / n for n in layout if (self.path / n).is_file()]


# ----------------------------------------------------------------------------
# line numbers (only computed on the error path)
# ----------------------------------------------------------------------------
def _line_of_row(src, name, row, header=True):
    """1-based physical line of data row ``row`` (blank lines skipped, as pandas does)."""
    target = row + (1 if header else 0)  # index among non-blank lines
    seen = 0
    base = 0
    carry = False
    with src.open(name) as fh:
        while True:
            chunk = fh.read(1 << 24)
            if not chunk:
                break
            b = np.frombuffer(chunk, dtype=np.uint8)
            nl = np.flatnonzero(b == 10)
            content = ~((b == 32) | (b == 9) | (b == 13) | (b == 10))
            cs = np.concatenate([[0], np.cumsum(content, dtype=np.int64)])
            starts = np.concatenate([[0], nl + 1])
            ends = np.concatenate([nl, [b.size]])
            has = (cs[ends] - cs[starts]) > 0
            has[0] |= carry
            complete = has[:-1]
            cum = np.cumsum(complete)
            total = int(cum[-1]) if cum.size else 0
            if seen + total > target:
                k = int(np.searchsorted(cum, target - seen + 1))
                return base + k + 1
            seen += total
            base += nl.size
            carry = bool(has[-1])
    if carry and seen == target:
        return base + 1
    return None


def _where(src, name, row, header=True):
    line = _line_of_row(src, name, row, header)
    return f"{src.label(name)}, line {line}" if line is not None else f"{src.label(name)}, data row {row + 1}"


# ----------------------------------------------------------------------------
# CSV parsing
# ----------------------------------------------------------------------------
def _read_header(src, name):
    with src.open(name) as fh:
        for raw in fh:
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                return [c.strip().strip('"') for c in text.split(",")]
    return []


def _check_columns(src, name, header, required):
    missing = [c for c in required if c not in header]
    if missing:
        raise MovieLensFormatError(
            f"{src.label(name)}, line 1: missing column(s) {missing}; header has {header} "
            f"(expected {list(required)})"
        )


def _locate_bad_field(src, name, kinds, read_kwargs, header=True, fields=None):
    """Re-read as strings and return an error message for the first bad field, or None.

    ``kinds`` maps column -> "int" | "float" | "str".
    """
    kw = dict(read_kwargs)
    kw.update(dtype=str, keep_default_na=False, na_filter=False)
    kw.pop("converters", None)
    with src.open(name) as fh:
        df = pd.read_csv(fh, **kw)
    best = None
    for col, kind in kinds.items():
        if kind == "str" or col not in df.columns:
            continue
        s = df[col].astype(str)
        if kind == "int":
            bad = ~s.str.fullmatch(_INT_RE).to_numpy(dtype=bool)
        else:
            num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(num)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            if best is None or r < best[0]:
                best = (r, col, s.iloc[r], kind)
    if best is None:
        return None
    r, col, value, kind = best
    label = (fields or {}).get(col, col)
    what = "an integer" if kind == "int" else "a number"
    problem = "is empty" if value.strip() == "" else f"has {value!r}"
    return f"{_where(src, name, r, header)}: field {label!r} {problem}, expected {what}"


def _locate_field_count(src, name, sep, header=True):
    """Return a message for the first line whose field count differs from the first line's, or None."""
    with src.open(name) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=sep)
        expected = None
        for row in reader:
            if not row or all(not f.strip() for f in row):
                continue
            if expected is None:
                expected = len(row)
                if header:
                    continue
            if len(row) != expected:
                line = reader.line_num
                if sep == ":":  # the '::' layout, split on ':' (fields at even positions)
                    return (f"{src.label(name)}, line {line}: expected {(expected + 1) // 2} '::'-separated "
                            f"fields, got {sep.join(row)!r}")
                return (f"{src.label(name)}, line {line}: expected {expected} fields, got {len(row)}: "
                        f"{sep.join(row)!r}")
    return None


def _read_table(src, name, dtypes, kinds, read_kwargs, header=True, fields=None):
    """pandas read with explicit dtypes; on failure, find the bad line and raise."""
    kw = dict(read_kwargs)
    kw.update(dtype=dtypes, engine="c", index_col=False)
    try:
        with src.open(name) as fh, warnings.catch_warnings():
            # a too-long first row only warns ("loss of data"): make it an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(fh, **kw)
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.ParserWarning, OverflowError) as exc:
        msg = _locate_field_count(src, name, kw.get("sep", ","), header)
        if msg is None:
            msg = _locate_bad_field(src, name, kinds, read_kwargs, header, fields)
        if msg is None:
            msg = f"{src.label(name)}: cannot parse: {exc}"
        raise MovieLensFormatError(msg) from None


def _check_nan(src, name, values, label, header=True):
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise MovieLensFormatError(f"{_where(src, name, r, header)}: field {label!r} is missing or NaN")


def _read_ratings(src):
    if src.layout == "csv":
        name = "ratings.csv"
        cols = ("userId", "movieId", "rating", "timestamp")
        _check_columns(src, name, _read_header(src, name), cols)
        df = _read_table(
            src, name,
            {"userId": np.int64, "movieId": np.int64, "rating": np.float64, "timestamp": np.int64},
            {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"},
            {},
        )
        header, fields = True, None
    else:
        name = "ratings.dat"
        names = ["userId", "s1", "movieId", "s2", "rating", "s3", "timestamp"]
        fields = {"userId": "UserID", "movieId": "MovieID", "rating": "Rating", "timestamp": "Timestamp"}
        df = _read_table(
            src, name,
            {"userId": np.int64, "movieId": np.int64, "rating": np.float64, "timestamp": np.int64},
            {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"},
            {"sep": ":", "header": None, "names": names},
            header=False, fields=fields,
        )
        header = False
        seps = df[["s1", "s2", "s3"]].notna().to_numpy().any(axis=1)
        if seps.any():
            r = int(np.flatnonzero(seps)[0])
            raise MovieLensFormatError(
                f"{_where(src, name, r, False)}: expected UserID::MovieID::Rating::Timestamp separated by '::'"
            )
    users = df["userId"].to_numpy()
    movies = df["movieId"].to_numpy()
    ratings = df["rating"].to_numpy()
    timestamps = df["timestamp"].to_numpy()
    del df
    rlabel = (fields or {}).get("rating", "rating")
    _check_nan(src, name, ratings, rlabel, header)
    out = (ratings < _RATING_MIN) | (ratings > _RATING_MAX)
    if out.any():
        r = int(np.flatnonzero(out)[0])
        raise MovieLensFormatError(
            f"{_where(src, name, r, header)}: {rlabel} {float(ratings[r])!r} is outside "
            f"[{_RATING_MIN}, {_RATING_MAX}]"
        )
    return name, header, users, movies, ratings.astype(np.float32), timestamps


def _decode(src, name):
    with src.open(name) as fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _dat_lines(text):
    """(line number, text) of the non-blank lines."""
    return [(k + 1, line) for k, line in enumerate(text.splitlines()) if line.strip()]


def _parse_int(src, name, line_no, field, value):
    if re.fullmatch(_INT_RE, value) is None:
        problem = "is empty" if not value.strip() else f"has {value!r}"
        raise MovieLensFormatError(f"{src.label(name)}, line {line_no}: field {field!r} {problem}, expected an integer")
    return int(value)


def _read_movies(src):
    """Return (name, movie_ids int64 sorted, titles object, genre CSR, genre_names, lines)."""
    if src.layout == "csv":
        name = "movies.csv"
        _check_columns(src, name, _read_header(src, name), ("movieId", "title", "genres"))
        df = _read_table(
            src, name, {"movieId": np.int64, "title": str, "genres": str},
            {"movieId": "int", "title": "str", "genres": "str"},
            {"keep_default_na": False, "na_filter": False},
        )
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
            ids_l.append(_parse_int(src, name, line_no, "MovieID", parts[0]))
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
        return _where(src, name, pos)

    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    same = np.flatnonzero(sid[1:] == sid[:-1])
    if same.size:
        a, b = order[same[0]], order[same[0] + 1]
        raise MovieLensFormatError(
            f"{line_of(b)}: duplicate movieId {int(sid[same[0]])} (first defined at "
            f"{line_of(a).rsplit(', ', 1)[-1]})"
        )
    titles = titles[order]
    genres = genres[order]
    # multi-hot genres, vectorised over the (small) movie table
    exploded = pd.Series(genres, dtype=object).str.split("|").explode()
    tokens = exploded.to_numpy(dtype=object)
    rows = np.asarray(exploded.index, dtype=np.int64)
    keep = np.array([isinstance(t, str) and t.strip() != "" for t in tokens], dtype=bool)
    tokens = np.array([t.strip() for t in tokens[keep]] + [""], dtype=object)[:-1]
    rows = rows[keep]
    real = tokens != _NO_GENRES
    tokens, rows = tokens[real], rows[real]
    genre_names = sorted(set(tokens.tolist()))
    codes = np.searchsorted(np.array(genre_names, dtype=object), tokens) if tokens.size else np.empty(0, np.int64)
    mat = sp.coo_matrix(
        (np.ones(rows.size, dtype=np.float32), (rows, codes)), shape=(ids.size, len(genre_names))
    ).tocsr()
    mat.data[:] = 1.0  # a genre listed twice for one movie is still one membership
    mat.sort_indices()
    return name, sid, titles, _canonical_genres(mat), genre_names


def _canonical_genres(mat):
    out = sp.csr_matrix(
        (mat.data.astype(np.float32), mat.indices.astype(np.int32), mat.indptr.astype(np.int32)),
        shape=mat.shape,
    )
    out.has_sorted_indices = True
    return out


def _read_tags(src):
    """Return (name, header, users raw int64, movies raw int64, tags object, timestamps, lines) or None."""
    if src.layout == "csv":
        name = "tags.csv"
        if not src.exists(name):
            return None
        _check_columns(src, name, _read_header(src, name), ("userId", "movieId", "tag", "timestamp"))
        df = _read_table(
            src, name, {"userId": np.int64, "movieId": np.int64, "tag": str, "timestamp": np.int64},
            {"userId": "int", "movieId": "int", "tag": "str", "timestamp": "int"},
            {"keep_default_na": False, "na_filter": False},
        )
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
        u.append(_parse_int(src, name, line_no, "UserID", parts[0]))
        m.append(_parse_int(src, name, line_no, "MovieID", parts[1]))
        t.append("::".join(parts[2:-1]))
        ts.append(_parse_int(src, name, line_no, "Timestamp", parts[-1]))
        lines.append(line_no)
    tags = np.array(t + [None], dtype=object)[:-1]
    return (name, np.array(lines, dtype=np.int64), np.array(u, dtype=np.int64),
            np.array(m, dtype=np.int64), tags, np.array(ts, dtype=np.int64))


def _parse(src, duplicates):
    """Parse a source into an Interactions (no cache)."""
    mname, movie_ids, titles, genres, genre_names = _read_movies(src)
    item_vocab = _Vocabulary(movie_ids, "item")
    rname, rheader, users_raw, movies_raw, ratings, timestamps = _read_ratings(src)
    tag_data = _read_tags(src)

    def items_of(raw, fname, header, lines, what):
        try:
            return item_vocab.lookup(raw)
        except KeyError:
            idx = np.isin(raw, movie_ids, invert=True)
            r = int(np.flatnonzero(idx)[0])
            where = f"{src.label(fname)}, line {int(lines[r])}" if lines is not None else _where(src, fname, r, header)
            raise MovieLensFormatError(
                f"{where}: movieId {int(raw[r])} {what} is not in {src.label(mname)}"
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
            raise MovieLensFormatError(
                f"{_where(src, rname, b, rheader)}: duplicate rating of userId {int(users_raw[b])} for "
                f"movieId {int(item_vocab.ids[items[b]])} (first at line "
                f"{_line_of_row(src, rname, a, rheader)}); pass duplicates='keep_latest' to keep the "
                "latest by timestamp"
            )
        keep = _latest_rows(users, items, timestamps, item_vocab.ids.size)
        n_dropped = int((~keep).sum())
        warnings.warn(
            f"{src.label(rname)}: dropped {n_dropped} duplicate (user, movie) rating(s), "
            "keeping the latest by timestamp",
            UserWarning, stacklevel=3,
        )
        users, items, ratings, timestamps = users[keep], items[keep], ratings[keep], timestamps[keep]
    del users_raw

    tags = None
    if tag_data is not None:
        tname, tlines, tu_raw, tm_raw, ttext, tts = tag_data
        ti = items_of(tm_raw, tname, True, tlines, "of this tag")
        tu = user_vocab.lookup(tu_raw)
        empty = np.array([not s.strip() for s in ttext], dtype=bool) if ttext.size else np.zeros(0, bool)
        if empty.any():
            r = int(np.flatnonzero(empty)[0])
            where = f"{src.label(tname)}, line {int(tlines[r])}" if tlines is not None else _where(src, tname, r)
            warnings.warn(f"{src.label(tname)}: {int(empty.sum())} empty tag(s), kept as '' (first at {where})",
                          UserWarning, stacklevel=3)
        tags = pd.DataFrame({"user": tu.astype(np.int32), "item": ti.astype(np.int32), "tag": ttext,
                             "timestamp": tts.astype(np.int64)})
    inter = Interactions._trusted(
        users.astype(np.int32, copy=False), items.astype(np.int32, copy=False), ratings,
        timestamps.astype(np.int64, copy=False), True, user_vocab, item_vocab,
        genres, genre_names, _readonly_obj(titles), tags, user_items=user_items,
    )
    return inter, n_dropped


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


# ----------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------
def _default_data_home():
    env = os.environ.get("MFCORE_DATA_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mfcore"


def _resolve_cache_dir(cache_dir):
    """Where parsed-data caches go: the argument, else $MFCORE_CACHE_DIR, else ~/.cache/mfcore/cache.

    Never beside the source files or under the data home: MovieLens folders are
    often shared and read-only (and root would write into them regardless of
    their permission bits).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("MFCORE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "mfcore" / "cache"


def _file_fingerprint(path):
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(_HASH_SPAN))
        if st.st_size > _HASH_SPAN:
            fh.seek(max(_HASH_SPAN, st.st_size - _HASH_SPAN))
            h.update(fh.read(_HASH_SPAN))
    return {"file": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def _cache_key(src, duplicates):
    return {
        "format": _CACHE_FORMAT,
        "source": str(src.path),
        "duplicates": duplicates,
        "files": [_file_fingerprint(p) for p in src.files()],
    }


def _cache_path(cache_dir, src, duplicates):
    tag = hashlib.sha256(str(src.path).encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", src.path.name)
    return Path(cache_dir) / f"{stem}-{tag}-{duplicates}.npz"


def _encode_strings(values):
    """UTF-8 bytes of the strings joined by NUL (or with offsets if a string holds a NUL)."""
    values = list(values)
    if not any("\x00" in v for v in values):
        buf = "\x00".join(values).encode("utf-8")
        return np.frombuffer(buf, dtype=np.uint8), np.array([len(values)], dtype=np.int64)
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), -offsets - 1  # negative: offset mode


def _decode_strings(buf, meta):
    raw = buf.tobytes()
    if meta.size == 1 and meta[0] >= 0:  # NUL-joined: one C-level split
        n = int(meta[0])
        out = raw.decode("utf-8").split("\x00") if n else []
        if len(out) != n:
            raise ValueError(f"expected {n} strings, found {len(out)}")
        return out
    offsets = (-meta - 1).tolist()
    return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]


def _write_cache(path, key, inter, n_dropped):
    arrays = {
        "header": np.frombuffer(json.dumps({"key": key, "n_dropped": n_dropped}).encode(), dtype=np.uint8),
        "users": inter.users, "items": inter.items, "ratings": inter.ratings,
        "timestamps": inter.timestamps, "user_ids": inter.user_ids, "item_ids": inter.item_ids,
        "genre_indptr": inter.item_genres.indptr, "genre_indices": inter.item_genres.indices,
    }
    arrays["genre_buf"], arrays["genre_off"] = _encode_strings(inter.genre_names)
    arrays["title_buf"], arrays["title_off"] = _encode_strings(inter.titles)
    if inter.tags is not None:
        codes, uniq = pd.factorize(inter.tags["tag"].to_numpy(dtype=object))
        arrays["tag_user"] = inter.tags["user"].to_numpy()
        arrays["tag_item"] = inter.tags["item"].to_numpy()
        arrays["tag_timestamp"] = inter.tags["timestamp"].to_numpy()
        arrays["tag_code"] = codes.astype(np.int32)
        arrays["tag_buf"], arrays["tag_off"] = _encode_strings(list(uniq))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _npz_arrays(path):
    """Map the 1-D arrays of an uncompressed .npz without copying them.

    Each member's CRC-32 (from the zip directory) is checked over the mapped
    bytes, so a damaged file is detected; object arrays are refused.
    """
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if i.filename.endswith(".npy")]
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)
    out, spans = {}, []
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{info.filename} is compressed")
        local = view[info.header_offset:info.header_offset + 30]
        if bytes(local[:4]) != b"PK\x03\x04":
            raise ValueError(f"bad local header for {info.filename}")
        n_name = int.from_bytes(local[26:28], "little")
        n_extra = int.from_bytes(local[28:30], "little")
        if bytes(view[info.header_offset + 30:info.header_offset + 30 + n_name]) != info.filename.encode():
            raise ValueError(f"local header name does not match {info.filename}")
        start = info.header_offset + 30 + n_name + n_extra
        data = view[start:start + info.file_size]
        if len(data) != info.file_size:
            raise ValueError(f"{info.filename} is truncated")
        spans.append((info, data))
        fp = io.BytesIO(bytes(data[:4096]))
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version} in {info.filename}")
        if dtype.hasobject or fortran or len(shape) != 1:
            raise ValueError(f"unexpected array layout in {info.filename}")
        nbytes = shape[0] * dtype.itemsize
        if fp.tell() + nbytes != info.file_size:
            raise ValueError(f"{info.filename} has the wrong size")
        out[info.filename[:-4]] = np.frombuffer(data, dtype=dtype, count=shape[0], offset=fp.tell())
    # zlib.crc32 releases the GIL: check the members' CRC-32 on a few threads
    workers = max(1, min(4, len(spans), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        crcs = list(pool.map(lambda span: zlib.crc32(span[1]), spans))
    for (info, _), crc in zip(spans, crcs):
        if crc != info.CRC:
            raise ValueError(f"CRC-32 mismatch in {info.filename}")
    return out


def _read_cache(path, key):
    """Return the cached Interactions, or raise ValueError saying why it cannot be used."""
    a = _npz_arrays(path)
    head = json.loads(a["header"].tobytes().decode())
    if head.get("key") != key:
        raise _Stale("the source files changed since it was written")
    n = a["users"].size
    n_users, n_items = a["user_ids"].size, a["item_ids"].size
    ok = (
        a["users"].dtype == np.int32 and a["items"].dtype == np.int32 and a["ratings"].dtype == np.float32
        and a["timestamps"].dtype == np.int64 and a["items"].size == n and a["ratings"].size == n
        and a["timestamps"].size == n and a["genre_indptr"].size == n_items + 1
    )
    if not ok:
        raise ValueError("arrays have unexpected dtypes or lengths")
    # negative indices wrap to huge unsigned values, so one max per array checks both ends
    if n and (a["users"].view(np.uint32).max() >= n_users or a["items"].view(np.uint32).max() >= n_items):
        raise ValueError("indices out of range")
    genre_names = _decode_strings(a["genre_buf"], a["genre_off"])
    genres = sp.csr_matrix(
        (np.ones(a["genre_indices"].size, dtype=np.float32), a["genre_indices"], a["genre_indptr"]),
        shape=(n_items, len(genre_names)),
    )
    genres.has_sorted_indices = True
    titles = _decode_strings(a["title_buf"], a["title_off"])
    if len(titles) != n_items:
        raise ValueError("title count does not match the items")
    tags = None
    if "tag_code" in a:
        uniq = np.array(_decode_strings(a["tag_buf"], a["tag_off"]) + [None], dtype=object)[:-1]
        tags = pd.DataFrame({"user": a["tag_user"], "item": a["tag_item"], "tag": uniq[a["tag_code"]],
                             "timestamp": a["tag_timestamp"]})
    inter = Interactions._trusted(
        a["users"], a["items"], a["ratings"], a["timestamps"], True,
        _Vocabulary(a["user_ids"], "user", checked=True), _Vocabulary(a["item_ids"], "item", checked=True),
        genres, genre_names, _readonly_obj(np.array(titles + [None], dtype=object)[:-1]), tags,
    )
    return inter, head.get("n_dropped", 0)


class _Stale(ValueError):
    pass


def load_movielens(path, *, duplicates="error", cache=True, cache_dir=None) -> Interactions:
    """Load a MovieLens release (directory or .zip, CSV or ``::`` layout).

    Parameters
    ----------
    path : str or Path
        A folder holding ``ratings.csv`` + ``movies.csv`` (+ ``tags.csv``) or
        ``ratings.dat`` + ``movies.dat`` (+ ``tags.dat``), or a zip of one.
    duplicates : {"error", "keep_latest"}
        A user rating the same movie twice raises :class:`MovieLensFormatError`
        (naming both lines), or keeps the latest by timestamp with a warning
        giving the count. Ratings are never summed.
    cache : bool
        Read/write the binary cache.
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
        Naming the file, the 1-based line (header = line 1) and the value.
    FileNotFoundError
        When the ratings or movie file is missing.
    """
    check_choice(duplicates, "duplicates", ("error", "keep_latest"))
    src = _Source(path)
    if not cache:
        return _parse(src, duplicates)[0]
    cdir = _resolve_cache_dir(cache_dir)
    cpath = _cache_path(cdir, src, duplicates)
    key = _cache_key(src, duplicates)
    if cpath.exists():
        try:
            inter, n_dropped = _read_cache(cpath, key)
        except _Stale as exc:
            warnings.warn(f"ignoring stale MovieLens cache {cpath}: {exc}; rebuilding", UserWarning, stacklevel=2)
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is rebuilt, never trusted
            warnings.warn(f"ignoring corrupted MovieLens cache {cpath} ({type(exc).__name__}: {exc}); rebuilding",
                          UserWarning, stacklevel=2)
        else:
            if n_dropped:
                warnings.warn(f"{src.path}: dropped {n_dropped} duplicate (user, movie) rating(s), keeping the "
                              "latest by timestamp (from cache)", UserWarning, stacklevel=2)
            return inter
    inter, n_dropped = _parse(src, duplicates)
    try:
        _write_cache(cpath, key, inter, n_dropped)
    except OSError as exc:
        warnings.warn(f"could not write the MovieLens cache {cpath}: {exc}", UserWarning, stacklevel=2)
    return inter


# ----------------------------------------------------------------------------
# download
# ----------------------------------------------------------------------------
_MD5_RE = re.compile(r"^\s*MD5\s*\(([^)]*)\)\s*=\s*([0-9a-fA-F]{32})\s*$|^\s*([0-9a-fA-F]{32})\s+\*?(\S+)\s*$")


def _parse_md5(text, zip_name):
    """MD5 hex digest for ``zip_name`` from 'MD5 (x.zip) = h' or 'h  x.zip' lines."""
    for line in text.splitlines():
        m = _MD5_RE.match(line)
        if not m:
            continue
        fname, digest = (m.group(1), m.group(2)) if m.group(2) else (m.group(4), m.group(3))
        if fname.strip().rsplit("/", 1)[-1] == zip_name:
            return digest.lower()
    raise MovieLensDownloadError(f"the checksum file has no MD5 line for {zip_name}: {text[:200]!r}")


def _base_url():
    return os.environ.get("MFCORE_MOVIELENS_URL", MOVIELENS_URL).rstrip("/")


def _offline_error(name, url, target, exc):
    return MovieLensDownloadError(
        f"could not download {url} ({exc}). If this machine is offline, download {name}.zip elsewhere "
        f"and unzip it so that the directory {target} holds its files (e.g. {target / 'ratings.csv'} "
        f"or ratings.dat), or pass data_home= / set MFCORE_DATA_HOME to a folder that contains {name}/"
    )


def _download(url, dest, progress, timeout=60.0):
    """Stream ``url`` into ``dest``; return the MD5 hex digest. Raises on short reads."""
    from tqdm.auto import tqdm

    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        got = 0
        with open(dest, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=url.rsplit("/", 1)[-1], disable=not progress) as bar:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                fh.write(chunk)
                md5.update(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    if total is not None and got != total:
        raise MovieLensDownloadError(f"download of {url} was truncated: got {got} of {total} bytes")
    return md5.hexdigest(), got


def _safe_members(zf, name, layout, label):
    """Validate every member; return {basename: ZipInfo} of the members to extract."""
    wanted = {}
    for info in zf.infolist():
        fname = info.filename
        parts = fname.replace("\\", "/").split("/")
        if fname.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", fname):
            raise MovieLensDownloadError(f"{label}: refusing archive with an absolute member path {fname!r}")
        if ".." in parts:
            raise MovieLensDownloadError(f"{label}: refusing archive with a '..' member path {fname!r}")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise MovieLensDownloadError(f"{label}: refusing archive with a symbolic link member {fname!r}")
        if len(parts) == 2 and parts[0] == name and parts[1] in _EXTRACT[layout]:
            wanted[parts[1]] = info
    missing = [f for f in _REQUIRED[layout] if f not in wanted]
    if missing:
        raise MovieLensDownloadError(f"{label}: archive lacks {[f'{name}/{m}' for m in missing]}")
    return wanted


def fetch_movielens(name, data_home=None, *, download=True, progress=True, duplicates="error",
                    cache=True, cache_dir=None) -> Interactions:
    """Return a MovieLens dataset, downloading and verifying it if it is not there yet.

    Parameters
    ----------
    name : {"ml-latest-small", "ml-1m", "ml-20m", "ml-25m", "ml-32m"}
    data_home : str or Path, optional
        Folder holding ``<name>/``; default ``$MFCORE_DATA_HOME`` or ``~/.cache/mfcore``.
    download : bool
        If False and ``<data_home>/<name>/`` is missing, raise FileNotFoundError.
    progress : bool
        Show a tqdm progress bar while downloading.
    duplicates, cache, cache_dir
        Passed to :func:`load_movielens`.

    The zip comes from ``$MFCORE_MOVIELENS_URL`` (default :data:`MOVIELENS_URL`)
    ``/<name>.zip`` into ``<data_home>/<name>.zip.part``; its MD5 must match the
    published ``<name>.zip.md5`` (and, for ml-32m, the pinned MD5 and size).
    Absolute, ``..`` and symlink members are refused; only the rating, movie,
    tag and README files are extracted (via a temporary folder, renamed into
    place). The ``.part`` file is removed whatever happens.

    Raises
    ------
    MovieLensDownloadError
        Network failure (the message names the directory to fill by hand),
        checksum mismatch, truncated download or unsafe archive.
    """
    check_choice(name, "name", tuple(DATASETS))
    home = Path(data_home).expanduser() if data_home is not None else _default_data_home()
    target = home / name
    layout = DATASETS[name]["layout"]
    load_kw = {"duplicates": duplicates, "cache": cache, "cache_dir": cache_dir}
    if (target / _REQUIRED[layout][0]).is_file():
        return load_movielens(target, **load_kw)
    if not download:
        raise FileNotFoundError(
            f"{name} is not in {target} (expected {target / _REQUIRED[layout][0]}) and download=False"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(
            f"{target} exists but has no {_REQUIRED[layout][0]}; remove it or complete it by hand"
        )
    home.mkdir(parents=True, exist_ok=True)
    base = _base_url()
    url = f"{base}/{name}.zip"
    part = home / f"{name}.zip.part"
    tmpdir = None
    try:
        try:
            with urllib.request.urlopen(f"{url}.md5", timeout=60.0) as resp:
                md5_text = resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            raise MovieLensDownloadError(f"could not fetch the checksum file {url}.md5: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise _offline_error(name, f"{url}.md5", target, getattr(exc, "reason", exc)) from None
        expected = _parse_md5(md5_text, f"{name}.zip")
        pinned = DATASETS[name].get("md5")
        if pinned is not None and expected != pinned:
            raise MovieLensDownloadError(
                f"the published checksum {expected} for {name}.zip differs from the pinned {pinned}"
            )
        try:
            digest, size = _download(url, part, progress)
        except MovieLensDownloadError:
            raise
        except urllib.error.HTTPError as exc:
            raise MovieLensDownloadError(f"could not download {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ConnectionError, EOFError) as exc:
            if isinstance(exc, urllib.error.URLError):
                raise _offline_error(name, url, target, exc.reason) from None
            raise MovieLensDownloadError(f"download of {url} failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # http.client.IncompleteRead and friends
            raise MovieLensDownloadError(f"download of {url} failed: {type(exc).__name__}: {exc}") from None
        if digest != expected:
            raise MovieLensDownloadError(f"MD5 mismatch for {url}: got {digest}, expected {expected}")
        pinned_size = DATASETS[name].get("size")
        if pinned_size is not None and size != pinned_size:
            raise MovieLensDownloadError(f"{url} has {size} bytes, expected {pinned_size}")
        try:
            zf = zipfile.ZipFile(part)
        except zipfile.BadZipFile as exc:
            raise MovieLensDownloadError(f"{url} is not a valid zip archive: {exc}") from None
        with zf:
            members = _safe_members(zf, name, layout, url)
            tmpdir = Path(tempfile.mkdtemp(prefix=f".{name}.extract-", dir=home))
            for base_name, info in members.items():
                with zf.open(info) as src_fh, open(tmpdir / base_name, "wb") as out:
                    shutil.copyfileobj(src_fh, out, 1 << 20)
        os.replace(tmpdir, target)
        tmpdir = None
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return load_movielens(target, **load_kw)
