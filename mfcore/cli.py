"""The ``mfcore`` command line.

    mfcore info                                   versions, OpenMP, threads, BLAS pools
    mfcore data stats (PATH | --dataset NAME)     counts, density, histogram, degrees, genres
    mfcore data synth --scale S --out DIR         write a MovieLens-shaped synthetic dataset
    mfcore quickstart [--dataset NAME | --data PATH | --synthetic]
    mfcore train --model M (--dataset NAME | --data PATH | --synthetic) --out FILE [model options]
    mfcore recommend --model FILE (--user ID | --rate MOVIE=RATING ...) [--data PATH]
    mfcore report (--dataset NAME | --data PATH) --out DIR [--quick] [--seed N] [--trials N]
                  [--dummy-ratings MOVIE=RATING ...] [--dpi N]
    mfcore cache info | clear                     the parsed-data cache

Every command returns an exit code from :func:`main`: 0 success, 1 error, 2 usage
error (a bad option or option value), 130 interrupted (Ctrl-C), 141 when stdout is
a closed pipe (``mfcore data stats ... | head -1``). Errors are printed as a
single line (``mfcore: error: ...``), never as a traceback (set
``MFCORE_DEBUG=1`` to see the traceback). ``-v`` / ``--verbose`` prints the
``mfcore`` logger's per-epoch records on stderr.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

MODEL_CHOICES = ("als", "genre-als", "bpr", "implicit-als")
_MODEL_CLASSES = {"als": "ExplicitALS", "genre-als": "GenreALS", "bpr": "BPR", "implicit-als": "ImplicitALS"}
#: Ratings ``--rate`` accepts when the model does not record its scale (the MovieLens scale).
_DEFAULT_SCALE = (0.5, 5.0)


class UsageError(ValueError):
    """A bad option value found after parsing: reported like argparse's errors, exit code 2."""


# ----------------------------------------------------------------- helpers
def _say(args, *lines):
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def _model_class(name):
    from . import models

    return getattr(models, _MODEL_CLASSES[name])


def _model_default(name, param):
    """The default of ``param`` in the model class's ``__init__`` (None if it has no such parameter)."""
    p = inspect.signature(_model_class(name).__init__).parameters.get(param)
    return None if p is None else p.default


def _defaults_text(param, names=MODEL_CHOICES):
    """'als 10.0, bpr 0.01, ...' from the model classes themselves (never duplicated here)."""
    parts = [f"{n} {_model_default(n, param)}" for n in names if param in inspect.signature(
        _model_class(n).__init__).parameters]
    return ", ".join(parts)


def _add_data_args(p, *, required=False, synthetic=True):
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--dataset", metavar="NAME",
                     help="a MovieLens release fetched into the data home (ml-100k, ml-1m, ml-10m, ml-20m, "
                          "ml-25m, ml-32m, ml-latest-small, ml-latest)")
    src.add_argument("--data", metavar="PATH",
                     help="a MovieLens directory or .zip (ratings.csv + movies.csv, ratings.dat + movies.dat, "
                          "or ml-100k's u.data + u.item)")
    if synthetic:
        src.add_argument("--synthetic", action="store_true",
                         help="the built-in synthetic MovieLens-like dataset (generated, seeded by --seed)")
    p.add_argument("--data-home", metavar="DIR",
                   help="where --dataset looks and downloads (default: $MFCORE_DATA_HOME or ~/.cache/mfcore)")


def _load(args):
    """Interactions from --data / --dataset / --synthetic (quickstart: synthetic when none is given)."""
    from .data import fetch_movielens, load_movielens, make_movielens_like

    if getattr(args, "data", None):
        return load_movielens(args.data), f"MovieLens files at {args.data}"
    if getattr(args, "dataset", None):
        return fetch_movielens(args.dataset, data_home=args.data_home,
                               progress=not getattr(args, "quiet", False)), args.dataset
    return make_movielens_like(random_state=getattr(args, "seed", 0)), "built-in synthetic MovieLens-like data"


