"""The binary cache of parsed MovieLens releases: never stale, never trusted blindly.

Layout
------
One uncompressed ``.npz`` per (source, duplicates policy) under the cache
directory (``$MFCORE_CACHE_DIR``, default ``~/.cache/mfcore/cache``; never beside
the data): the Interactions arrays, strings as NUL-joined UTF-8 bytes, and a
JSON ``header`` member holding the cache key (format, source path, duplicates
policy, and for every source file its size and full SHA-256), the number of
duplicates dropped, and the list of members the file promises. It is written
atomically (temporary file, fsync, ``os.replace``) and memory-mapped on load,
with every member's CRC-32 checked over the mapped bytes.

Staleness: stat fast path, content hash when anything differs
-------------------------------------------------------------
Beside it, a small ``.stat.json`` records, at the time the source content was
last hashed, each source file's ``(st_dev, st_ino, st_size, st_mtime_ns,
st_ctime_ns)`` and the cache file's own stat. A load trusts the cache without
reading the sources only when all of these are unchanged. Edits that restore
the size and mtime (``cp -p``, ``rsync -t``, ``tar -x``, ``touch -d``) still
change the inode or the ctime, which the kernel sets to the current time on
every write, rename or ``utime`` and which no unprivileged call can set back.
When anything differs, every source file is hashed in full (SHA-256, about
1 s per GB) and compared with the hashes in the ``.npz`` header: equal content
(a copied or re-extracted release) keeps the cache and refreshes the stat
record; different content rebuilds the cache. Because timestamps are coarse
(a few ms), a stat record is not trusted for files whose ctime or mtime lies
within ``_RACY_NS`` of the moment it was written (git's "racy clean" rule):
those loads hash. The cost: one ``os.stat`` per file on a warm load; a full
hash only after a change (and, while building the cache, on a second thread
alongside the parse); the alternative of hashing on every load would add
about 0.9 s to each warm load of the 32M release.

Structural checks
-----------------
A cache file is a second input: every member the header promises must be
present (a damaged zip directory cannot silently drop the tags), no member
may be unexpected, every array has its exact dtype and length, indices lie in
range, the genre CSR is well formed, ids are sorted and unique, ratings finite
and in range, and no (user, item) pair repeats. Anything else is "corrupted":
the cache is rebuilt with a warning, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mmap
import os
import re
import tempfile
import threading
import time
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._permissions import publish
from .._persist import read_npy_header
from .._validation import rows_sorted_unique
from .interactions import Interactions, _pairs_to_csr, _Vocabulary

_CACHE_FORMAT = 3
_RACY_NS = 2_000_000_000      # stat records younger than this relative to a file's ctime/mtime are re-hashed
_HASH_BLOCK = 1 << 20
_RATING_MIN, _RATING_MAX = 0.5, 5.0

_CORE = ("header", "users", "items", "ratings", "timestamps", "user_ids", "item_ids", "genre_indptr",
         "genre_indices", "genre_buf", "genre_off", "title_buf", "title_off")
_TAGS = ("tag_user", "tag_item", "tag_timestamp", "tag_code", "tag_buf", "tag_off")


class _Stale(Exception):
    """The source files changed since the cache was written."""


def resolve_cache_dir(cache_dir):
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


# ----------------------------------------------------------------------------
# fingerprints
# ----------------------------------------------------------------------------
def _stat(path):
    st = os.stat(path)
    return {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


def _sha256(path, abort=None):
    """Full-content SHA-256 (hashlib releases the GIL on large blocks); None if ``abort`` gets set."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_HASH_BLOCK)
            if not block:
                return h.hexdigest()
            if abort is not None and abort.is_set():
                return None
            h.update(block)


def _content_key(files, sizes, hashes):
    return [{"file": str(p), "size": size, "sha256": h} for p, size, h in zip(files, sizes, hashes)]


# ----------------------------------------------------------------------------
# strings as bytes
# ----------------------------------------------------------------------------
def encode_strings(values):
    """UTF-8 bytes of the strings joined by NUL (or with offsets if a string holds a NUL)."""
    values = list(values)
    if not any("\x00" in v for v in values):
        buf = "\x00".join(values).encode("utf-8")
        return np.frombuffer(buf, dtype=np.uint8), np.array([len(values)], dtype=np.int64)
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), -offsets - 1  # negative: offset mode


def decode_strings(buf, meta):
    """Inverse of :func:`encode_strings`; ValueError if the offsets do not describe ``buf``."""
    raw = buf.tobytes()
    if meta.size == 1 and meta[0] >= 0:  # NUL-joined: one C-level split
        n = int(meta[0])
        out = raw.decode("utf-8").split("\x00") if n else []
        if len(out) != n or (n == 0 and raw):
            raise ValueError(f"expected {n} strings, found {len(out)}")
        return out
    if meta.size < 1 or meta.max() >= 0:
        raise ValueError("string offsets are malformed")
    offsets = -meta - 1
    if offsets[0] != 0 or offsets[-1] != len(raw) or np.any(np.diff(offsets) < 0):
        raise ValueError("string offsets do not describe the buffer")
    offsets = offsets.tolist()
    return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]


