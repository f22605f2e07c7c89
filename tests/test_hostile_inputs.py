"""Hostile inputs: a documented error naming the argument, file or line, or a correct result; never a signal.

Property-based (hypothesis, the fixed CI profile of conftest.py) over five
classes of input:

* malformed sparse matrices (every format, every public entry point that
  takes one): indices out of range or of the wrong dtype, indptr not
  monotone or of the wrong length, arrays of different lengths, complex,
  object or non-finite values, repeated entries;
* model files with one array or header field perturbed (shape, dtype, range,
  finiteness, JSON type) and re-checksummed, or with a hostile container
  (duplicate, compressed or extra members, damaged ``.npy`` headers,
  truncation);
* zip archives with hostile member lists (duplicates, two ``ratings.csv``,
  absolute / ``..`` / symlink members) and declared sizes (lying sizes, zip
  bombs), for both ``load_movielens`` and the downloader's extraction;
* raw ids in every dtype (integers of every width, floats, complex, bools,
  strings, bytes, object arrays of each, mixtures, dates);
* CSV files with one field corrupted after blank lines and quoted multi-line
  titles: the message names the file and the exact physical line.

The first two classes can crash a process if validation misses a case, so
they run in a worker subprocess (``hostile_worker.py``): a signal shows up as a
negative return code and fails the test with the case.
"""

import io
import json
import os
import pickle
import select
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import mfcore
from mfcore.data import Interactions, MovieLensDownloadError, MovieLensFormatError, load_movielens
from mfcore.data import fetch as fetch_module

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N_USERS, N_ITEMS, N_GENRES = 12, 9, 4   # as in hostile_worker.py


# ----------------------------------------------------------------------------
# the worker process
# ----------------------------------------------------------------------------
class Worker:
    """One persistent child process; ``ask`` returns its answer or ("died", returncode, stderr tail)."""

    def __init__(self, tmpdir):
        self.tmpdir = Path(tmpdir)
        self.proc = None
        self._start()

    def _start(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   OMP_NUM_THREADS="1")
        self.stderr = open(self.tmpdir / f"worker-{len(os.listdir(self.tmpdir))}.err", "w+b")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "hostile_worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env)

    def _read(self, n, timeout):
        out = b""
        while len(out) < n:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                raise TimeoutError("the worker did not answer")
            chunk = os.read(self.proc.stdout.fileno(), n - len(out))
            if not chunk:
                return None
            out += chunk
        return out

    def ask(self, request, timeout=120):
        data = pickle.dumps(request)
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
            head = self._read(4, timeout)
            body = None if head is None else self._read(struct.unpack("<I", head)[0], timeout)
        except (BrokenPipeError, TimeoutError):
            head = body = None
        if body is None:
            self.proc.kill()
            code = self.proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read()[-2000:].decode(errors="replace")
            self._start()
            return ("died", code, tail)
        return pickle.loads(body)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = Worker(tmp_path_factory.mktemp("worker"))
    assert w.ask(("ping",)) == ("ok", ("pong",))
    yield w
    w.close()


def assert_documented(answer, names, types=("ValueError", "TypeError")):
    """A worker answer is an error of a documented type whose message names one of ``names``."""
    assert answer[0] != "died", f"the process died (return code {answer[1]}): {answer[2]}"
    assert answer[0] == "error", f"accepted silently: {answer}"
    _, kind, message, bases = answer
    assert any(t in bases for t in types), f"{kind}: {message}"
    assert any(name in message for name in names), f"message does not name {names}: {message}"


def assert_ok(answer):
    assert answer[0] != "died", f"the process died (return code {answer[1]}): {answer[2]}"
    assert answer[0] == "ok", f"a valid input was refused: {answer}"


# ----------------------------------------------------------------------------
# malformed sparse matrices
# ----------------------------------------------------------------------------
#: entry point -> (shape of the matrix it takes, argument name its messages use, kind of values)
ENTRIES = {
    "fit_explicit": ((N_USERS, N_ITEMS), "X", "ratings"),
    "fit_implicit": ((N_USERS, N_ITEMS), "X", "ratings"),
    "fit_bpr": ((N_USERS, N_ITEMS), "X", "ratings"),
    "fit_genre_item_genres": ((N_ITEMS, N_GENRES), "item_genres", "ones"),
    "eval_set": ((N_USERS, N_ITEMS), "eval_set", "ratings"),
    "eval_set_bpr": ((N_USERS, N_ITEMS), "eval_set", "held_out"),
    "recommend_user_items": ((N_USERS, N_ITEMS), "user_items", "ratings"),
    "recalculate_user": ((N_USERS, N_ITEMS), "user_items", "ratings"),
    "evaluate_test": ((N_USERS, N_ITEMS), "test", "held_out"),
    "evaluate_train": ((N_USERS, N_ITEMS), "train", "held_out"),
    "ranking_metrics_train": ((N_USERS, N_ITEMS), "train", "held_out"),
    "from_sparse": ((N_USERS, N_ITEMS), "matrix", "ratings"),
    "top_n_exclude": ((N_USERS, N_ITEMS), "exclude", "ratings"),
    "auc_relevant": ((N_USERS, N_ITEMS), "relevant", "ratings"),
    "hit_matrix_relevant": ((N_USERS, N_ITEMS), "relevant", "ratings"),
    "add_items_genres": ((3, N_GENRES), "genres", "ones"),
}