def _table(rows, columns):
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    line = "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(columns, widths)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(_fmt(r.get(c)).ljust(w) if i == 0 else _fmt(r.get(c)).rjust(w)
                             for i, (c, w) in enumerate(zip(columns, widths))))
    return "\n".join(out)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


# ----------------------------------------------------------------- commands
def cmd_info(args):
    from ._config import show_config

    show_config()
    return 0


def cmd_data_stats(args):
    from .data import fetch_movielens, load_movielens

    if args.path and args.dataset:
        raise UsageError("give either PATH or --dataset, not both")
    if args.path:
        data = load_movielens(args.path)
        name = args.path
    elif args.dataset:
        data = fetch_movielens(args.dataset, data_home=args.data_home)
        name = args.dataset
    else:
        raise UsageError("give a MovieLens PATH or --dataset NAME")
    ui = data.user_items()
    n_users, n_items = ui.shape
    user_deg = np.diff(ui.indptr)
    item_deg = np.diff(data.item_users().indptr)
    print(f"dataset: {name}")
    print(f"ratings: {len(data):,}   users: {n_users:,}   items: {n_items:,}   "
          f"density: {len(data) / max(1, n_users * n_items):.5%}")
    if len(data):
        print(f"mean rating: {data.global_mean:.4f}")
        values, counts = np.unique(ui.data, return_counts=True)
        print("rating histogram:")
        top = counts.max()
        for v, c in zip(values, counts):
            print(f"  {v:>4.1f}  {c:>12,}  {'#' * int(round(40 * c / top))}")
    qs = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
    print("degree quantiles (" + ", ".join(f"{q:g}" for q in qs) + "):")
    print("  ratings per user: " + ", ".join(f"{int(x)}" for x in np.quantile(user_deg, qs)))
    print("  ratings per item: " + ", ".join(f"{int(x)}" for x in np.quantile(item_deg, qs)))
    print(f"  items with no ratings: {int((item_deg == 0).sum()):,}")
    if data.item_genres is not None and data.n_genres:
        counts = np.asarray((data.item_genres > 0).sum(axis=0)).ravel()
        print(f"genres ({data.n_genres}):")
        for g in np.argsort(-counts, kind="stable"):
            print(f"  {data.genre_names[g]:<14} {int(counts[g]):>8,} items")
    return 0


def cmd_data_synth(args):
    from .data.synthetic import make_movielens_like, write_ratings_csv

    t0 = time.perf_counter()
    data = make_movielens_like(scale=args.scale, movies=args.movies, random_state=args.seed)
    t1 = time.perf_counter()
    write_ratings_csv(data, args.out)
    t2 = time.perf_counter()
    _say(args, f"generated {len(data):,} ratings ({data.n_users:,} users, {data.n_items:,} items) in {t1 - t0:.1f} s;"
               f" wrote {args.out} in {t2 - t1:.1f} s")
    return 0


def _fit_timed(model, *fit_args, **fit_kw):
    t0 = time.perf_counter()
    model.fit(*fit_args, **fit_kw)
    return time.perf_counter() - t0


#: Model options of ``train`` (and some of ``quickstart``): (parameter, type, help). Their
#: defaults are each model class's own (see :func:`_defaults_text`); an option a model does
#: not have is a usage error.
def _threshold(text):
    """``--positive-threshold``: a number, 'none' (every rating) or 'auto' (the model's rule)."""
    word = text.strip().lower()
    if word in ("none", "auto"):
        return None if word == "none" else "auto"
    return float(text)


def _float_or_none(text):
    """A number, or 'none' (None: the option switched off)."""
    return None if text.strip().lower() == "none" else float(text)


