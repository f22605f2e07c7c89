"""The model half of ``mfcore report``: split, tuning, learning curves, ranking and case studies.

Each step follows the contract of :mod:`mfcore.analysis.report` (``run(ctx) ->
StepResult``): it computes a tidy table with :mod:`mfcore.analysis.models` or
:mod:`mfcore.tuning`, draws it with :mod:`mfcore.analysis.model_plots` and
writes a caption whose numbers come from that table. :data:`MODEL_STEPS` lists
them in the order of the paper's sections 6-7:

====================  =========================================================  ======================
step                  what                                                       paper
====================  =========================================================  ======================
split                 per-user temporal 80/20 (random when there are no times)   5.2
fig12_bias_baseline   learning curve of mu + b_u + b_i                           Fig 12
fig13_lambda_grid     validation RMSE over lambda at K fixed                     Fig 13
fig15_lambda_random   random search of lambda, log-uniform                       Fig 15
fig17_grid            K x lambda grid, heatmap + Table 1                         Fig 17, Table 1
fig24_random_2d       random search of (K, lambda)                               Fig 24
fig14_als             ALS at the tuned (K, lambda): learning curve, test RMSE    Fig 14
fig16_genre_als       Genre-ALS at the same (K, lambda)                          Fig 16
fig25_gap             generalization gap of K=10 vs K=20                         Fig 25
fig18_precision       Precision@K, K = 1..100: BPR vs ALS vs ImplicitALS         Fig 18
fig19_dummy_user      dummy user at item-bias weight 1 and 0.05                  Fig 19
fig20_cold_start      brand-new movies scored from their genres                  Figs 20, 26
fig21_polarizing      largest ||v_i|| vs largest b_i                             Fig 21
fig22_item_map        t-SNE of item vectors, coloured by genre                   Fig 22
genre_similarity      cosine similarity of genre centroids                       beside Fig 22
====================  =========================================================  ======================

Tuning only ever sees the training half: every search carves its validation
part from ``ctx.state["train"]`` with the same rule as the outer split
(:func:`mfcore.tuning.validation_split`); the test half is used by the final
fits' learning curves and the ranking comparison only.

Budgets (``ctx.quick`` selects the small one) are in :data:`BUDGETS`;
``ctx.options`` may override ``trials`` (random-search trials) and
``dummy_ratings`` (``{title or movie id: rating}``).
"""

from __future__ import annotations

import numpy as np

from . import model_plots as _mp
from . import models as _am
from .report import FigureOutput, SkipStep, Step, StepResult, TableOutput

__all__ = ["MODEL_STEPS", "BUDGETS", "PAPER"]

#: The paper's headline numbers on MovieLens 32M (quoted beside ours in captions).
PAPER = {"bias_rmse": 0.856, "als_rmse": 0.779, "als_factors": 13, "als_regularization": 5.02,
         "bpr_precision@10": 0.24, "als_precision@10": 0.21}

#: Work done by each budget. ``epochs``: ALS/Genre-ALS iterations of the final fits and of every
#: trial (trials stop early after ``patience`` epochs without improvement).
BUDGETS = {
    False: {"epochs": 15, "patience": 2, "lambda_grid": [0.3, 1, 2, 3, 5, 8, 12, 20, 35, 60],
            "random_trials": 16, "random_2d_trials": 24, "grid_factors": [5, 10, 20, 40, 64],
            "grid_lambdas": [1, 3, 5, 10, 20], "bpr_epochs": 400, "max_k": 100, "map_items": 5000,
            "gap_epochs": 25},
    True: {"epochs": 8, "patience": 2, "lambda_grid": [0.5, 2, 5, 12, 30], "random_trials": 6,
           "random_2d_trials": 8, "grid_factors": [5, 20], "grid_lambdas": [2, 10], "bpr_epochs": 40,
           "max_k": 100, "map_items": 1000, "gap_epochs": 12},
}

BASELINE = "Split and baseline (paper sections 5.2, 6.1)"
TRAINING = "Final models (section 6)"
TUNING = "Tuning (sections 6.1.3, 6.3 and appendix C)"
RANKING = "Ranking (section 6.8)"
CASES = "Case studies (section 7)"


