"""Drawings of the data figures (paper Figs 1-11): one plot function per function of :mod:`.data`.

Every function takes the DataFrame its data function returned (``attrs``
included) and returns a :class:`matplotlib.figure.Figure`; pass ``ax=`` to draw
into an existing Axes instead (the Figure returned is then ``ax.figure``).
Nothing is computed here that the data frame does not already hold, beyond
the log-spaced bin averages that make the tail of Fig 5 readable.

matplotlib is imported on the first call (Agg backend): without it these
functions raise an ImportError naming ``pip install "mfcore[report]"``.
"""

from __future__ import annotations

import textwrap

import numpy as np

from ._mpl import FIGSIZE, pyplot

__all__ = [
    "plot_rating_distribution",
    "plot_popularity_vs_rating",
    "plot_ratings_per_month",
    "plot_item_popularity_rank",
    "plot_user_degree_distribution",
    "plot_top_users_items",
    "plot_average_rating_density",
    "plot_genre_counts",
    "plot_top_rated_movies",
    "plot_top_tags",
    "plot_genre_cooccurrence",
    "PLOTS",
]

#: Colours: data in blue, fits and highlights in red, reference material in grey.
BLUE, RED, GREY = "#1f77b4", "#d62728", "#7f7f7f"
#: Colour of cells without a rating in the heatmap of Fig 6.
MISSING = "#0b1f3a"


def _axes(ax, figsize=FIGSIZE):
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _colormap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _thousands(ax, axis="y"):
    """Tick labels with thousands separators (at most 6 ticks on x, where long labels collide)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if axis == "x":
        target.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=True))


def _log_ticks(ax, axis="both"):
    """Plain numbers (1, 10, 100, 1,000, ...) rather than 10^k on log axes."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for a in ((ax.xaxis, ax.yaxis) if axis == "both" else ((ax.xaxis,) if axis == "x" else (ax.yaxis,))):
        a.set_major_locator(LogLocator(base=10, numticks=12))
        a.set_major_formatter(fmt)
        a.set_minor_formatter(NullFormatter())


def _opaque_legend(legend):
    """Scatter markers at full opacity in the legend (points drawn faint would vanish from it)."""
    from matplotlib.collections import PathCollection

    for handle in legend.legend_handles:
        if isinstance(handle, PathCollection):
            handle.set_alpha(1.0)
            handle.set_sizes([16.0])
    return legend


def _wrap(text, width=40, lines=2):
    out = textwrap.wrap(str(text), width)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return "\n".join(out)