_MODEL_OPTIONS = (
    ("factors", int, "latent dimension K"),
    ("iterations", int, "epochs"),
    ("regularization", float, "L2 penalty on the factors (lambda)"),
    ("bias_regularization", float, "L2 penalty on the biases"),
    ("learning_rate", float, "SGD step size"),
    ("alpha", float, "confidence slope: c = 1 + alpha*r ('linear') or alpha*r ('raw', as implicit)"),
    ("confidence", str, "how a value r becomes a confidence: linear or raw"),
    ("solver", str, "least-squares solver of the ALS models (cholesky or cg)"),
    ("cg_steps", int, "conjugate-gradient steps per row and epoch with --solver cg"),
    ("positive_threshold", _threshold, "ratings >= this value are the interactions ('none': every rating; "
                                       "'auto': 4 for rated data)"),
    ("genre_weight", float, "tau, weight of the genre prior on item vectors"),
    ("genre_bias_weight", float, "tau_b, weight of the genre prior on item biases"),
    ("cold_user_bias", _float_or_none, "shrinkage (ratings) of each user's offset for movies without training "
                                       "ratings ('none': no offset)"),
    ("genre_share", float, "share of the item regularization pulling item vectors toward their genres' centroid "
                           "(0: no genre prior)"),
    ("popularity_bias", float, "beta: every item's score gains beta*log(1 + its number of training ratings) "
                               "(0: off)"),
    ("regularization_exponent", float, "nu: each row's L2 penalty times ((n + 1) / (mean n + 1))^nu, n its "
                                       "positives (frequency-scaled regularization; 0: off)"),
    ("item_regularization_exponent", _float_or_none, "nu of the item rows ('none': --regularization-exponent)"),
    ("dtype", str, "factor dtype: float32 or float64"),
)


def _add_model_options(p, names=MODEL_CHOICES):
    for param, kind, text in _MODEL_OPTIONS:
        defaults = _defaults_text(param, names)
        if not defaults:
            continue
        p.add_argument("--" + param.replace("_", "-"), type=kind, default=argparse.SUPPRESS,
                       metavar={int: "N", str: "NAME"}.get(kind, "X"),
                       help=f"{text} (default: the model's own: {defaults})")


def _add_run_options(p):
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (default 0: every core the process may use)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial factors, the sampling and the synthetic "
                                                      "data (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="print the per-epoch records of the 'mfcore' logger on stderr")


def _make_model(name, args, *, only=None):
    """The model ``name`` with the model options given on the command line (others: its own defaults).

    ``only``: the options taken from ``args`` (default all); an option the model has no
    parameter for raises :class:`UsageError`, as do values its parameter checks refuse.
    """
    cls = _model_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    params = {}
    for param, _, _ in _MODEL_OPTIONS:
        if (only is not None and param not in only) or not hasattr(args, param):
            continue
        if param not in accepted:
            raise UsageError(f"--{param.replace('_', '-')} does not apply to --model {name} "
                             f"({cls.__name__} has no {param} parameter)")
        params[param] = getattr(args, param)
    params.update(num_threads=args.threads, random_state=args.seed)
    model = cls(**params)
    try:
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return model


