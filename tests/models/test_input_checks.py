"""Every model refuses ambiguous input the same way, and never allocates or threads absurdly."""

import numpy as np
import pytest
import scipy.sparse as sp

import mfcore
from mfcore._persist import ModelFileError

MODELS = {
    "ExplicitALS": lambda: mfcore.ExplicitALS(factors=3, iterations=2, num_threads=1),
    "BPR": lambda: mfcore.BPR(factors=3, iterations=2, num_threads=1),
    "ImplicitALS": lambda: mfcore.ImplicitALS(factors=3, iterations=2, num_threads=1),
}


@pytest.fixture(scope="module")
def fitted():
    from tests.models.conftest import planted_ratings

    matrix, _ = planted_ratings(np.random.default_rng(5))
    return {name: make().fit(matrix, show_progress=False) for name, make in MODELS.items()}, matrix


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fold_in_refuses_the_same_input_in_every_model(fitted, name):
    model = fitted[0][name]
    with pytest.raises(ValueError, match="ratings must be finite, got nan at position 1"):
        model.fold_in([0, 1], [4.0, np.nan])
    with pytest.raises(ValueError, match="ratings must be finite, got inf at position 0"):
        model.fold_in([0, 1], [np.inf, 4.0])
    with pytest.raises(ValueError, match="items lists the same item at positions 0 and 2"):
        model.fold_in([3, 1, 3], [4.0, 5.0, 4.0])
    with pytest.raises(TypeError, match="ratings must be real numbers, got complex values"):
        model.fold_in([0, 1], np.array([4.0, 5.0 + 1j]))
    with pytest.raises(ValueError, match="same length"):
        model.fold_in([0, 1], [4.0])
    vec, _ = model.fold_in([0, 1, 2], [4.0, 5.0, 4.5])
    assert vec.shape == (3,) and np.isfinite(vec).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fold_in_of_a_user_who_rated_every_item_is_finite(fitted, name):
    """BPR has no negative item left to rank below the positives: its objective is the penalty alone (u = 0)."""
    model = fitted[0][name]
    vec, bias = model.fold_in(np.arange(model.n_items), np.full(model.n_items, 5.0))
    assert np.isfinite(vec).all() and np.isfinite(bias)
    if name == "BPR":
        assert not vec.any()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_recommend_caps_n_at_the_number_of_items(fitted, name):
    model = fitted[0][name]
    ids, scores = model.recommend(0, N=10**9, filter_already_liked_items=False)
    assert ids.shape == (model.n_items,)
    ids, scores = model.recommend([0, 1], N=10**12)
    assert ids.shape == scores.shape == (2, model.n_items)
    sim, _ = model.similar_items(0, N=10**9)
    assert sim.shape == (model.n_items - 1,)


@pytest.mark.parametrize("threads", [2**31, 10**6, 1025])
def test_num_threads_beyond_the_limit_names_the_parameter(fitted, threads):
    _, matrix = fitted
    with pytest.raises(ValueError, match=f"num_threads must be <= 1024 .*got {threads}"):
        mfcore.ExplicitALS(factors=2, iterations=1, num_threads=threads).fit(matrix, show_progress=False)
    model = fitted[0]["ExplicitALS"]
    with pytest.raises(ValueError, match="num_threads must be <= 1024"):
        mfcore.evaluate(model, matrix, matrix, num_threads=threads)


