"""Tests for mfcore.data.interactions.Interactions: vocabularies, CSR, constructors, subset."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from mfcore.data.interactions import Interactions


def _random_pairs(rng, n_users, n_items, n):
    """n distinct (user, item) pairs in random order."""
    flat = rng.choice(n_users * n_items, size=n, replace=False)
    return flat // n_items, flat % n_items


def _dense(inter):
    out = np.zeros((inter.n_users, inter.n_items), dtype=np.float64)
    for u, i, r in zip(inter.users.tolist(), inter.items.tolist(), inter.ratings.tolist()):
        out[u, i] = r
    return out


def _check_csr(csr, shape):
    assert isinstance(csr, sp.csr_matrix)
    assert csr.shape == shape
    assert csr.dtype == np.float32
    assert csr.indices.dtype == np.int32 and csr.indptr.dtype == np.int32
    for r in range(shape[0]):
        row = csr.indices[csr.indptr[r]:csr.indptr[r + 1]]
        assert np.all(np.diff(row) > 0), f"row {r} indices not strictly increasing"


@pytest.fixture
def small(rng):
    users, items = _random_pairs(rng, 7, 11, 40)
    raw_u = np.array([10, 20, 30, 40, 50, 60, 70])[users]
    raw_i = (np.arange(11) * 3 + 100)[items]
    ratings = rng.integers(1, 11, size=40) / 2.0
    ts = rng.integers(0, 10**9, size=40)
    return raw_u, raw_i, ratings, ts


# ---------------------------------------------------------------------------- vocabularies
def test_from_arrays_builds_sorted_vocabularies_and_roundtrips(small):
    raw_u, raw_i, ratings, ts = small
    inter = Interactions.from_arrays(raw_u, raw_i, ratings, ts)
    assert inter.users.dtype == np.int32 and inter.items.dtype == np.int32
    assert inter.ratings.dtype == np.float32 and inter.timestamps.dtype == np.int64
    assert inter.users.flags.c_contiguous
    np.testing.assert_array_equal(inter.user_ids, np.unique(raw_u))
    np.testing.assert_array_equal(inter.item_ids, np.unique(raw_i))
    np.testing.assert_array_equal(inter.user_id(inter.users), raw_u)
    np.testing.assert_array_equal(inter.item_id(inter.items), raw_i)
    np.testing.assert_array_equal(inter.user_index(raw_u), inter.users)
    np.testing.assert_array_equal(inter.item_index(raw_i), inter.items)
    assert inter.user_index(int(raw_u[0])) == int(inter.users[0])
    assert isinstance(inter.user_index(int(raw_u[0])), int)
    assert inter.user_id(0) == int(np.min(raw_u))
    assert len(inter) == 40 and inter.has_ratings


@pytest.mark.parametrize("ids", [
    np.array([5, 3, 9, 1]),                      # compact integer range -> lookup table
    np.array([10**12, 7, -4, 10**15]),           # sparse range -> searchsorted
    np.array(["b", "a", "zz", "c"]),             # strings
    np.array(["b", "a", "zz", "c"], dtype=object),
])
def test_vocabulary_lookup_roundtrip_any_order(ids):
    inter = Interactions(np.arange(4), np.zeros(4, np.int32), user_ids=ids, item_ids=np.array([0]))
    for k, raw in enumerate(ids):
        assert inter.user_index(raw) == k
        assert inter.user_id(k) == raw
    np.testing.assert_array_equal(inter.user_index(ids[::-1]), np.arange(4)[::-1])
    with pytest.raises(KeyError, match="unknown user id"):
        inter.user_index(ids[:1].tolist() + ([123456] if ids.dtype.kind in "iu" else ["nope"]))


def test_unknown_ids_raise_keyerror_naming_the_id(small):
    raw_u, raw_i, ratings, ts = small
    inter = Interactions.from_arrays(raw_u, raw_i, ratings, ts)
    with pytest.raises(KeyError, match="unknown user id 999"):
        inter.user_index(999)
    with pytest.raises(KeyError, match="unknown item id 4242"):
        inter.item_index([100, 4242, 103])
    with pytest.raises(KeyError, match="unknown item id 100.5"):
        inter.item_index(100.5)
    with pytest.raises(KeyError, match="'x'"):
        inter.user_index("x")
    with pytest.raises(IndexError, match="out of range"):
        inter.user_id(7)
    with pytest.raises(IndexError, match="out of range"):
        inter.item_id([-1])


def test_fixed_vocabulary_keeps_unrated_items_and_rejects_unknown():
    inter = Interactions.from_arrays([1, 2], [30, 10], [4.0, 3.0], item_ids=np.array([10, 20, 30, 40]))
    assert inter.n_items == 4
    np.testing.assert_array_equal(inter.items, [2, 0])
    assert inter.item_users()[1].nnz == 0  # item 20 has no ratings but exists
    with pytest.raises(KeyError, match="unknown item id 99"):
        Interactions.from_arrays([1], [99], [4.0], item_ids=np.array([10, 20]))


# ---------------------------------------------------------------------------- validation
def test_duplicate_pairs_raise_naming_raw_ids_and_rows():
    with pytest.raises(ValueError, match=r"user 'b', item 7 appears at rows 1 and 3"):
        Interactions.from_arrays(["a", "b", "a", "b"], [7, 7, 8, 7], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="duplicate"):
        Interactions([0, 0], [1, 1], user_ids=np.array([5]), item_ids=np.array([1, 2]))


def test_keep_latest_keeps_latest_by_timestamp_and_warns():
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        inter = Interactions.from_arrays(
            [1, 1, 2, 1, 1], [5, 5, 5, 6, 5], [1.0, 2.0, 3.0, 4.0, 5.0], [30, 50, 10, 10, 40],
            duplicates="keep_latest",
        )
    assert len(inter) == 3
    df = inter.to_dataframe()
    assert df.values.tolist() == [[1, 5, 2.0, 50], [2, 5, 3.0, 10], [1, 6, 4.0, 10]]  # original order kept
    with pytest.raises(ValueError, match="needs timestamps"):
        Interactions.from_arrays([1, 1], [5, 5], [1.0, 2.0], duplicates="keep_latest")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        Interactions.from_arrays([1], [5], duplicates="sum")


def test_constructor_validation_messages():
    uid, iid = np.array([1, 2]), np.array([1, 2, 3])
    with pytest.raises(ValueError, match=r"items\[1\] = 3 is out of range \[0, 3\)"):
        Interactions([0, 1], [0, 3], user_ids=uid, item_ids=iid)
    with pytest.raises(ValueError, match="users has length|items has length"):
        Interactions([0, 1], [0], user_ids=uid, item_ids=iid)
    with pytest.raises(ValueError, match=r"ratings\[1\] = nan is not finite"):
        Interactions([0, 1], [0, 1], [1.0, np.nan], user_ids=uid, item_ids=iid)
    with pytest.raises(TypeError, match="integer index"):
        Interactions([0.0, 1.0], [0, 1], user_ids=uid, item_ids=iid)
    with pytest.raises(ValueError, match="user_ids must be unique.*raw id 2"):
        Interactions([0, 1], [0, 1], user_ids=np.array([2, 2]), item_ids=iid)
    with pytest.raises(TypeError, match="timestamps must be integers"):
        Interactions([0, 1], [0, 1], None, [1.5, 2.0], user_ids=uid, item_ids=iid)
    g = sp.csr_matrix(np.array([[1, 0], [2, 0], [0, 1]], dtype=np.float32))
    with pytest.raises(ValueError, match="0/1 multi-hot"):
        Interactions([0], [0], user_ids=uid, item_ids=iid, item_genres=g, genre_names=["a", "b"])
    with pytest.raises(ValueError, match="genre_names is required"):
        Interactions([0], [0], user_ids=uid, item_ids=iid, item_genres=g)
    with pytest.raises(ValueError, match="titles has 2 entries"):
        Interactions([0], [0], user_ids=uid, item_ids=iid, titles=["a", "b"])


def test_implicit_feedback_and_global_mean():
    inter = Interactions.from_arrays([1, 2, 2], ["x", "y", "x"])
    assert not inter.has_ratings
    assert inter.ratings.dtype == np.float32 and np.all(inter.ratings == 1)
    assert inter.timestamps is None
    r = np.full(1000, 0.1, dtype=np.float32)
    inter = Interactions.from_arrays(np.arange(1000), np.zeros(1000, int), r)
    assert inter.global_mean == pytest.approx(np.mean(r.astype(np.float64)), rel=1e-12)
    assert isinstance(inter.global_mean, float)


# ---------------------------------------------------------------------------- CSR
@pytest.mark.parametrize("presorted", [False, True])
def test_csr_matches_dense_brute_force(rng, presorted):
    n_users, n_items = 13, 17
    users, items = _random_pairs(rng, n_users, n_items, 90)
    if presorted:
        order = np.lexsort((items, users))
        users, items = users[order], items[order]
    ratings = rng.integers(1, 11, size=90) / 2.0
    inter = Interactions(users, items, ratings, user_ids=np.arange(n_users) + 1000,
                         item_ids=np.arange(n_items) * 7)
    dense = _dense(inter)
    ui = inter.user_items()
    _check_csr(ui, (n_users, n_items))
    np.testing.assert_array_equal(ui.toarray(), dense)
    iu = inter.item_users()
    _check_csr(iu, (n_items, n_users))
    np.testing.assert_array_equal(iu.toarray(), dense.T)
    assert inter.user_items() is ui and inter.item_users() is iu  # cached


def test_item_users_built_before_user_items(rng):
    users, items = _random_pairs(rng, 5, 6, 20)
    inter = Interactions(users, items, rng.random(20), user_ids=np.arange(5), item_ids=np.arange(6))
    iu = inter.item_users()  # built from pairs (user_items not yet built)
    _check_csr(iu, (6, 5))
    np.testing.assert_array_equal(iu.toarray(), _dense(inter).T)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), max_size=30, unique=True),
       st.randoms(use_true_random=False))
def test_csr_property(pairs, rnd):
    users = np.array([p[0] for p in pairs], dtype=np.int64)
    items = np.array([p[1] for p in pairs], dtype=np.int64)
    ratings = np.array([rnd.randint(1, 10) / 2 for _ in pairs], dtype=np.float32)
    inter = Interactions(users, items, ratings, user_ids=np.arange(6), item_ids=np.arange(7))
    dense = np.zeros((6, 7))
    dense[users, items] = ratings
    _check_csr(inter.user_items(), (6, 7))
    np.testing.assert_array_equal(inter.user_items().toarray(), dense)
    np.testing.assert_array_equal(inter.item_users().toarray(), dense.T)


def test_empty_interactions():
    inter = Interactions([], [], [], user_ids=np.array([1, 2]), item_ids=np.array([3]))
    assert len(inter) == 0 and inter.n_users == 2
    assert inter.user_items().shape == (2, 1) and inter.user_items().nnz == 0
    assert np.isnan(inter.global_mean)


# ---------------------------------------------------------------------------- constructors agree
def _assert_same(a, b):
    np.testing.assert_array_equal(a.user_ids, b.user_ids)
    np.testing.assert_array_equal(a.item_ids, b.item_ids)
    np.testing.assert_array_equal(a.user_items().toarray(), b.user_items().toarray())
    assert a.has_ratings == b.has_ratings


def test_from_dataframe_sparse_arrays_equivalence(small):
    raw_u, raw_i, ratings, ts = small
    a = Interactions.from_arrays(raw_u, raw_i, ratings, ts)
    df = pd.DataFrame({"userId": raw_u, "movieId": raw_i, "rating": ratings, "timestamp": ts})
    b = Interactions.from_dataframe(df)
    _assert_same(a, b)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    c = Interactions.from_sparse(a.user_items(), user_ids=a.user_ids, item_ids=a.item_ids)
    _assert_same(a, c)
    d = Interactions.from_dataframe(a.to_dataframe())  # round trip through raw ids
    _assert_same(a, d)
    e = Interactions.from_dataframe(df.rename(columns={"userId": "u", "movieId": "i"}), "u", "i",
                                    rating_col=None, timestamp_col=None)
    assert not e.has_ratings and e.timestamps is None
    with pytest.raises(KeyError, match="rating_col='score'.*pass None"):
        Interactions.from_dataframe(df, rating_col="score")


def test_from_sparse_defaults_and_duplicates():
    m = sp.coo_matrix((np.array([3.0, 4.0, 5.0]), (np.array([0, 2, 2]), np.array([1, 0, 3]))), shape=(3, 4))
    inter = Interactions.from_sparse(m)
    np.testing.assert_array_equal(inter.user_ids, np.arange(3))
    np.testing.assert_array_equal(inter.user_items().toarray(), m.toarray())
    implicit = Interactions.from_sparse(m, implicit=True)
    assert not implicit.has_ratings and np.all(implicit.ratings == 1)
    dup = sp.coo_matrix((np.array([1.0, 2.0]), (np.array([0, 0]), np.array([1, 1]))), shape=(1, 2))
    with pytest.raises(ValueError, match="duplicate"):
        Interactions.from_sparse(dup)
    with pytest.raises(ValueError, match="user_ids has 2 ids"):
        Interactions.from_sparse(m, user_ids=np.array([1, 2]))


def test_missing_raw_ids_rejected():
    with pytest.raises(ValueError, match="user_raw has a missing raw id at row 1: None"):
        Interactions.from_arrays(np.array(["a", None], dtype=object), [1, 2])
    with pytest.raises(ValueError, match="item_raw has a missing/non-finite raw id at row 0"):
        Interactions.from_arrays([1, 2], [np.nan, 2.0])
    with pytest.raises(ValueError, match="must hold integer or string ids, got 2.5"):
        Interactions.from_arrays([1, 2], [1.0, 2.5])


def test_from_dataframe_missing_values_and_polars(small):
    df = pd.DataFrame({"userId": [1.0, np.nan], "movieId": [1, 2], "rating": [3.0, 4.0], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="'userId' has a missing value at row 1"):
        Interactions.from_dataframe(df)
    pl = pytest.importorskip("polars")
    raw_u, raw_i, ratings, ts = small
    pdf = pl.DataFrame({"userId": raw_u, "movieId": raw_i, "rating": ratings, "timestamp": ts})
    _assert_same(Interactions.from_dataframe(pdf), Interactions.from_arrays(raw_u, raw_i, ratings, ts))


# ---------------------------------------------------------------------------- subset
def test_subset_shares_vocabularies_and_metadata(small):
    raw_u, raw_i, ratings, ts = small
    genres = sp.csr_matrix((np.arange(11) % 2 == 0).astype(np.float32)[:, None])
    tags = pd.DataFrame({"user": [0], "item": [3], "tag": ["x"], "timestamp": [5]})
    titles = [f"t{k}" for k in range(11)]
    inter = Interactions.from_arrays(raw_u, raw_i, ratings, ts, item_genres=genres, genre_names=["even"],
                                     titles=titles, tags=tags)
    mask = np.arange(40) % 3 == 0
    sub = inter.subset(mask)
    assert sub.user_ids is inter.user_ids and sub.item_ids is inter.item_ids
    assert sub.item_genres is inter.item_genres and sub.titles is inter.titles and sub.tags is inter.tags
    assert sub.genre_names is inter.genre_names
    assert len(sub) == mask.sum()
    np.testing.assert_array_equal(sub.users, inter.users[mask])
    np.testing.assert_array_equal(sub.timestamps, inter.timestamps[mask])
    dense = _dense(inter)
    dense[~np.isin(np.arange(inter.n_users)[:, None] * 100 + np.arange(inter.n_items),
                   inter.users[mask] * 100 + inter.items[mask])] = 0
    np.testing.assert_array_equal(sub.user_items().toarray(), dense)
    rows = np.array([5, 2, 30])
    sub2 = inter.subset(rows)
    np.testing.assert_array_equal(sub2.ratings, inter.ratings[rows])  # order kept
    assert sub2.user_index(int(raw_u[5])) == inter.user_index(int(raw_u[5]))
    with pytest.raises(ValueError, match="repeated row"):
        inter.subset([1, 1])
    with pytest.raises(IndexError, match="out of range"):
        inter.subset([40])
    with pytest.raises(ValueError, match="mask must have shape"):
        inter.subset(np.ones(3, dtype=bool))


def test_arrays_are_read_only(small):
    inter = Interactions.from_arrays(*small)
    with pytest.raises(ValueError):
        inter.ratings[0] = 1.0
    with pytest.raises(ValueError):
        inter.user_ids[0] = 1


def test_no_warnings_on_clean_input(small):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Interactions.from_arrays(*small, duplicates="keep_latest").user_items()
