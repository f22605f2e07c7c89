"""The data figures of the paper (section 4, Figs 1-11) as tidy DataFrames.

One pure function per figure. Each takes an :class:`mfcore.Interactions` and
returns a :class:`pandas.DataFrame` in long ("tidy") form: one row per plotted
point, bar or cell, one column per variable. Scalar summaries that a caption
quotes (the fitted power-law exponent of Fig 4, the peak month of Fig 3, the
share of ratings held by the most active users, ...) are stored in
``df.attrs``, a dict of JSON-serialisable values (Python ``int``, ``float``,
``str``, and lists/dicts of them) whose keys each function documents.

| figure | function |
| --- | --- |
| 1 rating value distribution | :func:`rating_distribution` |
| 2 popularity vs average rating | :func:`popularity_vs_rating` |
| 3 ratings per month | :func:`ratings_per_month` |
| 4 item rank vs rating count, power-law fit | :func:`item_popularity_rank` |
| 5 user degree distribution | :func:`user_degree_distribution` |
| 6 top users x top items heatmap | :func:`top_users_items` |
| 7 density of per-movie averages by genre | :func:`average_rating_density` |
| 8 movies per genre | :func:`genre_counts` |
| 9 top movies by average rating | :func:`top_rated_movies` |
| 10 top tags | :func:`top_tags` |
| 11 genre co-occurrence P(B given A) | :func:`genre_cooccurrence` |

Everything works from the rating arrays (``data.users``, ``data.items``,
``data.ratings``, ``data.timestamps``) with ``np.bincount`` and boolean masks:
nothing of size users x items is formed, no CSR is built and no Python loop
runs over ratings, so all figures together take a few seconds on 32 million
ratings (see ``benchmarks/data_figures.py``).

A dataset that lacks what a figure needs (timestamps for Fig 3, tags for
Fig 10, genres for Figs 7, 8 and 11, explicit ratings for the figures about
rating values) makes that function raise :class:`MissingDataError`;
``mfcore report`` turns it into a note instead of failing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "MissingDataError",
    "dataset_summary",
    "rating_distribution",
    "popularity_vs_rating",
    "ratings_per_month",
    "item_popularity_rank",
    "fit_power_law",
    "user_degree_distribution",
    "top_users_items",
    "average_rating_density",
    "genre_counts",
    "top_rated_movies",
    "top_tags",
    "genre_cooccurrence",
    "FIGURES",
]

_SECONDS_PER_DAY = 86_400
#: Above this many distinct days between the first and last timestamp, days are counted by sorting
#: instead of with a dense day histogram (about 27,000 years: only corrupt timestamps get there).
_MAX_DENSE_DAYS = 10_000_000


class MissingDataError(ValueError):
    """The dataset lacks what a figure needs (timestamps, tags, genres, explicit ratings, any rating).

    Attributes
    ----------
    figure : str
        Name of the function that cannot run.
    missing : str
        What is missing: ``"timestamps"``, ``"tags"``, ``"genres"``,
        ``"ratings"`` (implicit feedback) or ``"interactions"`` (no rows).
    """

    def __init__(self, figure: str, missing: str, detail: str = ""):
        self.figure = figure
        self.missing = missing
        text = f"{figure} needs {missing}, which this dataset does not have"
        super().__init__(text + (f" ({detail})" if detail else ""))


# ----------------------------------------------------------------------------- helpers
def _py(value):
    """A NumPy scalar as the Python scalar JSON understands (NaN stays float NaN)."""
    return value.item() if isinstance(value, np.generic) else value


def _require_rows(data, figure):
    if len(data) == 0:
        raise MissingDataError(figure, "interactions", "the dataset has no ratings at all")


def _require_ratings(data, figure):
    _require_rows(data, figure)
    if not data.has_ratings:
        raise MissingDataError(figure, "ratings", "implicit feedback has no rating values")


def _require_genres(data, figure):
    if data.item_genres is None or data.n_genres == 0:
        raise MissingDataError(figure, "genres", "load a movies file with a genres column")


def _item_counts(data):
    """int64 (n_items,) number of ratings of each item."""
    return np.bincount(data.items, minlength=data.n_items).astype(np.int64, copy=False)


def _user_counts(data):
    """int64 (n_users,) number of ratings of each user."""
    return np.bincount(data.users, minlength=data.n_users).astype(np.int64, copy=False)


def _item_means(data):
    """``(counts int64 (n_items,), means float64 (n_items,))``; NaN mean for unrated items.

    Sums accumulate in float64, so half-star ratings sum exactly and equal
    averages compare equal.
    """
    counts = _item_counts(data)
    sums = np.bincount(data.items, weights=data.ratings, minlength=data.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return counts, means


def _titles(data, index):
    """Titles of item indices (object array); the raw id as text when the dataset has no titles."""
    if data.titles is not None:
        return np.asarray(data.titles, dtype=object)[index]
    return np.array([str(v) for v in data.item_ids[index]], dtype=object)


def _top_indices(counts, n):
    """Indices of the ``n`` largest counts, largest first; ties go to the smaller index."""
    n = min(int(n), counts.size)
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    # stable sort of -counts keeps index order within equal counts
    if counts.size > 4 * n:
        kth = np.partition(-counts, n - 1)[n - 1]
        cand = np.flatnonzero(-counts <= kth)
        order = cand[np.argsort(-counts[cand], kind="stable")]
        return order[:n]
    return np.argsort(-counts, kind="stable")[:n]


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _share_of_top(counts_desc, fraction):
    """Share of the total held by the top ``fraction`` of entries (counts sorted descending)."""
    total = counts_desc.sum()
    k = max(1, int(np.ceil(fraction * counts_desc.size)))
    return float(counts_desc[:k].sum() / total) if total else float("nan")


# ----------------------------------------------------------------------------- overview
def dataset_summary(data) -> dict:
    """Sizes and coverage of a dataset, as a JSON-serialisable dict.

    Keys: ``n_ratings``, ``n_users``, ``n_items``, ``n_rated_items``,
    ``n_users_with_ratings``, ``density`` (ratings / (users x items)),
    ``mean_rating`` (NaN for implicit data), ``has_ratings``, ``n_genres``,
    ``has_timestamps``, ``first_rating`` / ``last_rating`` (ISO dates UTC, or
    None), ``n_tags`` (tag applications, or None without tags).
    """
    n = len(data)
    out = {
        "n_ratings": n,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_rated_items": int(np.count_nonzero(_item_counts(data))) if n else 0,
        "n_users_with_ratings": int(np.count_nonzero(_user_counts(data))) if n else 0,
        "density": n / max(1, data.n_users * data.n_items),
        "has_ratings": data.has_ratings,
        "mean_rating": data.global_mean if data.has_ratings else float("nan"),
        "n_genres": data.n_genres,
        "has_timestamps": data.timestamps is not None,
        "first_rating": None,
        "last_rating": None,
        "n_tags": None if data.tags is None else len(data.tags),
    }
    if data.timestamps is not None and n:
        lo, hi = data.timestamps.min(), data.timestamps.max()
        out["first_rating"] = str(np.datetime64(int(lo), "s").astype("datetime64[D]"))
        out["last_rating"] = str(np.datetime64(int(hi), "s").astype("datetime64[D]"))
    return out


# ----------------------------------------------------------------------------- Fig 1
_CHUNK = 1 << 22  # ratings per block of the counting passes (16 MiB of float32)


def _half_star_counts(ratings):
    """``(values float64, counts int64)`` of ratings that are all multiples of 0.5 in a modest range, else
    ``(None, None)``.

    Counting by block (``2 * r`` as an int32 bin index, checked exact) instead of sorting: about ten
    times faster than ``np.unique`` on 32M ratings, with 16 MiB temporaries.
    """
    lo = np.floor(2.0 * float(ratings.min()))
    hi = 2.0 * float(ratings.max())
    if not (abs(lo) < 2**30 and abs(hi) < 2**30) or hi - lo > 100_000:
        return None, None
    counts = np.zeros(int(hi - lo) + 1, dtype=np.int64)
    for start in range(0, ratings.size, _CHUNK):
        doubled = ratings[start:start + _CHUNK] * np.float32(2.0)  # exact: a power-of-two scale
        bins = doubled.astype(np.int32)
        if not np.array_equal(bins, doubled):
            return None, None
        bins -= np.int32(lo)
        counts += np.bincount(bins, minlength=counts.size)
    present = np.flatnonzero(counts)
    return (present + lo) / 2.0, counts[present]


def rating_distribution(data) -> pd.DataFrame:
    """Fig 1: how often each rating value is given.

    Parameters
    ----------
    data : Interactions
        Explicit ratings.

    Returns
    -------
    DataFrame
        One row per distinct rating value, ascending: ``rating`` (stars,
        float64), ``count`` (int64 number of ratings), ``share`` (count / all
        ratings). ``attrs``: ``n_ratings``; ``mean``; ``mode`` (the most
        common value, the smaller on ties); ``midpoint`` (middle of the
        observed scale, (min + max) / 2) and ``share_above_midpoint``;
        ``whole_star_share`` (share of ratings that are whole numbers, only
        when every rating is a multiple of 0.5, else None).

    Raises
    ------
    MissingDataError
        For implicit feedback or an empty dataset.
    """
    _require_ratings(data, "rating_distribution")
    values, counts = _half_star_counts(data.ratings)
    half_steps = values is not None
    if not half_steps:
        values, counts = np.unique(data.ratings.astype(np.float64), return_counts=True)
    counts = counts.astype(np.int64)
    n = int(counts.sum())
    df = pd.DataFrame({"rating": values.astype(np.float64), "count": counts, "share": counts / n})
    midpoint = float((values[0] + values[-1]) / 2.0)
    whole = None
    if half_steps:
        whole = float(counts[values == np.floor(values)].sum() / n)
    df.attrs = {
        "n_ratings": n,
        "mean": data.global_mean,
        "mode": float(values[int(np.argmax(counts))]),
        "midpoint": midpoint,
        "share_above_midpoint": float(counts[values > midpoint].sum() / n),
        "whole_star_share": whole,
    }
    return df


# ----------------------------------------------------------------------------- Fig 2
def popularity_vs_rating(data) -> pd.DataFrame:
    """Fig 2: number of ratings vs average rating of every rated movie (the variance funnel).

    Returns
    -------
    DataFrame
        One row per item with at least one rating, in item-index order:
        ``item`` (raw id), ``title``, ``n_ratings`` (int64), ``mean_rating``
        (stars, float64). ``attrs``:

        * ``spearman``: Spearman rank correlation of ``n_ratings`` and
          ``mean_rating`` (NaN with fewer than 3 movies);
        * ``funnel``: list of dicts, one per popularity bin that holds movies,
          bin edges 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, ... ratings:
          ``lo``, ``hi`` (rating-count bounds, hi exclusive), ``n_movies``,
          ``centre`` (geometric mean rating count of the bin's movies),
          ``std`` (standard deviation of the averages, ddof=0), ``p05``,
          ``median``, ``p95`` (percentiles of the averages, linear
          interpolation);
        * ``n_unrated``: items without ratings (not in the frame).

    Raises
    ------
    MissingDataError
        For implicit feedback or an empty dataset.
    """
    _require_ratings(data, "popularity_vs_rating")
    counts, means = _item_means(data)
    rated = np.flatnonzero(counts)
    n, m = counts[rated], means[rated]
    df = pd.DataFrame({"item": data.item_ids[rated], "title": _titles(data, rated),
                       "n_ratings": n, "mean_rating": m})
    edges = _one_two_five_edges(int(n.max()))
    which = np.searchsorted(edges, n, side="right") - 1
    funnel = []
    for b in np.unique(which):
        in_bin = which == b
        vals = m[in_bin]
        p05, med, p95 = np.percentile(vals, [5, 50, 95])
        funnel.append({"lo": int(edges[b]), "hi": int(edges[b + 1]), "n_movies": int(vals.size),
                       "centre": float(np.exp(np.log(n[in_bin]).mean())),
                       "std": float(vals.std()), "p05": float(p05), "median": float(med), "p95": float(p95)})
    df.attrs = {"spearman": _spearman(np.log(n), m), "funnel": funnel,
                "n_unrated": int(data.n_items - rated.size)}
    return df


def _one_two_five_edges(largest):
    """Bin edges 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, ... up to the first edge above ``largest``."""
    edges, decade = [1, 2, 3, 5], 10
    while edges[-1] <= largest:
        edges.extend(decade * e for e in (1, 2, 5))
        decade *= 10
    return np.asarray([e for e in edges if e <= largest] + [next(e for e in edges if e > largest)], dtype=np.int64)


def _spearman(x, y):
    """Spearman correlation (Pearson correlation of average ranks); NaN when undefined."""
    if x.size < 3:
        return float("nan")
    rx = pd.Series(x).rank(method="average").to_numpy()  # pandas, not scipy.stats: that import costs ~1 s
    ry = pd.Series(y).rank(method="average").to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


# ----------------------------------------------------------------------------- Fig 3
def ratings_per_month(data) -> pd.DataFrame:
    """Fig 3: number of ratings in each calendar month (UTC), every month from the first to the last.

    Returns
    -------
    DataFrame
        ``month`` (``datetime64``, first day of the month, UTC, naive),
        ``count`` (int64; months without ratings are present with 0).
        ``attrs``: ``first_month`` / ``last_month`` / ``peak_month`` ("YYYY-MM"),
        ``peak_count``, ``median_count`` (median over all months of the range),
        ``n_months``, ``n_empty_months``.

    Raises
    ------
    MissingDataError
        Without timestamps, or for an empty dataset.

    Notes
    -----
    Ratings are counted per day with ``np.bincount`` (one integer division
    per rating), then the few thousand days are mapped to months.
    """
    _require_rows(data, "ratings_per_month")
    if data.timestamps is None:
        raise MissingDataError("ratings_per_month", "timestamps", "ratings were loaded without a timestamp column")
    days = data.timestamps // _SECONDS_PER_DAY  # floor division: correct before 1970 too
    d0, d1 = int(days.min()), int(days.max())
    if d1 - d0 < _MAX_DENSE_DAYS:
        per_day = np.bincount(days - d0)
        day_values = np.flatnonzero(per_day) + d0
        per_day = per_day[day_values - d0]
    else:
        day_values, per_day = np.unique(days, return_counts=True)
    del days
    months = day_values.astype("datetime64[D]").astype("datetime64[M]")
    first, last = months[0], months[-1]
    all_months = np.arange(first, last + np.timedelta64(1, "M"), dtype="datetime64[M]")
    counts = np.bincount((months - first).astype(np.int64), weights=per_day,
                         minlength=all_months.size).astype(np.int64)
    df = pd.DataFrame({"month": all_months.astype("datetime64[ns]"), "count": counts})
    peak = int(np.argmax(counts))
    df.attrs = {
        "first_month": str(first), "last_month": str(last),
        "peak_month": str(all_months[peak]), "peak_count": int(counts[peak]),
        "median_count": float(np.median(counts)), "n_months": int(counts.size),
        "n_empty_months": int(np.count_nonzero(counts == 0)),
    }
    return df


# ----------------------------------------------------------------------------- Fig 4
def fit_power_law(ranks, counts):
    """Weighted least-squares fit of ``counts = C * ranks ** -exponent`` in log-log space.

    Least squares of ``log10(counts)`` on ``log10(ranks)``, each rank weighted
    by the width of its cell on the log axis: rank ``r`` of a run of
    consecutive ranks covers ``[r - 1/2, r + 1/2]`` and weighs
    ``ln((r + 1/2) / (r - 1/2))`` (non-consecutive ranks cover the span
    between the midpoints to their neighbours). A rank-frequency curve has ten
    times more ranks in each decade than in the one before, so an unweighted
    fit would be decided by the last decade alone; with these weights every
    decade of rank counts the same, as it does to the eye on the log-log plot,
    and the first ranks (1, 2, 3, ...) are not under-weighted the way sampling
    a log-spaced grid of integer ranks would under-weight them.

    Parameters
    ----------
    ranks : int array (n,)
        Positive ranks, strictly increasing (1-based).
    counts : array (n,)
        Positive counts at those ranks.

    Returns
    -------
    dict
        ``exponent`` (s, positive for a decreasing curve), ``constant`` (C),
        ``r2`` (weighted coefficient of determination in log-log space),
        ``n_points`` (ranks used).
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if ranks.ndim != 1 or ranks.shape != counts.shape:
        raise ValueError(f"ranks and counts must be 1-D of equal length, got {ranks.shape} and {counts.shape}")
    if ranks.size < 2:
        raise ValueError(f"a power-law fit needs at least 2 ranks, got {ranks.size}")
    if np.any(counts <= 0) or np.any(ranks < 1):
        raise ValueError("a power-law fit needs ranks >= 1 and positive counts")
    if np.any(np.diff(ranks) <= 0):
        raise ValueError("ranks must be strictly increasing")
    bounds = np.concatenate([[ranks[0] - 0.5], (ranks[1:] + ranks[:-1]) / 2.0, [ranks[-1] + 0.5]])
    weight = np.log(bounds[1:] / bounds[:-1])
    x, y = np.log10(ranks), np.log10(counts)
    xm, ym = np.average(x, weights=weight), np.average(y, weights=weight)
    sxx = np.sum(weight * (x - xm) ** 2)
    slope = np.sum(weight * (x - xm) * (y - ym)) / sxx
    intercept = ym - slope * xm
    ss_res = float(np.sum(weight * (y - (slope * x + intercept)) ** 2))
    ss_tot = float(np.sum(weight * (y - ym) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return {"exponent": float(-slope), "constant": float(10 ** intercept), "r2": r2, "n_points": int(ranks.size)}


def item_popularity_rank(data, *, min_count=10, fit_ranks=None) -> pd.DataFrame:
    """Fig 4: the long tail, item popularity rank vs number of ratings, with a fitted power law.

    Parameters
    ----------
    data : Interactions
    min_count : int, default 10
        The fit runs from rank 1 to the last rank with at least ``min_count``
        ratings. Below about ten ratings the counts are small integers
        (a staircase of 3, 2, 1 on the log axis) and the curve bends down as
        the catalogue ends, which is not the power law of the head and body.
    fit_ranks : (int, int) or None
        Fit over these 1-based ranks instead (inclusive), e.g. ``(10, 5000)``.

    The fit is least squares in log-log space with every decade of rank
    weighted equally (see :func:`fit_power_law` for why, and why not a
    discrete maximum-likelihood fit: that estimates the exponent of the
    *degree distribution* P(k), a different curve, and needs a tail cut-off
    chosen separately; its exponent alpha is reported as ``degree_exponent``
    through Zipf's relation alpha = 1 + 1/s).

    Returns
    -------
    DataFrame
        One row per item with at least one rating, most rated first: ``rank``
        (1-based, ties broken by item index), ``item`` (raw id),
        ``n_ratings``, ``fitted`` (``C * rank ** -exponent``), ``in_fit``
        (bool, rank inside the fitted range). ``attrs``: ``exponent`` s of
        ``n(r) = C r^-s``; ``constant`` C; ``r2``; ``fit_rank_min``,
        ``fit_rank_max``, ``n_fit_points``; ``degree_exponent`` = 1 + 1/s, the
        exponent alpha of the matching degree distribution ``P(k) ~ k^-alpha``
        (Zipf's law); ``head_share`` (share of all ratings held by the top 1 %
        of rated items); ``n_unrated`` (items without ratings, not plotted).

        When fewer than two items have ``min_count`` ratings there is nothing to
        fit: ``exponent``, ``constant``, ``r2`` and ``degree_exponent`` are
        NaN, ``fit_rank_min`` / ``fit_rank_max`` None, ``fitted`` NaN and
        ``in_fit`` False. ``attrs["min_count"]`` records the threshold.

    Raises
    ------
    MissingDataError
        For an empty dataset.
    ValueError
        For ``fit_ranks`` outside ``1 <= lo < hi <= rated items``.
    """
    _require_rows(data, "item_popularity_rank")
    min_count = _check_positive_int(min_count, "min_count")
    counts = _item_counts(data)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    n = counts[order]
    ranks = np.arange(1, n.size + 1)
    if fit_ranks is None:
        lo, hi = 1, int(np.count_nonzero(n >= min_count))
    else:
        lo, hi = (int(v) for v in fit_ranks)
        if not 1 <= lo < hi <= n.size:
            raise ValueError(f"fit_ranks must satisfy 1 <= lo < hi <= {n.size} (rated items), got {fit_ranks}")
    if hi - lo >= 1:
        fit = fit_power_law(ranks[lo - 1:hi], n[lo - 1:hi])
        fitted = fit["constant"] * ranks.astype(np.float64) ** -fit["exponent"]
    else:  # fewer than two items with min_count ratings: nothing to fit
        lo = hi = None
        fit = {"exponent": float("nan"), "constant": float("nan"), "r2": float("nan"), "n_points": 0}
        fitted = np.full(n.size, np.nan)
    in_fit = (ranks >= lo) & (ranks <= hi) if lo is not None else np.zeros(n.size, dtype=bool)
    df = pd.DataFrame({"rank": ranks, "item": data.item_ids[order], "n_ratings": n, "fitted": fitted,
                       "in_fit": in_fit})
    df.attrs = {
        "exponent": fit["exponent"], "constant": fit["constant"], "r2": fit["r2"],
        "fit_rank_min": lo, "fit_rank_max": hi, "n_fit_points": fit["n_points"], "min_count": min_count,
        "degree_exponent": 1.0 + 1.0 / fit["exponent"] if fit["exponent"] > 0 else float("nan"),
        "head_share": _share_of_top(n, 0.01),
        "n_unrated": int(data.n_items - n.size),
    }
    return df


# ----------------------------------------------------------------------------- Fig 5
def user_degree_distribution(data) -> pd.DataFrame:
    """Fig 5: how many users gave exactly k ratings, for every k that occurs.

    Returns
    -------
    DataFrame
        ``n_ratings`` (the degree k, ascending), ``n_users`` (users with
        exactly k ratings), ``share`` (of users with ratings), ``ccdf`` (share of
        users with at least k ratings). Users without ratings are left out
        (log axis) and counted in ``attrs["n_users_without_ratings"]``.
        Other ``attrs``: ``n_users`` (with ratings), ``min``, ``median``,
        ``mean``, ``max`` (ratings per user), ``top1_share`` / ``top10_share``
        (share of all ratings given by the most active 1 % / 10 % of users).

    Raises
    ------
    MissingDataError
        For an empty dataset.
    """
    _require_rows(data, "user_degree_distribution")
    deg = _user_counts(data)
    active = deg[deg > 0]
    per_degree = np.bincount(active)
    k = np.flatnonzero(per_degree)
    users = per_degree[k].astype(np.int64)
    n_active = int(active.size)
    at_least = np.cumsum(users[::-1])[::-1]
    df = pd.DataFrame({"n_ratings": k.astype(np.int64), "n_users": users, "share": users / n_active,
                       "ccdf": at_least / n_active})
    desc = np.sort(active)[::-1]
    df.attrs = {
        "n_users": n_active, "n_users_without_ratings": int(deg.size - n_active),
        "min": int(desc[-1]), "median": float(np.median(active)), "mean": float(active.mean()),
        "max": int(desc[0]), "top1_share": _share_of_top(desc, 0.01), "top10_share": _share_of_top(desc, 0.10),
    }
    return df


# ----------------------------------------------------------------------------- Fig 6
def top_users_items(data, n_users=50, n_items=50) -> pd.DataFrame:
    """Fig 6: the ratings between the most active users and the most rated items.

    Parameters
    ----------
    n_users, n_items : int, default 50
        Size of the slice (fewer when the dataset has fewer users/items with ratings).

    Returns
    -------
    DataFrame
        One row per cell, ``n_users * n_items`` rows ordered by user then item
        rank: ``user_rank``, ``item_rank`` (1 = most ratings; ties go to the
        smaller index), ``user``, ``item`` (raw ids), ``rating`` (stars, NaN
        where the user did not rate the item; 1.0 for implicit feedback).
        ``attrs``: ``n_cells``, ``n_observed``, ``density`` (observed / cells),
        ``overall_density`` (ratings / (users x items) of the whole dataset),
        ``mean_rating`` (over observed cells), ``has_ratings``.

    Raises
    ------
    MissingDataError
        For an empty dataset.
    """
    _require_rows(data, "top_users_items")
    n_users = _check_positive_int(n_users, "n_users")
    n_items = _check_positive_int(n_items, "n_items")
    ucount, icount = _user_counts(data), _item_counts(data)
    top_u = _top_indices(ucount, min(n_users, int(np.count_nonzero(ucount))))
    top_i = _top_indices(icount, min(n_items, int(np.count_nonzero(icount))))
    u_rank = np.full(data.n_users, -1, dtype=np.int32)
    u_rank[top_u] = np.arange(top_u.size)
    i_rank = np.full(data.n_items, -1, dtype=np.int32)
    i_rank[top_i] = np.arange(top_i.size)
    hit = np.flatnonzero((u_rank >= 0)[data.users] & (i_rank >= 0)[data.items])  # two gathers of bools
    ru, ri = u_rank[data.users[hit]], i_rank[data.items[hit]]
    grid = np.full((top_u.size, top_i.size), np.nan)
    grid[ru, ri] = data.ratings[hit]
    uu, ii = np.meshgrid(np.arange(top_u.size), np.arange(top_i.size), indexing="ij")
    df = pd.DataFrame({"user_rank": uu.ravel() + 1, "item_rank": ii.ravel() + 1,
                       "user": data.user_ids[top_u][uu.ravel()], "item": data.item_ids[top_i][ii.ravel()],
                       "rating": grid.ravel()})
    n_obs = int(hit.size)
    cells = int(grid.size)
    df.attrs = {
        "n_cells": cells, "n_observed": n_obs, "density": n_obs / cells if cells else float("nan"),
        "overall_density": len(data) / max(1, data.n_users * data.n_items),
        "mean_rating": float(np.nanmean(grid)) if n_obs else float("nan"),
        "has_ratings": data.has_ratings,
    }
    return df


# ----------------------------------------------------------------------------- Fig 7
def _reflected_kde(values, grid, lo, hi, bandwidth):
    """Gaussian KDE of ``values`` on ``grid``, reflected at ``lo`` and ``hi`` (integrates to 1 on [lo, hi]).

    Kernels are cut at 8 bandwidths (a relative error below 1e-13): each block of
    grid points sums only the sorted centres within reach, and only centres within
    reach of a boundary are mirrored.
    """
    reach = 8.0 * bandwidth
    near_lo = values[values < lo + reach]
    near_hi = values[values > hi - reach]
    centres = np.sort(np.concatenate([values, 2.0 * lo - near_lo, 2.0 * hi - near_hi]))
    out = np.zeros(grid.size)
    for start in range(0, grid.size, 16):
        g = grid[start:start + 16]
        a, b = np.searchsorted(centres, [g[0] - reach, g[-1] + reach])
        z = (g[:, None] - centres[None, a:b]) / bandwidth
        out[start:start + 16] = np.exp(-0.5 * z * z).sum(axis=1)
    return out / (values.size * bandwidth * np.sqrt(2.0 * np.pi))


def _scott_bandwidth(values):
    """Scott's rule, sigma * n^(-1/5) (sigma with ddof=1), as scipy.stats.gaussian_kde."""
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) * values.size ** (-0.2))


def average_rating_density(data, *, n_genres=5, min_ratings=10, bandwidth=None, grid_points=181) -> pd.DataFrame:
    """Fig 7: density of the per-movie average rating, all movies vs the most frequent genres.

    Parameters
    ----------
    n_genres : int, default 5
        How many genres to draw: the ones with the most movies in the
        catalogue (the order of :func:`genre_counts`).
    min_ratings : int, default 10
        Movies with fewer ratings are left out: the average of one or two
        half-star ratings sits on the half-star grid (spikes at 3.0, 3.5, 4.0
        and a bump at 5.0 on ml-latest-small, where most movies have fewer than
        ten ratings), which is the noise of Fig 2, not the spread of movie
        quality this figure shows. Pass 1 for every rated movie.
    bandwidth : float or None
        Kernel standard deviation in stars; ``None`` uses Scott's rule
        (``std * n ** -0.2``) per group.
    grid_points : int, default 181
        Evaluation points, evenly spaced over the rating scale [min, max]
        observed (0.5-5.0 stars on MovieLens: 0.025-star steps).

    Returns
    -------
    DataFrame
        ``group`` ("All movies", then genre names), ``rating`` (stars),
        ``density`` (per star). Gaussian kernel density estimate, reflected at
        both ends of the scale so no probability mass is lost beyond them:
        each curve integrates to 1 over the scale. ``attrs``: ``groups``
        (list, drawing order) and ``stats`` (dict group -> ``n_movies``,
        ``mean``, ``median``, ``bandwidth``), ``min_ratings``.

    Raises
    ------
    MissingDataError
        For implicit feedback, an empty dataset, or no genres.
    """
    _require_ratings(data, "average_rating_density")
    _require_genres(data, "average_rating_density")
    n_genres = _check_positive_int(n_genres, "n_genres")
    min_ratings = _check_positive_int(min_ratings, "min_ratings")
    grid_points = _check_positive_int(grid_points, "grid_points", minimum=2)
    if bandwidth is not None and not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number of stars or None, got {bandwidth!r}")
    counts, means = _item_means(data)
    keep = counts >= min_ratings
    lo, hi = float(data.ratings.min()), float(data.ratings.max())
    if hi <= lo:
        hi = lo + 1.0
    grid = np.linspace(lo, hi, grid_points)
    genres = data.item_genres.tocsc()
    per_genre = np.diff(genres.indptr)
    top = _top_indices(per_genre.astype(np.int64), min(n_genres, int(np.count_nonzero(per_genre))))
    groups = [("All movies", np.flatnonzero(keep))]
    for g in top:
        members = genres.indices[genres.indptr[g]:genres.indptr[g + 1]]
        groups.append((data.genre_names[g], np.sort(members[keep[members]])))
    frames, stats = [], {}
    for name, idx in groups:
        vals = means[idx]
        h = _scott_bandwidth(vals) if bandwidth is None else float(bandwidth)
        if vals.size == 0 or not np.isfinite(h) or h <= 0:
            dens = np.full(grid.size, np.nan)
        else:
            dens = _reflected_kde(vals, grid, lo, hi, h)
        frames.append(pd.DataFrame({"group": name, "rating": grid, "density": dens}))
        stats[name] = {"n_movies": int(vals.size), "mean": float(vals.mean()) if vals.size else float("nan"),
                       "median": float(np.median(vals)) if vals.size else float("nan"), "bandwidth": h}
    df = pd.concat(frames, ignore_index=True)
    df.attrs = {"groups": [g for g, _ in groups], "stats": stats, "min_ratings": min_ratings}
    return df


# ----------------------------------------------------------------------------- Fig 8
def genre_counts(data) -> pd.DataFrame:
    """Fig 8: number of movies in the catalogue per genre (multi-genre movies count in each).

    Returns
    -------
    DataFrame
        ``genre``, ``n_movies``, ``share`` (of all items), sorted by
        ``n_movies`` descending, ties by genre name. Every item of the
        vocabulary counts, rated or not. ``attrs``: ``n_items``,
        ``n_without_genre``, ``mean_genres_per_movie``.

    Raises
    ------
    MissingDataError
        Without genres.
    """
    _require_genres(data, "genre_counts")
    g = data.item_genres.tocsc()
    n = np.diff(g.indptr).astype(np.int64)
    df = pd.DataFrame({"genre": list(data.genre_names), "n_movies": n, "share": n / max(1, data.n_items)})
    df = df.sort_values(["n_movies", "genre"], ascending=[False, True], kind="stable", ignore_index=True)
    per_item = np.diff(data.item_genres.tocsr().indptr)
    df.attrs = {"n_items": data.n_items, "n_without_genre": int(np.count_nonzero(per_item == 0)),
                "mean_genres_per_movie": float(per_item.mean()) if per_item.size else float("nan")}
    return df


# ----------------------------------------------------------------------------- Fig 9
def top_rated_movies(data, n=10, min_ratings=50) -> pd.DataFrame:
    """Fig 9: the movies with the highest average rating among those with at least ``min_ratings`` ratings.

    Parameters
    ----------
    n : int, default 10
    min_ratings : int, default 50
        Inclusive: a movie with exactly ``min_ratings`` ratings qualifies.

    Returns
    -------
    DataFrame
        Up to ``n`` rows: ``rank`` (1-based), ``item`` (raw id), ``title``
        (the raw id as text when the dataset has no titles), ``mean_rating``
        (stars, float64), ``n_ratings``. Order: average descending; equal
        averages (exactly equal in float64: half-star sums are exact) put the
        movie with more ratings first, then the smaller item index (the
        catalogue order, i.e. the smaller movieId for MovieLens). Fewer rows
        (possibly none) when fewer movies qualify. ``attrs``: ``min_ratings``,
        ``n_eligible`` (movies with at least ``min_ratings`` ratings).

    Raises
    ------
    MissingDataError
        For implicit feedback or an empty dataset.
    """
    _require_ratings(data, "top_rated_movies")
    n = _check_positive_int(n, "n")
    min_ratings = _check_positive_int(min_ratings, "min_ratings")
    counts, means = _item_means(data)
    eligible = np.flatnonzero(counts >= min_ratings)
    # lexsort: last key is primary -> -mean, then -count, then index
    order = eligible[np.lexsort((eligible, -counts[eligible], -means[eligible]))][:n]
    df = pd.DataFrame({"rank": np.arange(1, order.size + 1), "item": data.item_ids[order],
                       "title": _titles(data, order), "mean_rating": means[order], "n_ratings": counts[order]})
    df.attrs = {"min_ratings": min_ratings, "n_eligible": int(eligible.size)}
    return df


# ----------------------------------------------------------------------------- Fig 10
def top_tags(data, n=10, *, normalize=True) -> pd.DataFrame:
    """Fig 10: the most frequently applied user tags.

    Parameters
    ----------
    n : int, default 10
    normalize : bool, default True
        Count tags case-insensitively with surrounding whitespace removed
        ("Sci-Fi " and "sci-fi" are one tag, shown in lower case). ``False``
        counts the exact strings.

    Returns
    -------
    DataFrame
        Up to ``n`` rows: ``rank``, ``tag``, ``count`` (tag applications),
        ``n_movies`` and ``n_users`` (distinct movies / users with that tag);
        sorted by ``count`` descending, ties by tag text. ``attrs``:
        ``n_applications`` (counted rows), ``n_distinct`` (distinct tags),
        ``n_empty`` (applications whose tag is empty after normalisation; not
        counted), ``top_share`` (share of applications held by the rows shown).

    Raises
    ------
    MissingDataError
        When the dataset was loaded without tags or has none.
    """
    n = _check_positive_int(n, "n")
    tags = data.tags
    if tags is None or len(tags) == 0:
        raise MissingDataError("top_tags", "tags", "no tags file was loaded" if tags is None else "the tags table is empty")
    text = tags["tag"].astype(str)
    if normalize:
        text = text.str.strip().str.lower()
    empty = (text == "").to_numpy()
    frame = pd.DataFrame({"tag": text.to_numpy(dtype=object)[~empty], "item": tags["item"].to_numpy()[~empty],
                          "user": tags["user"].to_numpy()[~empty]})
    codes, uniq = pd.factorize(frame["tag"], sort=True)
    count = np.bincount(codes, minlength=uniq.size)
    order = np.lexsort((np.arange(uniq.size), -count))[:n]  # count desc, then tag text (uniq is sorted)
    chosen = np.zeros(uniq.size, dtype=bool)
    chosen[order] = True
    sel = chosen[codes]
    sub = pd.DataFrame({"code": codes[sel], "item": frame["item"].to_numpy()[sel], "user": frame["user"].to_numpy()[sel]})
    n_movies = sub.groupby("code")["item"].nunique()
    n_users = sub.groupby("code")["user"].nunique()
    total = int(codes.size)
    df = pd.DataFrame({"rank": np.arange(1, order.size + 1), "tag": np.asarray(uniq, dtype=object)[order],
                       "count": count[order].astype(np.int64),
                       "n_movies": n_movies.reindex(order).to_numpy(dtype=np.int64),
                       "n_users": n_users.reindex(order).to_numpy(dtype=np.int64)})
    df.attrs = {"n_applications": total, "n_distinct": int(uniq.size), "n_empty": int(empty.sum()),
                "top_share": float(count[order].sum() / total) if total else float("nan")}
    return df


# ----------------------------------------------------------------------------- Fig 11
def genre_cooccurrence(data) -> pd.DataFrame:
    """Fig 11: conditional genre co-occurrence, P(B | A) = #movies with A and B / #movies with A.

    Returns
    -------
    DataFrame
        One row per ordered pair (A, B), A-major in ``genre_names`` order:
        ``genre_a``, ``genre_b``, ``n_a`` (movies with A), ``n_both`` (movies
        with A and B), ``p_b_given_a`` (NaN when no movie has A; 1 on the
        diagonal otherwise). Counts are over the whole catalogue.
        ``attrs``: ``strongest`` (list of up to 5 dicts ``genre_a``,
        ``genre_b``, ``p``, ``n_a``: the largest off-diagonal P(B | A) among
        genres A with at least ``max(10, 1 %)`` of the movies, so a genre of
        two movies cannot top the list), ``n_pairs_never`` (ordered pairs of
        distinct, non-empty genres that never co-occur), ``min_n_a`` (that
        10 / 1 % threshold).

    Raises
    ------
    MissingDataError
        Without genres.
    """
    _require_genres(data, "genre_cooccurrence")
    g = data.item_genres.tocsr().astype(np.int64)
    both = np.asarray((g.T @ g).todense(), dtype=np.int64)
    n_a = np.diag(both).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        p = both / n_a[:, None]
    p[n_a == 0, :] = np.nan
    names = list(data.genre_names)
    k = len(names)
    df = pd.DataFrame({"genre_a": np.repeat(names, k), "genre_b": np.tile(names, k),
                       "n_a": np.repeat(n_a, k), "n_both": both.ravel(), "p_b_given_a": p.ravel()})
    min_n_a = max(10, int(np.ceil(0.01 * data.n_items)))
    off = ~np.eye(k, dtype=bool)
    cand = np.argwhere(off & (n_a[:, None] >= min_n_a))
    vals = p[cand[:, 0], cand[:, 1]] if cand.size else np.empty(0)
    top = cand[np.lexsort((cand[:, 1], cand[:, 0], -vals))][:5] if cand.size else cand
    nonempty = n_a > 0
    df.attrs = {
        "strongest": [{"genre_a": names[a], "genre_b": names[b], "p": float(p[a, b]), "n_a": int(n_a[a])}
                      for a, b in top],
        "n_pairs_never": int(np.count_nonzero((both == 0) & off & nonempty[:, None] & nonempty[None, :])),
        "min_n_a": min_n_a,
    }
    return df


#: The data figures in paper order: ``(figure number, function)``. Each function takes the
#: Interactions alone (every other argument has a default), so benchmarks and the report can
#: run them all in one loop.
FIGURES = (
    (1, rating_distribution),
    (2, popularity_vs_rating),
    (3, ratings_per_month),
    (4, item_popularity_rank),
    (5, user_degree_distribution),
    (6, top_users_items),
    (7, average_rating_density),
    (8, genre_counts),
    (9, top_rated_movies),
    (10, top_tags),
    (11, genre_cooccurrence),
)