#: entries that only read the pattern: repeated entries and non-finite values are harmless there
PATTERN_ENTRIES = {"top_n_exclude", "auc_relevant", "ranking_metrics_train", "hit_matrix_relevant"}
COMPRESSED_DAMAGE = ["none", "unsorted", "index_neg", "index_big", "index_huge64", "indptr_decrease",
                     "indptr_first", "indptr_last_big", "indptr_neg", "indptr_short", "indptr_long", "data_short",
                     "data_complex", "data_object", "data_nan", "indices_float", "indices_2d", "dup_col"]
COO_DAMAGE = ["none", "unsorted", "row_neg", "row_big", "col_big", "col_neg", "len_mismatch", "row_float",
              "data_complex", "data_inf", "dup_entry"]


def _train_dense():
    rng = np.random.default_rng(0)  # as hostile_worker._base_matrix
    dense = (rng.random((N_USERS, N_ITEMS)) < 0.45) * rng.integers(1, 11, (N_USERS, N_ITEMS)) / 2.0
    dense[np.arange(N_USERS), np.arange(N_USERS) % N_ITEMS] = 4.0
    return dense


@st.composite
def sparse_cases(draw):
    entry = draw(st.sampled_from(sorted(ENTRIES)))
    shape, name, values = ENTRIES[entry]
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < draw(st.sampled_from([0.3, 0.6]))
    if values == "held_out":  # disjoint from the worker's TRAIN (test, or a train scored against TRAIN as test)
        mask &= _train_dense() == 0
        mask[0, np.flatnonzero(_train_dense()[0] == 0)[:1]] = True
    if entry in ("fit_explicit", "fit_implicit", "fit_bpr", "hit_matrix_relevant", "auc_relevant"):
        mask[np.arange(shape[0]), np.arange(shape[0]) % shape[1]] = True   # every row non-empty
    dense = np.where(mask, rng.integers(8, 11, shape) / 2.0 if values != "ones" else 1.0, 0.0).astype(np.float32)
    fmt = draw(st.sampled_from(["csr", "csc", "coo", "bsr"]))
    if fmt == "coo":
        damage = draw(st.sampled_from(COO_DAMAGE))
        coo = sp.coo_matrix(dense)
        arrays = {"row": coo.row.astype(np.int32), "col": coo.col.astype(np.int32), "data": coo.data.copy()}
    else:
        damage = draw(st.sampled_from(COMPRESSED_DAMAGE))
        if fmt == "bsr":  # (whole-row blocks store explicit zeros, which overlap TRAIN as a pattern)
            blocksize = (1, 1 if values == "held_out" else draw(st.sampled_from([1, shape[1]])))
            m = sp.bsr_matrix(dense, blocksize=blocksize)
        else:
            m = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(dense)
        arrays = {"data": m.data.copy(), "indices": m.indices.astype(np.int32), "indptr": m.indptr.astype(np.int32)}
        if fmt == "bsr":
            arrays["blocksize"] = m.blocksize
    position = draw(st.integers(0, 10**6))
    return entry, name, fmt, shape, arrays, damage, position


