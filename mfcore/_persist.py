"""Model files: one ``.npz`` holding named arrays plus a JSON header.

Format (``FORMAT_VERSION`` 1)
-----------------------------
* ``__header__``: a uint8 array holding UTF-8 JSON with ``format`` ("mfcore-model"),
  ``format_version``, ``mfcore_version``, ``model`` (class name), ``params``
  (constructor arguments), ``attributes`` (scalar fitted state, e.g. the global
  mean) and ``arrays``: for every other member, its dtype, shape and sha256.
* every other member: a plain numeric or fixed-width unicode array; object
  arrays are refused on write and never unpickled on read (``allow_pickle=False``).

Writing goes to a temporary file in the target directory, is flushed to disk
and then moved over the target with ``os.replace``, so a crash never leaves a
half-written model under the final name. Reading verifies every checksum and
the format version before anything is returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "mfcore-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__header__"


class ModelFileError(ValueError):
    """A model file is missing, corrupted, tampered with, or of an unsupported format."""


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8).reshape(-1).data).hexdigest()


def _normalise_path(path) -> Path:
    path = Path(os.fspath(path))
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    return path


def save_arrays(path, *, model: str, params: dict, attributes: dict, arrays: dict) -> Path:
    """Atomically write ``arrays`` and a JSON header to ``path`` (``.npz`` appended if missing).

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
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
    clean[_HEADER_KEY] = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)

    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **clean)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def load_arrays(path, *, expected_model=None):
    """Read and verify a file written by :func:`save_arrays`.

    Returns
    -------
    header : dict
        The decoded JSON header.
    arrays : dict[str, numpy.ndarray]
        Every array, checksum-verified.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        Not an mfcore model, a newer format, a wrong model class, a missing
        array, a shape/dtype mismatch, or a checksum mismatch (tampering or
        corruption), or the zip container itself is damaged.
    """
    path = Path(os.fspath(path))
    if not path.exists() and path.suffix != ".npz" and _normalise_path(path).exists():
        path = _normalise_path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _HEADER_KEY not in npz.files:
                raise ModelFileError(f"{path}: not an mfcore model file (no {_HEADER_KEY} member)")
            try:
                header = json.loads(npz[_HEADER_KEY].tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ModelFileError(f"{path}: header is not valid JSON ({exc})") from None
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise ModelFileError(f"{path}: not an mfcore model file (format={header.get('format')!r})")
            version = header.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
                raise ModelFileError(
                    f"{path}: format version {version!r} is not supported by this mfcore "
                    f"(reads versions 1..{FORMAT_VERSION}); upgrade mfcore to load it"
                )
            if expected_model is not None and header.get("model") != expected_model:
                raise ModelFileError(f"{path}: holds a {header.get('model')!r} model, not {expected_model!r}")
            arrays = {}
            for name, meta in header.get("arrays", {}).items():
                if name not in npz.files:
                    raise ModelFileError(f"{path}: array {name!r} listed in the header is missing")
                arr = npz[name]
                if arr.dtype.str != meta["dtype"] or list(arr.shape) != list(meta["shape"]):
                    raise ModelFileError(
                        f"{path}: array {name!r} is {arr.dtype.str}{list(arr.shape)}, "
                        f"header says {meta['dtype']}{meta['shape']}"
                    )
                if _sha256(arr) != meta["sha256"]:
                    raise ModelFileError(f"{path}: checksum mismatch for array {name!r} (file corrupted or modified)")
                arrays[name] = arr
            extra = set(npz.files) - set(arrays) - {_HEADER_KEY}
            if extra:
                raise ModelFileError(f"{path}: unexpected members not listed in the header: {sorted(extra)}")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: cannot read model file ({type(exc).__name__}: {exc})") from None
    return header, arrays