def _table(name, frame, caption=None):
    """A TableOutput without wall-time columns: results.json stays identical for a given seed
    (run times are reported under ``timings``)."""
    return TableOutput(name, frame.drop(columns=["seconds"], errors="ignore"), caption=caption)


def _budget(ctx):
    return BUDGETS[bool(ctx.quick)]


def _fmt(x, digits=4):
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _search_kwargs(ctx):
    return {"validation": ctx.state["split_rule"], "random_state": ctx.seed, "num_threads": ctx.num_threads,
            "show_progress": False, "early_stopping_rounds": _budget(ctx)["patience"]}


def _als(ctx, **params):
    from ..models import ExplicitALS

    base = {"factors": PAPER["als_factors"], "regularization": PAPER["als_regularization"],
            "iterations": _budget(ctx)["epochs"], "random_state": ctx.seed, "num_threads": ctx.num_threads}
    base.update(params)
    return ExplicitALS(**base)


def _needs_ratings(ctx):
    if not ctx.data.has_ratings:
        raise SkipStep("the dataset has no rating values (implicit feedback only): RMSE cannot be computed")


# ----------------------------------------------------------------------------- split
def _step_split(ctx):
    from ..data.split import random_split, temporal_split

    ctx.progress.reset(total=1)
    notes = []
    if ctx.data.timestamps is not None:
        train, test = temporal_split(ctx.data, test_fraction=0.2)
        rule = "temporal"
    else:
        train, test = random_split(ctx.data, test_fraction=0.2, random_state=ctx.seed)
        rule = "random"
        notes.append("The dataset has no timestamps, so the split (and every validation split) is random "
                     "80/20 per user instead of temporal.")
    if len(train) == 0 or len(test) == 0:
        raise SkipStep(f"the split left {len(train)} training and {len(test)} test ratings")
    ctx.state.update(train=train, test=test, split_rule=rule)
    ctx.progress.update()
    n_test_users = int(np.count_nonzero(np.diff(test.user_items().indptr)))
    numbers = {"rule": rule, "train_ratings": int(len(train)), "test_ratings": int(len(test)),
               "test_users": n_test_users, "test_share": len(test) / (len(train) + len(test))}
    what = ("each user's latest 20% of ratings (by timestamp)" if rule == "temporal"
            else "a random 20% of each user's ratings")
    notes.insert(0, f"Test set: {what}, {len(test):,} ratings of {n_test_users:,} users; training set: "
                    f"{len(train):,} ratings. Tuning below never sees the test set: it carves a validation part "
                    f"from the training set by the same rule.")
    return StepResult(numbers=numbers, notes=notes)


# ----------------------------------------------------------------------------- learning curves
def _curve_numbers(frame):
    summary = _am.learning_curve_summary(frame)
    return {label: dict(v) for label, v in summary.items()}


def _step_bias_baseline(ctx):
    from ..models import BiasBaseline

    _needs_ratings(ctx)
    epochs = _budget(ctx)["epochs"]
    ctx.progress.reset(total=1)
    model = BiasBaseline(iterations=epochs, num_threads=ctx.num_threads)
    model.fit(ctx.state["train"], eval_set=ctx.state["test"], show_progress=False)
    frame = _am.learning_curve(model, label="bias baseline")
    ctx.progress.update()
    s = _am.learning_curve_summary(frame)["bias baseline"]
    caption = (f"The bias baseline mu + b_u + b_i (lambda_u = {model.user_regularization:g}, lambda_i = "
               f"{model.item_regularization:g}) reaches test RMSE {_fmt(s['heldout_rmse'])} after {s['epochs']} "
               f"epochs (training RMSE {_fmt(s['train_rmse'])}); the paper reports {PAPER['bias_rmse']} on ML-32M.")
    fig = _mp.plot_learning_curve(frame, heldout_label="test", title="Bias baseline: learning curve")
    ctx.state["bias_rmse"] = s["heldout_rmse"]
    return StepResult(figures=[FigureOutput("fig12_bias_baseline", fig, caption)],
                      numbers={"summary": s, "paper_rmse": PAPER["bias_rmse"]},
                      tables=[_table("fig12_bias_baseline", frame)])


