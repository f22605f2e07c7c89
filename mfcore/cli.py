"""The ``mfcore`` command line.

    mfcore info                                   versions, OpenMP, threads, BLAS pools
    mfcore data stats (PATH | --dataset NAME)     counts, density, histogram, degrees, genres
    mfcore data synth --scale S --out DIR         write a MovieLens-shaped synthetic dataset
    mfcore quickstart [--dataset NAME | --data PATH]
    mfcore train --model M (--dataset NAME | --data PATH | --synthetic) --out FILE
    mfcore recommend --model FILE (--user ID | --rate MOVIE=RATING ...) [--data PATH]
    mfcore report (--dataset NAME | --data PATH) --out DIR [--quick] [--seed N] [--trials N]
                  [--dummy-ratings MOVIE=RATING ...] [--dpi N]

Every command returns an exit code from :func:`main`; errors are printed as a
single line (``mfcore: error: ...``), never as a traceback (set
``MFCORE_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

MODEL_CHOICES = ("als", "genre-als", "bpr", "implicit-als")


# ----------------------------------------------------------------- helpers
def _say(args, *lines):
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


def _add_data_args(p, *, synthetic_default=True):
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", metavar="NAME",
                     help="MovieLens release fetched into the data home (ml-latest-small, ml-1m, ml-20m, ml-25m, ml-32m)")
    src.add_argument("--data", metavar="PATH", help="a MovieLens directory or .zip (ratings.csv + movies.csv)")
    if not synthetic_default:
        src.add_argument("--synthetic", action="store_true", help="the built-in synthetic dataset")
    p.add_argument("--data-home", metavar="DIR", help="where --dataset looks (default: $MFCORE_DATA_HOME or ~/.cache/mfcore)")


def _load(args):
    """Interactions from --data / --dataset, else the built-in synthetic set."""
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
        raise ValueError("give either PATH or --dataset, not both")
    if args.path:
        data = load_movielens(args.path)
        name = args.path
    elif args.dataset:
        data = fetch_movielens(args.dataset, data_home=args.data_home)
        name = args.dataset
    else:
        raise ValueError("give a MovieLens PATH or --dataset NAME")
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


def cmd_quickstart(args):
    from .data.split import item_cold_start_split, temporal_split
    from .evaluation import evaluate
    from ._sparse import row_of_entry
    from .metrics import rmse
    from .models import BPR, BiasBaseline, ExplicitALS, GenreALS, ImplicitALS

    t0 = time.perf_counter()
    data, source = _load(args)
    _say(args, f"data: {source}: {len(data):,} ratings, {data.n_users:,} users, {data.n_items:,} items "
               f"(loaded in {time.perf_counter() - t0:.1f} s)")
    train, test = temporal_split(data, test_fraction=0.2)
    _say(args, f"split: per-user temporal 80/20 -> {len(train):,} train / {len(test):,} test ratings; "
               "ranking: relevant = test rating >= 4, candidates = items not in the user's train set")

    threads = dict(num_threads=args.threads, random_state=args.seed)
    als = dict(factors=args.factors, regularization=args.regularization, iterations=args.iterations, **threads)
    models = [("bias baseline", BiasBaseline(num_threads=args.threads)), ("ExplicitALS", ExplicitALS(**als))]
    has_genres = data.item_genres is not None and data.n_genres > 0
    if has_genres:
        models.append(("GenreALS", GenreALS(**als)))
    models += [("BPR", BPR(factors=args.factors, **threads)),
               ("ImplicitALS", ImplicitALS(factors=args.factors, iterations=args.iterations, **threads))]
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
            for model in (BiasBaseline(num_threads=args.threads), GenreALS(**als)))
        print(f"cold start (10% of items unseen in training, {len(ctest):,} ratings): "
              f"bias baseline RMSE {base_rmse:.4f} -> GenreALS RMSE {genre_rmse:.4f}")
    return 0


def _make_model(name, args):
    from .models import ExplicitALS, GenreALS

    common = dict(factors=args.factors, iterations=args.iterations, num_threads=args.threads,
                  random_state=args.seed)
    if name == "als":
        return ExplicitALS(regularization=args.regularization, **common)
    if name == "genre-als":
        return GenreALS(regularization=args.regularization, **common)
    if name == "bpr":
        from .models import BPR

        return BPR(**common)
    if name == "implicit-als":
        from .models import ImplicitALS

        return ImplicitALS(**common)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_CHOICES)}")


def cmd_train(args):
    data, source = _load(args)
    model = _make_model(args.model, args)
    secs = _fit_timed(model, data, show_progress=not args.quiet)
    path = model.save(args.out)
    _say(args, f"trained {type(model).__name__} on {source} ({len(data):,} ratings) in {secs:.1f} s; saved {path}")
    return 0


def _parse_rate(pairs):
    items, ratings = [], []
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"--rate expects MOVIE=RATING, got {text!r}")
        try:
            items.append(int(key))
        except ValueError:
            items.append(key)
        try:
            ratings.append(float(value))
        except ValueError:
            raise ValueError(f"--rate {text!r}: rating {value!r} is not a number") from None
    return items, ratings


def cmd_recommend(args):
    import scipy.sparse as sp

    from .models.base import FactorModel

    model = FactorModel.load(args.model)
    titles = None
    if args.data:
        from .data.movielens import load_movielens

        data = load_movielens(args.data)
        if data.titles is not None:
            titles = dict(zip(data.item_ids.tolist(), data.titles.tolist()))
    if (args.user is None) == (not args.rate):
        raise ValueError("give either --user ID or --rate MOVIE=RATING (one or more)")
    if args.user is not None:
        user = args.user
        if model.user_ids is not None and model.user_ids.dtype.kind in "iu":
            user = int(user)
        elif model.user_ids is None:
            user = int(user)
        ids, scores = model.recommend(user, N=args.n, bias_weight=args.bias_weight)
        vec, ubias = model.user_factors[model.user_index(user)], float(model.user_bias[model.user_index(user)])
        header = f"top {args.n} for user {args.user}"
    else:
        items, ratings = _parse_rate(args.rate)
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
        raise ValueError(f"--trials must be at least 1, got {args.trials}")
    if not 30 <= args.dpi <= 600:
        raise ValueError(f"--dpi must be between 30 and 600, got {args.dpi}")
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
    parser = argparse.ArgumentParser(prog="mfcore", description="Fast matrix-factorization recommenders.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="versions, OpenMP, threads and BLAS pools")
    p.set_defaults(func=cmd_info)

    pd = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    pd.required = True
    p = pd.add_parser("stats", help="counts, density, rating histogram, degree quantiles, genres")
    p.add_argument("path", nargs="?", help="a MovieLens directory or .zip")
    p.add_argument("--dataset", metavar="NAME")
    p.add_argument("--data-home", metavar="DIR")
    p.set_defaults(func=cmd_data_stats)
    p = pd.add_parser("synth", help="write a synthetic MovieLens-shaped dataset (ratings.csv + movies.csv)")
    p.add_argument("--scale", default="small", help="preset: small, 1m or 32m (default small)")
    p.add_argument("--movies", metavar="CSV", help="a real movies.csv to take ids, titles and genres from")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_data_synth)

    def model_args(p):
        p.add_argument("--factors", type=int, default=64, help="latent dimension K (default 64)")
        p.add_argument("--regularization", type=float, default=10.0, help="lambda of the ALS models (default 10)")
        p.add_argument("--iterations", type=int, default=15, help="epochs (default 15)")
        p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0 = all cores)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true", help="no progress output")

    p = sub.add_parser("quickstart", help="split, train the models, print test RMSE/MAE (the main job)")
    _add_data_args(p)
    model_args(p)
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("train", help="train a model and save it")
    p.add_argument("--model", choices=MODEL_CHOICES, default="als")
    _add_data_args(p)
    model_args(p)
    p.add_argument("--out", required=True, metavar="FILE", help="model file (.npz)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("recommend", help="recommend for a user id, or for a new user given ratings")
    p.add_argument("--model", required=True, metavar="FILE")
    p.add_argument("--user", metavar="ID")
    p.add_argument("--rate", nargs="+", metavar="MOVIE=RATING", help="ratings of a new user")
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--bias-weight", type=float, default=1.0, help="alpha, weight of the item bias in the ranking")
    p.add_argument("--data", metavar="PATH", help="MovieLens files, to print titles")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("report", help="run the paper's study: figures (PNG), results.json and report.html")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME",
                     help="MovieLens release fetched into the data home (ml-latest-small, ml-1m, ..., ml-32m)")
    src.add_argument("--data", metavar="PATH", help="a MovieLens directory or .zip (ratings.csv + movies.csv)")
    p.add_argument("--data-home", metavar="DIR", help="where --dataset looks (default: $MFCORE_DATA_HOME or ~/.cache/mfcore)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--quick", action="store_true", help="small budget for tuning and training (a minute or two)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials of each random search (default 16 and 24; 6 and 8 with --quick)")
    p.add_argument("--dummy-ratings", nargs="+", metavar="MOVIE=RATING",
                   help="the case studies' new user, by title or movie id "
                        "(default: 5 stars for The Matrix, Terminator 2 and Blade Runner)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the PNG figures (default 110)")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0 = all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
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