def _damage_compressed(arrays, damage, k, fmt, shape):
    """Apply ``damage``; return False when it does not apply to these arrays (then nothing changes)."""
    a = arrays
    nnz, n_major = a["indices"].size, a["indptr"].size - 1
    n_minor = {"csr": shape[1], "csc": shape[0], "bsr": shape[1] // a.get("blocksize", (1, 1))[1]}[fmt]
    if damage in ("index_neg", "index_big", "index_huge64", "data_nan", "indices_float", "data_short") and nnz == 0:
        return False
    k = k % max(nnz, 1)
    if damage == "unsorted":
        rows = np.flatnonzero(np.diff(a["indptr"]) >= 2)
        if not rows.size:
            return False
        lo = a["indptr"][rows[k % rows.size]]
        a["indices"][[lo, lo + 1]] = a["indices"][[lo + 1, lo]]
        if a["data"].ndim == 3:
            a["data"][[lo, lo + 1]] = a["data"][[lo + 1, lo]]
    elif damage == "dup_col":
        rows = np.flatnonzero(np.diff(a["indptr"]) >= 2)
        if not rows.size:
            return False
        lo = a["indptr"][rows[k % rows.size]]
        a["indices"][lo + 1] = a["indices"][lo]
    elif damage == "index_neg":
        a["indices"][k] = [-1, np.iinfo(np.int32).min][k % 2]
    elif damage == "index_big":
        a["indices"][k] = [n_minor, n_minor + 1000, np.iinfo(np.int32).max][k % 3]
    elif damage == "index_huge64":
        a["indices"] = a["indices"].astype(np.int64)
        a["indices"][k] = 2**40
    elif damage == "indptr_decrease":
        if n_major < 2 or a["indptr"][1] == a["indptr"][2] == 0 and nnz == 0:
            return False
        j = 1 + k % (n_major - 1)
        a["indptr"][j] = a["indptr"][j + 1] + 1
    elif damage == "indptr_first":
        a["indptr"][0] = 1
    elif damage == "indptr_last_big":
        a["indptr"][-1] = nnz + 1 + k % 5
    elif damage == "indptr_neg":
        a["indptr"][1 + k % n_major] = -5
    elif damage == "indptr_short":
        a["indptr"] = a["indptr"][:-1]
    elif damage == "indptr_long":
        a["indptr"] = np.append(a["indptr"], a["indptr"][-1])
    elif damage == "data_short":
        a["data"] = a["data"][:-1]
    elif damage == "data_complex":
        a["data"] = a["data"].astype(np.complex64) + 1j
    elif damage == "data_object":
        a["data"] = a["data"].astype(object)
    elif damage == "data_nan":
        a["data"] = a["data"].astype(np.float32)
        a["data"].reshape(-1)[k % a["data"].size] = [np.nan, np.inf, -np.inf][k % 3]
    elif damage == "indices_float":
        a["indices"] = a["indices"].astype(np.float64)
    elif damage == "indices_2d":
        a["indices"] = a["indices"].reshape(1, -1)
    return True


def _damage_coo(arrays, damage, k, shape):
    a = arrays
    nnz = a["row"].size
    if nnz == 0 and damage != "none":
        return False
    k = k % max(nnz, 1)
    if damage == "unsorted":
        a["row"], a["col"], a["data"] = a["row"][::-1].copy(), a["col"][::-1].copy(), a["data"][::-1].copy()
    elif damage == "row_neg":
        a["row"][k] = -1
    elif damage == "row_big":
        a["row"][k] = shape[0] + k % 3
    elif damage == "col_big":
        a["col"][k] = [shape[1], np.iinfo(np.int32).max][k % 2]
    elif damage == "col_neg":
        a["col"][k] = np.iinfo(np.int32).min
    elif damage == "len_mismatch":
        a["col"] = a["col"][:-1]
    elif damage == "row_float":
        a["row"] = a["row"].astype(np.float64)
    elif damage == "data_complex":
        a["data"] = a["data"].astype(np.complex128)
    elif damage == "data_inf":
        a["data"][k] = np.inf
    elif damage == "dup_entry":
        j = (k + 1) % nnz
        if j == k:
            return False
        a["row"][j], a["col"][j] = a["row"][k], a["col"][k]
    return True


@settings(max_examples=300)
@given(case=sparse_cases())
def test_malformed_sparse_matrix_never_crashes(worker, case):
    entry, name, fmt, shape, arrays, damage, position = case
    applied = (_damage_coo(arrays, damage, position, shape) if fmt == "coo"
               else _damage_compressed(arrays, damage, position, fmt, shape))
    answer = worker.ask(("sparse", entry, fmt, shape, arrays))
    if not applied or damage in ("none", "unsorted"):
        assert_ok(answer)   # a valid matrix (in any order) gives a result
    elif entry in PATTERN_ENTRIES and damage in ("dup_col", "dup_entry", "data_nan", "data_inf"):
        if answer[0] != "ok":   # only the pattern matters: a result, or a documented refusal
            assert_documented(answer, [name])
    else:
        assert_documented(answer, [name])


# ----------------------------------------------------------------------------
# perturbed model files
# ----------------------------------------------------------------------------
def _fitted_models():
    """One small fitted model of each class, some with raw ids (int and str), saved once."""
    dense = _train_dense().astype(np.float32)
    X = sp.csr_matrix(dense)
    genres = sp.csr_matrix((np.arange(N_ITEMS * N_GENRES).reshape(N_ITEMS, N_GENRES) % 3 == 0).astype(np.float32))

    class WithIds:  # duck-typed like mfcore.Interactions
        def __init__(self, user_ids, item_ids):
            self.user_ids, self.item_ids = user_ids, item_ids
            self.item_genres, self.genre_names = genres, [f"g{g}" for g in range(N_GENRES)]

        def user_items(self):
            return X

    int_ids = WithIds(np.arange(N_USERS) * 10 + 100, np.arange(N_ITEMS) * 7 + 1)
    str_ids = WithIds(np.array([f"u{k}" for k in range(N_USERS)]), np.array([f"i{k}" for k in range(N_ITEMS)]))
    kw = dict(factors=3, iterations=2, num_threads=1)
    return {
        "ExplicitALS": mfcore.ExplicitALS(**kw).fit(int_ids, show_progress=False),
        "GenreALS": mfcore.GenreALS(**kw).fit(str_ids, show_progress=False),
        "BPR": mfcore.BPR(**kw).fit(X, show_progress=False),
        "ImplicitALS": mfcore.ImplicitALS(**kw, dtype="float64").fit(int_ids, show_progress=False),
    }


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {name: model.save(directory / name) for name, model in _fitted_models().items()}


def _read_members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _sha(array):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8).reshape(-1).data).hexdigest()