@pytest.mark.parametrize("name", ["ImplicitALS", "BPR"])
def test_ranking_models_refuse_negative_strengths_instead_of_counting_them_as_positives(fitted, name):
    _, matrix = fitted
    make = {"ImplicitALS": mfcore.ImplicitALS, "BPR": mfcore.BPR}[name]
    X = matrix.copy()
    X.data[5] = -2.0
    row = int(np.searchsorted(X.indptr, 5, side="right") - 1)
    for extra in ({"binarize": True}, {"binarize": False}) if name == "ImplicitALS" else ({},):
        model = make(factors=2, iterations=1, positive_threshold=None, **extra)
        with pytest.raises(ValueError, match=rf"X has a negative interaction value -2\.0 at row {row}, "
                                             rf"column {X.indices[5]}"):
            model.fit(X, show_progress=False)
    # a threshold below zero keeps them as positives: refused the same way
    with pytest.raises(ValueError, match=r"X has a negative interaction value -2\.0"):
        make(factors=2, iterations=1, positive_threshold=-3.0).fit(X, show_progress=False)
    model = make(factors=2, iterations=1, positive_threshold=None).fit(matrix, show_progress=False)
    with pytest.raises(ValueError, match="ratings has a negative interaction value -1.0 at position 1"):
        model.fold_in([0, 1], [1.0, -1.0])
    # a threshold that drops the negative entries is fine: they are not positives
    model = make(factors=2, iterations=1, positive_threshold=4.0).fit(X, show_progress=False)
    vec, _ = model.fold_in([0, 1, 2], [5.0, -1.0, 4.0])
    assert np.isfinite(vec).all()


def test_complex_data_is_an_error_not_a_warning(fitted):
    _, matrix = fitted
    with pytest.raises(TypeError, match="X holds complex values"):
        mfcore.ExplicitALS(factors=2, iterations=1).fit(matrix.astype(np.complex64), show_progress=False)
    with pytest.raises(TypeError, match="matrix holds complex values"):
        mfcore.Interactions.from_sparse(matrix.astype(np.complex128))


def test_object_integer_ids_stay_integers_in_the_model(fitted, tmp_path):
    _, matrix = fitted
    coo = matrix.tocoo()
    users = np.array([int(u) + 1 for u in coo.row] + [None], dtype=object)[:-1]
    items = np.array([int(i) * 10 for i in coo.col] + [None], dtype=object)[:-1]
    data = mfcore.Interactions.from_arrays(users, items, coo.data)
    assert data.user_ids.dtype == np.int64 and data.item_ids.dtype == np.int64
    model = mfcore.ExplicitALS(factors=2, iterations=1).fit(data, show_progress=False)
    assert model.user_ids.dtype == np.int64
    ids, _ = model.recommend(1, N=3)                 # a plain int finds the id 1
    assert ids.dtype == np.int64 and len(ids) == 3
    loaded = mfcore.load_model(model.save(tmp_path / "m"))
    assert loaded.user_ids.dtype == np.int64
    np.testing.assert_array_equal(loaded.recommend(1, N=3)[0], ids)
    mixed = np.array([1, "a"], dtype=object)
    with pytest.raises(TypeError, match="user_raw must hold integer or string ids"):
        mfcore.Interactions.from_arrays(mixed, [1, 2], [4.0, 3.0])


def test_float_ids_that_may_have_merged_are_refused():
    with pytest.raises(ValueError, match=r"user_raw holds float id 9007199254740992\.0 at row 0"):
        mfcore.Interactions.from_arrays(np.array([2.0**53, 1.0]), [1, 2], [4.0, 3.0])
    exact = mfcore.Interactions.from_arrays(np.array([3.0, 1.0]), [1, 2], [4.0, 3.0])
    assert exact.user_ids.tolist() == [1, 3] and exact.user_ids.dtype.kind == "i"


# ------------------------------------------------------------------ model files checked before a model exists
def _rewrite(path, edit_arrays=None, edit_header=None):
    """Rewrite a model file with edited arrays/header, checksums recomputed (a deliberate edit)."""
    import hashlib
    import io
    import json
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {n[:-4]: np.load(io.BytesIO(zf.read(n))) for n in zf.namelist()}
    header = json.loads(members.pop("__header__").tobytes())
    if edit_arrays:
        edit_arrays(members)
    for name, arr in members.items():
        header["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                                  "sha256": hashlib.sha256(np.ascontiguousarray(arr).view(np.uint8).data).hexdigest()}
    if edit_header:
        edit_header(header)
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in [("__header__", np.frombuffer(json.dumps(header).encode(), np.uint8))] + list(members.items()):
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())