def _final_fit(ctx, model, label, key, title, extra_caption=""):
    train, test = ctx.state["train"], ctx.state["test"]
    ctx.progress.reset(total=1)
    frame = _am.fit_learning_curve(model, train, test, label=label, show_progress=False)
    ctx.progress.update()
    s = _am.learning_curve_summary(frame)[label]
    trend = "never rises" if s["objective_decreasing"] else "rises at some epoch"
    caption = (f"{label} (K = {model.factors}, lambda = {model.regularization:.3g}) ends at test RMSE "
               f"{_fmt(s['heldout_rmse'])} (best {_fmt(s['best_heldout_rmse'])} at epoch {s['best_epoch']}) and "
               f"training RMSE {_fmt(s['train_rmse'])}, a gap of {_fmt(s['gap'], 3)}; the training objective "
               f"{trend}.{extra_caption}")
    fig = _mp.plot_learning_curve(frame, heldout_label="test", title=title)
    return frame, s, caption, fig


def _step_als(ctx):
    _needs_ratings(ctx)
    params = ctx.state["als_params"]
    model = _als(ctx, **params)
    bias = ctx.state.get("bias_rmse")
    extra = (f" The bias baseline's test RMSE was {_fmt(bias)}; the paper reports {PAPER['als_rmse']} for ALS "
             f"(K = {PAPER['als_factors']}, lambda = {PAPER['als_regularization']}) on ML-32M.")
    frame, s, caption, fig = _final_fit(ctx, model, "ALS", "fig14_als", "ALS with biases: learning curve", extra)
    ctx.state["als"] = model
    return StepResult(figures=[FigureOutput("fig14_als", fig, caption)],
                      numbers={"params": params, "summary": s, "paper_rmse": PAPER["als_rmse"]},
                      tables=[_table("fig14_als", frame)])


def _step_genre_als(ctx):
    from ..models import GenreALS

    _needs_ratings(ctx)
    if ctx.data.item_genres is None or ctx.data.item_genres.nnz == 0:
        raise SkipStep("the dataset has no genres")
    # K from the ALS search; the regularization and prior weights are GenreALS's own defaults, a set
    # chosen together on validation splits (docs/accuracy.md): ALS's tuned lambda on top of a strong
    # genre prior would pin the item vectors to their genre centroids.
    params = {"factors": ctx.state["als_params"]["factors"]}
    model = GenreALS(iterations=_budget(ctx)["epochs"], random_state=ctx.seed, num_threads=ctx.num_threads, **params)
    frame, s, caption, fig = _final_fit(ctx, model, "Genre-ALS", "fig16_genre_als", "Genre-ALS: learning curve",
                                        f" K from the ALS search; lambda and the genre prior weight "
                                        f"tau = {model.genre_weight:g} are GenreALS's defaults.")
    ctx.state["genre_als"] = model
    return StepResult(figures=[FigureOutput("fig16_genre_als", fig, caption)],
                      numbers={"params": {**params, "regularization": model.regularization,
                                          "genre_weight": model.genre_weight}, "summary": s},
                      tables=[_table("fig16_genre_als", frame)])


def _step_gap(ctx):
    _needs_ratings(ctx)
    b = _budget(ctx)
    lam = ctx.state["als_params"]["regularization"]
    ctx.progress.reset(total=1)
    frame = _am.generalization_gap(_als(ctx, regularization=lam, iterations=b["gap_epochs"]),
                                   ctx.state["train"], ctx.state["test"], factors=(10, 20))
    ctx.progress.update()
    s = _am.learning_curve_summary(frame)
    k10, k20 = s["K=10"], s["K=20"]
    caption = (f"At lambda = {lam:.3g}, K = 20 ends with a generalization gap (test minus training RMSE) of "
               f"{_fmt(k20['gap'], 3)} against {_fmt(k10['gap'], 3)} for K = 10, and test RMSE "
               f"{_fmt(k20['heldout_rmse'])} against {_fmt(k10['heldout_rmse'])}.")
    fig = _mp.plot_generalization_gap(frame, heldout_label="test")
    return StepResult(figures=[FigureOutput("fig25_gap", fig, caption)], numbers={"summary": s, "regularization": lam},
                      tables=[_table("fig25_gap", frame)])