def _write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some cases write on purpose
        for name, data in members:
            zf.writestr(name, data)


ARRAY_DAMAGE = ["drop_row", "add_row", "transpose", "to_float64", "to_float32", "big_endian", "to_int",
                "nan", "inf", "neg_index", "big_index", "unsorted_index", "indptr_decrease", "dup_id", "ids_float",
                "empty", "to_2d", "to_unicode"]
HEADER_DAMAGE = [
    ("format_version", True), ("format_version", "1"), ("format_version", 1.0), ("format_version", None),
    ("format_version", 2), ("format_version", 0), ("model", 5), ("model", ["ExplicitALS"]), ("model", "Nope"),
    ("params", []), ("params", "x"), ("params.factors", 0), ("params.factors", "3"), ("params.factors", True),
    ("params.factors", 10**9), ("params.factors", 3.5), ("params.dtype", "int8"), ("params.dtype", 3),
    ("params.dtype", "float16"), ("params.num_threads", -1), ("params.num_threads", 2**31),
    ("params.num_threads", 10**6), ("params.num_threads", 1.5), ("params.num_threads", True),
    ("params.regularization", [1]), ("params.regularization", -1.0), ("params.bogus", 1), ("attributes", []),
    ("attributes.global_mean", None), ("attributes.global_mean", "3.5"), ("attributes.global_mean", True),
    ("attributes.extra", 1), ("mfcore_version", 1), ("arrays.shape", [-1]), ("arrays.shape", "x"),
    ("arrays.shape", [2**62, 2**62]), ("arrays.dtype", "|O"), ("arrays.dtype", 5), ("arrays.sha256", "abc"),
    ("arrays.extra_key", 1),
]
RAW_HEADERS = [b"[]", b'"string"', b"42", b"{not json", b"\xff\xfe", b'{"format": "mfcore-model", "format_version": '
               b'1, "mfcore_version": "0", "model": "BPR", "params": {}, "attributes": {"global_mean": NaN}, '
               b'"arrays": {}}', b'{"format": "mfcore-model", "format_version": 1e999}', b"[" * 100000]
CONTAINER_DAMAGE = ["duplicate_member", "deflate", "lzma", "bzip2", "extra_member", "npy_magic", "npy_dict",
                    "npy_shape_lie", "npy_object", "npy_fortran", "truncate", "garbage", "not_npy_name",
                    "header_int32", "header_2d", "directory_member"]
BENIGN = ["scale", "params.num_threads=2", "global_mean=3.25"]


def _array_targets(arrays):
    return sorted(name for name in arrays if name != "__header__")


def _damage_array(name, arr, damage, k):
    """The damaged array, or None when ``damage`` does not apply to ``arr``."""
    kind = arr.dtype.kind
    is_index = name.endswith("indices")
    if damage == "drop_row":
        return arr[:-1] if arr.shape and arr.shape[0] > 0 else None
    if damage == "add_row":
        return np.concatenate([arr, arr[:1]]) if arr.shape and arr.shape[0] > 0 else None
    if damage == "transpose":
        return arr.T.copy() if arr.ndim == 2 and arr.shape[0] != arr.shape[1] else None
    if damage == "to_float64":
        return arr.astype(np.float64) if arr.dtype in (np.float32, np.int32) else None
    if damage == "to_float32":
        return arr.astype(np.float32) if arr.dtype in (np.float64, np.int64) else None
    if damage == "big_endian":
        return arr.astype(arr.dtype.newbyteorder(">")) if kind in "fiu" and arr.dtype.itemsize > 1 else None
    if damage == "to_int":
        return arr.astype(np.int64) if kind == "f" else None
    if damage in ("nan", "inf"):
        if kind != "f" or arr.size == 0:
            return None
        out = arr.copy()
        out.reshape(-1)[k % out.size] = np.nan if damage == "nan" else -np.inf
        return out
    if damage in ("neg_index", "big_index"):
        if not is_index or arr.size == 0:
            return None
        out = arr.copy()
        out[k % out.size] = -1 if damage == "neg_index" else [10**6, np.iinfo(out.dtype).max][k % 2]
        return out
    if damage == "unsorted_index":
        return None  # needs the row structure: see _unsort_row
    if damage == "indptr_decrease":
        if not name.endswith("indptr") or arr.size < 3 or arr[-1] == 0:
            return None
        out = arr.copy()
        out[1] = out[-1] + 1
        return out
    if damage == "dup_id":
        if not name.endswith("_ids") and name != "genre_names" or arr.size < 2:
            return None
        out = arr.copy()
        out[1] = out[0]
        return out
    if damage == "ids_float":
        return arr.astype(np.float64) if name.endswith("_ids") and kind in "iu" else None
    if damage == "empty":
        return arr[:0] if arr.ndim == 1 and arr.size else None
    if damage == "to_2d":
        return arr.reshape(1, -1) if arr.ndim == 1 else None
    if damage == "to_unicode":  # (string ids are legitimate ids: not for *_ids)
        return arr.astype(str) if kind in "iuf" and arr.ndim == 1 and not name.endswith("_ids") else None
    raise AssertionError(damage)


