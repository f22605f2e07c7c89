"""``fetch_movielens``: find a MovieLens release locally or download, verify and extract it.

The zip comes from ``$MFCORE_MOVIELENS_URL`` (default :data:`MOVIELENS_URL`)
``/<name>.zip`` and must match the published ``<name>.zip.md5`` and, for the
stable releases, the MD5 pinned in :data:`DATASETS` (ml-32m: also its size). It is streamed into a temporary file created
exclusively under a fresh random name in the data home (``mkstemp``:
``O_CREAT | O_EXCL``, so a file or symbolic link planted at a predictable name
is never written through), and removed whatever happens.

Extraction lists the archive with :mod:`mfcore.data._archive` (absolute,
``..`` and symlink members, duplicate names, encrypted members, zip bombs
refused; declared sizes bounded in total and per member by their compression
ratio, and counted again while copying), takes only the rating, movie, tag
and README files of ``<name>/`` (a second file of one of those names elsewhere
in the archive is an error), writes them into a fresh private temporary
folder and renames that folder into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import struct
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .._validation import check_choice
from .._permissions import publish
from ._archive import by_basename, checked_members, copy_member
from ._errors import MovieLensDownloadError
from .interactions import Interactions
from .movielens import load_movielens

__all__ = ["MovieLensDownloadError", "fetch_movielens", "MOVIELENS_URL", "DATASETS"]

#: Base URL of the GroupLens files; ``MFCORE_MOVIELENS_URL`` overrides it.
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens"

#: Every GroupLens MovieLens release: its file layout, the folder inside its zip
#: (``folder``, default the name) and, for the stable releases, the MD5 GroupLens
#: publishes in ``<name>.zip.md5`` (pinned: a changed published file is refused).
#: ``ml-latest`` and ``ml-latest-small`` are rebuilt by GroupLens from time to
#: time, so they have no pinned checksum: only the published ``.md5`` is checked.
DATASETS = {
    "ml-100k": {"layout": "100k", "md5": "0e33842e24a9c977be4e0107933c0723"},
    "ml-1m": {"layout": "dat", "md5": "c4d9eecfca2ab87c1945afe126590906"},
    "ml-10m": {"layout": "dat", "folder": "ml-10M100K", "md5": "ce571fd55effeba0271552578f2648bd"},
    "ml-20m": {"layout": "csv", "md5": "cd245b17a1ae2cc31bb14903e1204af3"},
    "ml-25m": {"layout": "csv", "md5": "6b51fb2759a8657d3bfcbfc42b592ada"},
    "ml-32m": {"layout": "csv", "md5": "d472be332d4daa821edc399621853b57", "size": 238_950_008},
    "ml-latest-small": {"layout": "csv"},
    "ml-latest": {"layout": "csv"},
}
_EXTRACT = {
    "csv": ("ratings.csv", "movies.csv", "tags.csv", "README.txt"),
    "dat": ("ratings.dat", "movies.dat", "tags.dat", "README", "README.html"),
    "100k": ("u.data", "u.item", "u.genre", "README"),
}
_REQUIRED = {"csv": ("ratings.csv", "movies.csv"), "dat": ("ratings.dat", "movies.dat"), "100k": ("u.data", "u.item")}
_MD5_RE = re.compile(r"^\s*MD5\s*\(([^)]*)\)\s*=\s*([0-9a-fA-F]{32})\s*$|^\s*([0-9a-fA-F]{32})\s+\*?(\S+)\s*$")


def _default_data_home():
    env = os.environ.get("MFCORE_DATA_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mfcore"


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


def _download(url, out, progress, timeout=60.0):
    """Stream ``url`` into the open binary file ``out``; return (MD5 hex digest, bytes). Raises on short reads.

    ``progress``: a tqdm bar on a terminal; off a terminal (a log file, a pipe) one line when done.
    """
    from tqdm.auto import tqdm

    from ..models._training import _interactive

    bar_on = progress and _interactive(sys.stderr)
    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        got = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1], disable=not bar_on, file=sys.stderr) as bar:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                md5.update(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    if total is not None and got != total:
        raise MovieLensDownloadError(f"download of {url} was truncated: got {got} of {total} bytes")
    if progress and not bar_on:
        print(f"downloaded {url} ({got / 2**20:.1f} MiB)", file=sys.stderr, flush=True)
    return md5.hexdigest(), got


def _members_to_extract(zf, name, layout, label):
    """Validate the whole archive; return {basename: ZipInfo} of ``<name>/<file>`` members to extract."""
    infos = checked_members(zf, label, MovieLensDownloadError)
    found = by_basename(infos, _EXTRACT[layout], label, MovieLensDownloadError)
    folder = DATASETS.get(name, {}).get("folder", name)
    wanted = {base: info for base, info in found.items() if info.filename == f"{folder}/{base}"}
    missing = [f for f in _REQUIRED[layout] if f not in wanted]
    if missing:
        raise MovieLensDownloadError(f"{label}: archive lacks {[f'{folder}/{m}' for m in missing]}")
    return wanted


def _extract(part, name, layout, home, url):
    """Extract the wanted members of the zip ``part`` into a fresh folder under ``home``; return it."""
    try:
        zf = zipfile.ZipFile(part)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise MovieLensDownloadError(f"{url} is not a valid zip archive: {type(exc).__name__}: {exc}") from None
    with zf:
        members = _members_to_extract(zf, name, layout, url)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{name}.extract-", dir=home))
        try:
            for base_name, info in members.items():
                fd = os.open(tmpdir / base_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                             0o644)
                with os.fdopen(fd, "wb") as out:
                    copy_member(zf, info, out, url, MovieLensDownloadError)
            publish(tmpdir, recursive=True)    # mkdtemp made it 0700: the data home is meant to be shared
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
    return tmpdir


def fetch_movielens(name, data_home=None, *, download=True, progress=True, duplicates="error",
                    cache=True, cache_dir=None) -> Interactions:
    """Return a MovieLens dataset, downloading and verifying it if it is not there yet.

    Parameters
    ----------
    name : {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest"}
        Every MovieLens release GroupLens publishes. The stable ones have the
        MD5 of their zip pinned (:data:`DATASETS`); ``ml-latest`` and
        ``ml-latest-small`` change over time, so they are checked against the
        published ``.md5`` only (no pinned checksum).
    data_home : str or Path, optional
        Folder holding ``<name>/``; default ``$MFCORE_DATA_HOME`` or ``~/.cache/mfcore``.
    download : bool
        If False and ``<data_home>/<name>/`` is missing, raise FileNotFoundError.
    progress : bool
        Show a tqdm progress bar while downloading.
    duplicates, cache, cache_dir
        Passed to :func:`load_movielens`.

    The zip is streamed into an exclusively created temporary file in the data
    home; its MD5 must match the published ``<name>.zip.md5``, which must in turn
    match the pinned MD5 of a stable release (and, for ml-32m, the pinned size).
    The extracted folder and files get the umask's permissions (the data home is
    meant to be shared). Hostile archives are refused (see the module
    docstring); only the rating, movie, tag and README files are extracted,
    via a temporary folder renamed into place. The temporary file is removed
    whatever happens.

    Raises
    ------
    MovieLensDownloadError
        Network failure (the message names the directory to fill by hand),
        checksum mismatch, truncated download, unsafe or ambiguous archive.
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
    url = f"{_base_url()}/{name}.zip"
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
    fd, part = tempfile.mkstemp(prefix=f".{name}.", suffix=".zip.part", dir=home)  # O_EXCL, random name
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = _download(url, out, progress)
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
        tmpdir = _extract(part, name, layout, home, url)
        try:
            os.replace(tmpdir, target)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return load_movielens(target, **load_kw)