# ----------------------------------------------------------------------------- tuning
def _trials_caption(result, what):
    n_ok = int(np.isfinite(result.trials[result.metric].to_numpy(dtype=float)).sum())
    params = ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in result.best_params.items())
    return (f"{what}: of {len(result.trials)} trials ({n_ok} finished), the best validation RMSE is "
            f"{result.best_score:.4f} at {params}")


def _search_numbers(result):
    d = result.to_dict()
    d.pop("trials")
    return d


def _step_lambda_grid(ctx):
    from ..tuning import grid_search

    _needs_ratings(ctx)
    b = _budget(ctx)
    ctx.progress.reset(total=1)
    res = grid_search(_als(ctx), {"regularization": [float(x) for x in b["lambda_grid"]]}, ctx.state["train"],
                      **_search_kwargs(ctx))
    ctx.progress.update()
    vals = res.trials[res.metric].to_numpy(dtype=float)
    spread = np.nanmax(vals) - np.nanmin(vals)
    caption = (_trials_caption(res, f"Lambda sensitivity at K = {PAPER['als_factors']}") +
               f"; over the grid the validation RMSE spans {spread:.4f}.")
    ctx.state["lambda_grid"] = res
    return StepResult(figures=[FigureOutput("fig13_lambda_grid", _mp.plot_lambda_sensitivity(res), caption)],
                      numbers=_search_numbers(res), tables=[_table("fig13_lambda_grid", res.trials)])


def _step_lambda_random(ctx):
    from ..tuning import LogUniform, random_search

    _needs_ratings(ctx)
    n = int(ctx.options.get("trials") or _budget(ctx)["random_trials"])
    ctx.progress.reset(total=1)
    res = random_search(_als(ctx), {"regularization": LogUniform(0.1, 100.0)}, ctx.state["train"], n_trials=n,
                        **_search_kwargs(ctx))
    ctx.progress.update()
    caption = _trials_caption(res, f"Random search of lambda (log-uniform on [0.1, 100], K = {PAPER['als_factors']})")
    grid = ctx.state.get("lambda_grid")
    if grid is not None:
        caption += f"; the grid's best was {grid.best_score:.4f} at lambda = {grid.best_params['regularization']:.3g}"
    return StepResult(figures=[FigureOutput("fig15_lambda_random", _mp.plot_random_search(res), caption + ".")],
                      numbers=_search_numbers(res), tables=[_table("fig15_lambda_random", res.trials)])


def _step_grid(ctx):
    from ..tuning import grid_search

    _needs_ratings(ctx)
    b = _budget(ctx)
    ctx.progress.reset(total=1)
    res = grid_search(_als(ctx), {"factors": list(b["grid_factors"]),
                                  "regularization": [float(x) for x in b["grid_lambdas"]]},
                      ctx.state["train"], **_search_kwargs(ctx))
    ctx.progress.update()
    table = _am.search_table(res)
    caption = _trials_caption(res, "Grid search over K and lambda") + "."
    ctx.state["grid"] = res
    return StepResult(figures=[FigureOutput("fig17_grid", _mp.plot_grid_heatmap(res), caption)],
                      numbers=_search_numbers(res),
                      tables=[_table("table1_grid", table, caption="Every trial of the K x lambda grid: "
                                          "validation RMSE, training RMSE of the fit part and epochs run "
                                          "(best marked).")])