def _unsort_row(arrays, name):
    """Swap two entries of a row of a saved CSR's indices (None if no row has two)."""
    if not name.endswith("_indices"):
        return None
    indptr = arrays[name.replace("_indices", "_indptr")]
    rows = np.flatnonzero(np.diff(indptr) >= 2)
    if not rows.size:
        return None
    out = arrays[name].copy()
    lo = int(indptr[rows[0]])
    out[[lo, lo + 1]] = out[[lo + 1, lo]]
    return out


@st.composite
def model_cases(draw):
    model = draw(st.sampled_from(["ExplicitALS", "GenreALS", "BPR", "ImplicitALS"]))
    family = draw(st.sampled_from(["array", "array", "header", "raw_header", "container", "benign"]))
    if family == "array":
        what = (draw(st.integers(0, 50)), draw(st.sampled_from(ARRAY_DAMAGE)))
    elif family == "header":
        what = draw(st.sampled_from(HEADER_DAMAGE))
    elif family == "raw_header":
        what = draw(st.sampled_from(RAW_HEADERS))
    elif family == "container":
        what = draw(st.sampled_from(CONTAINER_DAMAGE))
    else:
        what = draw(st.sampled_from(BENIGN))
    return model, family, what, draw(st.integers(0, 10**6))


def _set_path(header, dotted, value, k):
    parts = dotted.split(".")
    if parts[0] == "arrays":
        name = sorted(header["arrays"])[k % len(header["arrays"])]
        entry = header["arrays"][name]
        if parts[1] == "extra_key":
            entry["extra"] = value
        else:
            entry[parts[1]] = value
        return
    target = header
    for p in parts[:-1]:
        target = target[p]
    target[parts[-1]] = value


def _perturbed_model(source, out, family, what, k):
    """Write ``out``: ``source`` with one perturbation; return False if it does not apply to this model."""
    members = _read_members(source)
    header = json.loads(np.load(io.BytesIO(members["__header__.npy"])).tobytes())
    arrays = {n[:-4]: np.load(io.BytesIO(b)) for n, b in members.items() if n != "__header__.npy"}
    raw_header = None
    compression = zipfile.ZIP_STORED
    extra_members = []
    if family == "array":
        index, damage = what
        name = _array_targets(arrays)[index % len(arrays)]
        if damage == "unsorted_index":
            damaged = _unsort_row(arrays, name)
        else:
            damaged = _damage_array(name, arrays[name], damage, k)
        if damaged is None:
            return False
        arrays[name] = damaged
    elif family == "header":
        dotted, value = what
        _set_path(header, dotted, value, k)
    elif family == "raw_header":
        raw_header = what
    elif family == "benign":
        if what == "scale":
            arrays["user_factors"] = arrays["user_factors"] * 2
        elif what == "params.num_threads=2":
            header["params"]["num_threads"] = 2
        else:
            header["attributes"]["global_mean"] = 3.25
    for name, arr in arrays.items():  # re-checksum: the checks must not rely on the checksums
        if family == "header" and what[0].startswith("arrays."):
            continue
        header["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": _sha(arr)}
    header_bytes = raw_header if raw_header is not None else json.dumps(header).encode()
    member_list = [("__header__.npy", _npy(np.frombuffer(header_bytes, np.uint8)))]
    member_list += [(f"{n}.npy", _npy(a)) for n, a in arrays.items()]
    if family == "container":
        damage = what
        first = member_list[1]
        if damage == "duplicate_member":
            member_list.append(first)
        elif damage in ("deflate", "lzma", "bzip2"):
            compression = {"deflate": zipfile.ZIP_DEFLATED, "lzma": zipfile.ZIP_LZMA, "bzip2": zipfile.ZIP_BZIP2}[damage]
        elif damage == "extra_member":
            extra_members.append(("evil.npy", _npy(np.arange(3))))
        elif damage == "npy_magic":
            member_list[1] = (first[0], b"\x93NUMPZ" + first[1][6:])
        elif damage == "npy_dict":
            member_list[1] = (first[0], first[1][:10] + b"{'descr': '<f4', 'fortran_order': False, 'shape': (((" +
                              first[1][60:])
        elif damage == "npy_shape_lie":
            arr = np.load(io.BytesIO(first[1]))
            fake = _npy(np.zeros((arr.shape[0] * 1000,) + arr.shape[1:], arr.dtype))
            member_list[1] = (first[0], fake[:len(_npy(arr[:0]))] + first[1][len(_npy(arr[:0])):])
        elif damage == "npy_object":
            buf = io.BytesIO()
            np.save(buf, np.array([1, "x"], dtype=object), allow_pickle=True)
            member_list[1] = (first[0], buf.getvalue())
        elif damage == "npy_fortran":
            arr = np.load(io.BytesIO(first[1]))
            if arr.ndim < 2:
                return False
            member_list[1] = (first[0], _npy(np.asfortranarray(arr)))
        elif damage == "not_npy_name":
            member_list[1] = ("x/" + first[0], first[1])
        elif damage == "header_int32":
            padded = header_bytes + b" " * (-len(header_bytes) % 4)   # JSON allows trailing spaces
            member_list[0] = ("__header__.npy", _npy(np.frombuffer(padded, np.int32)))
        elif damage == "header_2d":
            member_list[0] = ("__header__.npy", _npy(np.frombuffer(header_bytes, np.uint8)[None, :]))
        elif damage == "directory_member":
            extra_members.append(("sub/", b""))
    _write_members(out, member_list + extra_members, compression)
    if family == "container" and what in ("truncate", "garbage"):
        data = out.read_bytes()
        out.write_bytes(data[: max(1, k % len(data))] if what == "truncate" else bytes(k % 251 for _ in range(999)))
    return True