def cmd_quickstart(args):
    from .data.split import item_cold_start_split, temporal_split
    from .evaluation import evaluate
    from ._sparse import row_of_entry
    from .metrics import rmse
    from .models import BiasBaseline

    # checked before any data is generated or read
    als = _make_model("als", args)
    genre = _make_model("genre-als", args)
    bpr = _make_model("bpr", args, only=("factors", "iterations"))
    ials = _make_model("implicit-als", args, only=("factors", "iterations"))
    t0 = time.perf_counter()
    data, source = _load(args)
    _say(args, f"data: {source}: {len(data):,} ratings, {data.n_users:,} users, {data.n_items:,} items "
               f"(loaded in {time.perf_counter() - t0:.1f} s)")
    train, test = temporal_split(data, test_fraction=0.2)
    _say(args, f"split: per-user temporal 80/20 -> {len(train):,} train / {len(test):,} test ratings; "
               "ranking: relevant = test rating >= 4, candidates = items not in the user's train set")

    models = [("bias baseline", BiasBaseline(num_threads=args.threads)), ("ExplicitALS", als)]
    has_genres = data.item_genres is not None and data.n_genres > 0
    if has_genres:
        models.append(("GenreALS", genre))
    models += [("BPR", bpr), ("ImplicitALS", ials)]
    rows = []
    for name, model in models:
        secs = _fit_timed(model, train, show_progress=not args.quiet)
        scores = evaluate(model, train, test, k=10)
        rows.append({"model": name, "RMSE": scores.get("rmse"), "MAE": scores.get("mae"),
                     "P@10": scores["precision@10"], "NDCG@10": scores["ndcg@10"], "fit s": secs})

    print(_table(rows, ["model", "RMSE", "MAE", "P@10", "NDCG@10", "fit s"]))

    if has_genres:
        ctrain, ctest = item_cold_start_split(data, item_fraction=0.1, random_state=args.seed)
        held_out = ctest.user_items()
        users, items, truth = row_of_entry(held_out.indptr), held_out.indices, held_out.data.astype(np.float64)
        # the held-out items have no training ratings: the baseline scores them mu + b_u,
        # GenreALS from their genres
        base_rmse, genre_rmse = (
            rmse(truth, model.fit(ctrain, show_progress=False).predict(ctrain.user_ids[users], ctrain.item_ids[items]))
            for model in (BiasBaseline(num_threads=args.threads), _make_model("genre-als", args)))
        print(f"cold start (10% of items unseen in training, {len(ctest):,} ratings): "
              f"bias baseline RMSE {base_rmse:.4f} -> GenreALS RMSE {genre_rmse:.4f}")
    return 0


def _partial_path(out):
    """``model.npz`` -> ``model.partial.npz`` (beside it)."""
    path = Path(out)
    stem = path.name[:-4] if path.name.endswith(".npz") else path.name
    return path.with_name(stem + ".partial.npz")


def cmd_train(args):
    model = _make_model(args.model, args)          # bad options fail before the data is read
    data, source = _load(args)
    if args.synthetic:
        _say(args, f"training on {source} (--synthetic)")
    try:
        with warnings.catch_warnings():
            # the command line says it itself, below
            warnings.filterwarnings("ignore", message=r".*\.fit interrupted after", category=RuntimeWarning)
            secs = _fit_timed(model, data, show_progress=not args.quiet)
    except KeyboardInterrupt:
        done = len(getattr(model, "history_", None) or ())
        if done and getattr(model, "item_factors", None) is not None:
            partial = model.save(_partial_path(args.out))
            print(f"mfcore: interrupted after {done} of {model.iterations} epoch(s); saved the model trained so "
                  f"far to {partial} ({args.out} was not written)", file=sys.stderr)
        else:
            print("mfcore: interrupted before the first epoch ended; no model was saved", file=sys.stderr)
        return 130
    path = model.save(args.out)
    _say(args, f"trained {type(model).__name__} on {source} ({len(data):,} ratings, "
               f"{len(model.history_)} epochs) in {secs:.1f} s; saved {path}")
    return 0


def _rating_scale(model):
    scale = getattr(model, "rating_scale_", None)
    if scale is None:
        return _DEFAULT_SCALE
    lo, hi = scale
    return float(lo), float(hi)


def _parse_rate(pairs, model):
    """``["1=5", "260=4.5"]`` -> ([1, 260], [5.0, 4.5]); UsageError for a malformed pair or a rating off the scale."""
    ids = model.item_ids
    numeric_ids = ids is None or ids.dtype.kind in "iu"
    lo, hi = _rating_scale(model)
    items, ratings, seen = [], [], {}
    for text in pairs:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--rate expects MOVIE=RATING (e.g. 2571=4.5), got {text!r}")
        if numeric_ids:
            try:
                item = int(key)
            except ValueError:
                raise UsageError(f"--rate {text!r}: movie {key!r} is not an integer id") from None
        else:
            item = key
        try:
            rating = float(value)
        except ValueError:
            raise UsageError(f"--rate {text!r}: rating {value!r} is not a number") from None
        if not lo <= rating <= hi:
            raise UsageError(f"--rate {text!r}: rating {value} is outside the rating scale [{lo:g}, {hi:g}]")
        if item in seen:
            raise UsageError(f"--rate rates movie {key} twice ({seen[item]!r} and {text!r})")
        seen[item] = text
        items.append(item)
        ratings.append(rating)
    return items, ratings


