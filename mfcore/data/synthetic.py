"""MovieLens-shaped synthetic ratings with a planted low-rank + bias structure.

:func:`make_movielens_like` generates an :class:`~mfcore.data.interactions.Interactions`
whose *shape* imitates MovieLens (power-law user activity with at least 20
ratings per user, Zipf-like item popularity, half-star ratings whose histogram
peaks at 4.0, per-user activity windows between 1995 and 2023, multi-genre
items over the 19 MovieLens genres) and whose *values* follow a known model,
so tests and benchmarks can check that a recommender recovers it.
:func:`mfcore.data.writer.write_ratings_csv` writes any ``Interactions`` in the
MovieLens CSV format (``ratings.csv`` + ``movies.csv``) quickly enough for the 32M shape.

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
Activity is Lomax-distributed (at least ``min_user_ratings`` per user, at most
``max_user_fraction`` of the catalogue); item popularity follows a power law
over a seeded ranking; every user's items are a sample without replacement
from it, so no (user, item) pair repeats (details: :mod:`mfcore.data._pairs`).

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
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._validation import check_float, check_int
from ._genres import NO_GENRES, genre_matrix  # noqa: F401 (NO_GENRES: kept importable from here)
from ._pairs import _STATS, HEAVY_FRACTION, Popularity, sample_chunk, user_counts  # noqa: F401 (_STATS: tests)
from .writer import write_ratings_csv

__all__ = ["GENRES", "PRESETS", "make_movielens_like", "write_ratings_csv"]

#: The 19 MovieLens genres, in the order of ``genre_names`` of generated data.
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)

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


def _epoch(year, month=1, day=1):
    return int((np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "s") - np.datetime64(0, "s")).astype(np.int64))


# --------------------------------------------------------------------------- catalogue


def _read_movies(movies):
    """Return (movie_ids int64, titles object, genre strings object), in the order given."""
    import pandas as pd

    if isinstance(movies, (str, os.PathLike)):
        from .movielens import read_movies_file

        path = os.fspath(movies)
        if os.path.isdir(path):
            path = os.path.join(path, "movies.csv")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"movies: no such file {path} (expected a MovieLens movies.csv)")
        ids, titles, genres = read_movies_file(path)  # the loader's reader: same checks and messages
        if len(ids) == 0:
            raise ValueError(f"{path}: no movies")
        return ids, titles, genres
    if not isinstance(movies, pd.DataFrame):
        raise TypeError(f"movies must be a path to movies.csv, a pandas DataFrame or None, got {type(movies).__name__}")
    where = "movies DataFrame"
    missing = [c for c in ("movieId", "title", "genres") if c not in movies.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected movieId,title,genres")
    if len(movies) == 0:
        raise ValueError(f"{where}: no movies")
    ids = movies["movieId"].to_numpy()
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{where}: movieId must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        row = int(np.flatnonzero(ids == dup)[1])
        raise ValueError(f"{where}: duplicate movieId {dup} (second occurrence at row {row})")
    titles = np.array(["" if t is None or t is pd.NA else str(t) for t in movies["title"].tolist()], dtype=object)
    genres = np.array(["" if g is None or g is pd.NA else str(g) for g in movies["genres"].tolist()] + [None],
                      dtype=object)[:-1]
    return ids, titles, genres


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


# --------------------------------------------------------------------------- generator steps


def _catalogue(movies, n_items_arg, preset_items, seed, start_year, end_year):
    """(item ids, titles, genre CSR, genre names) from ``movies`` or generated."""
    if movies is not None:
        ids, titles, genre_strings = _read_movies(movies)
        if n_items_arg is None:
            n_items = len(ids)
        else:
            n_items = check_int(n_items_arg, "n_items", min_value=1)
            if n_items > len(ids):
                raise ValueError(f"n_items={n_items} is larger than the {len(ids)} movies given in movies=")
        item_genres, genre_names = genre_matrix(genre_strings[:n_items], leading=GENRES)
        return ids[:n_items], titles[:n_items], item_genres, genre_names
    n_items = check_int(preset_items if n_items_arg is None else n_items_arg, "n_items", min_value=1)
    return _synthetic_catalogue(np.random.default_rng(seed), n_items, start_year, end_year)


def _ratings_per_user_cap(n_users, n_items, n_ratings, min_user_ratings, max_user_fraction):
    """The most ratings one user may have; ValueError when the shape cannot be met."""
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
    return cap


class _Items(NamedTuple):
    factors: np.ndarray        # (n_items, K) float64
    bias: np.ndarray           # (n_items,) float64, centred where the ratings are
    centroids: np.ndarray      # (n_genres, K) genre centroids
    popularity: Popularity
    probability: np.ndarray    # (n_items,) sampling probability
    inv_p: np.ndarray          # (n_items,) float32, 1 / probability
    heavy_min: int             # users with at least this many ratings use exact top-k sampling


def _planted_items(rng, item_genres, n_genres, factors, genre_strength, popularity_exponent, popularity_offset,
                   min_user_ratings):
    """Item vectors near their genres' centroid, skewed biases, and the popularity law."""
    n_items = item_genres.shape[0]
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
    popularity = Popularity(pop_order, popularity_exponent, popularity_offset)
    item_pop = popularity.weights()
    inv_p = (1.0 / np.maximum(item_pop, 1e-30)).astype(np.float32)  # finite even for extreme exponents
    heavy_min = max(int(math.ceil(HEAVY_FRACTION * n_items)), min_user_ratings + 1)
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
    return _Items(item_factors, item_bias, centroids, popularity, item_pop, inv_p, heavy_min)