@settings(max_examples=300)
@given(case=model_cases())
def test_perturbed_model_file_never_crashes(worker, model_files, tmp_path_factory, case):
    model, family, what, k = case
    out = tmp_path_factory.mktemp("perturbed") / f"{model}.npz"
    if not _perturbed_model(model_files[model], out, family, what, k):
        return
    answer = worker.ask(("model", str(out)))
    if family == "benign":
        assert_ok(answer)
    else:
        assert_documented(answer, [str(out)], types=("ModelFileError",))


# ----------------------------------------------------------------------------
# hostile archives
# ----------------------------------------------------------------------------
MOVIES = "movieId,title,genres\n1,A (1999),Drama\n2,\"B, The (2000)\",Comedy|Drama\n3,C,(no genres listed)\n"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n2,3,5.0,12\n"


def _patch_sizes(data, name, file_size):
    """Rewrite ``name``'s declared uncompressed size in the central directory and local header."""
    buf = bytearray(data)
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo(name)
    struct.pack_into("<I", buf, info.header_offset + 22, file_size)   # local header: uncompressed size
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:                                                     # central directory entries
        n = struct.unpack_from("<H", buf, pos + 28)[0]
        if bytes(buf[pos + 46:pos + 46 + n]).decode("cp437") == name:
            struct.pack_into("<I", buf, pos + 24, file_size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(buf)


@st.composite
def archive_cases(draw):
    base = [("ml/ratings.csv", RATINGS), ("ml/movies.csv", MOVIES)]
    hostile = draw(st.lists(st.sampled_from([
        ("ml/ratings.csv", RATINGS), ("other/ratings.csv", RATINGS), ("ml/sub/movies.csv", MOVIES),
        ("../evil.csv", "x"), ("/abs/evil.csv", "x"), ("C:/evil.csv", "x"), ("ml\\..\\..\\evil.csv", "x"),
        ("symlink", "/etc/passwd"), ("ml/README.txt", "readme"), ("ml/links.csv", "movieId,imdbId\n"),
        ("bomb", None), ("ml/", ""),
    ]), max_size=3))
    lie = draw(st.sampled_from([None, 0, 5, 2**32 - 1]))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    return base, hostile, lie, compression


def _build_archive(base, hostile, lie, compression):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some cases write on purpose
        for name, text in base + hostile:
            if text is None:  # a zip bomb: 4 MiB of zeros deflated to ~4 KiB (1000:1)
                zf.writestr(zipfile.ZipInfo("ml/tags.csv"), b"\0" * (4 << 20), compress_type=zipfile.ZIP_DEFLATED)
            elif name == "symlink":
                info = zipfile.ZipInfo("ml/tags.csv")
                info.external_attr = (0o120777 << 16)
                zf.writestr(info, text)
            else:
                zf.writestr(name, text)
    data = buf.getvalue()
    if lie is not None:
        data = _patch_sizes(data, "ml/ratings.csv", lie)
    return data


def _clean(base, hostile, lie):
    names = [n for n, _ in base + hostile]
    unsafe = {"../evil.csv", "/abs/evil.csv", "C:/evil.csv", "ml\\..\\..\\evil.csv", "symlink", "bomb"}
    return (lie is None and len(set(names)) == len(names) and not unsafe & set(names)
            and "other/ratings.csv" not in names and "ml/sub/movies.csv" not in names)


@settings(max_examples=60)
@given(case=archive_cases())
def test_hostile_archive_is_refused_or_read_correctly(case, tmp_path_factory):
    base, hostile, lie, compression = case
    tmp = tmp_path_factory.mktemp("archive")
    path = tmp / "release.zip"
    path.write_bytes(_build_archive(base, hostile, lie, compression))
    clean = _clean(base, hostile, lie)
    try:
        inter = load_movielens(path, cache=False)
    except MovieLensFormatError as exc:
        assert not clean, f"a clean archive was refused: {exc}"
        assert str(path) in str(exc)
    else:
        assert clean, "a hostile archive was read"
        assert len(inter) == 3 and list(inter.item_ids) == [1, 2, 3]
    home = tmp / "home"
    home.mkdir()
    try:
        folder = fetch_module._extract(path, "ml", "csv", home, "URL")
    except MovieLensDownloadError as exc:
        assert not clean, f"a clean archive was refused: {exc}"
        assert "URL" in str(exc)
        assert list(home.iterdir()) == []  # nothing left behind
    else:
        assert clean, "a hostile archive was extracted"
        wanted = {"ratings.csv", "movies.csv", "tags.csv", "README.txt"}
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            {n[3:] for n, _ in base + hostile if n.startswith("ml/") and n[3:] in wanted})
        assert (folder / "ratings.csv").read_text() == RATINGS
    assert not (tmp / "evil.csv").exists() and not Path("/abs/evil.csv").exists()


