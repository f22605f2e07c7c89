"""``mfcore report``: the paper's study as an ordered list of steps, written as PNG + JSON + HTML.

:func:`run_report` runs a list of :class:`Step` objects in order on one
dataset and writes, into ``out_dir``:

* ``<figure name>.png`` for every figure;
* ``tables/<table name>.csv`` for every table a step returns
  (the data behind each figure, so every number drawn can be looked up);
* ``results.json``: the dataset summary, then per step its status, the
  numbers it computed, its figures with their captions and its tables (inline
  when they have at most :data:`INLINE_ROWS` rows); wall times are kept apart
  under ``"timings"`` so the rest of the file is identical for a given seed;
* ``report.html``: one self-contained page (PNG images embedded as base64,
  no external file or script) that reads like the results section of the
  paper: a section per step, each figure with its caption.

``results.json`` and ``report.html`` are rewritten atomically after every
step, so a long study that fails (or is interrupted) half-way leaves a
readable partial report with the failure recorded.

The step contract (how the data, training, tuning and case-study steps plug in)
-----------------------------------------------------------------------------
A step is ``Step(key, title, run, requires=(), section="")``:

``key``
    Stable identifier (``[a-z0-9_]+``), unique in the report; used in
    ``results.json``, table file names and the HTML anchors. Data steps use
    the paper's figure numbers, ``fig01_rating_distribution`` ... ``fig11_...``.
``title``
    Section heading in the HTML, e.g. ``"Rating distribution (Fig. 1)"``.
``run(ctx) -> StepResult``
    Does the work. ``ctx`` is the :class:`ReportContext`:

    * ``ctx.data`` -- the :class:`mfcore.Interactions` being studied;
    * ``ctx.quick`` -- True for a small budget (``--quick``): fewer trials,
      epochs and points, so the whole report runs in a minute or two;
    * ``ctx.seed`` and ``ctx.rng(name)`` -- the report's seed and a NumPy
      Generator derived from (seed, name), so a step's randomness does not
      depend on which steps ran before it; pass ``ctx.seed`` (or an int drawn
      from ``ctx.rng``) as ``random_state`` to models and splits;
    * ``ctx.num_threads`` -- OpenMP threads for model fits (0 = all cores);
    * ``ctx.options`` -- a dict of user choices for particular steps (the model
      steps read ``trials`` and ``dummy_ratings``);
    * ``ctx.state`` -- a dict shared by the steps of one run: a step stores
      what later steps need (e.g. the train/test split, the tuned parameters)
      under documented keys, and a later step lists those keys in
      ``requires``;
    * ``ctx.progress`` -- the step's progress bar: ``ctx.progress.reset(total=n)``
      then ``ctx.progress.update()`` per unit of work (trials, epochs, ...);
    * ``ctx.out_dir`` -- the output directory (steps should not need it:
      return figures and tables instead of writing files).

    It returns a :class:`StepResult` with ``figures`` (:class:`FigureOutput`:
    a matplotlib Figure, a file name and a one-sentence caption whose numbers
    are computed from the data), ``numbers`` (a dict of JSON-serialisable
    values: every number a caption or figure quotes), ``tables``
    (:class:`TableOutput`: DataFrames written as CSV; those given a caption
    are also shown in the HTML) and ``notes`` (sentences shown under the
    section, e.g. what was left out and why).
``requires``
    Keys of ``ctx.state`` the step needs; if one is missing (because the step
    that sets it was skipped) the step is skipped with a note, not run.
``section``
    Heading of the group of steps in the HTML (``"The data"`` for the data
    steps, e.g. ``"Training"``, ``"Tuning"``, ``"Ranking"``, ``"Case studies"``
    for the model steps); a new heading starts when it changes.

A step that cannot run on this dataset raises :class:`SkipStep` (or lets
:class:`mfcore.analysis.data.MissingDataError` propagate, e.g. no tags or no
timestamps): the report records the reason as a note and goes on. Any other
exception is recorded as a failure in ``results.json`` / ``report.html`` and
re-raised (a bug is never turned into a silent skip).

:data:`DATA_STEPS` holds the eleven data figures of the paper's section 4.
The model steps (split, tuning, learning curves, ranking comparison, case
studies) are :data:`mfcore.analysis.model_steps.MODEL_STEPS`;
:func:`default_steps` is the whole study in order.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import data as _data
from . import data_plots as _plots
from ._mpl import pyplot

__all__ = [
    "Step", "StepResult", "FigureOutput", "TableOutput", "ReportContext", "SkipStep",
    "DATA_STEPS", "default_steps", "run_report",
]

#: Tables with at most this many rows are also written inline into results.json.
INLINE_ROWS = 100
#: Resolution of the PNG files (the figures are sized in inches for about 700-1000 px wide).
DPI = 110


# ----------------------------------------------------------------------------- the contract
class SkipStep(Exception):
    """Raised by a step that cannot run on this dataset; the message becomes the note in the report."""


@dataclass
class FigureOutput:
    """One figure of a step.

    Attributes
    ----------
    name : str
        File stem, unique in the report (``fig01_rating_distribution`` -> ``fig01_rating_distribution.png``).
    figure : matplotlib.figure.Figure
    caption : str
        One sentence stating what the numbers say, computed from the data.
    """

    name: str
    figure: Any
    caption: str


@dataclass
class TableOutput:
    """A table of a step: always written as CSV (and inline in results.json when small).

    ``caption`` given: the table is also shown in the HTML, numbered like the paper's tables.
    """

    name: str
    frame: pd.DataFrame
    caption: str | None = None


@dataclass
class StepResult:
    """What a step returns (see the module docstring)."""

    figures: list = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """A unit of the study: ``run(ctx) -> StepResult`` (see the module docstring)."""

    key: str
    title: str
    run: Callable[["ReportContext"], StepResult]
    requires: tuple = ()
    section: str = ""


@dataclass
class ReportContext:
    """What a step may use (see the module docstring)."""

    data: Any
    source: str
    out_dir: Path
    quick: bool = False
    seed: int = 0
    num_threads: int = 0
    options: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    progress: Any = None

    def rng(self, name: str) -> np.random.Generator:
        """A Generator seeded by (the report's seed, ``name``): independent of the order steps run in."""
        return np.random.default_rng([int(self.seed), zlib.crc32(name.encode("utf-8"))])


# ----------------------------------------------------------------------------- captions of the data figures
def _pct(x, digits=0):
    return f"{100 * x:.{digits}f}%"


def _count_range(lo, hi):
    """'1 rating', '3-4 ratings', '1,000-1,999 ratings' for the half-open bin [lo, hi)."""
    last = hi - 1
    return f"{lo:,} rating" + ("" if lo == 1 and last == 1 else "s") if lo == last else f"{lo:,}-{last:,} ratings"


def _caption_rating_distribution(df):
    a = df.attrs
    mode_share = float(df.loc[df["rating"] == a["mode"], "share"].iloc[0])
    text = (f"{a['mode']:g} stars is the most common rating ({_pct(mode_share, 1)} of {a['n_ratings']:,} ratings); "
            f"{_pct(a['share_above_midpoint'], 1)} of ratings lie above the middle of the scale ({a['midpoint']:g}) "
            f"and the mean is {a['mean']:.2f}")
    if a.get("whole_star_share") is not None:
        whole_values = int(np.count_nonzero(df["rating"] == np.floor(df["rating"])))
        if 0 < whole_values < len(df):
            text += (f"; the {whole_values} whole-star values (of {len(df)}) take "
                     f"{_pct(a['whole_star_share'])} of the ratings")
    return text + "."


def _caption_popularity_vs_rating(df):
    a = df.attrs
    bins = [b for b in a["funnel"] if b["n_movies"] >= 20] or a["funnel"]
    first, last = bins[0], bins[-1]
    rho = a["spearman"]
    corr = f"Spearman correlation of rating count and average: {rho:.2f}" if np.isfinite(rho) else ""
    if first is last:
        return (f"Movies with {_count_range(first['lo'], first['hi'])} have averages spread over "
                f"{first['p05']:.2f}-{first['p95']:.2f} (middle 90%, std {first['std']:.2f}). {corr}.").replace(" .", "")
    verb = "narrows" if last["std"] < first["std"] else "does not narrow"
    return (f"The spread of averages {verb} with popularity: movies with {_count_range(first['lo'], first['hi'])} "
            f"range over {first['p05']:.2f}-{first['p95']:.2f} stars (middle 90%, std {first['std']:.2f}), movies "
            f"with {_count_range(last['lo'], last['hi'])} over {last['p05']:.2f}-{last['p95']:.2f} (std "
            f"{last['std']:.2f}); {corr}.")


def _caption_ratings_per_month(df):
    a = df.attrs
    ratio = a["peak_count"] / a["median_count"] if a["median_count"] > 0 else float("inf")
    text = (f"Over {a['n_months']:,} months ({a['first_month']} to {a['last_month']}) the busiest month, "
            f"{a['peak_month']}, has {a['peak_count']:,} ratings, "
            + (f"{ratio:.1f}x the median month ({a['median_count']:,.0f})" if np.isfinite(ratio)
               else "while the median month has none"))
    if a["n_empty_months"]:
        text += f"; {a['n_empty_months']:,} months have no ratings"
    return text + "."


def _caption_item_popularity_rank(df):
    a = df.attrs
    if a["fit_rank_max"] is None:
        return (f"Too few movies have at least {a['min_count']} ratings to fit a power law; the most rated movie "
                f"has {int(df['n_ratings'].iloc[0]):,} ratings and the top 1% of rated movies hold "
                f"{_pct(a['head_share'])} of all ratings.")
    quality = "closely follows" if a["r2"] >= 0.95 else "roughly follows" if a["r2"] >= 0.8 else "is poorly described by"
    return (f"Movie popularity {quality} a power law n(r) = C r^-s with s = {a['exponent']:.2f}, "
            f"C = {a['constant']:,.0f} (least squares in log-log over ranks {a['fit_rank_min']:,}-{a['fit_rank_max']:,}, "
            f"R² = {a['r2']:.2f}; implied degree exponent α = 1 + 1/s = {a['degree_exponent']:.2f}); the top 1% of "
            f"rated movies hold "
            f"{_pct(a['head_share'])} of all ratings.")


def _caption_user_degree_distribution(df):
    a = df.attrs
    return (f"User activity is heavy-tailed: the median user has {a['median']:,.0f} ratings, the mean "
            f"{a['mean']:,.0f} and the most active {a['max']:,}; the top 1% of users give "
            f"{_pct(a['top1_share'])} of all ratings and the top 10% give {_pct(a['top10_share'])}.")


def _caption_top_users_items(df):
    a = df.attrs
    nu, ni = int(df["user_rank"].max()), int(df["item_rank"].max())
    whole = f"the full matrix is {_pct(a['overall_density'], 2)} filled"
    if a["n_observed"] == a["n_cells"]:
        return f"Every cell of the {nu} most active users x {ni} most rated movies is rated, while {whole}."
    return (f"Even among the {nu} most active users and the {ni} most rated movies, {_pct(1 - a['density'])} of the "
            f"cells are empty ({a['n_observed']:,} of {a['n_cells']:,} rated), and {whole}.")


def _caption_average_rating_density(df):
    a = df.attrs
    groups = a["groups"]
    overall = a["stats"][groups[0]]
    genres = [(g, a["stats"][g]["median"]) for g in groups[1:] if np.isfinite(a["stats"][g]["median"])]
    text = (f"Per-movie averages (movies with at least {a['min_ratings']} ratings, {overall['n_movies']:,} in all) "
            f"form one bell around a median of {overall['median']:.2f} stars")
    if genres:
        lo = min(genres, key=lambda t: t[1])
        hi = max(genres, key=lambda t: t[1])
        text += (f"; the medians of the {len(genres)} most frequent genres range from {lo[0]} ({lo[1]:.2f}) "
                 f"to {hi[0]} ({hi[1]:.2f})")
    return text + "."


def _caption_genre_counts(df):
    a = df.attrs
    present = df[df["n_movies"] > 0]
    g1 = present.iloc[0]
    text = f"{g1['genre']} ({g1['n_movies']:,} movies, {_pct(g1['share'])} of the catalogue)"
    if len(present) > 1:
        g2 = present.iloc[1]
        text += f" and {g2['genre']} ({g2['n_movies']:,}) lead"
    else:
        text += " is the only genre"
    if len(present) > 2:
        gl = present.iloc[-1]
        text += f", while {gl['genre']} has {gl['n_movies']:,} ({g1['n_movies'] / gl['n_movies']:.0f}x fewer)"
    text += f"; a movie has {a['mean_genres_per_movie']:.1f} genres on average"
    if a["n_without_genre"]:
        text += f" and {a['n_without_genre']:,} have none"
    return text + "."


def _caption_top_rated_movies(df):
    a = df.attrs
    top = df.iloc[0]
    return (f"Of the {a['n_eligible']:,} movies with at least {a['min_ratings']} ratings, {top['title']} averages "
            f"highest ({top['mean_rating']:.2f} stars from {top['n_ratings']:,} ratings); all top {len(df)} "
            f"average at least {df['mean_rating'].min():.2f}.")


def _caption_top_tags(df):
    a = df.attrs
    top = df.iloc[0]
    by = "one user" if top["n_users"] == 1 else f"{top['n_users']:,} users"
    return (f"\u201c{top['tag']}\u201d is the most used tag ({top['count']:,} applications on {top['n_movies']:,} "
            f"movies by {by}); the top {len(df)} tags make up {_pct(a['top_share'], 1)} of "
            f"{a['n_applications']:,} applications of {a['n_distinct']:,} distinct tags.")


def _caption_genre_cooccurrence(df):
    a = df.attrs
    pairs = ", ".join(f"{s['genre_a']} → {s['genre_b']} = {s['p']:.2f}" for s in a["strongest"][:3])
    text = (f"Strongest dependencies P(B | A) among genres with at least {a['min_n_a']:,} movies: {pairs}"
            if pairs else "No genre has enough movies to rank dependencies")
    return text + f"; {a['n_pairs_never']:,} ordered pairs of genres never occur together."


def _data_step(number, function, title, caption):
    """A Step that runs one data function, draws it and captions it from its attrs."""
    name = function.__name__
    plot = _plots.PLOTS[name]
    key = f"fig{number:02d}_{name}"

    def run(ctx):
        ctx.progress.reset(total=2)
        df = function(ctx.data)
        if len(df) == 0:
            raise SkipStep(_empty_reason(name, df))
        ctx.progress.update()
        fig = plot(df)
        ctx.progress.update()
        return StepResult(figures=[FigureOutput(key, fig, caption(df))], numbers=dict(df.attrs),
                          tables=[TableOutput(key, df)])

    run.__name__ = f"step_{name}"
    run.__doc__ = f"Paper Fig. {number}: :func:`mfcore.analysis.data.{name}` drawn by ``{plot.__name__}``."
    return Step(key, f"{title} (Fig. {number})", run, section=DATA_SECTION)


def _empty_reason(name, df):
    if name == "top_rated_movies":
        return f"no movie has at least {df.attrs.get('min_ratings')} ratings"
    return f"{name} found nothing to draw"


DATA_SECTION = "The data (paper section 4)"

#: The data figures of the paper's section 4, in order.
DATA_STEPS = tuple(
    _data_step(num, fn, title, cap)
    for (num, fn), (title, cap) in zip(_data.FIGURES, [
        ("Rating distribution", _caption_rating_distribution),
        ("Popularity vs average rating", _caption_popularity_vs_rating),
        ("Ratings per month", _caption_ratings_per_month),
        ("Long tail of item popularity", _caption_item_popularity_rank),
        ("User activity", _caption_user_degree_distribution),
        ("Top users x top movies", _caption_top_users_items),
        ("Average rating by genre", _caption_average_rating_density),
        ("Movies per genre", _caption_genre_counts),
        ("Top-rated movies", _caption_top_rated_movies),
        ("Top tags", _caption_top_tags),
        ("Genre co-occurrence", _caption_genre_cooccurrence),
    ])
)

def default_steps() -> list:
    """The whole study in order: :data:`DATA_STEPS` then :data:`mfcore.analysis.model_steps.MODEL_STEPS`."""
    from .model_steps import MODEL_STEPS

    return [*DATA_STEPS, *MODEL_STEPS]


# ----------------------------------------------------------------------------- progress
class _Progress:
    """A step's progress: a tqdm bar on a terminal, one line per step otherwise, or nothing.

    Steps only call ``reset(total=...)`` and ``update(n=1)``.
    """

    def __init__(self, mode, label):
        self.mode, self.label, self.bar = mode, label, None
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=1, desc=label, file=sys.stderr, leave=True, dynamic_ncols=True)

    def reset(self, total=None):
        if self.bar is not None:
            self.bar.reset(total=total)

    def update(self, n=1):
        if self.bar is not None:
            self.bar.update(n)

    def finish(self, status):
        if self.bar is not None:
            if self.bar.total is not None and self.bar.n < self.bar.total and status.startswith("done"):
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.set_postfix_str(status, refresh=True)
            self.bar.close()
        elif self.mode == "lines":
            print(f"{self.label}: {status}", file=sys.stderr, flush=True)