# ----------------------------------------------------------------------------
# the file
# ----------------------------------------------------------------------------
def _write_npz(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp)                       # mkstemp made it 0600: give it the umask's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path, obj):
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh)
        publish(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _npz_arrays(path):
    """Map the 1-D arrays of an uncompressed .npz without copying them.

    Each member's CRC-32 (from the zip directory) is checked over the mapped
    bytes, so a damaged file is detected; object arrays and repeated member
    names are refused.
    """
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names) or not all(n.endswith(".npy") for n in names):
        raise ValueError("the zip directory lists a member twice or a member that is not an array")
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
        shape, fortran, dtype = read_npy_header(fp)
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


def _header(arrays):
    if "header" not in arrays or arrays["header"].dtype != np.uint8:
        raise ValueError("no header member")
    head = json.loads(arrays["header"].tobytes().decode("utf-8"))
    if not isinstance(head, dict) or not isinstance(head.get("key"), dict):
        raise ValueError("malformed header")
    return head


def _expect(a, name, dtype, size=None):
    arr = a[name]
    if arr.dtype != dtype or (size is not None and arr.size != size):
        raise ValueError(f"member {name!r} is {arr.dtype}[{arr.size}], expected {np.dtype(dtype)}"
                         f"[{'n' if size is None else size}]")
    return arr


def _in_range(values, bound):
    """All of ``values`` (int32) in [0, bound): one pass, negatives wrap to huge unsigned values."""
    return values.size == 0 or int(values.view(np.uint32).max()) < bound


def _interactions(a, head):
    """Interactions from validated cache arrays; ValueError naming what is wrong."""
    members = head.get("members")
    if not isinstance(members, list) or sorted(members) != sorted(a):
        missing = sorted(set(members or []) - set(a))
        raise ValueError(f"members {missing or sorted(set(a) - set(members or []))} differ from the promised list")
    if not set(_CORE) <= set(a) or (any(t in a for t in _TAGS) and not set(_TAGS) <= set(a)):
        raise ValueError("required members are missing")
    n_dropped = head.get("n_dropped")
    if isinstance(n_dropped, bool) or not isinstance(n_dropped, int) or n_dropped < 0:
        raise ValueError(f"n_dropped {n_dropped!r} is not a count")
    user_ids = _expect(a, "user_ids", np.int64)
    item_ids = _expect(a, "item_ids", np.int64)
    n_users, n_items = user_ids.size, item_ids.size
    for ids in (user_ids, item_ids):
        if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
            raise ValueError("ids are not sorted and unique")
    users = _expect(a, "users", np.int32)
    n = users.size
    items = _expect(a, "items", np.int32, n)
    ratings = _expect(a, "ratings", np.float32, n)
    timestamps = _expect(a, "timestamps", np.int64, n)
    if not (_in_range(users, n_users) and _in_range(items, n_items)):
        raise ValueError("user or item indices out of range")
    if n and not (ratings.min() >= _RATING_MIN and ratings.max() <= _RATING_MAX):  # NaN fails both
        raise ValueError("ratings outside [0.5, 5]")
    # the users x items CSR every fit needs: building it finds a repeated (user, item) pair, and it is
    # kept, so the check costs nothing over the first user_items() call
    user_items, dup = _pairs_to_csr(users, items, ratings, n_users, n_items)
    if dup is not None:
        raise ValueError(f"(user, item) pair repeated at rows {dup}")
    genre_names = decode_strings(_expect(a, "genre_buf", np.uint8), _expect(a, "genre_off", np.int64))
    n_genres = len(genre_names)
    if len(set(genre_names)) != n_genres:
        raise ValueError("genre names repeat")
    indptr = _expect(a, "genre_indptr", np.int32, n_items + 1)
    indices = _expect(a, "genre_indices", np.int32)
    if (indptr[0] != 0 or indptr[-1] != indices.size or (n_items and np.diff(indptr).min() < 0)
            or not _in_range(indices, n_genres)
            or not rows_sorted_unique(indptr, indices, (n_items, n_genres))):
        raise ValueError("the genre matrix is malformed")
    genres = sp.csr_matrix((np.ones(indices.size, dtype=np.float32), indices, indptr), shape=(n_items, n_genres))
    genres.has_sorted_indices = True
    titles = decode_strings(_expect(a, "title_buf", np.uint8), _expect(a, "title_off", np.int64))
    if len(titles) != n_items:
        raise ValueError("title count does not match the items")
    tags = None
    if "tag_code" in a:
        uniq = decode_strings(_expect(a, "tag_buf", np.uint8), _expect(a, "tag_off", np.int64))
        code = _expect(a, "tag_code", np.int32)
        t = code.size
        tag_user = _expect(a, "tag_user", np.int32, t)
        tag_item = _expect(a, "tag_item", np.int32, t)
        tag_time = _expect(a, "tag_timestamp", np.int64, t)
        if not (_in_range(code, len(uniq)) and _in_range(tag_user, n_users) and _in_range(tag_item, n_items)):
            raise ValueError("tag indices out of range")
        uniq = np.array(uniq + [None], dtype=object)[:-1]
        tags = pd.DataFrame({"user": tag_user, "item": tag_item, "tag": uniq[code], "timestamp": tag_time})
    titles_obj = np.array(titles + [None], dtype=object)[:-1].view()
    titles_obj.flags.writeable = False
    inter = Interactions._trusted(
        users, items, ratings, timestamps, True,
        _Vocabulary(user_ids, "user", checked=True), _Vocabulary(item_ids, "item", checked=True),
        genres, genre_names, titles_obj, tags, user_items=user_items,
    )
    return inter, n_dropped