def _step_random_2d(ctx):
    from ..tuning import IntUniform, LogUniform, random_search

    _needs_ratings(ctx)
    n = int(ctx.options.get("trials") or _budget(ctx)["random_2d_trials"])
    ctx.progress.reset(total=1)
    res = random_search(_als(ctx), {"factors": IntUniform(2, 64), "regularization": LogUniform(0.5, 50.0)},
                        ctx.state["train"], n_trials=n, **_search_kwargs(ctx))
    ctx.progress.update()
    # the final model takes the better of this search and the grid, both scored on the same validation part
    candidates = [("random search", res)]
    if "grid" in ctx.state:
        candidates.append(("grid", ctx.state["grid"]))
    source, best = min(candidates, key=lambda c: c[1].best_score)
    params = {"factors": int(best.best_params["factors"]), "regularization": float(best.best_params["regularization"])}
    ctx.state["als_params"] = params
    caption = (_trials_caption(res, "Random search of K (integers 2-64) and lambda (log-uniform 0.5-50)") +
               f"; the final models use the {source}'s best, K = {params['factors']}, "
               f"lambda = {params['regularization']:.3g}.")
    return StepResult(figures=[FigureOutput("fig24_random_2d", _mp.plot_search_2d(res), caption)],
                      numbers={**_search_numbers(res), "chosen": params, "chosen_from": source},
                      tables=[_table("fig24_random_2d", res.trials)])


# ----------------------------------------------------------------------------- ranking
def _step_precision(ctx):
    from ..models import BPR, ImplicitALS

    b = _budget(ctx)
    train, test = ctx.state["train"], ctx.state["test"]
    models = {}
    ctx.progress.reset(total=3)
    # one thread: BPR's Hogwild SGD with more threads interleaves updates in whatever order the
    # threads run, so the report (which promises identical results for a seed) fits it serially
    bpr = BPR(iterations=b["bpr_epochs"], random_state=ctx.seed, num_threads=1)
    models["BPR"] = bpr.fit(train, show_progress=False)
    ctx.progress.update()
    if "als" in ctx.state:
        models["ALS (explicit)"] = ctx.state["als"]
    ials = ImplicitALS(random_state=ctx.seed, num_threads=ctx.num_threads)
    models["ImplicitALS"] = ials.fit(train, show_progress=False)
    ctx.progress.update()
    threshold = 4.0 if ctx.data.has_ratings else None
    frame = _am.precision_curve(models, train, test, max_k=b["max_k"], threshold=threshold,
                                num_threads=ctx.num_threads)
    ctx.progress.update()
    at = _am.precision_summary(frame, ks=(1, 10, 100))
    p10 = ", ".join(f"{m} {v[10]:.3f}" for m, v in at.items() if 10 in v)
    leader = max(at, key=lambda m: at[m].get(10, -1))
    relevant = "rated >= 4 stars in the test set" if threshold else "in the test set"
    caption = (f"Precision@10 (relevant = {relevant}, training items excluded): {p10}; {leader} leads at K = 10. "
               f"The paper reports BPR {PAPER['bpr_precision@10']} vs ALS {PAPER['als_precision@10']} on ML-32M.")
    ctx.state["bpr"] = models["BPR"]
    return StepResult(figures=[FigureOutput("fig18_precision", _mp.plot_precision_curve(frame), caption)],
                      numbers={"precision": at, "threshold": threshold, "paper": {
                          "BPR": PAPER["bpr_precision@10"], "ALS": PAPER["als_precision@10"]}},
                      tables=[_table("fig18_precision", frame)])


# ----------------------------------------------------------------------------- case studies
def _case_model(ctx):
    """The ALS model of the case studies (fitted by fig14_als)."""
    return ctx.state["als"]