CORRUPTIONS = [
    ("seen index out of range", lambda a: a["seen_indices"].__setitem__(0, 10**6), None, "seen items: index 1000000"),
    ("negative seen index", lambda a: a["seen_indices"].__setitem__(-1, -1), None, "seen items: index -1"),
    ("unsorted seen row", lambda a: a.__setitem__("seen_indices", a["seen_indices"][::-1].copy()), None,
     "strictly increase"),
    ("decreasing indptr", lambda a: a["seen_indptr"].__setitem__(1, 10**6), None, "seen items"),
    ("factors of different K", lambda a: a.__setitem__("item_factors", np.zeros((a["item_factors"].shape[0], 5),
                                                                                 np.float32)), None, r"'item_factors' has shape \(40, 5\), expected \(40, 3\)"),
    ("short bias", lambda a: a.__setitem__("item_bias", a["item_bias"][:-1]), None, "'item_bias' has shape"),
    ("non-finite factor", lambda a: a["user_factors"].__setitem__((0, 0), np.nan), None, "non-finite"),
    ("float64 factors in a float32 model", lambda a: a.__setitem__("user_factors", a["user_factors"].astype(np.float64)),
     None, "expected <f4"),
    ("huge declared K", None, lambda h: h["params"].__setitem__("factors", 2**40), "'factors' is 1099511627776"),
    ("format_version true", None, lambda h: h.__setitem__("format_version", True), "format version True"),
    ("non-finite global mean", None, lambda h: h["attributes"].__setitem__("global_mean", "NaN"), "global_mean"),
    ("unknown array", lambda a: a.__setitem__("evil", np.arange(3)), None, "unexpected array"),
]


@pytest.mark.parametrize("what,edit_arrays,edit_header,pattern", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_edited_model_file_is_refused_before_a_model_exists(fitted, tmp_path, what, edit_arrays, edit_header, pattern):
    path = fitted[0]["ExplicitALS"].save(tmp_path / "m")
    _rewrite(path, edit_arrays, edit_header)
    with pytest.raises(ModelFileError, match=pattern) as info:
        mfcore.load_model(path)
    assert str(path) in str(info.value)


def test_genre_model_file_with_out_of_range_genres_is_refused(tmp_path):
    from tests.models.conftest import planted_ratings

    matrix, genres = planted_ratings(np.random.default_rng(1))
    model = mfcore.GenreALS(factors=3, iterations=1).fit(matrix, item_genres=genres, show_progress=False)
    path = model.save(tmp_path / "g")
    _rewrite(path, lambda a: a["genre_indices"].__setitem__(0, 99))
    with pytest.raises(ModelFileError, match="genre matrix: index 99"):
        mfcore.load_model(path)
    path = model.save(tmp_path / "g2")
    _rewrite(path, lambda a: a.__setitem__("genre_names", a["genre_names"][:-1]))
    with pytest.raises(ModelFileError, match="genre_factors"):
        mfcore.load_model(path)


def test_malformed_item_genres_matrix_is_refused(fitted):
    _, matrix = fitted
    genres = sp.csr_matrix(np.eye(matrix.shape[1], 3, dtype=np.float32))
    genres.indices[0] = 7
    with pytest.raises(ValueError, match="item_genres has column index 7 in row 0, outside \\[0, 3\\)"):
        mfcore.GenreALS(factors=2, iterations=1).fit(matrix, item_genres=genres, show_progress=False)


@pytest.mark.parametrize("cls", [mfcore.BPR, mfcore.ImplicitALS])
def test_ranking_fold_in_without_a_positive_is_refused(fitted, cls):
    """Ratings that all fall below positive_threshold leave nothing to fold in: an error, not zero scores."""
    model = cls(factors=3, iterations=2, num_threads=1, positive_threshold=4.0).fit(fitted[1], show_progress=False)
    with pytest.raises(ValueError, match=r"none of the 2 ratings reaches positive_threshold=4\.0 \(highest 3\.5\)"):
        model.fold_in([0, 1], [2.0, 3.5])
    vec, _ = model.fold_in([0, 1], [2.0, 4.0])  # one positive is enough
    assert np.isfinite(vec).all() and vec.any()
    vec, _ = model.fold_in([0, 1])  # no ratings: every item is a positive
    assert np.isfinite(vec).all() and vec.any()
