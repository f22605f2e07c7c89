"""Drawings of the training, tuning, ranking and case-study figures (paper sections 6-7, appendix C).

Each function takes what the matching function of :mod:`mfcore.analysis.models`
(or a :class:`mfcore.tuning.SearchResult`) returns and gives back a
:class:`matplotlib.figure.Figure`, created outside pyplot's figure registry (so
a long report never accumulates open figures; save it with ``fig.savefig``).
matplotlib is imported on first use; without it an ImportError names the
``report`` extra.
"""

from __future__ import annotations

import numpy as np

from ._mpl import FIGSIZE, pyplot

__all__ = [
    "plot_learning_curve", "plot_generalization_gap", "plot_lambda_sensitivity", "plot_random_search",
    "plot_grid_heatmap", "plot_search_2d", "plot_precision_curve", "plot_score_decomposition",
    "plot_cold_start", "plot_polarizing", "plot_item_map", "plot_genre_similarity",
]

TRAIN_STYLE = {"linestyle": "--", "marker": "o", "markersize": 3}
HELDOUT_STYLE = {"linestyle": "-", "marker": "o", "markersize": 3}
BEST_COLOR = "tab:red"
PARAM_LABELS = {"regularization": "regularization λ", "factors": "latent factors K",
                "bias_regularization": "bias regularization λ_b", "genre_weight": "genre weight τ",
                "genre_bias_weight": "genre bias weight τ_b", "learning_rate": "learning rate",
                "alpha": "confidence α"}
PARAM_SYMBOLS = {"regularization": "λ", "factors": "K", "bias_regularization": "λ_b", "genre_weight": "τ",
                 "genre_bias_weight": "τ_b", "alpha": "α"}


def _figure(figsize=FIGSIZE):
    pyplot()   # the Agg backend, or an ImportError naming the report extra
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _label(name):
    return PARAM_LABELS.get(name, name)


def _symbol(name):
    return PARAM_SYMBOLS.get(name, name)


def _best_text(result, best, params):
    """'best: λ=15.4, K=13 -> RMSE 0.8731' for a legend."""
    shown = ", ".join(f"{_symbol(p)}={_fmt_param(best[p])}" for p in params)
    return f"best: {shown} → {result.metric.upper() if result.metric == 'rmse' else result.metric} " \
           f"{best[result.metric]:.4f}"


def _held_fixed(result, searched):
    """' (K=13)': base parameters a reader needs to read a one- or two-parameter search."""
    fixed = [p for p in ("factors", "regularization") if p not in searched and p in result.base_params]
    return f" ({', '.join(f'{_symbol(p)}={_fmt_param(result.base_params[p])}' for p in fixed)})" if fixed else ""


def _metric_label(result):
    return "validation RMSE" if result.metric == "rmse" else f"validation NDCG@{result.metric.split('@')[1]}"


def _best_index(result):
    scores = result.trials[result.metric].to_numpy(dtype=float)
    return int(np.nanargmax(scores) if result.greater_is_better else np.nanargmin(scores))


