"""Data behind the training, tuning, ranking and case-study figures (paper sections 6-7, appendix C).

Every function returns tidy :class:`pandas.DataFrame` objects (one row per
observation, one column per variable) and needs no plotting library; the
drawings are in :mod:`mfcore.analysis.model_plots`. Inputs are what a study
has at hand: ``Interactions`` halves of a split (``train`` / ``held_out``),
fitted models, a seed. Item titles come from ``data.titles`` (raw ids as
strings when the data has none).

Figures served
--------------
* learning curves (Figs 12, 14, 16, 25): :func:`learning_curve`,
  :func:`fit_learning_curve`, :func:`bias_baseline_curve`, :func:`generalization_gap`,
  :func:`learning_curve_summary`
* tuning (Figs 13, 15, 17, 24, Table 1): :func:`search_table`, :func:`grid_table`
  (the trials themselves are ``mfcore.tuning.SearchResult.trials``)
* ranking (Fig 18): :func:`precision_curve`, :func:`precision_summary`
* case studies (Figs 19-22, 26): :func:`find_movies`, :func:`dummy_user`,
  :func:`dummy_user_recommendations`, :func:`decomposition_summary`, :func:`cold_start`, :func:`polarizing_items`,
  :func:`item_map`, :func:`genre_centroid_similarity`, :func:`genre_pair_summary`

Each figure is one short step (what ``mfcore report`` wires together)::

    train, test = mfcore.temporal_split(data)
    curve = fit_learning_curve(ExplicitALS(factors=13, regularization=5.0), train, test, label="ALS")
    fig = model_plots.plot_learning_curve(curve, heldout_label="test")    # Fig 14
    numbers = learning_curve_summary(curve)

    search = mfcore.tuning.grid_search(ExplicitALS(), {"factors": [10, 20], "regularization": [1, 15]}, train)
    fig, table = model_plots.plot_grid_heatmap(search), search_table(search)   # Fig 17, Table 1

    pk = precision_curve({"BPR": bpr, "ExplicitALS": als}, train, test)   # Fig 18
    recs = dummy_user_recommendations(als, train)                         # Fig 19 (default dummy user)
    cold = cold_start(genre_als, train)                                   # Figs 20, 26
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._validation import check_float, check_int

__all__ = [
    "learning_curve", "fit_learning_curve", "bias_baseline_curve", "generalization_gap", "learning_curve_summary",
    "search_table", "grid_table", "precision_curve", "precision_summary", "decomposition_summary",
    "DEFAULT_DUMMY_RATINGS", "DEFAULT_NEW_MOVIES", "MAP_GENRES", "find_movies", "DummyUser", "dummy_user",
    "dummy_user_recommendations", "ColdStart", "cold_start", "polarizing_items", "item_map",
    "genre_centroid_similarity", "genre_pair_summary",
]

#: The paper's "dark sci-fi" user (section 7.1): five stars for three films, matched by title.
DEFAULT_DUMMY_RATINGS = {"The Matrix": 5.0, "Terminator 2": 5.0, "Blade Runner": 5.0}

#: The paper's brand-new movies of section 7.2 and their genres.
DEFAULT_NEW_MOVIES = {"Toy Story 5": ("Children", "Comedy"), "Alien: Romulus": ("Horror", "Sci-Fi")}

#: Genres coloured in the item map (Fig 22); the rest are grey.
MAP_GENRES = ("Children", "Horror", "Thriller", "War", "Documentary", "Romance", "Sci-Fi")


# ----------------------------------------------------------------------------- helpers
def _titles(data, items):
    """Titles of item indices (raw ids as strings when the data has no titles)."""
    items = np.asarray(items)
    if getattr(data, "titles", None) is not None:
        return np.asarray(data.titles)[items].astype(str)
    return np.asarray(data.item_ids)[items].astype(str)


def _item_counts(data):
    return np.bincount(np.asarray(data.items), minlength=data.n_items)


def _check_same_items(model, data, name="data"):
    model._check_fitted()
    if model.n_items < data.n_items:
        raise ValueError(f"the model has {model.n_items} items but {name} has {data.n_items}: "
                         "fit the model on this data (or a split of it)")


def _history_frame(history, label):
    rows = []
    for rec in history:
        rows.append({"model": label, "epoch": int(rec["epoch"]),
                     "train_rmse": rec.get("train_rmse", np.nan), "heldout_rmse": rec.get("eval_rmse", np.nan),
                     "objective": rec.get("objective", np.nan), "seconds": rec.get("seconds", np.nan)})
    return pd.DataFrame(rows, columns=["model", "epoch", "train_rmse", "heldout_rmse", "objective", "seconds"])


# ----------------------------------------------------------------------------- learning curves
def learning_curve(model, label=None):
    """Per-epoch training record of a fitted explicit model (Figs 14, 16).

    Parameters
    ----------
    model : fitted ExplicitALS or GenreALS
        Fitted with ``eval_set=`` for the held-out column.
    label : str, optional
        Value of the ``model`` column (default: the class name).

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``model``, ``epoch`` (1-based), ``train_rmse``,
        ``heldout_rmse`` (NaN without an eval_set), ``objective`` (the training
        loss, regularisation included), ``seconds`` (wall time of the epoch).
    """
    model._check_fitted()
    return _history_frame(model.history_, label or type(model).__name__)


def fit_learning_curve(model, train, held_out, label=None, **fit_kwargs):
    """Fit ``model`` on ``train`` with ``held_out`` as eval set and return its :func:`learning_curve`."""
    model.fit(train, eval_set=held_out, show_progress=fit_kwargs.pop("show_progress", False), **fit_kwargs)
    return learning_curve(model, label)


def bias_baseline_curve(train, held_out, regularization=2.0, iterations=10, label=None):
    """Learning curve of the bias-only model ``r_ui ~ mu + b_u + b_i`` fitted by ALS (Fig 12).

    Each epoch solves the item biases, then the user biases, in closed form
    (the block coordinate descent of :func:`mfcore._reference.bias_baseline`,
    whose final biases this reproduces)::

        b_i = sum_u (r_ui - mu - b_u) / (lambda + n_i),   b_u = sum_i (r_ui - mu - b_i) / (lambda + n_u)

    minimising ``sum (r_ui - mu - b_u - b_i)^2 + lambda (sum b_u^2 + sum b_i^2)``
    (the ``objective`` column), which therefore never increases. ``mu`` is the
    training mean. Users or items without training ratings predict with bias 0.

    Parameters
    ----------
    train, held_out : Interactions (same vocabularies, e.g. the halves of a split)
    regularization : float >= 0, default 2.0
        lambda (the paper's Fig 12 uses 2.0).
    iterations : int >= 1, default 10
    label : str, optional
        Default ``"bias baseline (lambda=<regularization>)"``.

    Returns
    -------
    pandas.DataFrame
        Columns as in :func:`learning_curve`.
    """
    import time

    lam = check_float(regularization, "regularization", min_value=0.0)
    iterations = check_int(iterations, "iterations", min_value=1)
    if train.n_users != held_out.n_users or train.n_items != held_out.n_items:
        raise ValueError("train and held_out must share vocabularies (use the two halves of one split)")
    if len(train) == 0:
        raise ValueError("train has no ratings")
    u, i = np.asarray(train.users), np.asarray(train.items)
    r = np.asarray(train.ratings, dtype=np.float64)
    hu, hi = np.asarray(held_out.users), np.asarray(held_out.items)
    hr = np.asarray(held_out.ratings, dtype=np.float64)
    mu = float(r.mean())
    n_u = np.bincount(u, minlength=train.n_users).astype(np.float64)
    n_i = np.bincount(i, minlength=train.n_items).astype(np.float64)
    den_u = np.where(n_u > 0, lam + n_u, 1.0)   # an empty row has bias 0 (0 / 1), also with lambda = 0
    den_i = np.where(n_i > 0, lam + n_i, 1.0)
    b_u = np.zeros(train.n_users)
    b_i = np.zeros(train.n_items)
    history = []
    for epoch in range(1, iterations + 1):
        start = time.perf_counter()
        b_i = np.bincount(i, weights=r - mu - b_u[u], minlength=train.n_items) / den_i
        b_u = np.bincount(u, weights=r - mu - b_i[i], minlength=train.n_users) / den_u
        seconds = time.perf_counter() - start
        resid = r - mu - b_u[u] - b_i[i]
        sse = float(resid @ resid)
        rec = {"epoch": epoch, "seconds": seconds, "train_rmse": np.sqrt(sse / r.size),
               "objective": sse + lam * float(b_u @ b_u + b_i @ b_i)}
        if hr.size:
            hres = hr - mu - b_u[hu] - b_i[hi]
            rec["eval_rmse"] = float(np.sqrt(hres @ hres / hr.size))
        history.append(rec)
    return _history_frame(history, label or f"bias baseline (lambda={lam:g})")


def generalization_gap(estimator, train, held_out, factors=(10, 20)):
    """Learning curves of one model at several sizes K (Fig 25: K=10 vs K=20).

    Parameters
    ----------
    estimator : ExplicitALS or GenreALS (unfitted; left untouched)
        Every other parameter is kept; ``factors`` takes each value in turn.
    train, held_out : Interactions
    factors : sequence of int

    Returns
    -------
    pandas.DataFrame
        :func:`learning_curve` columns for each size, ``model`` = ``"K=<k>"``,
        plus ``factors`` and ``gap`` (held-out minus training RMSE).
    """
    frames = []
    for k in factors:
        k = check_int(k, "factors", min_value=1)
        model = type(estimator)(**{**estimator.get_params(), "factors": k})
        frame = fit_learning_curve(model, train, held_out, label=f"K={k}")
        frame["factors"] = k
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["gap"] = out["heldout_rmse"] - out["train_rmse"]
    return out


def learning_curve_summary(frame):
    """Numbers for a learning-curve caption, per ``model``.

    Returns
    -------
    dict
        model -> ``epochs``, ``train_rmse`` and ``heldout_rmse`` (last epoch),
        ``best_heldout_rmse`` and ``best_epoch`` (NaN / 0 without held-out
        ratings), ``gap`` (last held-out minus training RMSE) and
        ``objective_decreasing`` (True when the objective never rose by more
        than 1e-9 relative).
    """
    out = {}
    for label, part in frame.groupby("model", sort=False):
        last = part.iloc[-1]
        held = part["heldout_rmse"].to_numpy(dtype=float)
        has = np.isfinite(held).any()
        best = int(np.nanargmin(held)) if has else -1
        obj = part["objective"].to_numpy(dtype=float)
        out[label] = {
            "epochs": int(last["epoch"]), "train_rmse": float(last["train_rmse"]),
            "heldout_rmse": float(last["heldout_rmse"]),
            "best_heldout_rmse": float(held[best]) if has else float("nan"),
            "best_epoch": int(part["epoch"].iloc[best]) if has else 0,
            "gap": float(last["heldout_rmse"] - last["train_rmse"]),
            "objective_decreasing": bool(np.all(np.diff(obj) <= 1e-9 * np.abs(obj[:-1]))),
        }
    return out


# ----------------------------------------------------------------------------- tuning tables
def search_table(result):
    """Table 1: every trial's parameters, training and validation metric, sorted by the parameters.

    Parameters
    ----------
    result : mfcore.tuning.SearchResult

    Returns
    -------
    pandas.DataFrame
        The searched parameters, ``train_rmse``, the validation metric (named as
        ``result.metric``), ``epochs`` and ``best`` (True on the best trial).
    """
    names = result.param_names
    table = result.trials[[*names, "train_rmse", result.metric, "epochs"]].copy()
    scores = result.trials[result.metric].to_numpy(dtype=float)
    best = np.nanargmax(scores) if result.greater_is_better else np.nanargmin(scores)
    table["best"] = np.arange(len(table)) == best
    return table.sort_values(names, kind="stable").reset_index(drop=True)


def grid_table(result, rows="factors", columns="regularization"):
    """The validation metric of a two-parameter grid as a matrix (Fig 17).

    Returns
    -------
    pandas.DataFrame
        Index = the ``rows`` values, columns = the ``columns`` values (both
        sorted), cells = the validation metric (NaN for a failed trial). Each
        (row, column) pair must occur exactly once.
    """
    for name in (rows, columns):
        if name not in result.param_names:
            raise ValueError(f"{name!r} was not searched; searched parameters: {result.param_names}")
    trials = result.trials
    if trials.duplicated([rows, columns]).any():
        raise ValueError(f"({rows}, {columns}) pairs repeat in the trials; a grid table needs a grid search "
                         "over exactly these two parameters")
    return trials.pivot(index=rows, columns=columns, values=result.metric).sort_index().sort_index(axis=1)


# ----------------------------------------------------------------------------- ranking
def precision_curve(models, train, test, max_k=100, threshold=4.0, num_threads=0):
    """Precision@K for K = 1..max_k of several models on the same split (Fig 18).

    Each model's top ``max_k`` list is computed once per user (training items
    excluded, score ``u . v_i + b_i``) and every K is read from it:
    ``precision@K = (hits among the first K) / K``, averaged over the users
    with at least one relevant test item (rating >= ``threshold``), as in
    :mod:`mfcore.metrics`.

    Parameters
    ----------
    models : dict of label -> fitted model
        Fitted on ``train`` (same users and items).
    train, test : Interactions, the halves of one split
    max_k : int, default 100
        Longest list; capped at the number of items.
    threshold : float or None, default 4.0
        None: every test item is relevant.
    num_threads : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per (model, k): ``model``, ``k``, ``precision``, ``n_users``.
    """
    from ..metrics import hit_matrix, relevant_items
    from ..tuning import top_items

    max_k = check_int(max_k, "max_k", min_value=1)
    if not models:
        raise ValueError("models is empty: pass {label: fitted model}")
    train_m, test_m = train.user_items(), test.user_items()
    relevant = relevant_items(test_m, threshold)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if users.size == 0:
        raise ValueError(f"no user has a relevant test item (threshold={threshold})")
    max_k = min(max_k, train_m.shape[1])   # no list is longer than the catalogue
    ks = np.arange(1, max_k + 1)
    frames = []
    for label, model in models.items():
        if (model.n_users, model.n_items) != train_m.shape:
            raise ValueError(f"model {label!r} has {model.n_users} users x {model.n_items} items but the split "
                             f"has {train_m.shape[0]} x {train_m.shape[1]}: fit it on this train set")
        rec = top_items(model, train_m, users, max_k, num_threads)
        hits = hit_matrix(rec, relevant[users])
        precision = (np.cumsum(hits, axis=1) / ks).mean(axis=0)
        frames.append(pd.DataFrame({"model": label, "k": ks, "precision": precision, "n_users": users.size}))
    return pd.concat(frames, ignore_index=True)


def precision_summary(frame, ks=(1, 10, 100)):
    """Precision at a few list lengths, per model: ``{model: {k: precision}}`` (k beyond the curve left out)."""
    out = {}
    for label, part in frame.groupby("model", sort=False):
        at = part.set_index("k")["precision"]
        out[label] = {int(k): float(at[k]) for k in ks if k in at.index}
    return out


# ----------------------------------------------------------------------------- finding movies
_ARTICLE = re.compile(r"^(.*), (the|a|an|l'|les|la|le|il|el|der|die|das|den|det)$")


def _normal_title(title):
    """'Matrix, The (1999)' -> 'the matrix': lower case, parentheses dropped, trailing article moved first."""
    t = re.sub(r"\s*\([^)]*\)", "", str(title)).strip().lower()
    m = _ARTICLE.match(t)
    return f"{m.group(2)} {m.group(1)}" if m else t


def find_movies(data, movies, missing="error"):
    """Item indices of movies given by title (or raw id), with the title matched.

    A title matches, in order of preference: exactly (``"Blade Runner (1982)"``);
    after normalisation (case, year and other parentheses ignored, "Matrix,
    The" read as "The Matrix"); or as a normalised title's main title before a
    colon (``"Terminator 2"`` -> "Terminator 2: Judgment Day"; but "The Matrix"
    never matches "The Matrix Reloaded"). When several movies match equally,
    the most rated one is taken.

    Parameters
    ----------
    data : Interactions with titles
    movies : iterable of str (titles) or raw item ids
    missing : {"error", "skip"}
        Raise for a movie not in the data, or leave it out of the result.

    Returns
    -------
    pandas.DataFrame
        ``query``, ``item`` (index), ``item_id`` (raw), ``title``, ``n_ratings``.

    Raises
    ------
    KeyError
        Naming the first movie that is not in the data, with the closest titles.
    """
    from .._validation import check_choice

    check_choice(missing, "missing", {"error", "skip"})
    counts = _item_counts(data)
    titles = normal = None
    rows = []
    for query in movies:
        try:
            if not isinstance(query, str):
                try:
                    idx = int(data.item_index(query))
                except KeyError:
                    raise KeyError(f"movie id {query!r} is not in the data") from None
            else:
                if getattr(data, "titles", None) is None:
                    raise KeyError(f"movie {query!r} cannot be found by title: the data has no titles "
                                   "(pass movie ids)")
                if titles is None:       # normalise the catalogue once per call
                    titles = np.asarray(data.titles).astype(str)
                    normal = np.array([_normal_title(t) for t in titles], dtype=object)
                idx = _match_title(query, titles, normal, counts)
        except KeyError:
            if missing == "skip":
                continue
            raise
        rows.append({"query": query, "item": idx, "item_id": data.item_ids[idx],
                     "title": _titles(data, [idx])[0], "n_ratings": int(counts[idx])})
    return pd.DataFrame(rows, columns=["query", "item", "item_id", "title", "n_ratings"])


def _match_title(query, titles, normal, counts):
    q = _normal_title(query)
    for candidates in (np.flatnonzero(titles == query.strip()), np.flatnonzero(normal == q),
                       np.flatnonzero([t.startswith(q + ":") for t in normal])):
        if candidates.size:
            return int(candidates[np.argmax(counts[candidates])])
    close = difflib.get_close_matches(q, list(dict.fromkeys(normal)), n=3, cutoff=0.6)
    hint = f"; closest titles: {', '.join(repr(c) for c in close)}" if close else ""
    raise KeyError(f"movie {query!r} is not in the data{hint}")


# ----------------------------------------------------------------------------- the dummy user
@dataclass
class DummyUser:
    """A user folded into a model from a few ratings (paper section 5.4).

    Attributes
    ----------
    rated : pandas.DataFrame
        The ratings used: ``query``, ``item``, ``item_id``, ``title``, ``n_ratings``, ``rating``.
    vector : numpy.ndarray (K,), float64
    bias : float
        The user's bias b_u (0 for models without biases).
    cold_offset : float
        GenreALS's ``d_u`` for movies without training ratings (``cold_user_bias``; 0 otherwise).
    """

    rated: pd.DataFrame
    vector: np.ndarray
    bias: float
    cold_offset: float = 0.0


def _cold_offset(model, items, ratings, vector, bias):
    """GenreALS's offset d_u of a folded-in user for items without training ratings (0 for other models)."""
    if getattr(model, "user_cold_bias_", None) is None:
        return 0.0
    import scipy.sparse as sp

    row = sp.csr_matrix((np.asarray(ratings, dtype=np.float64), (np.zeros(len(items), np.int64), np.asarray(items))),
                        shape=(1, model.n_items))
    return float(model.user_cold_offsets(row, np.asarray(vector)[None, :], [bias])[0])


def dummy_user(model, data, ratings=None):
    """Fold a new user into ``model`` from ``{movie title or raw id: rating}``.

    Parameters
    ----------
    model : fitted model with ``fold_in`` (ExplicitALS, GenreALS, BPR, ImplicitALS)
    data : Interactions the model was fitted on (for titles)
    ratings : dict, optional
        Default :data:`DEFAULT_DUMMY_RATINGS` (5 stars for The Matrix,
        Terminator 2 and Blade Runner), keeping those present in the data.
        Given explicitly, every movie must exist.

    Raises
    ------
    KeyError
        Naming a movie not in the data (or, for the default, when none of the three is).
    """
    _check_same_items(model, data)
    if ratings is None:
        rated = find_movies(data, list(DEFAULT_DUMMY_RATINGS), missing="skip")
        if rated.empty:
            raise KeyError(f"none of the default dummy user's movies ({', '.join(DEFAULT_DUMMY_RATINGS)}) "
                           "is in the data; pass ratings={title or movie id: rating}")
        ratings = {q: DEFAULT_DUMMY_RATINGS[q] for q in rated["query"]}
    elif not isinstance(ratings, dict) or not ratings:
        raise TypeError("ratings must be a non-empty dict {movie title or raw id: rating}")
    else:
        rated = find_movies(data, list(ratings))
    if rated["item"].duplicated().any():
        dup = rated.loc[rated["item"].duplicated(keep=False), "query"].tolist()
        raise ValueError(f"ratings name the same movie more than once: {dup}")
    rated["rating"] = [check_float(v, f"rating of {q!r}") for q, v in ratings.items()]
    vector, bias = model.fold_in(data.item_ids[rated["item"].to_numpy()], rated["rating"].to_numpy())
    offset = _cold_offset(model, rated["item"].to_numpy(), rated["rating"].to_numpy(), vector, bias)
    return DummyUser(rated=rated, vector=np.asarray(vector, dtype=np.float64), bias=float(bias), cold_offset=offset)


def dummy_user_recommendations(model, data, ratings=None, bias_weights=(1.0, 0.05), N=10, user=None):
    """Top-N movies of the dummy user at several item-bias weights, with each score split (Fig 19).

    The ranking score at weight alpha is ``alpha * b_i + u . v_i`` (section
    7.1); the rated movies are excluded.

    Parameters
    ----------
    model : fitted ExplicitALS / GenreALS (or any model with biases and fold_in)
    data : Interactions the model was fitted on
    ratings : dict, optional
        See :func:`dummy_user`.
    bias_weights : sequence of float, default (1.0, 0.05)
    N : int, default 10
    user : DummyUser, optional
        An already folded-in user (then ``ratings`` is ignored).

    Returns
    -------
    pandas.DataFrame
        One row per (bias_weight, rank): ``bias_weight``, ``rank`` (1 = best),
        ``item``, ``item_id``, ``title``, ``item_bias`` (b_i; for GenreALS's movies without training
        ratings b_i + d_u, the user's ``cold_offset``), ``weighted_bias``
        (alpha b_i), ``dot`` (u . v_i), ``score`` (= weighted_bias + dot, the
        ranking score) and ``prediction`` (mu + b_u + b_i + u . v_i, the
        predicted rating). The frame's ``attrs["rated"]`` lists the folded-in
        ratings (records of :attr:`DummyUser.rated`).
    """
    N = check_int(N, "N", min_value=1)
    if len(bias_weights) == 0:
        raise ValueError("bias_weights is empty: pass at least one alpha, e.g. (1.0, 0.05)")
    user = dummy_user(model, data, ratings) if user is None else user
    V = np.asarray(model.item_factors, dtype=np.float64)
    b = np.asarray(model.item_bias, dtype=np.float64)
    dot = V @ user.vector
    cold = getattr(model, "cold_items_", None)
    if cold is not None and user.cold_offset:   # GenreALS: the user's offset is part of an unrated movie's bias
        b = b + np.where(cold, user.cold_offset, 0.0)
    candidate = np.ones(V.shape[0], dtype=bool)
    candidate[user.rated["item"].to_numpy()] = False
    cand = np.flatnonzero(candidate)
    frames = []
    for alpha in bias_weights:
        alpha = check_float(alpha, "bias_weight")
        score = alpha * b[cand] + dot[cand]
        order = np.lexsort((cand, -score))[:N]          # score descending, ties to the lower index
        top = cand[order]
        frames.append(pd.DataFrame({
            "bias_weight": alpha, "rank": np.arange(1, top.size + 1), "item": top,
            "item_id": np.asarray(model.item_ids)[top] if model.item_ids is not None else top,
            "title": _titles(data, top) if top.size and top.max() < data.n_items else top.astype(str),
            "item_bias": b[top], "weighted_bias": alpha * b[top], "dot": dot[top],
            "score": alpha * b[top] + dot[top],
            "prediction": model.global_mean + user.bias + b[top] + dot[top]}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["rated"] = user.rated.to_dict(orient="records")
    return out


def decomposition_summary(frame):
    """Numbers for the score-decomposition caption, per bias weight alpha.

    Returns
    -------
    dict
        alpha -> ``bias_share``: mean over the top items of
        ``|alpha b_i| / (|alpha b_i| + |u . v_i|)`` (how much of the ranking
        score the popularity term makes), ``mean_item_bias`` (b_i, unweighted)
        and ``titles`` (best first).
    """
    out = {}
    for alpha, part in frame.groupby("bias_weight", sort=False):
        wb, dot = part["weighted_bias"].abs(), part["dot"].abs()
        share = wb / (wb + dot).where((wb + dot) > 0, 1.0)
        out[float(alpha)] = {"bias_share": float(share.mean()), "mean_item_bias": float(part["item_bias"].mean()),
                             "titles": part.sort_values("rank")["title"].tolist()}
    return out


# ----------------------------------------------------------------------------- cold start
class ColdStart(NamedTuple):
    """Result of :func:`cold_start`: one frame per movie, one per (movie, genre)."""

    movies: pd.DataFrame
    contributions: pd.DataFrame


def cold_start(model, data, new_movies=None, ratings=None, user=None):
    """Scores of brand-new movies known only by their genres, split by genre centroid (Figs 20, 26).

    For a new item with genres ``g`` (weights ``G_g = 1 / |genres|``) a
    GenreALS model sets ``v = s * sum_g G_g W_g`` and ``b = s_b * sum_g G_g w_b[g]``
    (``s = tau / (lambda + tau)``, ``s_b = tau_b / (lambda_b + tau_b)``; with the default
    ``cold_bias="ratings"`` the bias is ``sum_g G_g w_cold[g]`` and ``s_b w_b`` reads ``w_cold``: see
    :meth:`mfcore.GenreALS.item_factors_from_genres`, which gives ``s W_g`` and
    ``s_b w_b[g]`` for genre g alone). So genre ``g`` contributes
    ``G_g (u . s W_g)`` to ``u . v`` and ``G_g s_b w_b[g]`` to the bias.

    Parameters
    ----------
    model : fitted GenreALS
    data : Interactions the model was fitted on (for titles of the dummy user's movies)
    new_movies : dict title -> sequence of genre names, optional
        Default :data:`DEFAULT_NEW_MOVIES` (Toy Story 5: Children, Comedy;
        Alien: Romulus: Horror, Sci-Fi). Genres must be the model's.
    ratings : dict, optional
        The dummy user's ratings (see :func:`dummy_user`).
    user : DummyUser or raw user id of the model, optional
        Score for this user instead of folding in ``ratings``.

    Returns
    -------
    ColdStart
        ``movies``: ``movie``, ``genres`` ("A|B"), ``dot`` (u . v, the paper's
        cold-start score), ``item_bias`` (b), ``cold_user_bias`` (GenreALS's ``d_u``, else 0),
        ``prediction`` (mu + b_u + d_u + b + u . v);
        ``contributions``: ``movie``, ``genre``, ``dot`` and ``bias`` shares (they sum
        to the movie's ``dot`` and ``item_bias``).
    """
    if not hasattr(model, "item_factors_from_genres"):
        raise TypeError(f"cold_start needs a GenreALS model (genre centroids), got {type(model).__name__}")
    model._check_fitted()
    new_movies = dict(DEFAULT_NEW_MOVIES if new_movies is None else new_movies)
    if not new_movies:
        raise ValueError("new_movies is empty")
    if user is None or isinstance(user, DummyUser):
        user = dummy_user(model, data, ratings) if user is None else user
        u_vec, u_bias, offset = user.vector, user.bias, user.cold_offset
    else:
        idx = model.user_index(user)
        u_vec = np.asarray(model.user_factors[idx], dtype=np.float64)
        u_bias = float(model.user_bias[idx])
        offset = 0.0 if getattr(model, "user_cold_bias_", None) is None else float(model.user_cold_bias_[idx])
    names = list(model.genre_names)
    movie_rows, contrib_rows = [], []
    for title, genres in new_movies.items():
        genres = [genres] if isinstance(genres, str) else list(dict.fromkeys(genres))
        unknown = [g for g in genres if g not in names]
        if unknown or not genres:
            raise KeyError(f"new movie {title!r}: unknown genre(s) {unknown or genres}; "
                           f"the model's genres are {', '.join(names)}")
        # the model's own cold vector of each genre alone (s W_g, s_b w_b[g]); the movie averages them
        vecs, biases = model.item_factors_from_genres([[g] for g in genres])
        weight = 1.0 / len(genres)
        dots = weight * (np.asarray(vecs, dtype=np.float64) @ u_vec)
        shares = weight * np.asarray(biases, dtype=np.float64)
        contrib_rows += [{"movie": title, "genre": g, "dot": d, "bias": b} for g, d, b in zip(genres, dots, shares)]
        movie_rows.append({"movie": title, "genres": "|".join(genres), "dot": float(dots.sum()),
                           "item_bias": float(shares.sum()),
                           "cold_user_bias": offset,
                           "prediction": model.global_mean + u_bias + offset + float(shares.sum()) + float(dots.sum())})
    return ColdStart(pd.DataFrame(movie_rows), pd.DataFrame(contrib_rows))


# ----------------------------------------------------------------------------- polarization
def polarizing_items(model, data, n=10, min_ratings=20):
    """The ``n`` movies with the largest ||v_i|| next to the ``n`` with the largest b_i (Fig 21).

    A large vector norm means the score depends strongly on who is asking
    (love it or hate it); a large bias means everyone rates it above average.

    Parameters
    ----------
    model : fitted model
    data : Interactions the model was fitted on (titles and rating counts)
    n : int, default 10
    min_ratings : int, default 20
        Only movies with at least this many ratings in ``data`` compete (a
        movie seen by a handful of users has neither a reliable norm nor bias).

    Returns
    -------
    pandas.DataFrame
        ``ranking`` ("norm" or "bias"), ``rank`` (1 = largest), ``item``,
        ``item_id``, ``title``, ``norm`` (||v_i||), ``item_bias`` (b_i), ``n_ratings``.
        Ties are broken by the lower item index.
    """
    _check_same_items(model, data)
    n = check_int(n, "n", min_value=1)
    min_ratings = check_int(min_ratings, "min_ratings", min_value=0)
    counts = _item_counts(data)
    V = np.asarray(model.item_factors[:data.n_items], dtype=np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", V, V))
    bias = np.asarray(model.item_bias[:data.n_items], dtype=np.float64)
    eligible = np.flatnonzero(counts >= min_ratings)
    if eligible.size == 0:
        raise ValueError(f"no movie has at least min_ratings={min_ratings} ratings")
    frames = []
    for ranking, value in (("norm", norm), ("bias", bias)):
        top = eligible[np.lexsort((eligible, -value[eligible]))[:n]]
        frames.append(pd.DataFrame({
            "ranking": ranking, "rank": np.arange(1, top.size + 1), "item": top, "item_id": data.item_ids[top],
            "title": _titles(data, top), "norm": norm[top], "item_bias": bias[top], "n_ratings": counts[top]}))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- latent space
def _most_rated(data, n_items, min_ratings=1):
    """Indices of the ``n_items`` most rated items with at least ``min_ratings`` ratings (ties: lower index)."""
    counts = _item_counts(data)
    rated = np.flatnonzero(counts >= max(int(min_ratings), 1))
    order = rated[np.lexsort((rated, -counts[rated]))]
    return order[:n_items], counts


def _genre_labels(data, items, genres):
    """Colour label per item: its rarest genre among ``genres`` (most specific), else "other"."""
    G = data.item_genres
    names = list(data.genre_names)
    present = [g for g in genres if g in names]
    cols = [names.index(g) for g in present]
    labels = np.full(len(items), "other", dtype=object)
    if not cols:
        return labels, present
    M = G[items][:, cols].toarray() > 0
    freq = M.sum(axis=0)
    by_rarity = np.argsort(freq, kind="stable")
    for c in by_rarity[::-1]:      # rarest last so it wins
        labels[M[:, c]] = present[c]
    return labels, present


def item_map(model, data, n_items=5000, genres=MAP_GENRES, min_ratings=20, perplexity=30.0, random_state=0,
             num_threads=1):
    """t-SNE map of the item vectors of the most rated movies, labelled by genre (Fig 22).

    The vectors are scaled to unit length first, so the map shows direction
    (taste), not polarization (norm). The embedding is openTSNE's (FFT
    gradients), an optional dependency of the ``report`` extra, chosen over
    scikit-learn's Barnes-Hut ``TSNE`` by ``benchmarks/tsne_choice.py``: on
    10,000 ALS item vectors (K=64) it took 82 s against 332 s on one thread and
    94 s against 135 s on two (medians, interleaved, 2-core machine under load
    ~6), for the same trustworthiness (0.953).

    Parameters
    ----------
    model : fitted model
    data : Interactions the model was fitted on (genres, titles, counts)
    n_items : int, default 5000
        The most rated movies embedded.
    genres : sequence of str
        Genres that get a colour; each movie is labelled with the rarest of its
        genres among these (so a Horror|Thriller movie counts as Horror), else "other".
    min_ratings : int, default 20
        Movies with fewer ratings are left out: their vectors are mostly the
        regulariser's pull toward zero, and scaled to unit length they are noise.
        (On MovieLens 32M the 5,000 most rated movies all have far more.)
    perplexity : float, default 30
    random_state : int, default 0
        The map is deterministic for a given seed and thread count.
    num_threads : int, default 1
        openTSNE's threads (0 = every core). One by default: on the shared
        2-core machine two threads were 1.5-5.5x *slower* (5,000 items: 86 s
        against 59 s; 1,055 items: 38 s against 7 s, medians of 3, load ~6),
        because its threads wait for each other whenever one is descheduled.
        On an idle machine more threads can help.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``item_id``, ``title``, ``n_ratings``, ``genre`` (colour label), ``x``, ``y``.
    """
    from .._threads import resolve_num_threads

    _check_same_items(model, data)
    if data.item_genres is None:
        raise ValueError("item_map needs item genres (data.item_genres is None)")
    n_items = check_int(n_items, "n_items", min_value=2)
    min_ratings = check_int(min_ratings, "min_ratings", min_value=0)
    try:
        from openTSNE import TSNE
    except ImportError as exc:
        from ._mpl import INSTALL_HINT

        raise ImportError(f"item_map needs openTSNE; install the report extra: {INSTALL_HINT}") from exc
    items, counts = _most_rated(data, n_items, min_ratings)
    if items.size < 4:
        raise ValueError(f"t-SNE needs at least 4 movies, the data has {items.size} with min_ratings={min_ratings}")
    V = np.asarray(model.item_factors[items], dtype=np.float64)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    perplexity = min(check_float(perplexity, "perplexity", min_value=1.0), (items.size - 1) / 3.0)
    emb = TSNE(n_components=2, perplexity=perplexity, initialization="pca", random_state=int(random_state),
               n_jobs=resolve_num_threads(num_threads), verbose=False).fit(V)
    xy = np.asarray(emb)
    labels, _ = _genre_labels(data, items, genres)
    return pd.DataFrame({"item": items, "item_id": data.item_ids[items], "title": _titles(data, items),
                         "n_ratings": counts[items], "genre": labels, "x": xy[:, 0], "y": xy[:, 1]})


def genre_centroid_similarity(model, data, n_items=5000, center=True, min_movies=5, min_ratings=20):
    """Cosine similarity of genre centroids of the item vectors (the table beside Fig 22).

    The centroid of genre g is the mean vector of the movies having g among
    the ``n_items`` most rated ones with at least ``min_ratings`` ratings (the
    movies of :func:`item_map`). With ``center`` the mean vector of those movies is
    subtracted first, so the cosine compares what is specific to each genre
    (otherwise every centroid shares the common "popular movie" direction and
    all cosines are high).

    Parameters
    ----------
    model : fitted model
    data : Interactions the model was fitted on
    n_items : int, default 5000
    center : bool, default True
    min_movies : int, default 5
        Genres with fewer movies among them are left out.
    min_ratings : int, default 20

    Returns
    -------
    pandas.DataFrame
        One row per ordered pair of distinct genres: ``genre_a``, ``genre_b``,
        ``cosine``, ``n_a``, ``n_b`` (movies of each genre used).
    """
    _check_same_items(model, data)
    if data.item_genres is None:
        raise ValueError("genre_centroid_similarity needs item genres (data.item_genres is None)")
    items, _ = _most_rated(data, check_int(n_items, "n_items", min_value=1),
                           check_int(min_ratings, "min_ratings", min_value=0))
    V = np.asarray(model.item_factors[items], dtype=np.float64)
    if center:
        V = V - V.mean(axis=0)
    M = (data.item_genres[items] > 0).astype(np.float64).tocsc()
    n_per = np.asarray(M.sum(axis=0)).ravel()
    keep = np.flatnonzero(n_per >= check_int(min_movies, "min_movies", min_value=1))
    if keep.size < 2:
        raise ValueError(f"fewer than two genres have {min_movies}+ movies among the {items.size} most rated")
    C = (M[:, keep].T @ V) / n_per[keep][:, None]
    unit = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-300)
    cos = unit @ unit.T
    names = np.asarray(data.genre_names)[keep]
    a, b = np.meshgrid(np.arange(keep.size), np.arange(keep.size), indexing="ij")
    off = a != b
    return pd.DataFrame({"genre_a": names[a[off]], "genre_b": names[b[off]], "cosine": cos[a[off], b[off]],
                         "n_a": n_per[keep][a[off]].astype(int), "n_b": n_per[keep][b[off]].astype(int)})


def genre_pair_summary(similarity, pairs=(("Horror", "Thriller"), ("Children", "War")), n=3):
    """Numbers for the caption of the genre-similarity table.

    Returns
    -------
    dict
        ``pairs``: {"A/B": {"cosine", "rank"}} for each requested pair present
        (rank 1 = the most similar of all unordered pairs), ``closest`` and
        ``farthest``: the ``n`` most / least similar unordered pairs as
        ("A/B", cosine), and ``n_pairs``.
    """
    und = similarity[similarity["genre_a"] < similarity["genre_b"]]
    und = und.sort_values(["cosine", "genre_a", "genre_b"], ascending=[False, True, True]).reset_index(drop=True)
    key = und["genre_a"] + "/" + und["genre_b"]
    out = {"pairs": {}, "n_pairs": int(len(und)),
           "closest": [(k, float(c)) for k, c in zip(key[:n], und["cosine"][:n])],
           "farthest": [(k, float(c)) for k, c in zip(key[::-1][:n], und["cosine"][::-1][:n])]}
    for x, y in pairs:
        a, b = sorted((x, y))
        hit = np.flatnonzero(((und["genre_a"] == a) & (und["genre_b"] == b)).to_numpy())
        if hit.size:
            out["pairs"][f"{x}/{y}"] = {"cosine": float(und["cosine"].iloc[hit[0]]), "rank": int(hit[0]) + 1}
    return out