# ----------------------------------------------------------------------------
# ids in every dtype
# ----------------------------------------------------------------------------
ID_KINDS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
            "float64", "float_big", "complex128", "bool", "str", "bytes", "object_int", "object_str",
            "object_mixed", "object_float", "object_none", "object_bigint", "datetime64"]


@st.composite
def id_cases(draw):
    kind = draw(st.sampled_from(ID_KINDS))
    n = draw(st.integers(2, 6))
    values = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n, unique=True))
    return kind, values


def _ids(kind, values):
    if kind in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "float16", "float32", "float64"):
        return np.array(values, dtype=kind)
    if kind == "uint64":
        return np.array(values, dtype=np.uint64) + np.uint64(2**63)   # beyond int64
    if kind == "float_big":
        return np.array(values, dtype=np.float64) + 2.0**53
    if kind == "complex128":
        return np.array(values, dtype=np.complex128)
    if kind == "bool":
        return np.array([v % 2 == 0 for v in values])
    if kind == "str":
        return np.array([f"id{v}" for v in values])
    if kind == "bytes":
        return np.array([f"id{v}".encode() for v in values])
    if kind == "object_int":
        return np.array([int(v) for v in values] + [None], dtype=object)[:-1]
    if kind == "object_str":
        return np.array([f"id{v}" for v in values] + [None], dtype=object)[:-1]
    if kind == "object_mixed":
        return np.array([v if v % 2 else f"id{v}" for v in values] + [None], dtype=object)[:-1]
    if kind == "object_float":
        return np.array([float(v) + 0.5 for v in values] + [None], dtype=object)[:-1]
    if kind == "object_none":
        return np.array([None] + [int(v) for v in values[1:]] + [0.5], dtype=object)[:-1]
    if kind == "object_bigint":
        return np.array([2**70 + v for v in values] + [None], dtype=object)[:-1]
    if kind == "datetime64":
        return np.array(values, dtype="datetime64[s]")
    raise AssertionError(kind)


@settings(max_examples=80)
@given(case=id_cases())
def test_ids_of_every_dtype_round_trip_or_raise(case, tmp_path_factory):
    kind, values = case
    raw = _ids(kind, values)
    n = raw.size
    users = np.repeat(raw, 2)
    items = np.tile(np.array([7, 8]), n)
    ratings = np.tile(np.array([4.0, 2.5]), n)
    try:
        inter = Interactions.from_arrays(users, items, ratings)
    except (TypeError, ValueError) as exc:
        assert "user_raw" in str(exc), str(exc)
        assert kind in ("complex128", "bool", "object_mixed", "object_float", "object_none", "object_bigint",
                        "datetime64", "float_big"), f"{kind} refused: {exc}"
        return
    assert kind not in ("complex128", "bool", "datetime64", "object_float", "object_none", "float_big"), kind
    ids = inter.user_ids
    assert ids.size == len(set(values))
    if kind.startswith(("int", "uint", "float", "object_int")):
        assert ids.dtype.kind in "iu", ids.dtype   # integer ids stay integers
        expected = sorted(int(v) for v in raw.tolist())
        assert [int(v) for v in ids.tolist()] == expected
    model = mfcore.ExplicitALS(factors=2, iterations=1, num_threads=1).fit(inter, show_progress=False)
    first = raw[0].item() if hasattr(raw[0], "item") else raw[0]
    if kind.startswith("float"):
        first = int(first)
    recs, _ = model.recommend(first, N=2, filter_already_liked_items=False)
    path = model.save(tmp_path_factory.mktemp("ids") / "m")
    loaded = mfcore.load_model(path)
    assert loaded.user_ids.dtype.kind == model.user_ids.dtype.kind
    np.testing.assert_array_equal(loaded.user_ids, model.user_ids)
    np.testing.assert_array_equal(loaded.recommend(first, N=2, filter_already_liked_items=False)[0], recs)