def _integer_epochs(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_x(ax):
    """Log x axis with plain tick labels (0.3, 1, 10 rather than 10^0)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))


def _fmt_param(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------- learning curves
def plot_learning_curve(frame, *, title=None, heldout_label="held-out"):
    """RMSE per epoch (training dashed, held-out solid) and the training objective (Figs 12, 14, 16).

    Parameters
    ----------
    frame : DataFrame from :func:`~mfcore.analysis.models.learning_curve` (one or several ``model`` values)
    title : str, optional
    heldout_label : str
        What the held-out ratings are ("test", "validation").
    """
    fig = _figure((10.0, 4.0))
    ax_rmse, ax_obj = fig.subplots(1, 2)
    for j, (label, part) in enumerate(frame.groupby("model", sort=False)):
        color = f"C{j}"
        prefix = f"{label}: " if frame["model"].nunique() > 1 else ""
        last = part.iloc[-1]
        ax_rmse.plot(part["epoch"], part["train_rmse"], color=color,
                     label=f"{prefix}train (last {last['train_rmse']:.4f})", **TRAIN_STYLE)
        if part["heldout_rmse"].notna().any():
            best = part.loc[part["heldout_rmse"].idxmin()]
            ax_rmse.plot(part["epoch"], part["heldout_rmse"], color=color,
                         label=f"{prefix}{heldout_label} (last {last['heldout_rmse']:.4f}, "
                               f"best {best['heldout_rmse']:.4f} at epoch {int(best['epoch'])})", **HELDOUT_STYLE)
        ax_obj.plot(part["epoch"], part["objective"], color=color, label=label, **HELDOUT_STYLE)
    ax_rmse.set(xlabel="epoch", ylabel="RMSE (stars)", title="Error per epoch")
    ax_obj.set(xlabel="epoch", ylabel="objective (regularised squared error)", title="Training objective")
    obj = frame["objective"].to_numpy(dtype=float)
    if np.all(obj[np.isfinite(obj)] > 0) and np.nanmax(obj) / np.nanmin(obj) > 20:
        ax_obj.set_yscale("log")
    for ax in (ax_rmse, ax_obj):
        _integer_epochs(ax)
        ax.grid(alpha=0.3)
    ax_rmse.legend(fontsize=8)
    if frame["model"].nunique() > 1:
        ax_obj.legend()
    fig.suptitle(title or f"Learning curve: {', '.join(frame['model'].unique())}")
    return fig


def plot_generalization_gap(frame, *, title=None, heldout_label="held-out"):
    """Training (dashed) and held-out (solid) RMSE of several model sizes, each gap shaded (Fig 25).

    The first model's gap is filled, the others' hatched, so overlapping gaps stay readable.

    Parameters
    ----------
    frame : DataFrame from :func:`~mfcore.analysis.models.generalization_gap`
    """
    fig = _figure((8.5, 4.5))
    ax = fig.subplots()
    for j, (label, part) in enumerate(frame.groupby("model", sort=False)):
        color = f"C{j}"
        last = part.iloc[-1]
        ax.plot(part["epoch"], part["train_rmse"], color=color, label=f"{label} train", **TRAIN_STYLE)
        ax.plot(part["epoch"], part["heldout_rmse"], color=color, label=f"{label} {heldout_label}", **HELDOUT_STYLE)
        band = {"color": color, "alpha": 0.18} if j == 0 else {"facecolor": "none", "edgecolor": color,
                                                                "hatch": "///", "linewidth": 0.0, "alpha": 0.6}
        ax.fill_between(part["epoch"], part["train_rmse"], part["heldout_rmse"],
                        label=f"{label} gap: {last['heldout_rmse'] - last['train_rmse']:.3f} at epoch {int(last['epoch'])}",
                        **band)
    ax.set(xlabel="epoch", ylabel="RMSE (stars)", title=title or "Generalization gap by model size")
    _integer_epochs(ax)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- tuning
def _trials_ok(result):
    return result.trials[np.isfinite(result.trials[result.metric].to_numpy(dtype=float))]


def plot_lambda_sensitivity(result, param="regularization", *, title=None):
    """Validation (and training) RMSE against one parameter, log x, the best marked (Fig 13).

    Parameters
    ----------
    result : SearchResult of a search over ``param`` (other searched parameters
        are held at their best value when ``result`` is a grid over several).
    """
    trials = _trials_ok(result)
    others = [p for p in result.param_names if p != param]
    best = result.trials.iloc[_best_index(result)]
    for p in others:
        trials = trials[trials[p] == best[p]]
    trials = trials.sort_values(param)
    fig = _figure()
    ax = fig.subplots()
    ax.plot(trials[param], trials[result.metric], color="C0", label=_metric_label(result), **HELDOUT_STYLE)
    if result.metric == "rmse" and trials["train_rmse"].notna().any():
        ax.plot(trials[param], trials["train_rmse"], color="C0", alpha=0.6, label="training RMSE", **TRAIN_STYLE)
    ax.plot([best[param]], [best[result.metric]], "o", color=BEST_COLOR, markersize=9,
            label=_best_text(result, best, [param]))
    _log_x(ax)
    fixed = ", ".join(f"{_symbol(p)}={_fmt_param(best[p])}" for p in others)
    ax.set(xlabel=_label(param) + " (log scale)", ylabel="RMSE (stars)" if result.metric == "rmse" else result.metric,
           title=title or f"Sensitivity to {_label(param)}" + (f" ({fixed})" if fixed else
                                                                 _held_fixed(result, result.param_names)))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_random_search(result, param="regularization", *, title=None):
    """Every random-search trial's validation metric against one parameter, log x, the best in red (Fig 15)."""
    trials = _trials_ok(result)
    best = result.trials.iloc[_best_index(result)]
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(trials[param], trials[result.metric], s=28, color="tab:purple", alpha=0.75,
               label=f"{len(trials)} trials")
    ax.scatter([best[param]], [best[result.metric]], s=90, color=BEST_COLOR, zorder=3,
               label=_best_text(result, best, [param]))
    _log_x(ax)
    ax.set(xlabel=_label(param) + " (log scale)", ylabel=_metric_label(result),
           title=title or f"Random search over {_label(param)}" + _held_fixed(result, result.param_names))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_grid_heatmap(result, rows="factors", columns="regularization", *, title=None):
    """Heatmap of a two-parameter grid with every cell's value written in it, the best outlined (Fig 17)."""
    from matplotlib.patches import Rectangle

    from .models import grid_table

    table = grid_table(result, rows, columns)
    values = table.to_numpy(dtype=float)
    fig = _figure((1.6 + 1.1 * values.shape[1], 1.4 + 0.6 * values.shape[0]) if values.shape[1] > 4 else FIGSIZE)
    ax = fig.subplots()
    # lighter = better, as in the paper: reverse the map for errors
    cmap = "viridis" if result.greater_is_better else "viridis_r"
    im = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [_fmt_param(v) for v in table.columns])
    ax.set_yticks(range(values.shape[0]), [_fmt_param(v) for v in table.index])
    lo, hi = np.nanmin(values), np.nanmax(values)
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            v = values[r, c]
            light = (v - lo) / (hi - lo + 1e-300) > 0.5
            if not result.greater_is_better:
                light = not light
            ax.text(c, r, "failed" if np.isnan(v) else f"{v:.4f}", ha="center", va="center", fontsize=9,
                    color="black" if light else "white")
    best = np.nanargmax(values) if result.greater_is_better else np.nanargmin(values)
    br, bc = np.unravel_index(best, values.shape)
    ax.add_patch(Rectangle((bc - 0.5, br - 0.5), 1, 1, fill=False, edgecolor=BEST_COLOR, linewidth=2.5))
    fig.colorbar(im, ax=ax, label=_metric_label(result))
    ax.set(xlabel=_label(columns), ylabel=_label(rows),
           title=title or f"Grid search: {_metric_label(result)} (best outlined)")
    return fig