def _progress_mode(show_progress):
    if show_progress is False:
        return "off"
    if show_progress is None:
        return "bar" if sys.stderr.isatty() else "lines"
    return "bar"


# ----------------------------------------------------------------------------- output
def _json_value(v):
    """Plain JSON value: NumPy scalars/arrays unwrapped, NaN/inf -> None, dates -> ISO text."""
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).date()) if pd.Timestamp(v) == pd.Timestamp(v).normalize() else str(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _records(frame):
    return [{str(c): _json_value(v) for c, v in zip(frame.columns, row)}
            for row in frame.itertuples(index=False, name=None)]


def _atomic_write(path, data: bytes):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#fff;margin:0}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin-top:1.6em}
.meta{color:#666;font-size:.9em}
figure{margin:1em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.95em;margin-top:.4em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}
.fail{background:#fdecea;border-left:4px solid #d93025;padding:.4em .8em}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0} th,td{padding:2px 8px;border-bottom:1px solid #eee}
th{text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _dataset_sentence(s):
    if not s["n_ratings"]:
        return "The dataset has no ratings."
    kind = "ratings" if s["has_ratings"] else "interactions (implicit feedback)"
    text = (f"{s['n_ratings']:,} {kind} by {s['n_users_with_ratings']:,} users on {s['n_rated_items']:,} of "
            f"{s['n_items']:,} movies (density {_pct(s['density'], 2)})")
    if s["has_ratings"]:
        text += f", mean rating {s['mean_rating']:.2f}"
    if s["first_rating"]:
        text += f", from {s['first_rating']} to {s['last_rating']}"
    text += f"; {s['n_genres']} genres" if s["n_genres"] else "; no genres"
    text += f"; {s['n_tags']:,} tag applications." if s["n_tags"] is not None else "; no tags."
    return text


def _html_table(table, number):
    frame = table.frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for v in row:
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            text = f"{v:,.4g}" if isinstance(v, (float, np.floating)) else (f"{v:,}" if num else str(v))
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table><caption><b>Table {number}.</b> {html.escape(table.caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _render_html(results, images, timings):
    s = results
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>mfcore report: {html.escape(s['source'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>Study of {html.escape(s['source'])}</h1>",
        f'<p class="meta">mfcore {html.escape(s["mfcore_version"])} &middot; seed {s["seed"]} &middot; '
        f'{"quick budget" if s["quick"] else "full budget"} &middot; {len(s["steps"])} steps, '
        f'{sum(len(st["figures"]) for st in s["steps"])} figures</p>',
        f'<h2 id="dataset">Dataset</h2><p>{html.escape(_dataset_sentence(s["dataset"]))}</p>',
    ]
    fig_no = table_no = 0
    section = None
    for st in s["steps"]:
        if st["section"] != section:
            section = st["section"]
            if section:
                parts.append(f"<h2>{html.escape(section)}</h2>")
        parts.append(f'<h3 id="{html.escape(st["key"])}">{html.escape(st["title"])}</h3>')
        if st["status"] == "skipped":
            parts.append(f'<p class="note">Skipped: {html.escape(st["note"])}.</p>')
        elif st["status"] == "failed":
            parts.append(f'<p class="fail">Failed: {html.escape(st["note"])}</p>')
        for f in st["figures"]:
            fig_no += 1
            data = base64.b64encode(images[f["file"]]).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(f["caption"])}">'
                         f"<figcaption><b>Figure {fig_no}.</b> {html.escape(f['caption'])}</figcaption></figure>")
        for t in st["_shown_tables"]:
            table_no += 1
            parts.append(_html_table(t, table_no))
        for note in st["notes"]:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
    rows = "".join(
        f'<tr><td>{html.escape(st["title"])}</td><td>{st["status"]}</td>'
        f'<td class="num">{timings["steps"].get(st["key"], float("nan")):.1f}</td></tr>' for st in s["steps"])
    parts.append(f'<h2 id="run">Run</h2><table><thead><tr><th>step</th><th>status</th><th>seconds</th></tr>'
                 f"</thead><tbody>{rows}</tbody></table>"
                 f'<p class="meta">Total {timings["total_s"]:.1f} s. Every number above is in results.json; '
                 "the data behind each figure is in tables/.</p>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _public(results, timings):
    """results.json's content: private keys (leading underscore) dropped, values made plain JSON."""
    public = {k: v for k, v in results.items() if k != "steps"}
    public["steps"] = [{k: v for k, v in st.items() if not k.startswith("_")} for st in results["steps"]]
    public["timings"] = timings
    return _json_value(public)


def _write_outputs(out_dir, results, images, timings):
    text = json.dumps(_public(results, timings), indent=2, ensure_ascii=False, allow_nan=False)
    _atomic_write(out_dir / "results.json", (text + "\n").encode("utf-8"))
    _atomic_write(out_dir / "report.html", _render_html(results, images, timings).encode("utf-8"))


# ----------------------------------------------------------------------------- the runner
def run_report(data, out_dir, *, source="dataset", steps=None, quick=False, seed=0, num_threads=0,
               show_progress=None, dpi=DPI, options=None):
    """Run the study's steps on ``data`` and write PNGs, tables, ``results.json`` and ``report.html``.

    Parameters
    ----------
    data : Interactions
    out_dir : path-like
        Created if missing; files of the same names are replaced, others left alone.
    source : str
        How the dataset is named in the report (e.g. ``"ml-latest-small"``).
    steps : list of Step or None
        ``None`` runs :func:`default_steps`.
    quick : bool
        Small budget for the model steps (the data steps are fast either way).
    seed : int
        Seed of every random choice (see :meth:`ReportContext.rng`).
    num_threads : int
        OpenMP threads for model fits (0 = all cores).
    show_progress : bool or None
        A progress bar per step; ``None``: bars on a terminal, one line per
        step on stderr otherwise; ``False``: silent.
    dpi : int
        Resolution of the PNG files.
    options : dict, optional
        Choices for particular steps, given to them as ``ctx.options``: the
        model steps read ``trials`` (random-search trials, overriding the
        budget) and ``dummy_ratings`` (``{movie title or id: rating}`` of the
        dummy user of the case studies).

    Returns
    -------
    dict
        The contents of ``results.json`` (with ``"timings"``), plus
        ``"out_dir"`` and ``"files"`` (every file written).

    Raises
    ------
    ImportError
        Without matplotlib (naming ``pip install "mfcore[report]"``), before
        any step runs.
    Exception
        Whatever a step raised other than SkipStep / MissingDataError, after the
        partial report has been written.
    """
    from .._version import __version__

    plt = pyplot()  # fail before any work when matplotlib is missing
    steps = default_steps() if steps is None else list(steps)
    keys = [s.key for s in steps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"step keys must be unique, got {keys}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    ctx = ReportContext(data=data, source=str(source), out_dir=out_dir, quick=bool(quick), seed=int(seed),
                        num_threads=int(num_threads), options=dict(options or {}))
    results = {"mfcore_version": __version__, "source": str(source), "seed": int(seed), "quick": bool(quick),
               "dataset": _data.dataset_summary(data), "steps": []}
    timings = {"steps": {}, "total_s": 0.0}
    images, files, figure_names, table_names = {}, [], set(), set()
    mode = _progress_mode(show_progress)
    start = time.perf_counter()
    for i, step in enumerate(steps, 1):
        entry = {"key": step.key, "title": step.title, "section": step.section, "status": "ok", "note": None, "numbers": {},
                 "figures": [], "tables": [], "notes": [], "_shown_tables": []}
        results["steps"].append(entry)
        progress = _Progress(mode, f"[{i}/{len(steps)}] {step.title}")
        ctx.progress = progress
        t0 = time.perf_counter()
        missing = [k for k in step.requires if k not in ctx.state]
        try:
            if missing:
                raise SkipStep(f"needs {', '.join(missing)} from an earlier step, which did not run")
            result = step.run(ctx)
            if not isinstance(result, StepResult):
                raise TypeError(f"step {step.key!r} returned {type(result).__name__}, expected StepResult")
            for f in result.figures:
                if f.name in figure_names:
                    raise ValueError(f"step {step.key!r}: figure name {f.name!r} is already used")
                figure_names.add(f.name)
                buf = io.BytesIO()
                f.figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
                plt.close(f.figure)
                file = f"{f.name}.png"
                images[file] = buf.getvalue()
                _atomic_write(out_dir / file, images[file])
                files.append(file)
                entry["figures"].append({"file": file, "caption": f.caption})
            for t in result.tables:
                if t.name in table_names:
                    raise ValueError(f"step {step.key!r}: table name {t.name!r} is already used")
                table_names.add(t.name)
                csv = f"tables/{t.name}.csv"
                _atomic_write(out_dir / csv, t.frame.to_csv(index=False).encode("utf-8"))
                files.append(csv)
                entry["tables"].append({"name": t.name, "csv": csv, "caption": t.caption, "n_rows": len(t.frame),
                                        "rows": _records(t.frame) if len(t.frame) <= INLINE_ROWS else None})
                if t.caption:
                    entry["_shown_tables"].append(t)
            entry["numbers"] = result.numbers
            entry["notes"] = list(result.notes)
            status = f"done in {time.perf_counter() - t0:.1f} s"
        except (SkipStep, _data.MissingDataError) as exc:
            entry["status"], entry["note"] = "skipped", str(exc)
            status = f"skipped: {exc}"
        except BaseException as exc:
            entry["status"], entry["note"] = "failed", f"{type(exc).__name__}: {exc}"
            timings["steps"][step.key] = time.perf_counter() - t0
            timings["total_s"] = time.perf_counter() - start
            progress.finish(f"failed: {type(exc).__name__}")
            _write_outputs(out_dir, results, images, timings)
            raise
        finally:
            pyplot().close("all")
        timings["steps"][step.key] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - start
        progress.finish(status)
        _write_outputs(out_dir, results, images, timings)
    if not steps:
        _write_outputs(out_dir, results, images, timings)
    files += ["results.json", "report.html"]
    out = _public(results, timings)
    out.update(out_dir=str(out_dir), files=files)
    return out
