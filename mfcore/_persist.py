"""Model files: one ``.npz`` holding named arrays plus a JSON header.

Format (``FORMAT_VERSION`` 1)
-----------------------------
* ``__header__``: a uint8 array holding UTF-8 JSON with ``format`` ("mfcore-model"),
  ``format_version``, ``mfcore_version``, ``model`` (class name), ``params``
  (constructor arguments), ``attributes`` (scalar fitted state, e.g. the global
  mean) and ``arrays``: for every other member, its dtype, shape and sha256.
* every other member: a plain numeric or fixed-width string array, stored
  uncompressed; object arrays are refused on write.

Writing goes to a temporary file in the target directory (its name carries the
writer's process id), which is flushed and fsync'ed, as is the directory, and
then moved over the target with ``os.replace`` (the directory is fsync'ed again
so the rename survives a power cut). A crash or kill never leaves a
half-written model under the final name; the next save removes temporary files
left by writers that no longer run.

Reading never calls ``numpy.load`` and never unpickles: the zip directory is
checked first (unique ``.npy`` member names, no compression, every declared
size within the file), each member's ``.npy`` header is parsed and its declared
shape must match the member's size exactly before anything is allocated, and
every array's dtype, shape and checksum must match the JSON header. Any
failure, of the container or of its contents, raises :class:`ModelFileError`.
The checksums detect accidents, not edits (they live inside the file): the
model's own structure is checked by :mod:`mfcore._model_file`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._permissions import publish

FORMAT_NAME = "mfcore-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__header__"
_MAX_MEMBERS = 64
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
#: dtype kinds a member may have: bool, integers, floats, fixed-width strings
_ARRAY_KINDS = "biufUS"
_READ_BLOCK = 1 << 18


class ModelFileError(ValueError):
    """A model file is missing, corrupted, tampered with, or of an unsupported format."""


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8).reshape(-1).data).hexdigest()


def _normalise_path(path) -> Path:
    path = Path(os.fspath(path))
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    return path


# ----------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------
def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows: directories cannot be opened; nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temporaries(directory: Path, name: str) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` files whose writing process no longer exists."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\..*\.tmp$")
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1))
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        except (PermissionError, OSError, OverflowError):
            pass  # alive (another user's process), or not a pid we can probe: leave it


def save_arrays(path, *, model: str, params: dict, attributes: dict, arrays: dict) -> Path:
    """Atomically write ``arrays`` and a JSON header to ``path`` (``.npz`` appended if missing).

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        Target file (written atomically: temporary file, fsync, rename); a file object
        (``io.BytesIO``, an open file, a socket's file) is written in place.
    model : str
        Class name stored in the header and checked on load.
    params, attributes : dict
        JSON-serialisable constructor parameters and scalar fitted state.
    arrays : dict[str, numpy.ndarray]
        Named arrays; object dtype is refused.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from ._version import __version__

    is_file = hasattr(path, "write")
    if not is_file:
        path = _normalise_path(path)
    meta = {}
    clean = {}
    for name, value in arrays.items():
        if name == _HEADER_KEY:
            raise ValueError(f"array name {name!r} is reserved")
        arr = np.ascontiguousarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} has object dtype; only numeric or fixed-width string arrays can be saved")
        clean[name] = arr
        meta[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": _sha256(arr)}
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mfcore_version": __version__,
        "model": model,
        "params": params,
        "attributes": attributes,
        "arrays": meta,
    }
    clean[_HEADER_KEY] = np.frombuffer(
        json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8"), dtype=np.uint8)

    if is_file:               # a file object: written in place (atomicity is the caller's business)
        np.savez(path, **clean)
        if hasattr(path, "flush"):
            path.flush()
        return path

    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(directory, path.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **clean)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp_name)                  # mkstemp made it 0600: give it the umask's mode
        _fsync_directory(directory)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return path


# ----------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------
def _refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _members(zf, path, file_size):
    """{member name: ZipInfo}, after checking the zip directory against the file."""
    infos = zf.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise ModelFileError(f"{path}: {len(infos)} zip members; a model file has at most {_MAX_MEMBERS}")
    members = {}
    total = 0
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or "/" in name or "\\" in name:
            raise ModelFileError(f"{path}: unexpected zip member {name!r} (model files hold top-level .npy arrays)")
        key = name[:-4]
        if key in members:
            raise ModelFileError(f"{path}: zip member {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: zip member {name!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(f"{path}: zip member {name!r} uses compression method {info.compress_type}; "
                                 "mfcore writes and reads uncompressed members only")
        if info.file_size != info.compress_size or info.file_size > file_size:
            raise ModelFileError(f"{path}: zip member {name!r} declares {info.file_size} bytes, more than the "
                                 f"file holds ({file_size} bytes)")
        total += info.file_size
        members[key] = info
    if total > file_size:
        raise ModelFileError(f"{path}: zip members declare {total} bytes in a {file_size}-byte file")
    return members