# ----------------------------------------------------------------------------
# CSV fields corrupted after blank lines and multi-line titles
# ----------------------------------------------------------------------------
BAD_INT_TOKENS = ["1.0", "1e3", "", "x", "99999999999999999999", "-9223372036854775809", "0x10", "1_0", "NaN",
                  b"\xff1"]
BAD_RATING_TOKENS = ["abc", "", "6.0", "nan", "-1", "inf", "4.0+1j", b"\xfe"]


@st.composite
def csv_cases(draw):
    n_movies = draw(st.integers(2, 6))
    titles = [draw(st.sampled_from(["Plain", "With, comma", 'With "quote"', "Two\nlines", "Three\nline\ntitle"]))
              for _ in range(n_movies)]
    n_ratings = draw(st.integers(1, 8))
    blanks = draw(st.lists(st.booleans(), min_size=n_ratings, max_size=n_ratings))
    target = draw(st.sampled_from(["ratings", "movies"]))
    row = draw(st.integers(0, 10**6))
    if target == "ratings":
        field = draw(st.sampled_from(["userId", "movieId", "rating", "timestamp"]))
    else:
        field = "movieId"
    token = draw(st.sampled_from(BAD_RATING_TOKENS if field == "rating" else BAD_INT_TOKENS))
    return titles, n_ratings, blanks, target, row, field, token


def _quote(text):
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


@settings(max_examples=120)
@given(case=csv_cases())
def test_corrupted_field_is_reported_at_its_physical_line(case, tmp_path_factory):
    titles, n_ratings, blanks, target, row, field, token = case
    folder = tmp_path_factory.mktemp("csv")
    movie_lines, movie_starts, line = [b"movieId,title,genres"], [], 2
    bad_movie = row % len(titles) if target == "movies" else -1
    for k, title in enumerate(titles):
        movie_starts.append(line)
        mid = token if k == bad_movie else str(k + 1)
        mid = mid if isinstance(mid, bytes) else mid.encode()
        movie_lines.append(mid + b"," + _quote(title).encode() + b",Drama")
        line += 1 + title.count("\n")
    rating_lines, rating_starts, line = [b"userId,movieId,rating,timestamp"], [], 2
    bad_rating = row % n_ratings if target == "ratings" else -1
    for k in range(n_ratings):
        if blanks[k]:
            rating_lines.append(b"" if k % 2 else b"   ")
            line += 1
        fields = {"userId": str(k // 2 + 1), "movieId": str(k % len(titles) + 1), "rating": "4.0",
                  "timestamp": str(1000 + k)}
        if k == bad_rating:
            fields[field] = token
        rating_starts.append(line)
        rating_lines.append(b",".join(v if isinstance(v, bytes) else v.encode() for v in fields.values()))
        line += 1
    (folder / "movies.csv").write_bytes(b"\n".join(movie_lines) + b"\n")
    (folder / "ratings.csv").write_bytes(b"\n".join(rating_lines) + b"\n")
    expected_line = movie_starts[bad_movie] if target == "movies" else rating_starts[bad_rating]
    fname = "movies.csv" if target == "movies" else "ratings.csv"
    with pytest.raises(MovieLensFormatError) as info:
        load_movielens(folder, cache=False)
    message = str(info.value)
    assert re.search(rf"{re.escape(str(folder / fname))}, line {expected_line}\b", message), message


def test_worker_reports_a_crash(worker):
    """The harness itself: a case that kills the process is reported, and the worker restarts."""
    answer = worker.ask(("sparse", "fit_explicit", "csr", (2, 2), {"data": np.ones(1, np.float32),
                                                                      "indices": np.zeros(1, np.int32),
                                                                      "indptr": np.array([0, 1, 1], np.int32)}))
    assert_ok(answer)
    code = worker.proc.pid
    os.kill(code, 9)
    answer = worker.ask(("ping",))
    assert answer[0] == "died" and answer[1] == -9
    assert worker.ask(("ping",)) == ("ok", ("pong",))