def plot_search_2d(result, x="regularization", y="factors", *, title=None):
    """Random-search trials in the (x, y) plane coloured by the validation metric, the best as a star (Fig 24)."""
    trials = _trials_ok(result)
    best = result.trials.iloc[_best_index(result)]
    fig = _figure()
    ax = fig.subplots()
    cmap = "viridis" if result.greater_is_better else "viridis_r"
    values = trials[result.metric].to_numpy(dtype=float)
    # a few very bad trials would squeeze every good one into one colour: clip the scale at the quartile
    if result.greater_is_better:
        vmin, vmax, extend = np.percentile(values, 25), values.max(), "min"
    else:
        vmin, vmax, extend = values.min(), np.percentile(values, 75), "max"
    sc = ax.scatter(trials[x], trials[y], c=values, cmap=cmap, vmin=vmin, vmax=vmax, s=40, edgecolors="0.3",
                    linewidths=0.4)
    ax.scatter([best[x]], [best[y]], marker="*", s=320, color=BEST_COLOR, edgecolors="black", linewidths=0.6,
               zorder=3, label=_best_text(result, best, [x, y]))
    _log_x(ax)
    fig.colorbar(sc, ax=ax, extend=extend, label=_metric_label(result) + " (lighter = better)")
    ax.set(xlabel=_label(x) + " (log scale)", ylabel=_label(y),
           title=title or f"Random search: {_label(y)} vs {_label(x)}")
    if np.issubdtype(trials[y].dtype, np.integer):
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- ranking
def plot_precision_curve(frame, *, title=None, mark=(10,)):
    """Precision@K against the list length K for each model (Fig 18), values at ``mark`` annotated."""
    fig = _figure()
    ax = fig.subplots()
    for j, (label, part) in enumerate(frame.groupby("model", sort=False)):
        ax.plot(part["k"], part["precision"], color=f"C{j}", linewidth=1.8, label=label)
        for k in mark:
            at = part[part["k"] == k]
            if len(at):
                p = float(at["precision"].iloc[0])
                ax.plot([k], [p], "o", color=f"C{j}", markersize=5)
                ax.annotate(f"{p:.3f}", (k, p), textcoords="offset points", xytext=(6, 2), fontsize=8,
                            color=f"C{j}")
    users = int(frame["n_users"].iloc[0]) if "n_users" in frame else None
    ax.set(xlabel="list length K (log scale)", ylabel="Precision@K", xscale="log",
           title=title or "Ranking quality by list length" + (f" ({users:,} test users)" if users else ""))
    ax.set_xlim(1, frame["k"].max())
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= frame["k"].max()]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