# ----------------------------------------------------------------------------- Fig 1
def plot_rating_distribution(df, *, ax=None):
    """Bar per rating value, labelled with its share of all ratings."""
    fig, ax = _axes(ax)
    step = float(np.min(np.diff(df["rating"]))) if len(df) > 1 else 0.5
    bars = ax.bar(df["rating"], df["count"], width=0.8 * step, color=BLUE)
    for rect, share in zip(bars, df["share"]):
        ax.annotate(f"{100 * share:.1f}%", (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(df["rating"])
    ax.set_xticklabels([f"{v:g}" for v in df["rating"]])
    ax.set_xlabel("rating (stars)")
    ax.set_ylabel("number of ratings")
    _thousands(ax)
    ax.margins(y=0.1)
    ax.set_title(f"Distribution of rating values ({df.attrs.get('n_ratings', int(df['count'].sum())):,} ratings)")
    return fig


# ----------------------------------------------------------------------------- Fig 2
def plot_popularity_vs_rating(df, *, ax=None):
    """Every rated movie as a dot (log x), with the 5-95 % band and median of each popularity bin."""
    fig, ax = _axes(ax)
    n = len(df)
    alpha = float(np.clip(3000.0 / max(n, 1), 0.05, 0.6))
    ax.scatter(df["n_ratings"], df["mean_rating"], s=4, alpha=alpha, color=RED, linewidths=0,
               rasterized=True, label=f"one movie ({n:,})")
    funnel = df.attrs.get("funnel") or []
    if funnel:
        centre = np.array([f["centre"] for f in funnel], dtype=float)
        ax.fill_between(centre, [f["p05"] for f in funnel], [f["p95"] for f in funnel], color=BLUE, alpha=0.2,
                        label="middle 90% of the movies in each popularity bin")
        ax.plot(centre, [f["median"] for f in funnel], "o-", color=BLUE, ms=4, label="median per bin")
    ax.set_xscale("log")
    _log_ticks(ax, "x")
    ax.set_xlabel("number of ratings of the movie (log scale)")
    ax.set_ylabel("average rating (stars)")
    ax.set_title("Popularity vs average rating")
    _opaque_legend(ax.legend(loc="lower right", fontsize=8))
    return fig


# ----------------------------------------------------------------------------- Fig 3
def plot_ratings_per_month(df, *, ax=None):
    """Ratings per calendar month as a line over the years, peak month marked."""
    fig, ax = _axes(ax, figsize=(8.0, 4.0))
    import matplotlib.dates as mdates

    ax.plot(df["month"], df["count"], color=BLUE, lw=1.2)
    if len(df):
        peak = int(np.argmax(df["count"].to_numpy()))
        x, y = df["month"].iloc[peak], int(df["count"].iloc[peak])
        ax.plot([x], [y], "o", color=RED, ms=5)
        ax.annotate(f"peak {x:%Y-%m}: {y:,}", (x, y), xytext=(6, -4), textcoords="offset points",
                    fontsize=8, color=RED, va="top")
    span_years = (df["month"].iloc[-1] - df["month"].iloc[0]).days / 365.25 if len(df) > 1 else 1
    ax.xaxis.set_major_locator(mdates.YearLocator(base=max(1, int(np.ceil(span_years / 12)))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.set_xlabel("year")
    ax.set_ylabel("ratings per month")
    _thousands(ax)
    ax.set_ylim(bottom=0)
    ax.set_title("Ratings per month")
    return fig


# ----------------------------------------------------------------------------- Fig 4
def plot_item_popularity_rank(df, *, ax=None):
    """Number of ratings vs popularity rank on log-log axes, with the fitted power law over its range."""
    fig, ax = _axes(ax)
    ax.plot(df["rank"], df["n_ratings"], color=BLUE, lw=1.5, label="observed")
    a = df.attrs
    fit = df[df["in_fit"]]
    if len(fit):
        ax.plot(fit["rank"], fit["fitted"], "--", color=RED, lw=1.5,
                label=f"power law $n \\propto r^{{-{a['exponent']:.2f}}}$ (ranks {a['fit_rank_min']:,}-"
                      f"{a['fit_rank_max']:,}, $R^2$ = {a['r2']:.2f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_ticks(ax)
    ax.set_xlabel("movie rank by number of ratings (log scale)")
    ax.set_ylabel("number of ratings (log scale)")
    ax.set_title("Long tail of movie popularity")
    ax.legend(loc="lower left", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- Fig 5
def _log_binned(x, y, per_decade=5):
    """Mean of ``y`` per unit of ``x`` in log-spaced bins from min(x) to max(x) (``x`` positive integers).

    Returns ``(bin centres, means)``: bin ``[a, b)`` holds the integers a .. b-1,
    its mean is ``sum(y in bin) / (b - a)`` (integers without an entry count as 0)
    and its centre is ``sqrt(a * (b - 1))``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo, hi = x.min(), x.max() + 1
    n_bins = max(1, int(np.ceil(per_decade * np.log10(hi / lo))))
    edges = np.unique(np.floor(np.geomspace(lo, hi, n_bins + 1)))
    which = np.searchsorted(edges, x, side="right") - 1
    sums = np.bincount(which, weights=y, minlength=edges.size - 1)[: edges.size - 1]
    widths = np.diff(edges)
    centre = np.sqrt(edges[:-1] * (edges[1:] - 1))
    keep = sums > 0
    return centre[keep], (sums / widths)[keep]


def plot_user_degree_distribution(df, *, ax=None):
    """Users with exactly k ratings vs k on log-log axes, with log-binned averages through the noisy tail."""
    fig, ax = _axes(ax)
    ax.scatter(df["n_ratings"], df["n_users"], s=6, color=BLUE, alpha=0.5, linewidths=0, rasterized=True,
               label="users with exactly k ratings")
    if len(df) > 1:
        cx, cy = _log_binned(df["n_ratings"], df["n_users"])
        ax.plot(cx, cy, "-", color=RED, lw=1.5, label="users per unit of k, averaged over log-spaced bins")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_ticks(ax)
    ax.set_xlabel("ratings per user, k (log scale)")
    ax.set_ylabel("number of users (log scale)")
    ax.set_title("User activity distribution")
    _opaque_legend(ax.legend(loc="upper right", fontsize=8))
    return fig


# ----------------------------------------------------------------------------- Fig 6
def plot_top_users_items(df, *, ax=None):
    """The rating matrix of the top users x top items; unrated cells in dark blue."""
    fig, ax = _axes(ax, figsize=(7.0, 6.2))
    from matplotlib.patches import Patch

    nu, ni = int(df["user_rank"].max()), int(df["item_rank"].max())
    grid = df["rating"].to_numpy(dtype=np.float64).reshape(nu, ni)
    cmap = _colormap("YlOrRd").with_extremes(bad=MISSING)
    observed = grid[np.isfinite(grid)]
    vmin = float(observed.min()) if observed.size else 0.0
    vmax = float(observed.max()) if observed.size else 1.0
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=max(vmax, vmin + 1e-9),
                   interpolation="nearest", aspect="auto", extent=(0.5, ni + 0.5, nu + 0.5, 0.5))
    has_ratings = df.attrs.get("has_ratings", True)
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label("rating (stars)" if has_ratings else "interaction")
    ticks = [1] + list(range(10, max(nu, ni) + 1, 10))
    ax.set_xticks([t for t in ticks if t <= ni])
    ax.set_yticks([t for t in ticks if t <= nu])
    ax.set_xlabel(f"top {ni} movies, ranked by number of ratings (1 = most)")
    ax.set_ylabel(f"top {nu} users, ranked by number of ratings")
    dens = df.attrs.get("density", observed.size / max(grid.size, 1))
    ax.set_title(f"Ratings of the {nu} most active users on the {ni} most rated movies ({100 * dens:.0f}% filled)")
    ax.title.set_fontsize(10)
    ax.legend(handles=[Patch(color=MISSING, label="not rated")], loc="upper left", bbox_to_anchor=(0, -0.09),
              fontsize=8, frameon=False)
    return fig


# ----------------------------------------------------------------------------- Fig 7
def plot_average_rating_density(df, *, ax=None):
    """Density of per-movie averages: all movies as a grey area, each genre as a line."""
    fig, ax = _axes(ax)
    stats = df.attrs.get("stats", {})
    groups = df.attrs.get("groups") or list(dict.fromkeys(df["group"]))
    colours = _colormap("tab10").colors
    for k, name in enumerate(groups):
        part = df[df["group"] == name]
        st = stats.get(name, {})
        label = f"{name} ({st.get('n_movies', 0):,} movies, median {st.get('median', float('nan')):.2f})"
        if k == 0:
            ax.fill_between(part["rating"], part["density"], color=GREY, alpha=0.35, lw=0, label=label)
        else:
            ax.plot(part["rating"], part["density"], color=colours[(k - 1) % len(colours)], lw=1.5, label=label)
    ax.set_xlabel("average rating of a movie (stars)")
    ax.set_ylabel("density (per star)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(float(df["rating"].min()), float(df["rating"].max()))
    ax.set_title("Per-movie average rating: all movies vs the most frequent genres")
    if df.attrs.get("min_ratings", 1) > 1:
        ax.text(0.99, 0.98, f"movies with at least {df.attrs['min_ratings']} ratings", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color=GREY)
    ax.legend(loc="upper left", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- Fig 8
def plot_genre_counts(df, *, ax=None):
    """Horizontal bar per genre (most movies on top), labelled with the count."""
    fig, ax = _axes(ax, figsize=(7.0, 0.28 * len(df) + 1.4))
    y = np.arange(len(df))
    bars = ax.barh(y, df["n_movies"], color=BLUE)
    ax.bar_label(bars, labels=[f"{v:,}" for v in df["n_movies"]], padding=2, fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(df["genre"])
    ax.invert_yaxis()
    ax.set_xlabel("number of movies (a movie counts in each of its genres)")
    ax.set_ylabel("genre")
    _thousands(ax, "x")
    ax.margins(x=0.1)
    ax.set_title("Movies per genre")
    return fig


# ----------------------------------------------------------------------------- Fig 9
def plot_top_rated_movies(df, *, ax=None):
    """Dot per movie at its average rating (zoomed axis), labelled with the rating and count."""
    fig, ax = _axes(ax, figsize=(8.0, 0.5 * max(len(df), 1) + 1.5))
    y = np.arange(len(df))
    means = df["mean_rating"].to_numpy(dtype=np.float64)
    lo = float(np.floor((means.min() - 0.1) * 10) / 10) if len(df) else 0.0
    hi = float(np.ceil((means.max() + 0.1) * 10) / 10) if len(df) else 1.0
    ax.hlines(y, lo, means, color=GREY, lw=1)
    ax.plot(means, y, "o", color=BLUE, ms=7)
    for yi, m, c in zip(y, means, df["n_ratings"]):
        ax.annotate(f"{m:.2f} ({c:,} ratings)", (m, yi), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([_wrap(t) for t in df["title"]], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(lo, hi + 0.25 * (hi - lo))
    ax.set_xlabel(f"average rating (stars; axis starts at {lo:g})")
    ax.set_title(f"Top {len(df)} movies by average rating (at least {df.attrs.get('min_ratings', '?')} ratings)")
    return fig


# ----------------------------------------------------------------------------- Fig 10
def plot_top_tags(df, *, ax=None):
    """Horizontal bar per tag (most used on top), labelled with the count."""
    fig, ax = _axes(ax, figsize=(7.0, 0.4 * max(len(df), 1) + 1.4))
    y = np.arange(len(df))
    bars = ax.barh(y, df["count"], color=BLUE)
    ax.bar_label(bars, labels=[f"{v:,}" for v in df["count"]], padding=2, fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([_wrap(t, 30, 1) for t in df["tag"]])
    ax.invert_yaxis()
    ax.set_xlabel("times applied (tag applications)")
    ax.set_ylabel("tag")
    _thousands(ax, "x")
    ax.margins(x=0.12)
    ax.set_title(f"Top {len(df)} tags ({df.attrs.get('n_applications', 0):,} applications in all)")
    return fig


# ----------------------------------------------------------------------------- Fig 11
def plot_genre_cooccurrence(df, *, ax=None):
    """Heatmap of P(B | A), rows A, columns B, each cell annotated."""
    names = list(dict.fromkeys(df["genre_a"]))
    k = len(names)
    fig, ax = _axes(ax, figsize=(0.42 * k + 2.6, 0.38 * k + 1.8))
    p = df["p_b_given_a"].to_numpy(dtype=np.float64).reshape(k, k)
    cmap = _colormap("viridis").with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(p), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    for i in range(k):
        for j in range(k):
            v = p[i, j]
            if np.isfinite(v):
                # exact 0 and 1 as integers; a positive share that rounds to zero as "<.01"
                text = "1" if v == 1 else "0" if v == 0 else "<.01" if v < 0.005 else f"{v:.2f}".lstrip("0")
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                        color="black" if v > 0.55 else "white")
    ax.set_xticks(range(k))
    ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(k))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("genre B")
    ax.set_ylabel("genre A (given)")
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("P(B | A) = share of A's movies that are also B")
    ax.set_title("Genre co-occurrence, P(B | A)")
    return fig


#: Plot function of each data function, by the data function's name.
PLOTS = {
    "rating_distribution": plot_rating_distribution,
    "popularity_vs_rating": plot_popularity_vs_rating,
    "ratings_per_month": plot_ratings_per_month,
    "item_popularity_rank": plot_item_popularity_rank,
    "user_degree_distribution": plot_user_degree_distribution,
    "top_users_items": plot_top_users_items,
    "average_rating_density": plot_average_rating_density,
    "genre_counts": plot_genre_counts,
    "top_rated_movies": plot_top_rated_movies,
    "top_tags": plot_top_tags,
    "genre_cooccurrence": plot_genre_cooccurrence,
}