def read_npy_header(fh):
    """``(shape, fortran_order, dtype)`` from an open ``.npy`` stream (versions 1.0 and 2.0), ``fh`` left at the data.

    Uses NumPy's own safe header parser (no ``eval``; headers over 10,000 bytes
    are refused); raises whatever it raises on a damaged header.
    """
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_member(zf, info, path, expect=None):
    """Read one ``.npy`` member into a fresh writable array, checking its header against its size.

    ``expect`` = (dtype str, shape list) from the JSON header, checked before any allocation.
    """
    label = f"{path}: array {info.filename[:-4]!r}"
    with zf.open(info) as fh:
        try:
            shape, fortran, dtype = read_npy_header(fh)
        except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, SyntaxError, TokenError, ...
            raise ModelFileError(f"{label}: damaged .npy header ({type(exc).__name__}: {exc})") from None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in _ARRAY_KINDS:
            raise ModelFileError(f"{label}: dtype {dtype} is not a plain numeric or string type "
                                 "(objects are never unpickled)")
        if fortran:
            raise ModelFileError(f"{label}: stored in Fortran order; mfcore writes C order")
        if expect is not None and (dtype.str != expect[0] or list(shape) != list(expect[1])):
            raise ModelFileError(f"{label} is {dtype.str}{list(shape)}, header says {expect[0]}{list(expect[1])}")
        nbytes = math.prod(shape) * dtype.itemsize
        header_end = fh.tell()
        if header_end + nbytes != info.file_size:
            raise ModelFileError(f"{label}: its header declares {nbytes} bytes of data but the member holds "
                                 f"{info.file_size - header_end}")
        out = np.empty(shape, dtype=dtype)
        view = memoryview(out.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:  # in blocks: no member-sized temporary buffer (zipfile's readinto copies)
            got = fh.readinto(view[done:done + _READ_BLOCK])
            if not got:
                raise ModelFileError(f"{label}: truncated ({done} of {nbytes} bytes)")
            done += got
        if fh.read(1):  # also completes zipfile's CRC-32 check of the member
            raise ModelFileError(f"{label}: trailing bytes after the array data")
    return out


def _check_header(header, path):
    """Types of every header field; raises ModelFileError naming the field."""
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the header is a JSON {type(header).__name__}, not an object")
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not an mfcore model file (format={header.get('format')!r})")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version!r} is not supported by this mfcore "
            f"(reads integer versions 1..{FORMAT_VERSION}); upgrade mfcore to load a newer file"
        )
    for key, kind in (("mfcore_version", str), ("model", str), ("params", dict), ("attributes", dict),
                      ("arrays", dict)):
        if not isinstance(header.get(key), kind):
            raise ModelFileError(f"{path}: header field {key!r} must be a JSON "
                                 f"{'string' if kind is str else 'object'}, got {header.get(key)!r:.80}")
    for name, meta in header["arrays"].items():
        if not isinstance(meta, dict) or set(meta) != {"dtype", "shape", "sha256"}:
            raise ModelFileError(f"{path}: header entry of array {name!r} must hold exactly dtype, shape, sha256")
        shape = meta["shape"]
        if (not isinstance(meta["dtype"], str) or not isinstance(shape, list)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
                or not isinstance(meta["sha256"], str) or not _SHA256_RE.fullmatch(meta["sha256"])):
            raise ModelFileError(f"{path}: header entry of array {name!r} is malformed: {meta!r:.200}")


def load_arrays(path, *, expected_model=None):
    """Read and verify a file written by :func:`save_arrays`.

    ``path`` is a str / os.PathLike (``.npz`` appended when the bare name does not
    exist) or a binary file object, read from its current position.

    Returns
    -------
    header : dict
        The decoded JSON header (field types checked).
    arrays : dict[str, numpy.ndarray]
        Every array, writable, checksum-verified.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        Anything else: not a zip or not an mfcore model, a newer format, a
        wrong model class, a member that is missing, duplicated, compressed,
        larger than the file or not listed in the header, a damaged ``.npy``
        header, a dtype/shape mismatch, a checksum mismatch.
    """
    source = path
    if hasattr(path, "read"):                # a binary file object, read from its current position
        if not hasattr(path, "seek"):
            source = io.BytesIO(path.read())
        start = source.tell()
        file_size = source.seek(0, io.SEEK_END) - start
        source.seek(start)
        path = getattr(path, "name", None) or f"<{type(path).__name__}>"
    else:
        path = Path(os.fspath(path))
        if not path.exists() and path.suffix != ".npz" and _normalise_path(path).exists():
            path = _normalise_path(path)
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {path}")
        source = path
    try:
        if isinstance(source, Path):
            file_size = path.stat().st_size
        if not isinstance(source, Path) and start:
            source = io.BytesIO(source.read())          # zipfile wants the archive at offset 0
        with zipfile.ZipFile(source) as zf:
            members = _members(zf, path, file_size)
            if _HEADER_KEY not in members:
                raise ModelFileError(f"{path}: not an mfcore model file (no {_HEADER_KEY} member)")
            raw = _read_member(zf, members[_HEADER_KEY], path)
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ModelFileError(f"{path}: the header member must be 1-D uint8, got {raw.dtype}{list(raw.shape)}")
            try:
                header = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise ModelFileError(f"{path}: header is not valid JSON ({exc})") from None
            _check_header(header, path)
            if expected_model is not None and header["model"] != expected_model:
                raise ModelFileError(f"{path}: holds a {header['model']!r} model, not {expected_model!r}")
            listed = header["arrays"]
            missing = sorted(set(listed) - set(members))
            if missing:
                raise ModelFileError(f"{path}: array {missing[0]!r} listed in the header is missing")
            extra = sorted(set(members) - set(listed) - {_HEADER_KEY})
            if extra:
                raise ModelFileError(f"{path}: unexpected members not listed in the header: {extra}")
            arrays = {}
            for name, meta in listed.items():
                arr = _read_member(zf, members[name], path, expect=(meta["dtype"], meta["shape"]))
                if _sha256(arr) != meta["sha256"]:
                    raise ModelFileError(f"{path}: checksum mismatch for array {name!r} (file corrupted or modified)")
                arrays[name] = arr
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/OS errors, MemoryError: all mean "unreadable"
        raise ModelFileError(f"{path}: cannot read model file ({type(exc).__name__}: {exc})") from None
    return header, arrays


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "load_arrays", "save_arrays"]