# ----------------------------------------------------------------------------- case studies
def _short(title, width=38):
    title = str(title)
    return title if len(title) <= width else title[:width - 1] + "…"


def plot_score_decomposition(frame, *, title=None):
    """Item bias (grey) and personal affinity u.v (green) of the dummy user's top items, one panel per alpha (Fig 19).

    Parameters
    ----------
    frame : DataFrame from :func:`~mfcore.analysis.models.dummy_user_recommendations`
    """
    weights = list(dict.fromkeys(frame["bias_weight"]))
    n = int(frame.groupby("bias_weight").size().max())
    fig = _figure((6.8 * len(weights), 1.6 + 0.42 * n))
    axes = np.atleast_1d(fig.subplots(1, len(weights)))
    for ax, alpha in zip(axes, weights):
        part = frame[frame["bias_weight"] == alpha].sort_values("rank")
        y = np.arange(len(part))
        h = 0.38
        ax.barh(y - h / 2, part["weighted_bias"], height=h, color="0.6", label="item bias  α·b_i")
        ax.barh(y + h / 2, part["dot"], height=h, color="tab:green", label="personal affinity  u·v_i")
        ax.plot(part["score"], y, "k|", markersize=12, markeredgewidth=2, label="ranking score  α·b_i + u·v_i")
        ax.set_yticks(y, [_short(t, 44) for t in part["title"]], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set(xlabel="contribution to the ranking score (stars)", title=f"α = {alpha:g}")
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    rated = frame.attrs.get("rated")
    names = ", ".join(_short(r["title"], 34) for r in rated) if rated else "the dummy user"
    fig.suptitle(title or f"Score decomposition of the top {n} for a user who loved {names}", fontsize=10)
    return fig


def plot_cold_start(cold, *, title=None):
    """Brand-new movies: predicted score u.v (left) and each genre centroid's share of it (right) (Figs 20, 26).

    Parameters
    ----------
    cold : ColdStart from :func:`~mfcore.analysis.models.cold_start`
    """
    movies, contrib = cold.movies, cold.contributions
    fig = _figure((11.0, 2.2 + 0.6 * max(len(movies), len(contrib) / 2)))
    ax_score, ax_genre = fig.subplots(1, 2, width_ratios=[1, 1.4])
    y = np.arange(len(movies))
    colors = ["tab:red" if v > 0 else "tab:blue" for v in movies["dot"]]
    ax_score.barh(y, movies["dot"], color=colors)
    ax_score.set_yticks(y, [f"{m}\n({g.replace('|', ', ')})\npredicted rating {p:.2f}"
                            for m, g, p in zip(movies["movie"], movies["genres"], movies["prediction"])], fontsize=8)
    ax_score.invert_yaxis()
    ax_score.axvline(0, color="black", linewidth=0.8)
    for yi, v in zip(y, movies["dot"]):
        ax_score.annotate(f"{v:+.4f}", (v, yi), textcoords="offset points", xytext=(4 if v >= 0 else -4, 0),
                          ha="left" if v >= 0 else "right", va="center", fontsize=8)
    ax_score.set(xlabel="cold-start score u·v (stars)", title="Predicted affinity")
    ax_score.margins(x=0.3)
    labels = [f"{m}: {g}" for m, g in zip(contrib["movie"], contrib["genre"])]
    yc = np.arange(len(contrib))
    ax_genre.barh(yc, contrib["dot"], color=["tab:red" if v > 0 else "tab:blue" for v in contrib["dot"]])
    ax_genre.set_yticks(yc, labels, fontsize=8)
    ax_genre.invert_yaxis()
    ax_genre.axvline(0, color="black", linewidth=0.8)
    ax_genre.set(xlabel="genre centroid's share of u·v (stars)", title="Contribution of each genre")
    for ax in (ax_score, ax_genre):
        ax.grid(axis="x", alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))   # small scores: a x10^-n offset
    fig.suptitle(title or "Explainable cold start: new movies scored from their genres alone", fontsize=10)
    return fig


