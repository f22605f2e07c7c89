"""MovieLens-shaped synthetic ratings with a planted low-rank + bias structure.

:func:`make_movielens_like` generates an :class:`~mfcore.data.interactions.Interactions`
whose *shape* imitates MovieLens (power-law user activity with at least 20
ratings per user, Zipf-like item popularity, half-star ratings whose histogram
peaks at 4.0, per-user activity windows between 1995 and 2023, multi-genre
items over the 19 MovieLens genres) and whose *values* follow a known model,
so tests and benchmarks can check that a recommender recovers it.
:func:`write_ratings_csv` writes any ``Interactions`` in the MovieLens CSV
format (``ratings.csv`` + ``movies.csv``) quickly enough for the 32M shape.

Generative model
----------------
For user ``u`` and item ``i`` (``K = factors``)::

    y_ui = mu + b_u + b_i + p_u . q_i + noise * eps_ui
    r_ui = clip(round_to_step(y_ui, step_u(t_ui)), low, 5.0)

* ``mu = 3.6``; ``b_u`` and ``b_i`` have standard deviation 0.5 and a long
  left tail (a sinh-arcsinh transform of a normal, re-standardised), so harsh
  raters and bad movies exist as in MovieLens. They are centred where the
  ratings fall (``b_i`` weighted by popularity, ``b_u`` by activity), so the
  mean rating (~3.55, MovieLens: 3.54) does not drift with the seed.
* ``eps_ui`` has mean 0 and variance 1 but a left skew (sinh-arcsinh of
  N(0, 1), skew 1): disappointments are more extreme than pleasant surprises,
  which gives MovieLens's long tail of 0.5-2.0 ratings.
* Genre structure: every genre ``g`` has a centroid ``c_g ~ N(0, I_K)`` and a
  bias ``a_g ~ N(0, 1)``. An item's vector is
  ``q_i = sqrt(genre_strength) * cbar_i + sqrt(1 - genre_strength) * z_i``
  with ``cbar_i`` the (standardised) mean centroid of the item's genres (zero
  for an item without genres) and ``z_i ~ N(0, I_K)``; its bias mixes the
  standardised mean genre bias, an individual skewed term and a small
  popularity term (popular movies are rated a little higher, as in MovieLens).
  Items therefore sit near their genres' centroid, so a genre prior helps
  cold-start items. User vectors are ``p_u ~ N(0, 0.3 / K * I_K)``, so
  ``Var(p_u . q_i) ~= 0.3`` (``genre_strength`` of it explained by genres).
* Rating scale: MovieLens used whole stars until February 2003 and half stars
  afterwards, and many users keep using whole stars. A rating made before
  2003-02-12, or by a "whole-star user" (a seeded fraction
  ``whole_star_users`` of users), is rounded to the nearest whole star and
  clipped to [1, 5]; every other rating is rounded to the nearest half star
  and clipped to [0.5, 5]. The clipping and rounding are **part of the
  generative model** (not a silent fix-up): the planted ``y_ui`` is the latent
  score, the observed ``r_ui`` is its censored, discretised version. With the
  defaults the histogram is close to MovieLens's (4.0 most common, then 3.0,
  then 5.0 and 3.5, ...).

Sampling of (user, item) pairs
------------------------------
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

Users are processed in fixed-size chunks (~2M ratings) with independent random
streams, so the result depends only on the arguments and the seed, not on
the machine, and the working memory stays bounded (the 32M shape peaks at
about 1.2 GB resident, most of it the output arrays).

Default popularity (exponent 1, offset 10) gives a blockbuster head (32M
shape: the top movie is rated by ~57 % of users, the top 1 % of movies hold
~37 % of the ratings) but a flatter tail than real MovieLens (median ~100
ratings per movie; real MovieLens has many movies with a handful of
ratings). ``popularity_exponent=1.3, popularity_offset=50`` gives a longer
tail at some extra generation time.

Timestamps
----------
Each user has an activity window ``[s_u, s_u + D_u]`` inside
``[start_year-01-01, end_year-12-31 23:59:59]`` UTC. Most MovieLens users rate
everything in one sitting, others come back over years, so ``D_u`` is drawn
from a two-component log-normal mixture (55 % "sessions" with median one hour,
45 % "long-term" users with median 200 days). Rating times are uniform inside
the window (int64 seconds since the epoch). A temporal split therefore
separates each user's earlier from later ratings.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._validation import check_float, check_int

__all__ = ["GENRES", "PRESETS", "make_movielens_like", "write_ratings_csv"]

#: The 19 MovieLens genres, in the order of ``genre_names`` of generated data.
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
NO_GENRES = "(no genres listed)"

#: Named shapes for ``scale=``: number of users, items and ratings.
#: "small" is the quickstart's built-in dataset; "1m" is the MovieLens 1M shape;
#: "32m" is the MovieLens 32M shape (pass ``movies=".../ml-32m/movies.csv"`` to
#: use its 87,585 real movies).
PRESETS = {
    "small": {"n_users": 2_000, "n_items": 1_500, "n_ratings": 150_000},
    "1m": {"n_users": 6_040, "n_items": 3_706, "n_ratings": 1_000_209},
    "32m": {"n_users": 200_948, "n_items": 87_585, "n_ratings": 32_000_204},
}

# Relative genre frequencies in the MovieLens 32M catalogue (movies.csv).
_GENRE_WEIGHTS = np.array([
    9668, 5402, 4617, 4520, 23124, 6976, 9363, 34175, 3851, 353, 8654, 195, 1059, 4013,
    10369, 4907, 11823, 2325, 1696,
], dtype=np.float64)
# P(number of genres = 0, 1, 2, 3, 4, 5) for synthetic items.
_N_GENRES_P = np.array([0.02, 0.50, 0.29, 0.14, 0.04, 0.01])

_MU = 3.6
_BIAS_SD = 0.5
_DOT_VAR = 0.3
_SKEW = 0.5
_NOISE_SKEW = 1.0
_HALF_STARS_FROM = 1044921600  # 2003-02-11 00:00:00 UTC: MovieLens introduced half stars
_CHUNK_RATINGS = 1 << 21       # ratings per user chunk (fixed: results must not depend on the machine)
_POPULARITY_ROUNDS = 6         # successive-sampling rounds from the popularity law before uniform top-up
_HEAVY_FRACTION = 0.02         # users rating >= this fraction of the items use exact Gumbel-top-k sampling
_HEAVY_BLOCK = 1 << 22         # keys per block of heavy users (bounds memory to 16 MB of float32)
_STATS = {"uniform": 0}        # ratings filled by the uniform top-up (diagnostics for tests)
_MAX_ROUNDS = 200


def _epoch(year, month=1, day=1):
    return int((np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "s") - np.datetime64(0, "s")).astype(np.int64))


# --------------------------------------------------------------------------- catalogue


def _read_movies(movies):
    """Return (movie_ids int64, titles object, genre lists) from a path or DataFrame."""
    import pandas as pd

    if isinstance(movies, pd.DataFrame):
        df, where = movies, "movies DataFrame"
    elif isinstance(movies, (str, os.PathLike)):
        path = Path(movies)
        if path.is_dir():
            path = path / "movies.csv"
        if not path.is_file():
            raise FileNotFoundError(f"movies: no such file {path} (expected a MovieLens movies.csv)")
        df = pd.read_csv(path, dtype={"movieId": "int64", "title": "string", "genres": "string"},
                         keep_default_na=False)
        where = str(path)
    else:
        raise TypeError(f"movies must be a path to movies.csv, a pandas DataFrame or None, got {type(movies).__name__}")
    missing = [c for c in ("movieId", "title", "genres") if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected movieId,title,genres")
    if len(df) == 0:
        raise ValueError(f"{where}: no movies")
    ids = df["movieId"].to_numpy()
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{where}: movieId must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        line = int(np.flatnonzero(ids == dup)[1]) + 2  # header is line 1
        raise ValueError(f"{where}: duplicate movieId {dup} (second occurrence on line {line})")
    titles = np.array(["" if t is None or t is pd.NA else str(t) for t in df["title"].tolist()], dtype=object)
    genres = [
        [] if (g is None or g is pd.NA or str(g) in ("", NO_GENRES)) else str(g).split("|")
        for g in df["genres"].tolist()
    ]
    return ids, titles, genres


def _genre_matrix(genre_lists):
    """Multi-hot CSR over GENRES (+ any extra names found, appended in sorted order)."""
    extra = sorted({g for gl in genre_lists for g in gl} - set(GENRES))
    names = list(GENRES) + extra
    col = {g: j for j, g in enumerate(names)}
    indptr = np.zeros(len(genre_lists) + 1, dtype=np.int32)
    indices = []
    for k, gl in enumerate(genre_lists):
        cols = sorted({col[g] for g in gl})
        indices.extend(cols)
        indptr[k + 1] = indptr[k] + len(cols)
    indices = np.asarray(indices, dtype=np.int32)
    mat = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(genre_lists), len(names)))
    return mat, names


def _synthetic_catalogue(rng, n_items, start_year, end_year):
    """Item ids 1..n, titles with a release year, and multi-hot genres over GENRES."""
    n_genres = len(GENRES)
    counts = rng.choice(len(_N_GENRES_P), size=n_items, p=_N_GENRES_P)
    # Weighted sampling without replacement of counts[i] genres per item (Gumbel top-k over 19 genres).
    keys = np.log(_GENRE_WEIGHTS / _GENRE_WEIGHTS.sum())[None, :] + rng.gumbel(size=(n_items, n_genres))
    order = np.argsort(-keys, axis=1, kind="stable")
    take = np.arange(n_genres)[None, :] < counts[:, None]
    rows = np.repeat(np.arange(n_items), counts)
    cols = order[take]
    mat = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(n_items, n_genres))
    mat.sort_indices()
    mat.indices = mat.indices.astype(np.int32)
    mat.indptr = mat.indptr.astype(np.int32)
    # Release years skewed towards recent decades, like the MovieLens catalogue.
    first = min(1930, start_year)
    years = (end_year - np.floor((end_year - first + 1) * rng.beta(1.0, 2.2, size=n_items))).astype(int)
    ids = np.arange(1, n_items + 1, dtype=np.int64)
    titles = np.array([f"Synthetic Movie {i} ({y})" for i, y in zip(ids.tolist(), years.tolist())], dtype=object)
    return ids, titles, mat, list(GENRES)


# --------------------------------------------------------------------------- planted model


@functools.lru_cache(maxsize=None)
def _skew_moments(skew):
    """Population mean and sd of sinh(asinh(Z) - skew), Z ~ N(0, 1) (Gauss-Hermite quadrature)."""
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    f = np.sinh(np.arcsinh(x) - skew)
    m = float((w * f).sum())
    return m, float(np.sqrt((w * (f - m) ** 2).sum()))


def _skewed_standard(z, skew):
    """Left-skewed transform of standard normal draws ``z``, standardised to mean 0, sd 1.

    Standardised with the population moments (not the sample's), so the
    result does not depend on the other draws. Works in the dtype of ``z``.
    """
    mean, sd = _skew_moments(skew)
    out = np.arcsinh(z)
    out -= z.dtype.type(skew)
    np.sinh(out, out=out)
    out -= z.dtype.type(mean)
    out *= z.dtype.type(1.0 / sd)
    return out


def _standardise_rows(x, mask):
    """Scale rows selected by ``mask`` to unit variance per coordinate (others untouched)."""
    if mask.sum() > 1:
        sd = float(np.sqrt(np.mean(x[mask] ** 2)))
        if sd > 0:
            x = x / sd
    return x


# --------------------------------------------------------------------------- user activity


def _user_counts(rng, n_users, n_ratings, min_count, cap, shape):
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


# --------------------------------------------------------------------------- pair sampling


def _bits(n):
    return max(int(n - 1).bit_length(), 1)


class _Popularity:
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


def _sample_chunk(rng, counts, n_items, popularity, inv_p, heavy_min):
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


# --------------------------------------------------------------------------- public API


def _resolve_shape(scale, n_users, n_items, n_ratings):
    if scale is None:
        preset = PRESETS["small"]
    else:
        if not isinstance(scale, str) or scale.lower() not in PRESETS:
            raise ValueError(f"scale must be one of {sorted(PRESETS)} or None, got {scale!r}")
        preset = PRESETS[scale.lower()]
    return (
        preset["n_users"] if n_users is None else n_users,
        n_items,  # resolved after reading movies
        preset["n_ratings"] if n_ratings is None else n_ratings,
        preset["n_items"],
    )


def _seed_sequence(random_state):
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be None, an int seed or a numpy Generator, got {random_state!r}")
    if int(random_state) < 0:
        raise ValueError(f"random_state must be a non-negative seed, got {random_state}")
    return np.random.SeedSequence(int(random_state))


def make_movielens_like(
    n_users=None,
    n_items=None,
    n_ratings=None,
    *,
    scale=None,
    factors=8,
    movies=None,
    random_state=0,
    noise=0.5,
    genre_strength=0.7,
    min_user_ratings=20,
    max_user_fraction=0.5,
    user_activity_shape=1.7,
    popularity_exponent=1.0,
    popularity_offset=10.0,
    whole_star_users=0.2,
    start_year=1995,
    end_year=2023,
    return_truth=False,
):
    """Generate a MovieLens-shaped explicit-feedback dataset with a planted model.

    See the module docstring for the full generative model. The result is
    deterministic for an int ``random_state`` and sorted by (user, item) like
    MovieLens's ``ratings.csv``.

    Parameters
    ----------
    n_users, n_items, n_ratings : int or None
        Shape. ``None`` takes the value from ``scale`` (default preset "small":
        2,000 users, 1,500 items, 150,000 ratings). With ``movies`` given,
        ``n_items=None`` uses every movie of the file, a smaller ``n_items``
        the first ``n_items`` rows of the file.
    scale : {"small", "1m", "32m"} or None
        Named shape (see :data:`PRESETS`); explicit ``n_*`` arguments override
        it. ``"32m"`` is 200,948 users, 87,585 items and 32,000,204 ratings.
    factors : int, default 8
        Rank ``K`` of the planted user/item vectors.
    movies : path-like, pandas.DataFrame or None
        A MovieLens ``movies.csv`` (or a directory holding one, or a DataFrame
        with columns movieId, title, genres): its real movieIds, titles and
        ``|``-separated genres are used (``"(no genres listed)"`` = no genre;
        genre names outside the 19 standard ones are appended to
        ``genre_names``). ``None`` generates ids 1..n_items, titles
        ``"Synthetic Movie <id> (<year>)"`` and 0-5 genres per item.
    random_state : int, numpy.random.Generator or None, default 0
        Seed. ``None`` draws fresh entropy (not reproducible).
    noise : float, default 0.5
        Standard deviation of the (left-skewed) rating noise, in stars, before
        rounding.
    genre_strength : float in [0, 1], default 0.7
        Share of the item-vector and item-bias variance explained by genres.
    min_user_ratings : int, default 20
        Every user has at least this many ratings (MovieLens: 20).
    max_user_fraction : float in (0, 1], default 0.5
        No user rates more than this fraction of the items.
    user_activity_shape : float, default 1.7
        Lomax shape of the user-activity weights; smaller = heavier tail.
    popularity_exponent, popularity_offset : float, default 1.0, 10.0
        Item at popularity rank ``x`` (0 = biggest blockbuster) is drawn with
        weight ``(x + offset) ** -exponent``.
    whole_star_users : float in [0, 1], default 0.2
        Fraction of users who always use whole stars (ratings made before
        2003-02-11 are whole stars for everybody).
    start_year, end_year : int, default 1995, 2023
        Timestamps lie in [start_year-01-01, end_year-12-31 23:59:59] UTC.
    return_truth : bool, default False
        Also return the planted parameters.

    Returns
    -------
    data : Interactions
        ``users``/``items`` int32, ``ratings`` float32 in {0.5, 1.0, ..., 5.0},
        ``timestamps`` int64 seconds, ``user_ids`` = 1..n_users (int64),
        ``item_ids`` (int64), ``item_genres`` CSR (n_items, n_genres) float32,
        ``genre_names``, ``titles``.
    truth : dict, only if ``return_truth``
        ``mu`` (float), ``user_bias`` (n_users,), ``item_bias`` (n_items,),
        ``user_factors`` (n_users, K), ``item_factors`` (n_items, K),
        ``genre_centroids`` (n_genres, K), ``item_popularity`` (n_items,)
        sampling probabilities; float32 except ``item_popularity`` (float64).

    Raises
    ------
    ValueError
        If ``n_ratings < min_user_ratings * n_users``, if the users cannot hold
        ``n_ratings`` under ``max_user_fraction``, or on invalid arguments.

    Examples
    --------
    >>> data = make_movielens_like()                       # quickstart dataset
    >>> big = make_movielens_like(scale="32m", movies="ml-32m/movies.csv")  # doctest: +SKIP
    """
    from .interactions import Interactions

    n_users, n_items_arg, n_ratings, preset_items = _resolve_shape(scale, n_users, n_items, n_ratings)
    n_users = check_int(n_users, "n_users", min_value=1)
    n_ratings = check_int(n_ratings, "n_ratings", min_value=1)
    factors = check_int(factors, "factors", min_value=1)
    noise = check_float(noise, "noise", min_value=0.0)
    genre_strength = check_float(genre_strength, "genre_strength", min_value=0.0, max_value=1.0)
    min_user_ratings = check_int(min_user_ratings, "min_user_ratings", min_value=1)
    max_user_fraction = check_float(max_user_fraction, "max_user_fraction", min_value=0.0, max_value=1.0,
                                    min_inclusive=False)
    user_activity_shape = check_float(user_activity_shape, "user_activity_shape", min_value=0.0, min_inclusive=False)
    popularity_exponent = check_float(popularity_exponent, "popularity_exponent", min_value=0.0)
    popularity_offset = check_float(popularity_offset, "popularity_offset", min_value=0.0, min_inclusive=False)
    whole_star_users = check_float(whole_star_users, "whole_star_users", min_value=0.0, max_value=1.0)
    start_year = check_int(start_year, "start_year", min_value=1970, max_value=2200)
    end_year = check_int(end_year, "end_year", min_value=start_year, max_value=2200)
    if not isinstance(return_truth, (bool, np.bool_)):
        raise TypeError(f"return_truth must be a bool, got {return_truth!r}")

    seq = _seed_sequence(random_state)
    s_catalogue, s_items, s_users, s_pairs, s_values = seq.spawn(5)

    # ---- catalogue
    if movies is not None:
        ids, titles, genre_lists = _read_movies(movies)
        if n_items_arg is None:
            n_items = len(ids)
        else:
            n_items = check_int(n_items_arg, "n_items", min_value=1)
            if n_items > len(ids):
                raise ValueError(f"n_items={n_items} is larger than the {len(ids)} movies given in movies=")
        item_ids, titles = ids[:n_items], titles[:n_items]
        item_genres, genre_names = _genre_matrix(genre_lists[:n_items])
    else:
        n_items = check_int(preset_items if n_items_arg is None else n_items_arg, "n_items", min_value=1)
        item_ids, titles, item_genres, genre_names = _synthetic_catalogue(
            np.random.default_rng(s_catalogue), n_items, start_year, end_year)

    cap = max(min(n_items, int(math.floor(max_user_fraction * n_items))), 1)
    if min_user_ratings > cap:
        raise ValueError(
            f"min_user_ratings={min_user_ratings} exceeds what a user may rate "
            f"(max_user_fraction={max_user_fraction} of n_items={n_items} = {cap})"
        )
    if n_ratings < min_user_ratings * n_users:
        raise ValueError(
            f"n_ratings={n_ratings} is too small: {n_users} users x min_user_ratings={min_user_ratings} "
            f"need at least {min_user_ratings * n_users}"
        )
    if n_ratings > cap * n_users:
        raise ValueError(
            f"n_ratings={n_ratings} is too large: {n_users} users may rate at most {cap} items each "
            f"(max_user_fraction={max_user_fraction} of n_items={n_items}), i.e. {cap * n_users} in total"
        )
    if n_ratings > np.iinfo(np.int64).max // 2 or n_users > np.iinfo(np.int32).max:
        raise ValueError("n_users / n_ratings too large")

    # ---- planted item parameters
    rng = np.random.default_rng(s_items)
    n_genres = len(genre_names)
    has_genre = np.diff(item_genres.indptr) > 0
    row_norm = sp.diags(1.0 / np.maximum(np.diff(item_genres.indptr), 1)) @ item_genres.astype(np.float64)
    centroids = rng.standard_normal((n_genres, factors))
    genre_bias = rng.standard_normal(n_genres)
    cbar = _standardise_rows(np.asarray(row_norm @ centroids), has_genre)
    item_factors = (math.sqrt(genre_strength) * cbar
                    + math.sqrt(1.0 - genre_strength) * rng.standard_normal((n_items, factors)))
    gbar = np.asarray(row_norm @ genre_bias).ravel()
    gbar = _standardise_rows(gbar, has_genre)
    pop_order = rng.permutation(n_items)
    popularity = _Popularity(pop_order, popularity_exponent, popularity_offset)
    item_pop = popularity.weights()
    inv_p = (1.0 / np.maximum(item_pop, 1e-30)).astype(np.float32)  # finite even for extreme exponents
    heavy_min = max(int(math.ceil(_HEAVY_FRACTION * n_items)), min_user_ratings + 1)
    rank = np.empty(n_items, dtype=np.float64)
    rank[pop_order] = np.arange(n_items)
    logpop = -popularity_exponent * np.log(rank + popularity_offset + 0.5)  # log density at the rank's midpoint
    pop_z = (logpop - logpop.mean()) / (logpop.std() if logpop.std() > 0 else 1.0)
    own = _skewed_standard(rng.standard_normal(n_items), _SKEW)
    item_bias = _BIAS_SD * (math.sqrt(genre_strength) * gbar
                            + math.sqrt(1.0 - genre_strength) * (math.sqrt(0.95) * own + math.sqrt(0.05) * pop_z))

    # Centre the biases where the ratings are (popularity- / activity-weighted), so that the
    # random genre biases cannot shift the global mean and the star histogram from seed to seed.
    item_bias -= np.average(item_bias, weights=item_pop)

    # ---- users
    rng = np.random.default_rng(s_users)
    counts = _user_counts(rng, n_users, n_ratings, min_user_ratings, cap, user_activity_shape)
    user_bias = _BIAS_SD * _skewed_standard(rng.standard_normal(n_users), _SKEW)
    user_bias -= np.average(user_bias, weights=counts)
    user_factors = rng.standard_normal((n_users, factors)) * math.sqrt(_DOT_VAR / factors)
    whole_user = rng.random(n_users) < whole_star_users
    t_lo, t_hi = _epoch(start_year), _epoch(end_year + 1) - 1
    span = float(t_hi - t_lo)
    session = rng.random(n_users) < 0.55
    duration = np.where(session, 3600.0 * np.exp(rng.standard_normal(n_users)),
                        200 * 86400.0 * np.exp(1.5 * rng.standard_normal(n_users)))
    duration = np.clip(duration, 60.0, span)
    start = t_lo + rng.random(n_users) * (span - duration)

    truth = None
    if return_truth:
        truth = {
            "mu": _MU,
            "user_bias": user_bias.astype(np.float32),
            "item_bias": item_bias.astype(np.float32),
            "user_factors": user_factors.astype(np.float32),
            "item_factors": item_factors.astype(np.float32),
            "genre_centroids": centroids.astype(np.float32),
            "item_popularity": item_pop,
        }
    user_factors = user_factors.astype(np.float32)
    item_factors = item_factors.astype(np.float32)
    user_bias32 = (user_bias + _MU).astype(np.float32)
    item_bias32 = item_bias.astype(np.float32)

    # ---- pairs, ratings and timestamps, one chunk of users at a time
    users_out = np.empty(n_ratings, dtype=np.int32)
    items_out = np.empty(n_ratings, dtype=np.int32)
    ratings_out = np.empty(n_ratings, dtype=np.float32)
    times_out = np.empty(n_ratings, dtype=np.int64)
    ends = np.cumsum(counts)
    bounds = [0]
    while bounds[-1] < n_users:  # chunk boundaries depend only on the counts
        target = (ends[bounds[-1] - 1] if bounds[-1] else 0) + _CHUNK_RATINGS
        bounds.append(max(int(np.searchsorted(ends, target, side="right")), bounds[-1] + 1))
    chunk_seeds_pairs = s_pairs.spawn(len(bounds) - 1)
    chunk_seeds_values = s_values.spawn(len(bounds) - 1)
    noise32 = np.float32(noise)
    for c, (u0, u1) in enumerate(zip(bounds[:-1], bounds[1:])):
        lo = int(ends[u0 - 1]) if u0 else 0
        hi = int(ends[u1 - 1])
        keys = _sample_chunk(np.random.default_rng(chunk_seeds_pairs[c]), counts[u0:u1], n_items, popularity,
                             inv_p, heavy_min)
        u = (keys // n_items).astype(np.int32)
        u += u0
        i = (keys % n_items).astype(np.int32)
        del keys
        users_out[lo:hi] = u
        items_out[lo:hi] = i
        vrng = np.random.default_rng(chunk_seeds_values[c])
        t = (start[u] + vrng.random(hi - lo) * duration[u]).astype(np.int64)
        times_out[lo:hi] = t
        y = np.einsum("ij,ij->i", user_factors[u], item_factors[i])
        y += user_bias32[u]
        y += item_bias32[i]
        y += noise32 * _skewed_standard(vrng.standard_normal(hi - lo, dtype=np.float32), _NOISE_SKEW)
        whole = whole_user[u] | (t < _HALF_STARS_FROM)
        r = np.where(whole, np.clip(np.round(y), 1.0, 5.0), np.clip(np.round(2.0 * y) / 2.0, 0.5, 5.0))
        ratings_out[lo:hi] = r

    data = Interactions(
        users_out, items_out, ratings_out, times_out,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        item_genres=item_genres,
        genre_names=list(genre_names),
        titles=titles,
    )
    return (data, truth) if return_truth else data


# --------------------------------------------------------------------------- CSV writer

_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def _n_digits(v):
    return 1 + np.searchsorted(_POW10, v, side="right")


def _put_digits(mat, col, width, v):
    """Write non-negative ints ``v`` zero-padded to ``width`` digits into ``mat[:, col:col + width]``."""
    v = v.astype(np.int32 if v.size == 0 or int(v.max()) < 2**31 else np.int64)
    digits = np.empty((width, v.size), dtype=np.uint8)  # contiguous per digit, one strided copy at the end
    for k in range(width - 1, -1, -1):
        q = v // 10
        digits[k] = v - q * 10
        v = q
    digits += 48
    mat[:, col:col + width] = digits.T


def _format_chunk(user_raw, item_raw, ratings, times):
    """Bytes for rows 'user,item,rating,timestamp\n' (non-negative integer ids and times,
    half-star ratings in [0, 10)).

    Every field is first written zero-padded into a fixed-width (rows x W) byte
    matrix, column by column (contiguous vector ops, no scatter); a boolean mask
    then drops the padding zeros in one compress, which also yields the rows in
    order.
    """
    nu, ni, nt = _n_digits(user_raw), _n_digits(item_raw), _n_digits(times)
    wu, wi, wt = int(nu.max()), int(ni.max()), int(nt.max())
    cu, ci, cr, ct = 0, wu + 1, wu + wi + 2, wu + wi + 6
    width = ct + wt + 1
    mat = np.empty((len(ratings), width), dtype=np.uint8)
    keep = np.ones((len(ratings), width), dtype=bool)
    for col, w, v, nd in ((cu, wu, user_raw, nu), (ci, wi, item_raw, ni), (ct, wt, times, nt)):
        _put_digits(mat, col, w, v)
        if w > 1:
            keep[:, col:col + w] = np.arange(w)[None, :] >= (w - nd)[:, None]
    r2 = np.rint(ratings.astype(np.float64) * 2).astype(np.int32)
    mat[:, cr] = r2 // 2
    mat[:, cr] += 48
    mat[:, cr + 1] = 46
    mat[:, cr + 2] = np.where(r2 % 2 == 1, 53, 48)
    mat[:, [ci - 1, cr - 1, ct - 1]] = 44
    mat[:, width - 1] = 10
    return mat[keep]


def _atomic_writer(path):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    return path, tmp


def write_ratings_csv(data, path, *, movies_path="auto", chunk_size=1_000_000):
    """Write ``data`` in MovieLens CSV format (``ratings.csv`` and ``movies.csv``).

    ``ratings.csv`` has the header ``userId,movieId,rating,timestamp`` and one
    row per rating in the order stored in ``data`` (raw ids, rating with one
    decimal, e.g. ``4.0``; implicit data is written with rating ``1.0``).
    ``movies.csv`` has ``movieId,title,genres`` with ``|``-joined genre names
    (``(no genres listed)`` for none; empty titles when ``data.titles`` is
    None), quoted like MovieLens when a title contains a comma or a quote.
    Files are written to a temporary name and renamed, so a reader never sees
    a half-written file.

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    path : path-like
        A directory (``ratings.csv`` and ``movies.csv`` are written inside it,
        created if missing) or a file name for the ratings.
    movies_path : path-like, "auto" or None, default "auto"
        Where to write ``movies.csv``. "auto": ``<dir>/movies.csv`` when
        ``path`` is a directory or a file named ``ratings.csv``, else
        ``<path stem>.movies.csv`` beside it. None: do not write it.
    chunk_size : int, default 1_000_000
        Rows formatted per chunk (bounds the extra memory to ~60 bytes/row).

    Returns
    -------
    dict
        ``{"ratings": Path, "movies": Path or None}``.
    """
    import pandas as pd

    chunk_size = check_int(chunk_size, "chunk_size", min_value=1)
    if getattr(data, "timestamps", None) is None:
        raise ValueError("write_ratings_csv: data has no timestamps; MovieLens ratings.csv needs a timestamp column")
    path = Path(path)
    if path.is_dir() or (not path.suffix and not path.exists()):
        path.mkdir(parents=True, exist_ok=True)
        ratings_path = path / "ratings.csv"
    else:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"write_ratings_csv: directory {path.parent} does not exist")
        ratings_path = path
    if movies_path == "auto":
        if ratings_path.name == "ratings.csv":
            movies_path = ratings_path.with_name("movies.csv")
        else:
            movies_path = ratings_path.with_name(ratings_path.stem + ".movies.csv")
    elif movies_path is not None:
        movies_path = Path(movies_path)

    user_ids = np.asarray(data.user_ids)
    item_ids = np.asarray(data.item_ids)
    users, items = np.asarray(data.users), np.asarray(data.items)
    ratings, times = np.asarray(data.ratings), np.asarray(data.timestamps)
    fast_ids = (np.issubdtype(user_ids.dtype, np.integer) and np.issubdtype(item_ids.dtype, np.integer)
                and (user_ids.size == 0 or user_ids.min() >= 0) and (item_ids.size == 0 or item_ids.min() >= 0))

    final, tmp = _atomic_writer(ratings_path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(b"userId,movieId,rating,timestamp\n")
            for lo in range(0, len(users), chunk_size):
                hi = min(lo + chunk_size, len(users))
                r = ratings[lo:hi]
                t = times[lo:hi]
                r2 = r.astype(np.float64) * 2
                fast = (fast_ids and np.all(r2 == np.rint(r2)) and np.all((r2 >= 0) & (r2 < 20))
                        and np.all(t >= 0))
                if fast:
                    buf = _format_chunk(user_ids[users[lo:hi]].astype(np.int64),
                                        item_ids[items[lo:hi]].astype(np.int64), r, t.astype(np.int64))
                    fh.write(memoryview(buf))
                else:  # general (slower) path: arbitrary ids / rating values
                    pd.DataFrame({
                        "userId": user_ids[users[lo:hi]], "movieId": item_ids[items[lo:hi]],
                        "rating": r.astype(np.float64), "timestamp": t,
                    }).to_csv(fh, header=False, index=False, lineterminator="\n")
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()

    if movies_path is not None:
        genres = getattr(data, "item_genres", None)
        names = list(getattr(data, "genre_names", None) or [])
        n_items = len(item_ids)
        if genres is not None and len(names):
            g = sp.csr_matrix(genres)
            g.sort_indices()
            labels = np.asarray(names, dtype=object)
            genre_col = [
                "|".join(labels[g.indices[g.indptr[k]:g.indptr[k + 1]]]) or NO_GENRES for k in range(n_items)
            ]
        else:
            genre_col = [NO_GENRES] * n_items
        titles = getattr(data, "titles", None)
        titles = [""] * n_items if titles is None else [("" if t is None else str(t)) for t in titles]
        movies_final, movies_tmp = _atomic_writer(movies_path)
        try:
            pd.DataFrame({"movieId": item_ids, "title": titles, "genres": genre_col}).to_csv(
                movies_tmp, index=False, lineterminator="\n")
            os.replace(movies_tmp, movies_final)
        finally:
            if movies_tmp.exists():
                movies_tmp.unlink()
    return {"ratings": final, "movies": None if movies_path is None else Path(movies_path)}