def _parse_user(model, text):
    ids = model.user_ids
    if ids is None or ids.dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            kind = "a row index" if ids is None else "an integer user id"
            raise UsageError(f"--user expects {kind} (this model's users are numbered), got {text!r}") from None
    return text


def _check_some_positive(model, ratings):
    """ImplicitALS and BPR fold in only ratings >= positive_threshold: refuse a user with none."""
    threshold = getattr(model, "positive_threshold", None)
    if isinstance(threshold, str):        # "auto": the rule the model applied to its training data
        from .models._implicit_data import resolve_threshold

        threshold = resolve_threshold(threshold, getattr(model, "input_kind_", None) or "ratings")
    if threshold is None or any(r >= threshold for r in ratings):
        return
    raise ValueError(
        f"{type(model).__name__} counts only ratings >= positive_threshold={threshold:g} as interactions and "
        f"none of the {len(ratings)} --rate value(s) reaches it, so there is nothing to fold in (every score "
        f"would be the same); rate at least one movie {threshold:g} or higher")


def cmd_recommend(args):
    import scipy.sparse as sp

    from .models.base import FactorModel

    if args.n < 1:
        raise UsageError(f"-n must be at least 1, got {args.n}")
    model = FactorModel.load(args.model)
    if args.user is not None:
        user = _parse_user(model, args.user)
    else:
        items, ratings = _parse_rate(args.rate, model)
        _check_some_positive(model, ratings)
    titles = None
    if args.data:
        from .data.movielens import load_movielens

        data = load_movielens(args.data)
        if data.titles is not None:
            titles = dict(zip(data.item_ids.tolist(), data.titles.tolist()))
    if args.user is not None:
        ids, scores = model.recommend(user, N=args.n, bias_weight=args.bias_weight)
        vec, ubias = model.user_factors[model.user_index(user)], float(model.user_bias[model.user_index(user)])
        header = f"top {args.n} for user {args.user}"
    else:
        idx = model.item_index(np.asarray(items))
        row = sp.csr_matrix((np.asarray(ratings, np.float32), idx.astype(np.int32), [0, len(idx)]),
                            shape=(1, model.n_items))
        vec, ubias = model.fold_in(items, ratings)
        ids, scores = model.recommend(0, user_items=row, N=args.n, recalculate_user=True,
                                      bias_weight=args.bias_weight)
        header = f"top {args.n} for a new user with {len(items)} ratings (folded in)"
    print(header)
    rows = []
    for item, score in zip(ids, scores):
        i = model.item_index(item)
        bias = float(model.item_bias[i])
        dot = float(np.dot(vec.astype(np.float64), model.item_factors[i].astype(np.float64)))
        rows.append({"item": str(item), "title": (titles or {}).get(item, "") if titles else "-",
                     "score": float(score), "mu+b_u": model.global_mean + ubias, "b_i": bias, "u.v": dot})
    print(_table(rows, ["item", "title", "score", "mu+b_u", "b_i", "u.v"]))
    return 0


def cmd_cache_info(args):
    from .data import cache_info

    info = cache_info(args.cache_dir)
    if not info["exists"]:
        print(f"cache directory: {info['directory']} (does not exist yet)")
        return 0
    print(f"cache directory: {info['directory']}")
    print(f"cached datasets: {info['entries']:,} ({info['files']:,} files, {info['bytes'] / 2**20:,.1f} MiB)")
    return 0


def cmd_cache_clear(args):
    from .data import clear_cache

    done = clear_cache(args.cache_dir)
    print(f"removed {done['removed']:,} cache files ({done['bytes'] / 2**20:,.1f} MiB) from {done['directory']}")
    return 0