def plot_polarizing(frame, *, title=None):
    """The movies with the largest ||v_i|| (left) beside those with the largest b_i (right) (Fig 21)."""
    fig = _figure((12.0, 1.4 + 0.4 * int(frame.groupby("ranking").size().max())))
    axes = fig.subplots(1, 2)
    specs = (("norm", "norm", "vector norm ||v_i||", "Most polarizing (largest ||v_i||)", "tab:purple"),
             ("bias", "item_bias", "item bias b_i (stars)", "Most liked by everyone (largest b_i)", "tab:orange"))
    for ax, (ranking, col, xlabel, panel, color) in zip(axes, specs):
        part = frame[frame["ranking"] == ranking].sort_values("rank")
        y = np.arange(len(part))
        ax.barh(y, part[col], color=color)
        other = "b_i" if ranking == "norm" else "||v||"
        other_col = "item_bias" if ranking == "norm" else "norm"
        ax.set_yticks(y, [f"{_short(t, 34)}  ({other}={o:+.2f})" if ranking == "norm" else
                          f"{_short(t, 34)}  ({other}={o:.2f})" for t, o in zip(part["title"], part[other_col])],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set(xlabel=xlabel, title=panel)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "Polarizing movies vs universally liked movies", fontsize=10)
    return fig


def plot_item_map(frame, *, title=None):
    """t-SNE map of item vectors, coloured by genre, other movies in light grey (Fig 22)."""
    from .models import MAP_GENRES

    fig = _figure((8.0, 7.0))
    ax = fig.subplots()
    size = 12 if len(frame) <= 2000 else 6
    other = frame[frame["genre"] == "other"]
    ax.scatter(other["x"], other["y"], s=size * 0.6, color="0.85", label=f"other ({len(other):,})", rasterized=True)
    # one colour per genre whatever the data: the default genres first, in their order, then any others
    genres = [g for g in dict.fromkeys(frame["genre"]) if g != "other"]
    genres.sort(key=lambda g: (MAP_GENRES.index(g) if g in MAP_GENRES else len(MAP_GENRES), g))
    for g in genres:
        part = frame[frame["genre"] == g]
        color = f"C{MAP_GENRES.index(g)}" if g in MAP_GENRES else f"C{len(MAP_GENRES) + genres.index(g)}"
        ax.scatter(part["x"], part["y"], s=size, color=color, alpha=0.85, label=f"{g} ({len(part):,})",
                   rasterized=True)
    ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2",
           title=title or f"Item vectors of the {len(frame):,} most rated movies (t-SNE)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=2, fontsize=8, loc="best", framealpha=0.9)
    return fig


def plot_genre_similarity(similarity, *, title=None):
    """Heatmap of genre-centroid cosine similarities with values written in (the table beside Fig 22)."""
    names = sorted(set(similarity["genre_a"]))
    idx = {g: k for k, g in enumerate(names)}
    mat = np.full((len(names), len(names)), np.nan)      # the diagonal (1 by definition) stays blank
    mat[[idx[a] for a in similarity["genre_a"]], [idx[b] for b in similarity["genre_b"]]] = similarity["cosine"]
    fig = _figure((1.5 + 0.5 * len(names), 1.2 + 0.45 * len(names)))
    ax = fig.subplots()
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for r in range(len(names)):
        for c in range(len(names)):
            if r != c:
                ax.text(c, r, f"{mat[r, c]:.2f}".replace("0.", ".").replace("-.", "−."), ha="center", va="center",
                        fontsize=7 if len(names) <= 20 else 5, color="white" if abs(mat[r, c]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="cosine similarity of genre centroids", shrink=0.8)
    ax.set_title(title or "Which genres sit together in the latent space")
    return fig
