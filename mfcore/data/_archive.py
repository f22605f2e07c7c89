"""Zip archives of MovieLens releases: one listing with every safety check, shared by all readers.

Both :func:`mfcore.load_movielens` (reading a ``.zip`` in place) and
:func:`mfcore.fetch_movielens` (extracting a download) list an archive through
:func:`checked_members`, which refuses, before a single byte is decompressed:

* a member name that appears twice, absolute paths, ``..`` components and
  symbolic links;
* encrypted members and compression methods zipfile cannot read;
* declared sizes beyond :data:`MAX_TOTAL_BYTES` in total, or a member whose
  declared size is more than :data:`MAX_RATIO` times its compressed size
  (a "zip bomb"; MovieLens CSV files compress about 4-6 times).

zipfile itself never returns more than a member's declared size (and fails
its CRC check if the data go on), and :func:`copy_member` counts the bytes
while copying as well, so the declared sizes bound what is written.
:func:`by_basename` then maps the files a reader wants (``ratings.csv``, ...)
to members, refusing two candidates for one name (``a/ratings.csv`` and
``b/ratings.csv``): the archive is ambiguous, not silently resolved.
"""

from __future__ import annotations

import lzma
import re
import stat
import zipfile
import zlib

#: Largest total declared (uncompressed) size accepted: ml-32m extracts to ~1 GB.
MAX_TOTAL_BYTES = 8 << 30
#: Largest declared / compressed size ratio of a member of at least ``_RATIO_MIN_BYTES``.
MAX_RATIO = 100
_RATIO_MIN_BYTES = 1 << 20
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
#: What reading a damaged member raises: zlib / lzma errors, OSError from bz2 ("Invalid data stream")
#: and from the archive file, BadZipFile on a CRC mismatch or a bad local header, EOFError on truncation.
MEMBER_READ_ERRORS = (zlib.error, lzma.LZMAError, zipfile.BadZipFile, EOFError, OSError)


def checked_members(zf, label, error):
    """Every file member of ``zf`` (directories skipped), after the checks in the module docstring.

    Parameters
    ----------
    zf : zipfile.ZipFile
    label : str
        Names the archive in messages.
    error : type
        Exception class to raise (MovieLensFormatError or MovieLensDownloadError).

    Returns
    -------
    list of zipfile.ZipInfo
    """
    seen = set()
    total = 0
    out = []
    for info in zf.infolist():
        name = info.filename
        if name in seen:
            raise error(f"{label}: member {name!r} appears twice in the archive; refusing to pick one")
        seen.add(name)
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise error(f"{label}: refusing archive with an absolute member path {name!r}")
        if ".." in parts:
            raise error(f"{label}: refusing archive with a '..' member path {name!r}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise error(f"{label}: refusing archive with a symbolic link member {name!r}")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise error(f"{label}: member {name!r} is encrypted")
        if info.compress_type not in _METHODS:
            raise error(f"{label}: member {name!r} uses compression method {info.compress_type}, "
                        "which cannot be read")
        size = info.file_size
        if size >= _RATIO_MIN_BYTES and size > MAX_RATIO * max(info.compress_size, 1):
            raise error(f"{label}: member {name!r} would expand {info.compress_size} bytes to {size} "
                        f"(more than {MAX_RATIO}:1); refusing a likely zip bomb")
        total += size
        if total > MAX_TOTAL_BYTES:
            raise error(f"{label}: members declare more than {MAX_TOTAL_BYTES} bytes in total "
                        f"(at {name!r}); refusing to extract or read it")
        out.append(info)
    return out


def by_basename(infos, wanted, label, error):
    """``{basename: ZipInfo}`` for the ``wanted`` file names; two members with one wanted name raise."""
    found = {}
    for info in infos:
        base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if base not in wanted:
            continue
        if base in found:
            raise error(f"{label}: the archive holds two {base} files ({found[base].filename!r} and "
                        f"{info.filename!r}); refusing to pick one")
        found[base] = info
    return found


def copy_member(zf, info, out, label, error, chunk=1 << 20):
    """Stream one member into the binary file ``out``, never writing more than its declared size.

    A member that cannot be read to its end (damaged compressed data, CRC
    mismatch, truncation) raises ``error`` naming it; errors writing ``out``
    propagate unchanged.
    """
    written = 0
    try:
        src = zf.open(info)
    except MEMBER_READ_ERRORS as exc:
        raise error(f"{label}: member {info.filename!r} cannot be read ({type(exc).__name__}: {exc})") from None
    with src:
        while True:
            try:
                block = src.read(chunk)
            except MEMBER_READ_ERRORS as exc:
                raise error(f"{label}: member {info.filename!r} is damaged ({type(exc).__name__}: {exc}); "
                            "download it again") from None
            if not block:
                break
            written += len(block)
            if written > info.file_size:
                raise error(f"{label}: member {info.filename!r} holds more than its declared "
                            f"{info.file_size} bytes")
            out.write(block)
    if written != info.file_size:
        raise error(f"{label}: member {info.filename!r} holds {written} bytes, declared {info.file_size}")
    return written
