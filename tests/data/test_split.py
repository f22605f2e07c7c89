"""Property tests for mfcore.data.split (hypothesis, profile "ci" from conftest)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfcore.data.interactions import Interactions
from mfcore.data.split import item_cold_start_split, leave_last_k_split, random_split, temporal_split
from mfcore.data.synthetic import make_movielens_like


@st.composite
def interactions(draw, min_ratings=0, huge_times=None):
    """Small random Interactions with many timestamp ties; rows in random order."""
    n_users = draw(st.integers(1, 7))
    n_items = draw(st.integers(1, 7))
    cells = draw(st.lists(st.booleans(), min_size=n_users * n_items, max_size=n_users * n_items))
    flat = np.flatnonzero(cells)
    if flat.size < min_ratings:
        flat = np.arange(min(n_users * n_items, max(min_ratings, 1)))
    n = flat.size
    perm = draw(st.permutations(range(n)))
    flat = flat[np.asarray(perm, dtype=np.int64)] if n else flat
    users, items = flat // n_items, flat % n_items
    if huge_times is None:
        huge_times = draw(st.booleans())
    if huge_times:  # span > 2**62 / n_users: exercises the lexsort fallback
        times = draw(st.lists(st.sampled_from([-(2**62), -5, 0, 3, 2**62]), min_size=n, max_size=n))
    else:
        times = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))  # many ties
    ratings = draw(st.lists(st.sampled_from([0.5, 1.0, 3.5, 5.0]), min_size=n, max_size=n))
    return Interactions(
        users.astype(np.int32), items.astype(np.int32), np.asarray(ratings, dtype=np.float32),
        np.asarray(times, dtype=np.int64),
        user_ids=np.arange(n_users) + 100, item_ids=np.arange(n_items) * 3 + 1,
    )


fractions = st.sampled_from([0.01, 0.1, 0.2, 0.25, 0.29, 0.3, 0.5, 0.7, 0.99])


def _keys(d):
    return d.users.astype(np.int64) * d.n_items + d.items


def _rows(d):
    """(user, item) -> (rating, timestamp) of every rating."""
    ts = d.timestamps if d.timestamps is not None else np.zeros(len(d), np.int64)
    return {(int(u), int(i)): (float(r), int(t)) for u, i, r, t in zip(d.users, d.items, d.ratings, ts)}


def _check_partition(data, train, test):
    assert train.user_ids is data.user_ids and test.user_ids is data.user_ids
    assert train.item_ids is data.item_ids and test.item_ids is data.item_ids
    assert len(train) + len(test) == len(data)
    assert np.intersect1d(_keys(train), _keys(test)).size == 0  # disjoint
    both = {**_rows(train), **_rows(test)}
    assert both == _rows(data)  # complete, with the same ratings and timestamps


def _naive_latest(data, n_test_of):
    """Reference: per user, sort rows by (timestamp, item) in Python and take the last n_test."""
    test = set()
    for u in range(data.n_users):
        rows = sorted((int(t), int(i)) for uu, i, t in zip(data.users, data.items, data.timestamps) if uu == u)
        for t, i in rows[len(rows) - n_test_of(len(rows)):]:
            test.add((u, i))
    return test


def _check_temporal_order(train, test):
    for u in np.union1d(train.users, test.users):
        tr = [(int(t), int(i)) for t, i in zip(train.timestamps[train.users == u], train.items[train.users == u])]
        te = [(int(t), int(i)) for t, i in zip(test.timestamps[test.users == u], test.items[test.users == u])]
        if tr and te:
            assert max(tr) < min(te)


# ----------------------------------------------------------------------------- temporal


@given(interactions(), fractions)
def test_temporal_split_properties(data, fraction):
    train, test = temporal_split(data, test_fraction=fraction)
    _check_partition(data, train, test)
    _check_temporal_order(train, test)
    n_u = np.bincount(data.users, minlength=data.n_users)
    test_u = np.bincount(test.users, minlength=data.n_users)
    train_u = np.bincount(train.users, minlength=data.n_users)
    expected = np.array([min(math.floor(fraction * n + 1e-9), max(n - 1, 0)) for n in n_u])
    np.testing.assert_array_equal(test_u, expected)
    assert np.all(train_u[n_u >= 1] >= 1)  # every user keeps a training rating
    want = _naive_latest(data, lambda n: min(math.floor(fraction * n + 1e-9), max(n - 1, 0)))
    assert set(zip(test.users.tolist(), test.items.tolist())) == want


@given(interactions(min_ratings=1), st.randoms(use_true_random=False))
def test_temporal_split_ignores_row_order(data, rnd):
    perm = np.arange(len(data))
    rnd.shuffle(perm)
    shuffled = data.subset(perm)
    a = set(_keys(temporal_split(data, 0.3)[1]).tolist())
    b = set(_keys(temporal_split(shuffled, 0.3)[1]).tolist())
    assert a == b


def test_temporal_split_floor_on_known_example():
    users = np.repeat(np.arange(4), [1, 4, 5, 10]).astype(np.int32)
    items = np.concatenate([np.arange(c) for c in [1, 4, 5, 10]]).astype(np.int32)
    times = np.concatenate([np.arange(c)[::-1] for c in [1, 4, 5, 10]]).astype(np.int64)  # item 0 is the latest
    data = Interactions(users, items, np.full(20, 3.0), times, user_ids=np.arange(4), item_ids=np.arange(10))
    train, test = temporal_split(data, test_fraction=0.2)
    assert np.bincount(test.users, minlength=4).tolist() == [0, 0, 1, 2]  # floor(0.2 n)
    assert sorted(zip(test.users.tolist(), test.items.tolist())) == [(2, 0), (3, 0), (3, 1)]


def test_temporal_split_tie_break_by_item():
    # all ratings of the user share one timestamp: the highest item indices go to test
    data = Interactions(np.zeros(5, np.int32), np.array([3, 0, 4, 1, 2], np.int32), np.ones(5),
                        np.full(5, 7, np.int64), user_ids=[1], item_ids=np.arange(5))
    _, test = temporal_split(data, test_fraction=0.4)
    assert sorted(test.items.tolist()) == [3, 4]


def test_temporal_split_on_synthetic_data():
    data = make_movielens_like(n_users=200, n_items=300, n_ratings=9_000, random_state=0)
    train, test = temporal_split(data)
    _check_partition(data, train, test)
    n_u = np.bincount(data.users, minlength=data.n_users)
    np.testing.assert_array_equal(np.bincount(test.users, minlength=data.n_users), np.floor(0.2 * n_u + 1e-9))
    last_train = np.full(data.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, train.users, train.timestamps)
    first_test = np.full(data.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_test, test.users, test.timestamps)
    assert np.all(last_train <= first_test)


# ----------------------------------------------------------------------------- leave last k


@given(interactions(), st.integers(1, 4))
def test_leave_last_k_properties(data, k):
    train, test = leave_last_k_split(data, k=k)
    _check_partition(data, train, test)
    _check_temporal_order(train, test)
    n_u = np.bincount(data.users, minlength=data.n_users)
    expected = np.where(n_u > k, k, 0)
    np.testing.assert_array_equal(np.bincount(test.users, minlength=data.n_users), expected)
    assert set(zip(test.users.tolist(), test.items.tolist())) == _naive_latest(data, lambda n: k if n > k else 0)


# ----------------------------------------------------------------------------- random


@given(interactions(), fractions, st.integers(0, 2**32))
def test_random_split_properties(data, fraction, seed):
    train, test = random_split(data, test_fraction=fraction, random_state=seed)
    _check_partition(data, train, test)
    assert len(test) == math.floor(fraction * len(data) + 1e-9)
    again = random_split(data, test_fraction=fraction, random_state=seed)[1]
    np.testing.assert_array_equal(_keys(test), _keys(again))


def test_random_split_seeds_differ_and_fraction():
    data = make_movielens_like(n_users=100, n_items=200, n_ratings=4_000, random_state=0)
    a = random_split(data, 0.25, random_state=1)[1]
    b = random_split(data, 0.25, random_state=2)[1]
    assert len(a) == len(b) == 1_000
    assert not np.array_equal(np.sort(_keys(a)), np.sort(_keys(b)))
    g = np.random.default_rng(1)
    c = random_split(data, 0.25, random_state=g)[1]
    assert len(c) == 1_000


# ----------------------------------------------------------------------------- item cold start


@given(interactions(min_ratings=2), fractions, st.integers(0, 2**32))
def test_item_cold_start_properties(data, fraction, seed):
    rated = np.unique(data.items)
    if rated.size < 2:
        with pytest.raises(ValueError, match="at least 2 items with ratings"):
            item_cold_start_split(data, fraction, random_state=seed)
        return
    train, test = item_cold_start_split(data, item_fraction=fraction, random_state=seed)
    _check_partition(data, train, test)
    cold = np.unique(test.items)
    assert np.intersect1d(cold, train.items).size == 0  # cold items have no training rating
    counts = np.bincount(data.items, minlength=data.n_items)
    assert len(test) == counts[cold].sum()  # all their ratings are in test
    assert cold.size == min(max(math.floor(fraction * rated.size + 1e-9), 1), rated.size - 1)
    again = item_cold_start_split(data, item_fraction=fraction, random_state=seed)[1]
    np.testing.assert_array_equal(np.unique(again.items), cold)


def test_item_cold_start_seeded():
    data = make_movielens_like(n_users=100, n_items=200, n_ratings=4_000, random_state=0)
    a = np.unique(item_cold_start_split(data, 0.1, random_state=0)[1].items)
    b = np.unique(item_cold_start_split(data, 0.1, random_state=1)[1].items)
    assert a.size == b.size == 20 and not np.array_equal(a, b)


# ----------------------------------------------------------------------------- errors


def _tiny(timestamps=True):
    return Interactions(np.array([0, 0, 1], np.int32), np.array([0, 1, 1], np.int32), np.ones(3),
                        np.array([1, 2, 3], np.int64) if timestamps else None,
                        user_ids=np.arange(2), item_ids=np.arange(2))


@pytest.mark.parametrize("split", [temporal_split, random_split])
@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_out_of_range(split, fraction):
    with pytest.raises(ValueError, match=r"test_fraction must be in the open interval \(0, 1\)"):
        split(_tiny(), test_fraction=fraction)


def test_argument_types():
    with pytest.raises(TypeError, match="test_fraction must be a real number"):
        temporal_split(_tiny(), test_fraction="0.2")
    with pytest.raises(ValueError, match="item_fraction must be in the open interval"):
        item_cold_start_split(_tiny(), item_fraction=1.0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        leave_last_k_split(_tiny(), k=0)
    with pytest.raises(TypeError, match="data must be an Interactions"):
        temporal_split(np.zeros(3))
    with pytest.raises(TypeError, match="random_state"):
        random_split(_tiny(), random_state="seed")


@pytest.mark.parametrize("split", [temporal_split, leave_last_k_split])
def test_temporal_splits_need_timestamps(split):
    with pytest.raises(ValueError, match=f"{split.__name__} needs timestamps"):
        split(_tiny(timestamps=False))
    # the other splits do not
    train, test = random_split(_tiny(timestamps=False), 0.5)
    assert len(train) + len(test) == 3


def test_empty_data():
    data = Interactions(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(0, np.int64),
                        user_ids=np.arange(2), item_ids=np.arange(2))
    for split in (temporal_split, leave_last_k_split, random_split):
        train, test = split(data)
        assert len(train) == len(test) == 0