def _parse_dummy_ratings(pairs):
    """``["The Matrix=5", "2571=4.5"]`` -> ``{"The Matrix": 5.0, 2571: 4.5}`` (digits are a movie id)."""
    if not pairs:
        return None
    out = {}
    for text in pairs:
        movie, sep, value = text.rpartition("=")
        movie = movie.strip()
        if not sep or not movie:
            raise ValueError(f"--dummy-ratings expects MOVIE=RATING (a title or a movie id), got {text!r}")
        try:
            rating = float(value)
        except ValueError:
            raise ValueError(f"--dummy-ratings {text!r}: rating {value!r} is not a number") from None
        out[int(movie) if movie.isdigit() else movie] = rating
    return out


def cmd_report(args):
    from .analysis.report import run_report

    if args.trials is not None and args.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {args.trials}")
    if not 30 <= args.dpi <= 600:
        raise UsageError(f"--dpi must be between 30 and 600, got {args.dpi}")
    options = {"trials": args.trials, "dummy_ratings": _parse_dummy_ratings(args.dummy_ratings)}
    t0 = time.perf_counter()
    data, _ = _load(args)
    source = args.dataset or Path(args.data).name.removesuffix(".zip")
    result = run_report(data, args.out, source=source, quick=args.quick, seed=args.seed,
                        num_threads=args.threads, show_progress=False if args.quiet else None, dpi=args.dpi,
                        options=options)
    steps = result["steps"]
    skipped = [s for s in steps if s["status"] == "skipped"]
    n_figs = sum(len(s["figures"]) for s in steps)
    _say(args, f"wrote {n_figs} figures, results.json and report.html to {result['out_dir']} "
               f"({len(steps)} steps, {len(skipped)} skipped) in {time.perf_counter() - t0:.1f} s")
    for s in skipped:
        _say(args, f"  skipped {s['title']}: {s['note']}")
    return 0


