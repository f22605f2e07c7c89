"""Who rated what in the synthetic data: activity counts and distinct (user, item) pairs.

Each user's number of ratings is ``min_user_ratings`` plus a share of the
remaining ratings proportional to a Lomax (Pareto II) weight with shape
``user_activity_shape`` (capped at ``max_user_fraction * n_items``); the counts
add up exactly to ``n_ratings``. Item popularity ranks are a seeded
permutation of the items; rank ``x`` has weight proportional to
``(x + popularity_offset) ** -popularity_exponent`` (continuous power law,
sampled by closed-form inverse CDF). Every user's items are a weighted sample
*without replacement* from that law, so no (user, item) pair ever repeats:

* heavy users (at least 2 % of the catalogue) take the ``k_u`` items with the
  smallest ``E_i / p_i``, ``E_i ~ Exp(1)`` (exponential/Gumbel top-k: exact,
  costs ``n_items`` per user);
* everyone else uses *successive sampling*: candidates are drawn with
  replacement from the popularity law (in oversampled rounds) and the first
  distinct ones in draw order are kept, which has the same law. Sorting packed
  int64 keys (user, item, draw position) does the deduplication, so the cost
  is a few sorts of ~1.25 x n_ratings keys;
* a user still short after a few rounds (only with extreme popularity
  exponents) is completed uniformly from the items it has not rated yet.
"""

from __future__ import annotations

import math

import numpy as np

HEAVY_FRACTION = 0.02          # users rating >= this fraction of the items use exact Gumbel-top-k sampling
_POPULARITY_ROUNDS = 6         # successive-sampling rounds from the popularity law before uniform top-up
_HEAVY_BLOCK = 1 << 22         # keys per block of heavy users (bounds memory to 16 MB of float32)
_STATS = {"uniform": 0}        # ratings filled by the uniform top-up (diagnostics for tests)
_MAX_ROUNDS = 200


def user_counts(rng, n_users, n_ratings, min_count, cap, shape):
    """Integer counts >= min_count, <= cap, summing exactly to n_ratings, Lomax-distributed."""
    counts = np.full(n_users, min_count, dtype=np.int64)
    extra_total = n_ratings - min_count * n_users
    if extra_total == 0:
        return counts
    weights = rng.pareto(shape, size=n_users) + 1e-12  # Lomax(shape) weights
    room = np.full(n_users, cap - min_count, dtype=np.int64)
    free = room > 0
    alloc = np.zeros(n_users, dtype=np.float64)
    remaining = float(extra_total)
    while True:  # water-filling: cap heavy users, share their excess among the rest
        share = np.where(free, weights, 0.0)
        alloc_free = remaining * share / share.sum()
        over = free & (alloc_free > room)
        if not over.any():
            alloc[free] = alloc_free[free]
            break
        alloc[over] = room[over]
        remaining -= float(room[over].sum())
        free &= ~over
    base = np.floor(alloc).astype(np.int64)
    short = extra_total - int(base.sum())
    if short > 0:  # hand out the rounding remainder by largest fractional part (ties by user index)
        frac = np.where(base < room, alloc - base, -1.0)
        top = np.argsort(-frac, kind="stable")[:short]
        base[top] += 1
    return counts + base


def _bits(n):
    return max(int(n - 1).bit_length(), 1)


class Popularity:
    """Continuous power law over ranks [0, n): density ~ (x + a) ** -s, mapped to items by a permutation."""

    def __init__(self, order, exponent, offset):
        self.order = order.astype(np.int64)
        self.n = len(order)
        self.s = exponent
        self.a = offset
        if abs(exponent - 1.0) < 1e-9:
            self._lo, self._hi = math.log(offset), math.log(self.n + offset)
        else:
            e = 1.0 - exponent
            self._lo, self._hi = offset ** e, (self.n + offset) ** e

    def weights(self):
        """Probability of each item (float64, sums to 1), for reference and tests."""
        x = np.arange(self.n + 1, dtype=np.float64)
        if abs(self.s - 1.0) < 1e-9:
            cdf = (np.log(x + self.a) - self._lo) / (self._hi - self._lo)
        else:
            cdf = ((x + self.a) ** (1.0 - self.s) - self._lo) / (self._hi - self._lo)
        p = np.empty(self.n)
        p[self.order] = np.diff(cdf)
        return p

    def draw(self, rng, size):
        u = rng.random(size)
        if abs(self.s - 1.0) < 1e-9:
            x = np.exp(self._lo + u * (self._hi - self._lo)) - self.a
        else:
            x = (self._lo + u * (self._hi - self._lo)) ** (1.0 / (1.0 - self.s)) - self.a
        rank = np.minimum(x.astype(np.int64), self.n - 1)
        np.maximum(rank, 0, out=rank)
        return self.order[rank]


