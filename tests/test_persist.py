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
