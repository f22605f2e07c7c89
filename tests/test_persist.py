"""mfcore._persist: atomic, checksummed, pickle-free model files."""

import json
import zipfile

import numpy as np
import pytest

from mfcore._persist import FORMAT_VERSION, ModelFileError, load_arrays, save_arrays


def _save(path, **arrays):
    arrays = arrays or {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array(["x", "yy"])}
    return save_arrays(path, model="Dummy", params={"k": 3}, attributes={"mu": 3.5}, arrays=arrays)


def test_round_trip_exact(tmp_path):
    arrays = {"a": np.random.default_rng(0).standard_normal((4, 3)), "ids": np.array([10, 20, 30], np.int64)}
    path = _save(tmp_path / "m", **arrays)
    assert path.name == "m.npz"
    header, loaded = load_arrays(path, expected_model="Dummy")
    assert header["params"] == {"k": 3} and header["attributes"] == {"mu": 3.5}
    assert header["format_version"] == FORMAT_VERSION
    for k, v in arrays.items():
        np.testing.assert_array_equal(loaded[k], v)
        assert loaded[k].dtype == v.dtype


def test_object_arrays_refused(tmp_path):
    with pytest.raises(TypeError, match="object dtype"):
        _save(tmp_path / "m.npz", bad=np.array([{"x": 1}], dtype=object))
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_wrong_model_class(tmp_path):
    path = _save(tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="holds a 'Dummy' model, not 'Other'"):
        load_arrays(path, expected_model="Other")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_arrays(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = _save(tmp_path / "m.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_arrays(path)


def _rewrite(path, mutate):
    """Rewrite the npz with ``mutate(members: dict[str, bytes])`` applied."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    mutate(members)
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)


def test_tampered_array_detected(tmp_path):
    path = _save(tmp_path / "m.npz")

    def flip(members):
        raw = bytearray(members["a.npy"])
        raw[-1] ^= 0xFF
        members["a.npy"] = bytes(raw)

    _rewrite(path, flip)
    with pytest.raises(ModelFileError, match="checksum mismatch for array 'a'"):
        load_arrays(path)


def _edit_header(path, edit):
    import io

    def mutate(members):
        buf = io.BytesIO(members["__header__.npy"])
        header = json.loads(np.load(buf).tobytes().decode())
        edit(header)
        out = io.BytesIO()
        np.save(out, np.frombuffer(json.dumps(header).encode(), np.uint8))
        members["__header__.npy"] = out.getvalue()

    _rewrite(path, mutate)


def test_newer_format_refused(tmp_path):
    path = _save(tmp_path / "m.npz")
    _edit_header(path, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="format version .* not supported"):
        load_arrays(path)


def test_missing_array_and_foreign_file(tmp_path):
    path = _save(tmp_path / "m.npz")
    _rewrite(path, lambda m: m.pop("a.npy"))
    with pytest.raises(ModelFileError, match="'a' listed in the header is missing"):
        load_arrays(path)
    other = tmp_path / "plain.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(ModelFileError, match="not an mfcore model file"):
        load_arrays(other)


def test_pickled_member_never_unpickled(tmp_path):
    path = _save(tmp_path / "m.npz")
    import io

    def add_pickle(members):
        out = io.BytesIO()
        np.save(out, np.array([object()], dtype=object), allow_pickle=True)
        members["a.npy"] = out.getvalue()

    _rewrite(path, add_pickle)
    with pytest.raises(ModelFileError, match="objects are never unpickled"):
        load_arrays(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = _save(tmp_path / "m.npz")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # temp file removed


def test_header_field_types_refused(tmp_path):
    path = _save(tmp_path / "m.npz")
    for field, value, pattern in [("format_version", True, "format version True"),
                                  ("format_version", "1", "format version '1'"),
                                  ("model", ["Dummy"], "'model' must be a JSON string"),
                                  ("params", [], "'params' must be a JSON object")]:
        copy = tmp_path / f"{field}.npz"
        copy.write_bytes(path.read_bytes())
        _edit_header(copy, lambda h: h.update({field: value}))
        with pytest.raises(ModelFileError, match=pattern):
            load_arrays(copy)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"a string"', b"{", b"\xff"])
def test_header_that_is_not_a_json_object(tmp_path, raw):
    path = _save(tmp_path / "m.npz")
    import io

    def mutate(members):
        out = io.BytesIO()
        np.save(out, np.frombuffer(raw, np.uint8))
        members["__header__.npy"] = out.getvalue()

    _rewrite(path, mutate)
    with pytest.raises(ModelFileError, match="header"):
        load_arrays(path)


def test_compressed_or_duplicated_members_refused(tmp_path):
    path = _save(tmp_path / "m.npz")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    lzma = tmp_path / "lzma.npz"
    with zipfile.ZipFile(lzma, "w", zipfile.ZIP_LZMA) as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(ModelFileError, match="compression method 14"):
        load_arrays(lzma)
    dup = tmp_path / "dup.npz"
    with zipfile.ZipFile(dup, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        for n, b in list(members.items()) + [("a.npy", members["a.npy"])]:
            zf.writestr(n, b)
    with pytest.raises(ModelFileError, match="'a.npy' appears twice"):
        load_arrays(dup)


def test_damaged_npy_header_and_lying_shape(tmp_path):
    path = _save(tmp_path / "m.npz")

    def damage(members):
        raw = members["a.npy"]
        members["a.npy"] = raw[:10] + b"{'descr': '<f4', 'fortran_order': False, 'shape': ((((" + raw[60:]

    _rewrite(path, damage)
    with pytest.raises(ModelFileError, match="array 'a': damaged .npy header"):
        load_arrays(path)
    path = _save(tmp_path / "m2.npz")

    def lie(members):  # the header claims 10**6 rows: never allocated, the member is too small
        import io

        big = io.BytesIO()
        np.save(big, np.zeros((10**6, 3), np.float32))
        head = len(big.getvalue()) - 10**6 * 3 * 4
        members["a.npy"] = big.getvalue()[:head] + members["a.npy"][head:]

    _rewrite(path, lie)
    with pytest.raises(ModelFileError, match="array 'a'"):
        load_arrays(path)


def test_garbage_file_is_a_model_file_error(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x93NUMPY garbage" * 100)
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_arrays(path)


_KILLED_SAVE = r"""
import os, signal, sys
import numpy as np
from mfcore._persist import save_arrays

def dying_savez(fh, **arrays):  # write part of the archive, make sure it reached the disk, then die
    fh.write(b"PK\x03\x04" + os.urandom(1 << 16))
    fh.flush()
    os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

np.savez = dying_savez
save_arrays(sys.argv[1], model="Dummy", params={}, attributes={}, arrays={"a": np.zeros(3)})
"""


def test_killed_save_keeps_the_old_model_and_the_next_save_cleans_up(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    path = _save(tmp_path / "m.npz")
    before = path.read_bytes()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    strays = [p.name for p in tmp_path.iterdir() if p.name != "m.npz"]
    assert len(strays) == 1 and strays[0].startswith(".m.npz.") and strays[0].endswith(".tmp")  # killed mid-write
    assert path.read_bytes() == before
    header, arrays = load_arrays(path)          # the old model is intact and readable
    assert header["model"] == "Dummy" and arrays["a"].shape == (2, 3)
    _save(path, a=np.ones(4))                   # the next save removes the dead writer's temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    np.testing.assert_array_equal(load_arrays(path)[1]["a"], np.ones(4))