def _step_dummy_user(ctx):
    model, train = _case_model(ctx), ctx.state["train"]
    ctx.progress.reset(total=1)
    try:
        frame = _am.dummy_user_recommendations(model, train, ratings=ctx.options.get("dummy_ratings"),
                                               bias_weights=(1.0, 0.05), N=10)
    except KeyError as exc:
        if ctx.options.get("dummy_ratings"):
            raise ValueError(f"--dummy-ratings: {exc.args[0]}") from None
        raise SkipStep(exc.args[0]) from None
    ctx.progress.update()
    s = _am.decomposition_summary(frame)
    rated = ", ".join(f"{r['title']} ({r['rating']:g})" for r in frame.attrs["rated"])
    caption = (f"A new user who rated {rated}: at item-bias weight 1 the popularity term b_i makes "
               f"{100 * s[1.0]['bias_share']:.0f}% of the top-10 scores (top: {s[1.0]['titles'][0]}); at 0.05 it "
               f"makes {100 * s[0.05]['bias_share']:.0f}% and the list follows u.v (top: {s[0.05]['titles'][0]}).")
    table = frame[["bias_weight", "rank", "title", "item_bias", "dot", "score", "prediction"]]
    return StepResult(figures=[FigureOutput("fig19_dummy_user", _mp.plot_score_decomposition(frame), caption)],
                      numbers={"summary": s, "rated": frame.attrs["rated"]},
                      tables=[_table("fig19_dummy_user", table)])


def _step_cold_start(ctx):
    model = ctx.state["genre_als"]
    ctx.progress.reset(total=1)
    try:
        cold = _am.cold_start(model, ctx.state["train"], ratings=ctx.options.get("dummy_ratings"))
    except KeyError as exc:
        raise SkipStep(exc.args[0]) from None
    ctx.progress.update()
    parts = []
    for movie, part in cold.contributions.groupby("movie", sort=False):
        top = part.loc[part["dot"].abs().idxmax()]
        score = float(cold.movies.loc[cold.movies["movie"] == movie, "dot"].iloc[0])
        parts.append(f"{movie} ({part['genre'].str.cat(sep='|')}) scores u.v = {score:+.3g} for the dummy user, "
                     f"mostly from {top['genre']} ({top['dot']:+.3g})")
    caption = ("Brand-new movies with no ratings, placed by their genres alone: " + "; ".join(parts) + ".")
    return StepResult(figures=[FigureOutput("fig20_cold_start", _mp.plot_cold_start(cold), caption)],
                      numbers={"movies": cold.movies.to_dict(orient="records")},
                      tables=[_table("fig20_cold_start_movies", cold.movies),
                              _table("fig26_cold_start_genres", cold.contributions)])


def _step_polarizing(ctx):
    model, train = _case_model(ctx), ctx.state["train"]
    ctx.progress.reset(total=1)
    frame = _am.polarizing_items(model, train, n=10, min_ratings=20 if not ctx.quick else 5)
    if frame.empty:
        raise SkipStep("no movie has enough ratings")
    ctx.progress.update()
    norm = frame[frame["ranking"] == "norm"]
    bias = frame[frame["ranking"] == "bias"]
    overlap = len(set(norm["item"]) & set(bias["item"]))
    caption = (f"The movie with the largest vector norm is {norm['title'].iloc[0]} (||v|| = {norm['norm'].iloc[0]:.2f},"
               f" b_i = {norm['item_bias'].iloc[0]:+.2f}); the largest bias belongs to {bias['title'].iloc[0]} "
               f"(b_i = {bias['item_bias'].iloc[0]:+.2f}); {overlap} of the {len(norm)} most polarizing movies are "
               f"also among the {len(bias)} best-liked.")
    return StepResult(figures=[FigureOutput("fig21_polarizing", _mp.plot_polarizing(frame), caption)],
                      numbers={"overlap": overlap}, tables=[_table("fig21_polarizing", frame)])


