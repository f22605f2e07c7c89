"""Train/test splits of an :class:`~mfcore.data.interactions.Interactions`.

Every split returns ``(train, test)`` built with ``data.subset(mask)``, so
both share the vocabularies (``user_ids``/``item_ids``), genres, titles and
tags of ``data``: user and item indices agree between them. Together they hold
every rating exactly once (a rating is never dropped). All work is vectorised
(one sort of packed int64 keys per split, no argsort of all rows), so splitting 32 million ratings
takes seconds.

Per-user order
--------------
The temporal splits order each user's ratings by ``(timestamp, item index)``:
ties on the timestamp are broken by the item index, so the result does not
depend on the row order of ``data``.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_float, check_int, check_random_state

__all__ = ["temporal_split", "random_split", "leave_last_k_split", "item_cold_start_split"]

# Guards floor(f * n) against binary round-off (0.29 * 100 = 28.999999999999996).
_EPS = 1e-9


def _check_data(data, name="data"):
    for attr in ("users", "items", "subset", "n_users", "n_items"):
        if not hasattr(data, attr):
            raise TypeError(f"{name} must be an Interactions, got {type(data).__name__}")
    return data


def _check_fraction(value, name):
    value = check_float(value, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
    return value


def _timestamps(data, split_name):
    ts = getattr(data, "timestamps", None)
    if ts is None:
        raise ValueError(
            f"{split_name} needs timestamps to order each user's ratings, but data has none; "
            "use random_split, or build the Interactions with timestamps="
        )
    return np.asarray(ts)


def _latest_mask(data, timestamps, n_test):
    """Boolean mask over rows: for each user u, its ``n_test[u]`` latest ratings.

    "Latest" is in the (timestamp, item index) order. ``n_test`` is int64
    (n_users,) with ``0 <= n_test[u] <= count[u]``.

    Implementation: sort the packed keys ``user * T + (t - t_min)`` (values
    only: one fast sort, no argsort of 32M rows), read each user's threshold
    key (its first test rating) from the sorted array, and mark rows above it.
    Rows whose key equals the threshold (same user, same second) are the only
    ones needing the item tie-break; they are few and are ordered by
    (user, item) separately. Falls back to ``np.lexsort`` when the packed key
    would overflow int64.
    """
    users = np.asarray(data.users).astype(np.int64)
    items = np.asarray(data.items)
    ts = np.asarray(timestamps).astype(np.int64)
    n = users.size
    counts = np.bincount(users, minlength=data.n_users).astype(np.int64)
    t_min = int(ts.min())
    span = int(ts.max()) - t_min + 1
    if data.n_users * span >= 2**62:
        order = np.lexsort((items, ts, users))
        ends = np.cumsum(counts)
        sorted_users = users[order]
        rank_from_end = ends[sorted_users] - 1 - np.arange(n, dtype=np.int64)
        test = np.zeros(n, dtype=bool)
        test[order[rank_from_end < n_test[sorted_users]]] = True
        return test
    key = users * span + (ts - t_min)
    srt = np.sort(key)
    starts = np.cumsum(counts) - counts
    has = n_test > 0
    thr = np.full(data.n_users, np.iinfo(np.int64).max, dtype=np.int64)
    thr[has] = srt[starts[has] + counts[has] - n_test[has]]  # key of the user's first test rating
    del srt
    row_thr = thr[users]
    test = key > row_thr
    tied = np.flatnonzero(key == row_thr)
    del key, row_thr
    if tied.size:
        # among a user's rows at the threshold key, the ones with the largest items go to test
        still = n_test - np.bincount(users[test], minlength=data.n_users)
        tu = users[tied]
        sub = tied[np.lexsort((items[tied], tu))]
        tu = users[sub]
        tie_counts = np.bincount(tu, minlength=data.n_users)
        tie_ends = np.cumsum(tie_counts)
        rank_from_end = tie_ends[tu] - 1 - np.arange(sub.size, dtype=np.int64)
        test[sub[rank_from_end < still[tu]]] = True
    return test


def _split(data, test):
    return data.subset(~test), data.subset(test)


def temporal_split(data, test_fraction=0.2):
    """Per user, put the latest ``floor(test_fraction * n_u)`` ratings in the test set.

    This is the per-user temporal protocol: each user's ratings are ordered by
    ``(timestamp, item index)`` and the last ones go to test. The number of
    test ratings of a user with ``n_u`` ratings is
    ``floor(test_fraction * n_u)`` (computed as ``floor(test_fraction * n_u +
    1e-9)`` so that binary round-off cannot lose one), which is at most
    ``n_u - 1``: every user with at least one rating keeps at least one in
    train, and users with fewer than ``1 / test_fraction`` ratings keep all of
    them in train (with MovieLens's 20 ratings per user and the default 0.2,
    every user has at least 4 test ratings).

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    test_fraction : float in (0, 1), default 0.2

    Returns
    -------
    train, test : Interactions
        Sharing ``data``'s vocabularies. Every test rating of a user is at or
        after every train rating of that user in the (timestamp, item) order.

    Raises
    ------
    ValueError
        If ``data`` has no timestamps or ``test_fraction`` is not in (0, 1).
    """
    _check_data(data)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    ts = _timestamps(data, "temporal_split")
    n = len(data.users)
    if n == 0:
        return _split(data, np.zeros(0, dtype=bool))
    counts = np.bincount(np.asarray(data.users), minlength=data.n_users).astype(np.int64)
    n_test = np.floor(test_fraction * counts + _EPS).astype(np.int64)
    np.minimum(n_test, np.maximum(counts - 1, 0), out=n_test)
    return _split(data, _latest_mask(data, ts, n_test))


def leave_last_k_split(data, k=1):
    """Per user, put the latest ``k`` ratings in the test set.

    Ratings are ordered by ``(timestamp, item index)``. Users with ``k`` or
    fewer ratings keep all of them in train (so every user keeps at least one
    training rating and the test set has exactly ``k`` ratings for each other
    user).

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    k : int >= 1, default 1

    Returns
    -------
    train, test : Interactions
    """
    _check_data(data)
    k = check_int(k, "k", min_value=1)
    ts = _timestamps(data, "leave_last_k_split")
    n = len(data.users)
    if n == 0:
        return _split(data, np.zeros(0, dtype=bool))
    counts = np.bincount(np.asarray(data.users), minlength=data.n_users).astype(np.int64)
    n_test = np.where(counts > k, k, 0).astype(np.int64)
    return _split(data, _latest_mask(data, ts, n_test))


def random_split(data, test_fraction=0.2, random_state=0):
    """Put a uniformly random ``floor(test_fraction * n)`` of all ratings in the test set.

    Not stratified by user: a user may end up with no training (or no test)
    ratings; use :func:`temporal_split` or :func:`leave_last_k_split` when
    every user must be in train.

    Parameters
    ----------
    data : Interactions
    test_fraction : float in (0, 1), default 0.2
    random_state : int, numpy.random.Generator or None, default 0
        Seed; the same seed gives the same split.

    Returns
    -------
    train, test : Interactions
    """
    _check_data(data)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    rng = check_random_state(random_state)
    n = len(data.users)
    n_test = int(math.floor(test_fraction * n + _EPS))
    test = np.zeros(n, dtype=bool)
    if n_test:
        test[rng.choice(n, size=n_test, replace=False, shuffle=False)] = True
    return _split(data, test)


def item_cold_start_split(data, item_fraction=0.1, random_state=0):
    """Hold out a random fraction of the rated items with all of their ratings.

    ``floor(item_fraction * m)`` items are chosen uniformly among the ``m``
    items that have at least one rating (clamped to ``[1, m - 1]`` so both
    sides are non-empty); every rating of a chosen item goes to test and no
    rating of it stays in train. Useful to evaluate cold-start items (e.g.
    with a genre prior).

    Parameters
    ----------
    data : Interactions
    item_fraction : float in (0, 1), default 0.1
    random_state : int, numpy.random.Generator or None, default 0

    Returns
    -------
    train, test : Interactions

    Raises
    ------
    ValueError
        If fewer than two items have ratings, or ``item_fraction`` is not in (0, 1).
    """
    _check_data(data)
    item_fraction = _check_fraction(item_fraction, "item_fraction")
    rng = check_random_state(random_state)
    items = np.asarray(data.items)
    rated = np.flatnonzero(np.bincount(items, minlength=data.n_items) > 0)
    m = rated.size
    if m < 2:
        raise ValueError(f"item_cold_start_split needs at least 2 items with ratings, data has {m}")
    n_cold = min(max(int(math.floor(item_fraction * m + _EPS)), 1), m - 1)
    cold = np.zeros(data.n_items, dtype=bool)
    cold[rng.choice(rated, size=n_cold, replace=False, shuffle=False)] = True
    return _split(data, cold[items])
