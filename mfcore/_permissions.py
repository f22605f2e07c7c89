"""File modes that honour the umask, for everything mfcore writes.

``tempfile.mkstemp`` creates files 0600 and ``mkdtemp`` directories 0700 whatever
the umask, which is right while a file is being written (nobody else can read
it half-done) but wrong for what is left behind: saved models, cache entries
and downloaded datasets would be private to their creator even where the data
home is meant to be shared. Every writer therefore calls :func:`publish` on its
finished temporary file or folder just before the atomic rename, giving it the
mode ``open()`` / ``mkdir()`` would have given it: ``0o666 & ~umask`` for files,
``0o777 & ~umask`` for directories.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

__all__ = ["current_umask", "file_mode", "dir_mode", "publish"]

_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (e.g. ``0o022``), read without changing it where the OS allows.

    On Linux it is read from ``/proc/self/status``; elsewhere it is read by
    setting and restoring it under a lock (``os.umask`` has no read-only form).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode(umask: int | None = None) -> int:
    """``0o666 & ~umask``: the mode of a regular file created by ``open()``."""
    return 0o666 & ~(current_umask() if umask is None else umask)


def dir_mode(umask: int | None = None) -> int:
    """``0o777 & ~umask``: the mode of a directory created by ``mkdir()``."""
    return 0o777 & ~(current_umask() if umask is None else umask)


def publish(path, *, recursive: bool = False):
    """Give ``path`` (a file or a directory) the umask's mode; returns ``path``.

    With ``recursive`` a directory's files and sub-directories get theirs too.
    Symbolic links are never followed or changed. On a file system without
    permission bits (``chmod`` raising ``NotImplementedError`` / ``PermissionError``
    on a file another user owns) the mode is left as it is.
    """
    path = Path(path)
    mask = current_umask()
    todo = [path]
    while todo:
        p = todo.pop()
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        mode = dir_mode(mask) if is_dir else file_mode(mask)
        try:
            os.chmod(p, mode)
        except (NotImplementedError, PermissionError):
            pass
        if is_dir and recursive:
            todo.extend(p.iterdir())
    return path