def _step_item_map(ctx):
    model, train = _case_model(ctx), ctx.state["train"]
    if train.item_genres is None or train.item_genres.nnz == 0:
        raise SkipStep("the dataset has no genres to colour the map by")
    try:
        import openTSNE
        del openTSNE
    except ImportError:
        raise SkipStep('t-SNE needs openTSNE: pip install "mfcore[report]"') from None
    ctx.progress.reset(total=1)
    frame = _am.item_map(model, train, n_items=_budget(ctx)["map_items"], min_ratings=20 if not ctx.quick else 5,
                         random_state=ctx.seed)
    ctx.progress.update()
    counts = frame["genre"].value_counts()
    labelled = counts.drop("other", errors="ignore")
    caption = (f"t-SNE of the unit-length item vectors of the {len(frame):,} most rated movies; "
               + (f"the largest highlighted group is {labelled.index[0]} ({labelled.iloc[0]:,} movies)"
                  if len(labelled) else "no movie carries a highlighted genre")
               + ". Which genres sit together is quantified in the next table.")
    return StepResult(figures=[FigureOutput("fig22_item_map", _mp.plot_item_map(frame), caption)],
                      numbers={"n_items": len(frame), "genre_counts": counts.to_dict()},
                      tables=[_table("fig22_item_map", frame)])


def _step_genre_similarity(ctx):
    model, train = _case_model(ctx), ctx.state["train"]
    if train.item_genres is None or train.item_genres.nnz == 0:
        raise SkipStep("the dataset has no genres")
    ctx.progress.reset(total=1)
    sim = _am.genre_centroid_similarity(model, train, n_items=_budget(ctx)["map_items"],
                                        min_ratings=20 if not ctx.quick else 5)
    if sim.empty:
        raise SkipStep("fewer than two genres have enough movies among the most rated")
    ctx.progress.update()
    s = _am.genre_pair_summary(sim)
    pairs = "; ".join(f"{p}: {v['cosine']:+.2f} (rank {v['rank']} of {s['n_pairs']})" for p, v in s["pairs"].items())
    close = ", ".join(f"{p} ({c:+.2f})" for p, c in s["closest"])
    far = ", ".join(f"{p} ({c:+.2f})" for p, c in s["farthest"])
    caption = (f"Cosine similarity of centred genre centroids: closest {close}; farthest {far}"
               + (f". Pairs of the paper: {pairs}." if pairs else "."))
    table = sim.pivot(index="genre_a", columns="genre_b", values="cosine").round(3).reset_index()
    return StepResult(figures=[FigureOutput("genre_similarity", _mp.plot_genre_similarity(sim), caption)],
                      numbers=s, tables=[_table("genre_similarity", sim),
                                         _table("genre_similarity_matrix", table)])


MODEL_STEPS = (
    Step("split", "Train/test split", _step_split, section=BASELINE),
    Step("fig12_bias_baseline", "Bias baseline (Fig. 12)", _step_bias_baseline, ("train",), BASELINE),
    Step("fig13_lambda_grid", "Lambda sensitivity (Fig. 13)", _step_lambda_grid, ("train",), TUNING),
    Step("fig15_lambda_random", "Random search of lambda (Fig. 15)", _step_lambda_random, ("train",), TUNING),
    Step("fig17_grid", "Grid search over K and lambda (Fig. 17, Table 1)", _step_grid, ("train",), TUNING),
    Step("fig24_random_2d", "Random search of K and lambda (Fig. 24)", _step_random_2d, ("train",), TUNING),
    Step("fig14_als", "ALS learning curve (Fig. 14)", _step_als, ("train", "als_params"), TRAINING),
    Step("fig16_genre_als", "Genre-ALS learning curve (Fig. 16)", _step_genre_als, ("train", "als_params"), TRAINING),
    Step("fig25_gap", "Generalization gap, K = 10 vs 20 (Fig. 25)", _step_gap, ("train", "als_params"), TRAINING),
    Step("fig18_precision", "BPR vs ALS over list sizes (Fig. 18)", _step_precision, ("train",), RANKING),
    Step("fig19_dummy_user", "A dummy user and the item-bias weight (Fig. 19)", _step_dummy_user, ("als",), CASES),
    Step("fig20_cold_start", "Explainable cold start (Figs. 20, 26)", _step_cold_start, ("genre_als",), CASES),
    Step("fig21_polarizing", "Polarizing movies (Fig. 21)", _step_polarizing, ("als",), CASES),
    Step("fig22_item_map", "Map of the item vectors (Fig. 22)", _step_item_map, ("als",), CASES),
    Step("genre_similarity", "Which genres sit together", _step_genre_similarity, ("als",), CASES),
)