def _sample_heavy(rng, users, counts, inv_p, n_items):
    """Exact weighted sampling without replacement for heavy users (Gumbel/exponential top-k).

    The ``counts[u]`` items with the smallest ``E_i / p_i`` (``E_i ~ Exp(1)``) are a
    sample without replacement proportional to ``p`` -- the same law as
    successive sampling, at a cost of ``n_items`` per user instead of ~1/p_min.
    Returns unsorted int64 keys ``user * n_items + item``.
    """
    out = []
    per_block = max(1, _HEAVY_BLOCK // max(n_items, 1))
    for b0 in range(0, len(users), per_block):
        block = users[b0:b0 + per_block]
        keys = rng.standard_exponential((len(block), n_items), dtype=np.float32)
        keys *= inv_p
        for row, u in enumerate(block.tolist()):
            k = int(counts[u])
            items = np.arange(n_items) if k >= n_items else np.argpartition(keys[row], k - 1)[:k]
            out.append(u * n_items + items.astype(np.int64))
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def sample_chunk(rng, counts, n_items, popularity, inv_p, heavy_min):
    """Distinct items per user for one chunk of users.

    counts : int64 (n_chunk_users,), each <= n_items.
    inv_p : float32 (n_items,), 1 / popularity probability.
    heavy_min : users with at least this many ratings use :func:`_sample_heavy`.
    Returns sorted int64 keys ``local_user * n_items + item`` (one per rating).
    """
    n_local = len(counts)
    user_bits, item_bits = _bits(n_local), _bits(n_items)
    deficit = counts.astype(np.int64).copy()
    heavy = np.flatnonzero(counts >= heavy_min)
    accepted = _sample_heavy(rng, heavy, counts, inv_p, n_items)
    accepted.sort()
    deficit[heavy] = 0
    for round_ in range(_MAX_ROUNDS):
        need = np.flatnonzero(deficit > 0)
        if need.size == 0:
            return accepted
        uniform = round_ >= _POPULARITY_ROUNDS
        d = deficit[need]
        m = d + np.ceil(d * (0.25 if round_ == 0 else 1.0)).astype(np.int64) + 2
        if uniform:  # drawing from the free items only; self-collisions are the only loss
            held = counts[need] - d
            m = np.minimum(m, n_items - held)
        pos_bits = _bits(int(m.max()))
        if user_bits + item_bits + pos_bits > 62:
            raise ValueError(
                f"n_items={n_items} with up to {int(counts.max())} ratings per user is too large for the "
                "pair sampler (62-bit keys); lower max_user_fraction or n_items"
            )
        total = int(m.sum())
        cand_user = np.repeat(need, m)
        starts = np.cumsum(m) - m
        pos = np.arange(total, dtype=np.int64) - np.repeat(starts, m)
        if not uniform:
            cand_item = popularity.draw(rng, total)
        else:
            # Uniform over the items user u has not rated: the r-th free item is r + #{held h_j - j <= r}.
            free = n_items - held
            r = np.floor(rng.random(total) * np.repeat(free, m)).astype(np.int64)
            np.minimum(r, np.repeat(free, m) - 1, out=r)
            acc_user = accepted // n_items
            seg_start = np.searchsorted(acc_user, np.arange(n_local + 1), side="left")
            rank_in_user = np.arange(accepted.size, dtype=np.int64) - seg_start[acc_user]
            g = accepted - rank_in_user  # = user * n_items + (h_j - j): sorted
            q = cand_user * n_items + r
            cand_item = r + (np.searchsorted(g, q, side="right") - seg_start[cand_user])
        # 1) first occurrence (in draw order) of each (user, item) among the candidates
        key = (cand_user << (item_bits + pos_bits)) | (cand_item << pos_bits) | pos
        key.sort()
        pair = key >> pos_bits
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        np.not_equal(pair[1:], pair[:-1], out=first[1:])
        pair = pair[first]
        pos = key[first] & ((1 << pos_bits) - 1)
        del key, first
        cand_user = pair >> item_bits
        cand_item = pair & ((1 << item_bits) - 1)
        # 2) drop items the user already has
        if accepted.size and not uniform:
            flat = cand_user * n_items + cand_item
            at = np.searchsorted(accepted, flat)
            np.minimum(at, accepted.size - 1, out=at)
            fresh = accepted[at] != flat
            cand_user, cand_item, pos = cand_user[fresh], cand_item[fresh], pos[fresh]
        # 3) keep the first deficit[u] of them in draw order
        key = (cand_user << (pos_bits + item_bits)) | (pos << item_bits) | cand_item
        key.sort()
        cand_user = key >> (pos_bits + item_bits)
        cand_item = key & ((1 << item_bits) - 1)
        del key
        seg = np.searchsorted(cand_user, np.arange(n_local), side="left")
        rank = np.arange(cand_user.size, dtype=np.int64) - seg[cand_user]
        keep = rank < deficit[cand_user]
        new = cand_user[keep] * n_items + cand_item[keep]
        deficit -= np.bincount(cand_user[keep], minlength=n_local)
        if uniform:
            _STATS["uniform"] += int(keep.sum())
        accepted = np.concatenate([accepted, new])
        accepted.sort()
    raise RuntimeError(f"pair sampler did not converge in {_MAX_ROUNDS} rounds (please report this)")