class _Users(NamedTuple):
    counts: np.ndarray         # (n_users,) int64 ratings per user
    bias: np.ndarray           # (n_users,) float64, centred by activity
    factors: np.ndarray        # (n_users, K) float64
    whole_star: np.ndarray     # (n_users,) bool: always rates in whole stars
    start: np.ndarray          # (n_users,) float64 seconds: start of the activity window
    duration: np.ndarray       # (n_users,) float64 seconds: its length


def _planted_users(rng, n_users, n_ratings, min_user_ratings, cap, user_activity_shape, factors,
                   whole_star_users, start_year, end_year):
    """Activity counts, skewed biases, vectors, star habits and activity windows."""
    counts = user_counts(rng, n_users, n_ratings, min_user_ratings, cap, user_activity_shape)
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
    return _Users(counts, user_bias, user_factors, whole_user, start, duration)


def _sample_ratings(items, users, n_items, n_ratings, noise, seed_pairs, seed_values):
    """(users, items, ratings, timestamps) arrays, one chunk of users at a time (fixed chunking)."""
    user_factors = users.factors.astype(np.float32)
    item_factors = items.factors.astype(np.float32)
    user_bias32 = (users.bias + _MU).astype(np.float32)
    item_bias32 = items.bias.astype(np.float32)
    n_users = users.counts.size
    users_out = np.empty(n_ratings, dtype=np.int32)
    items_out = np.empty(n_ratings, dtype=np.int32)
    ratings_out = np.empty(n_ratings, dtype=np.float32)
    times_out = np.empty(n_ratings, dtype=np.int64)
    ends = np.cumsum(users.counts)
    bounds = [0]
    while bounds[-1] < n_users:  # chunk boundaries depend only on the counts
        target = (ends[bounds[-1] - 1] if bounds[-1] else 0) + _CHUNK_RATINGS
        bounds.append(max(int(np.searchsorted(ends, target, side="right")), bounds[-1] + 1))
    chunk_seeds_pairs = seed_pairs.spawn(len(bounds) - 1)
    chunk_seeds_values = seed_values.spawn(len(bounds) - 1)
    noise32 = np.float32(noise)
    for c, (u0, u1) in enumerate(zip(bounds[:-1], bounds[1:])):
        lo = int(ends[u0 - 1]) if u0 else 0
        hi = int(ends[u1 - 1])
        keys = sample_chunk(np.random.default_rng(chunk_seeds_pairs[c]), users.counts[u0:u1], n_items,
                            items.popularity, items.inv_p, items.heavy_min)
        u = (keys // n_items).astype(np.int32)
        u += u0
        i = (keys % n_items).astype(np.int32)
        del keys
        users_out[lo:hi] = u
        items_out[lo:hi] = i
        vrng = np.random.default_rng(chunk_seeds_values[c])
        t = (users.start[u] + vrng.random(hi - lo) * users.duration[u]).astype(np.int64)
        times_out[lo:hi] = t
        y = np.einsum("ij,ij->i", user_factors[u], item_factors[i])
        y += user_bias32[u]
        y += item_bias32[i]
        y += noise32 * _skewed_standard(vrng.standard_normal(hi - lo, dtype=np.float32), _NOISE_SKEW)
        whole = users.whole_star[u] | (t < _HALF_STARS_FROM)
        r = np.where(whole, np.clip(np.round(y), 1.0, 5.0), np.clip(np.round(2.0 * y) / 2.0, 0.5, 5.0))
        ratings_out[lo:hi] = r
    return users_out, items_out, ratings_out, times_out


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

    s_catalogue, s_items, s_users, s_pairs, s_values = _seed_sequence(random_state).spawn(5)
    item_ids, titles, item_genres, genre_names = _catalogue(movies, n_items_arg, preset_items, s_catalogue,
                                                            start_year, end_year)
    n_items = len(item_ids)
    cap = _ratings_per_user_cap(n_users, n_items, n_ratings, min_user_ratings, max_user_fraction)
    items = _planted_items(np.random.default_rng(s_items), item_genres, len(genre_names), factors, genre_strength,
                           popularity_exponent, popularity_offset, min_user_ratings)
    users = _planted_users(np.random.default_rng(s_users), n_users, n_ratings, min_user_ratings, cap,
                           user_activity_shape, factors, whole_star_users, start_year, end_year)
    users_out, items_out, ratings_out, times_out = _sample_ratings(items, users, n_items, n_ratings, noise,
                                                                   s_pairs, s_values)
    data = Interactions(
        users_out, items_out, ratings_out, times_out,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        item_genres=item_genres,
        genre_names=list(genre_names),
        titles=titles,
    )
    if not return_truth:
        return data
    truth = {
        "mu": _MU,
        "user_bias": users.bias.astype(np.float32),
        "item_bias": items.bias.astype(np.float32),
        "user_factors": users.factors.astype(np.float32),
        "item_factors": items.factors.astype(np.float32),
        "genre_centroids": items.centroids.astype(np.float32),
        "item_popularity": items.probability,
    }
    return data, truth