def _arrays_of(inter, key, n_dropped):
    arrays = {
        "users": inter.users, "items": inter.items, "ratings": inter.ratings,
        "timestamps": inter.timestamps, "user_ids": inter.user_ids, "item_ids": inter.item_ids,
        "genre_indptr": inter.item_genres.indptr, "genre_indices": inter.item_genres.indices,
    }
    arrays["genre_buf"], arrays["genre_off"] = encode_strings(inter.genre_names)
    arrays["title_buf"], arrays["title_off"] = encode_strings(inter.titles)
    if inter.tags is not None:
        codes, uniq = pd.factorize(inter.tags["tag"].to_numpy(dtype=object))
        arrays["tag_user"] = inter.tags["user"].to_numpy()
        arrays["tag_item"] = inter.tags["item"].to_numpy()
        arrays["tag_timestamp"] = inter.tags["timestamp"].to_numpy()
        arrays["tag_code"] = codes.astype(np.int32)
        arrays["tag_buf"], arrays["tag_off"] = encode_strings(list(uniq))
    head = {"key": key, "n_dropped": n_dropped, "members": sorted(arrays) + ["header"]}
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    return arrays


# ----------------------------------------------------------------------------
# one cache entry
# ----------------------------------------------------------------------------
class Entry:
    """The cache file of one source under one duplicates policy.

    ``load()`` returns ``(Interactions, n_dropped)`` or None (missing, stale or
    corrupted: the last two warn). A build wraps the parse in
    ``fingerprinting()`` (stat before and after, content hashed alongside) and
    then calls ``save()``, which writes nothing if a source changed meanwhile.
    """

    def __init__(self, cache_dir, src, duplicates):
        self.src = src
        self.duplicates = duplicates
        tag = hashlib.sha256(str(src.path).encode()).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", src.path.name)
        self.path = Path(cache_dir) / f"{stem}-{tag}-{duplicates}.npz"
        self.stat_path = Path(cache_dir) / f"{stem}-{tag}-{duplicates}.stat.json"
        self._fingerprint = None

    # -- key -------------------------------------------------------------------
    def _base_key(self):
        return {"format": _CACHE_FORMAT, "source": str(self.src.path), "duplicates": self.duplicates}

    def _stat_record_holds(self, files, stats):
        """The fast path: the stat record vouches for these exact files and this exact cache file."""
        try:
            with open(self.stat_path) as fh:
                record = json.load(fh)
            if record.get("cache") != _stat(self.path) or record.get("files") != [
                    {"file": str(p), **s} for p, s in zip(files, stats)]:
                return False
            written = record["written_ns"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return all(s["ctime_ns"] < written - _RACY_NS and s["mtime_ns"] < written - _RACY_NS for s in stats)

    def _write_stat_record(self, files, stats):
        record = {"cache": _stat(self.path), "files": [{"file": str(p), **s} for p, s in zip(files, stats)],
                  "written_ns": time.time_ns()}
        with contextlib.suppress(OSError):
            _write_json(self.stat_path, record)

    def _check_fresh(self, key):
        """Raise _Stale unless the sources are provably the ones the cache was built from."""
        expected = self._base_key()
        if {k: key.get(k) for k in expected} != expected:
            raise _Stale("it was written for another source, policy or cache format")
        files = self.src.files()
        stats = [_stat(p) for p in files]
        if [f.get("file") for f in key.get("files", [])] != [str(p) for p in files]:
            raise _Stale("the set of source files changed")
        if self._stat_record_holds(files, stats):
            return
        hashes = [_sha256(p) for p in files]
        if _content_key(files, [s["size"] for s in stats], hashes) != key["files"]:
            raise _Stale("the source files changed since it was written")
        if [_stat(p) for p in files] == stats:  # unchanged while hashing: the record may vouch for them
            self._write_stat_record(files, stats)

    # -- load / build ------------------------------------------------------------
    def load(self):
        if not self.path.exists():
            return None
        try:
            arrays = _npz_arrays(self.path)
            head = _header(arrays)
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is rebuilt, never trusted
            self._warn_corrupted(exc)
            return None
        try:
            self._check_fresh(head["key"])
        except _Stale as exc:
            warnings.warn(f"ignoring stale MovieLens cache {self.path}: {exc}; rebuilding", UserWarning, stacklevel=3)
            return None
        try:
            return _interactions(arrays, head)
        except Exception as exc:  # noqa: BLE001
            self._warn_corrupted(exc)
            return None

    def _warn_corrupted(self, exc):
        warnings.warn(f"ignoring corrupted MovieLens cache {self.path} ({type(exc).__name__}: {exc}); rebuilding",
                      UserWarning, stacklevel=4)

    @contextlib.contextmanager
    def fingerprinting(self):
        """Around the parse: stat the sources, hash them on a second thread, stat them again."""
        files = self.src.files()
        before = [_stat(p) for p in files]
        abort = threading.Event()
        hashes = [None] * len(files)

        def work():
            for k, p in enumerate(files):
                hashes[k] = _sha256(p, abort)

        thread = threading.Thread(target=work, name="mfcore-cache-hash", daemon=True)
        thread.start()
        try:
            yield
        except BaseException:
            abort.set()
            raise
        finally:
            thread.join()
        if None in hashes or [_stat(p) for p in files] != before:
            warnings.warn(f"{self.src.path}: the source files changed while being read; not caching them",
                          UserWarning, stacklevel=3)
            self._fingerprint = None
        else:
            self._fingerprint = (files, before, hashes)

    def save(self, inter, n_dropped):
        if self._fingerprint is None:
            return
        files, stats, hashes = self._fingerprint
        key = {**self._base_key(), "files": _content_key(files, [s["size"] for s in stats], hashes)}
        try:
            _write_npz(self.path, _arrays_of(inter, key, n_dropped))
        except OSError as exc:
            warnings.warn(f"could not write the MovieLens cache {self.path}: {exc}", UserWarning, stacklevel=3)
            return
        self._write_stat_record(files, stats)


# ----------------------------------------------------------------------------
# inspecting and clearing the cache (mfcore.cache_info / mfcore.clear_cache)
# ----------------------------------------------------------------------------
#: Names this module writes: ``<stem>-<16 hex>-<policy>.npz`` / ``.stat.json``, and their
#: temporaries (``<that name>.<random>.tmp``) left behind by an interrupted write.
_CACHE_NAME_RE = re.compile(r"^.+-[0-9a-f]{16}-(?:error|keep_latest)\.(?:npz|stat\.json)(?:\.[^./]+\.tmp)?$")


def _cache_files(directory):
    if not directory.is_dir():
        return []
    out = []
    for entry in os.scandir(directory):
        if _CACHE_NAME_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
            out.append(entry)
    return out


def cache_info(cache_dir=None) -> dict:
    """What mfcore's parsed-data cache holds.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Default ``$MFCORE_CACHE_DIR``, else ``~/.cache/mfcore/cache`` (as :func:`mfcore.load_movielens`).

    Returns
    -------
    dict
        ``directory`` (str), ``exists`` (bool), ``entries`` (number of cached
        datasets: ``.npz`` files), ``files`` (every cache file, stat records and
        leftover temporaries included) and ``bytes`` (their total size).
    """
    directory = resolve_cache_dir(cache_dir)
    files = _cache_files(directory)
    return {"directory": str(directory), "exists": directory.is_dir(),
            "entries": sum(1 for f in files if f.name.endswith(".npz")), "files": len(files),
            "bytes": sum(f.stat(follow_symlinks=False).st_size for f in files)}


def clear_cache(cache_dir=None) -> dict:
    """Delete mfcore's parsed-data cache files; the next load re-parses the source files.

    Only files named as this cache names them are removed (never anything else
    that may share the folder, never the MovieLens files of the data home).

    Returns
    -------
    dict
        ``directory`` (str), ``removed`` (number of files), ``bytes`` (their total size).
    """
    directory = resolve_cache_dir(cache_dir)
    removed = freed = 0
    for f in _cache_files(directory):
        size = f.stat(follow_symlinks=False).st_size
        try:
            os.unlink(f.path)
        except FileNotFoundError:
            continue
        removed += 1
        freed += size
    return {"directory": str(directory), "removed": removed, "bytes": freed}
