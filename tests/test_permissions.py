"""mfcore._permissions: what mfcore leaves behind gets the umask's mode, whatever mkstemp/mkdtemp made."""

import builtins
import os
import tempfile

import pytest

from mfcore import _permissions


@pytest.fixture
def umask():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def test_current_umask_with_and_without_proc(umask, monkeypatch):
    assert _permissions.current_umask() == umask
    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    assert _permissions.current_umask() == umask        # the set-and-restore fallback
    assert _permissions.current_umask() == umask        # ... which left the umask as it was


def test_modes(umask):
    assert _permissions.file_mode() == 0o640 and _permissions.dir_mode() == 0o750
    assert _permissions.file_mode(0o002) == 0o664 and _permissions.dir_mode(0o002) == 0o775


def test_publish_recursive_never_follows_links(umask, tmp_path):
    folder = tempfile.mkdtemp(dir=tmp_path)                  # 0700
    fd, name = tempfile.mkstemp(dir=folder)                  # 0600
    os.close(fd)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    os.symlink(outside, os.path.join(folder, "link"))
    _permissions.publish(folder, recursive=True)
    assert os.stat(folder).st_mode & 0o777 == 0o750
    assert os.stat(name).st_mode & 0o777 == 0o640
    assert outside.stat().st_mode & 0o777 == 0o600          # the link's target is left alone
    fd, single = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert _permissions.publish(single) == type(tmp_path)(single)
    assert os.stat(single).st_mode & 0o777 == 0o640