# ----------------------------------------------------------------- parser
def build_parser():
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="mfcore", description="Fast matrix-factorization recommenders.",
        epilog="Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted, 141 stdout closed (broken pipe).")
    parser.add_argument("--version", action="version", version=f"mfcore {__version__}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the per-epoch records of the 'mfcore' logger on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(parent, name, func, help_text):
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func, _parser=p)
        return p

    command(sub, "info", cmd_info, "versions, OpenMP, threads and BLAS pools")

    pd = sub.add_parser("data", help="dataset tools: stats, synth", description="dataset tools")
    pd.set_defaults(_parser=pd)
    pd = pd.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    pd.required = True
    p = command(pd, "stats", cmd_data_stats, "counts, density, rating histogram, degree quantiles, genres")
    p.add_argument("path", nargs="?", help="a MovieLens directory or .zip")
    p.add_argument("--dataset", metavar="NAME", help="a MovieLens release in the data home instead of PATH")
    p.add_argument("--data-home", metavar="DIR",
                   help="where --dataset looks (default: $MFCORE_DATA_HOME or ~/.cache/mfcore)")
    p = command(pd, "synth", cmd_data_synth, "write a synthetic MovieLens-shaped dataset (ratings.csv + movies.csv)")
    p.add_argument("--scale", default="small", help="preset: small, 1m or 32m (default small)")
    p.add_argument("--movies", metavar="CSV", help="a real movies.csv to take ids, titles and genres from")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator (default 0)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")

    p = command(sub, "quickstart", cmd_quickstart,
                "split, train the bias baseline and the four models, print test RMSE/MAE, P@10, NDCG@10")
    _add_data_args(p)
    p.add_argument("--factors", type=int, default=argparse.SUPPRESS, metavar="FACTORS",
                   help=f"latent dimension K of every model (default: the models' own: {_defaults_text('factors')})")
    p.add_argument("--iterations", type=int, default=argparse.SUPPRESS, metavar="ITERATIONS",
                   help=f"epochs of every model (default: the models' own: {_defaults_text('iterations')})")
    p.add_argument("--regularization", type=float, default=argparse.SUPPRESS, metavar="REGULARIZATION",
                   help="lambda of ExplicitALS and GenreALS (default: their own: "
                        f"{_defaults_text('regularization', ('als', 'genre-als'))})")
    _add_run_options(p)

    p = command(sub, "train", cmd_train, "train a model and save it (.npz)")
    p.add_argument("--model", choices=MODEL_CHOICES, default="als",
                   help="which model: " + ", ".join(f"{k} ({v})" for k, v in _MODEL_CLASSES.items())
                        + " (default als)")
    _add_data_args(p, required=True)
    p.add_argument("--out", required=True, metavar="FILE",
                   help="model file (.npz appended if missing); Ctrl-C saves what was trained to FILE.partial.npz")
    _add_model_options(p)
    _add_run_options(p)

    p = command(sub, "recommend", cmd_recommend, "recommend for a user id, or for a new user given ratings")
    p.add_argument("--model", required=True, metavar="FILE", help="a model file written by 'mfcore train'")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="a user of the training data (their raw id)")
    who.add_argument("--rate", nargs="+", metavar="MOVIE=RATING",
                     help="ratings of a new user, folded into the model (ratings on the training scale)")
    p.add_argument("-n", type=int, default=10, help="how many movies (default 10)")
    p.add_argument("--bias-weight", type=float, default=1.0,
                   help="weight of the item bias in the ranking (default 1; 0 ranks by u.v alone)")
    p.add_argument("--data", metavar="PATH", help="MovieLens files, to print titles")

    p = command(sub, "report", cmd_report, "run the paper's study: figures (PNG), results.json and report.html")
    _add_data_args(p, required=True, synthetic=False)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--quick", action="store_true", help="small budget for tuning and training (a minute or two)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials of each random search (default 16 and 24; 6 and 8 with --quick)")
    p.add_argument("--dummy-ratings", nargs="+", metavar="MOVIE=RATING",
                   help="the case studies' new user, by title or movie id "
                        "(default: 5 stars for The Matrix, Terminator 2 and Blade Runner)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the PNG figures (default 110)")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (default 0: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="print the per-epoch records of the 'mfcore' logger on stderr")

    pc = sub.add_parser("cache", help="the parsed-data cache: info, clear", description="the parsed-data cache")
    pc.set_defaults(_parser=pc)
    pc = pc.add_subparsers(dest="cache_command", metavar="SUBCOMMAND")
    pc.required = True
    for name, func, text in (("info", cmd_cache_info, "where the cache is, how many datasets, how large"),
                             ("clear", cmd_cache_clear, "delete the cache files (the next load re-parses)")):
        p = command(pc, name, func, text)
        p.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (default: $MFCORE_CACHE_DIR or ~/.cache/mfcore/cache)")
    return parser


def _silence_stdout():
    """After EPIPE on stdout: point fd 1 at /dev/null so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv=None) -> int:
    """Run the command line; returns the exit code.

    0 ok, 1 error, 2 usage error (argparse exits with 2 itself for unknown
    options and missing arguments), 130 interrupted, 141 stdout is a closed pipe.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler, log = None, logging.getLogger("mfcore")
    level = log.level
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        log.addHandler(handler)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()                   # a closed pipe shows here, not at interpreter exit
        return code
    except UsageError as exc:
        target = getattr(args, "_parser", parser)
        target.print_usage(sys.stderr)
        print(f"{target.prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:                  # `mfcore ... | head -1`: the reader left; end quietly
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        print("mfcore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; the traceback on request
        if os.environ.get("MFCORE_DEBUG"):
            raise
        msg = str(exc).strip() or type(exc).__name__
        if isinstance(exc, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]
        print(f"mfcore: error: {msg}", file=sys.stderr)
        return 1
    finally:
        if handler is not None:
            log.removeHandler(handler)
            log.setLevel(level)
