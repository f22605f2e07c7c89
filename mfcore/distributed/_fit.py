"""The driver of a distributed ALS fit (see :mod:`mfcore.distributed` and docs/scale-out.md)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._persist import ModelFileError
from .._threads import blas_limited
from .._validation import check_dtype, check_int, check_random_state
from ..models import ExplicitALS, GenreALS, ImplicitALS
from ..models._ids import IdMap
from ..models._kernels import implicit_gram
from ..models.base import seen_pattern
from . import _blocks

_CHECKPOINT_RE = re.compile(r"epoch-(\d{6})\.npz")
#: how often one half-sweep is retried after a worker died under it
_RETRIES = 5


def _import_dask():
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("mfcore.distributed needs Dask: pip install 'mfcore[dask]' "
                          f"(dask[dataframe,distributed]); import failed: {exc}") from None
    return distributed


class FitStats:
    """What a distributed fit measured (``model.distributed_stats_``).

    Attributes
    ----------
    n_user_blocks, n_item_blocks : int
        P and Q.
    user_bounds, item_bounds : int64 arrays (P + 1,), (Q + 1,)
        Block b holds the rows [bounds[b], bounds[b + 1]) of its side.
    routed_rows_per_epoch : int
        Factor rows routed per epoch: sum over user blocks of the item rows they read plus
        sum over item blocks of the user rows they read.
    routed_bytes : list of int
        Per epoch: bytes of the routed factor rows and biases (``nbytes``; the traffic formula).
    serialized_bytes : list of int
        Per epoch: the same arrays as Dask serialises them (frames incl. headers).
    other_bytes : list of int
        Per epoch: everything else sent to blocks (CG warm starts, genre centroids, Y^T Y).
    pair_rows : numpy.ndarray (P, Q) int64
        Routing plan sizes: rows of item block q read by user block p (and the transpose
        direction in ``pair_rows_items``).
    resumed_from : int
        The checkpoint epoch the fit started from (0 = none).
    retries : int
        Half-sweeps re-run after a worker failure.
    """

    def __init__(self):
        self.routed_bytes, self.serialized_bytes, self.other_bytes = [], [], []
        self.resumed_from, self.retries = 0, 0

    def __repr__(self):
        return (f"FitStats(P={self.n_user_blocks}, Q={self.n_item_blocks}, "
                f"routed_rows_per_epoch={self.routed_rows_per_epoch}, routed_bytes={self.routed_bytes})")


def _serialized_size(array):
    from distributed.protocol import serialize_bytelist

    return int(sum(memoryview(frame).nbytes for frame in serialize_bytelist(array)))


def _bounds(counts, n_blocks):
    """Contiguous block boundaries (n_blocks + 1,) balancing the rating counts."""
    n = len(counts)
    n_blocks = max(1, min(int(n_blocks), n))
    cum = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    total = cum[-1]
    cuts = [0]
    for b in range(1, n_blocks):
        c = int(np.searchsorted(cum, total * b / n_blocks, side="left"))
        cuts.append(min(max(c, cuts[-1] + 1), n - (n_blocks - b)))
    cuts.append(n)
    return np.asarray(cuts, dtype=np.int64)


def _vocab(found, given, name):
    if given is None:
        return found
    given = np.asarray(given)
    if given.ndim != 1 or given.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D array of integer raw ids, got {given.dtype} with shape {given.shape}")
    given = given.astype(np.int64)
    if len(given) > 1 and not np.all(given[1:] > given[:-1]):
        raise ValueError(f"{name} must be sorted and unique (a local fit's vocabulary is)")
    missing = np.setdiff1d(found, given)
    if missing.size:
        raise ValueError(f"the ratings hold {'userId' if name == 'user_ids' else 'movieId'} {int(missing[0])}, "
                         f"which is not in {name}")
    return given


def _model_kind(model):
    if isinstance(model, GenreALS):
        return "genre"
    if isinstance(model, ExplicitALS):
        return "explicit"
    if isinstance(model, ImplicitALS):
        return "implicit"
    raise TypeError(f"mfcore.distributed.fit fits ExplicitALS, GenreALS and ImplicitALS, got {type(model).__name__}"
                    " (BPR's lock-free SGD needs shared memory: fit it on one machine, see docs/scale-out.md)")


def _genres_from_movies(movies, item_ids):
    from ..data._genres import genre_matrix

    if "movieId" not in movies.columns or "genres" not in movies.columns:
        raise ValueError(f"movies must have columns 'movieId' and 'genres', got {list(movies.columns)}")
    mid = movies["movieId"].to_numpy().astype(np.int64)
    order = np.argsort(mid, kind="stable")
    mid, genres = mid[order], movies["genres"].to_numpy()[order]
    if item_ids is None:
        item_ids = mid
    pos = np.searchsorted(mid, item_ids)
    if (pos >= len(mid)).any() or (mid[np.minimum(pos, len(mid) - 1)] != item_ids).any():
        raise ValueError("movies must list every movieId of the ratings")
    matrix, names = genre_matrix(genres[pos])
    titles = list(movies["title"].to_numpy()[order][pos]) if "title" in movies.columns else None
    return item_ids, matrix, names, titles


# ----------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------
def _fingerprint(model, user_ids, item_ids, ubounds, ibounds, nnz, total):
    h = hashlib.sha256()
    for a in (user_ids, item_ids, ubounds, ibounds):
        h.update(np.ascontiguousarray(a).tobytes())
    params = {k: v for k, v in model.get_params().items() if k not in ("num_threads", "iterations")}
    return {"model": type(model).__name__, "params": json.loads(json.dumps(params, default=str)),
            "nnz": int(nnz), "rating_sum": float(total), "data_sha256": h.hexdigest()}


def _atomic_json(path, obj):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _latest_checkpoint(directory, fingerprint):
    """(epoch, model) of the newest readable checkpoint matching ``fingerprint``, or (0, None)."""
    from ..models.base import FactorModel

    meta = directory / "fit.json"
    if not meta.is_file():
        return 0, None
    saved = json.loads(meta.read_text())
    if saved != fingerprint:
        raise ValueError(f"checkpoint_dir {directory} holds a checkpoint of another fit (other data or parameters); "
                         "use an empty directory or remove it")
    epochs = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _CHECKPOINT_RE.fullmatch(p.name)))
    for epoch, path in reversed(epochs):
        try:
            return epoch, FactorModel.load(path)
        except ModelFileError:
            continue                     # a damaged file: fall back to the one before
    return 0, None


def _save_checkpoint(directory, model, epoch):
    model.save(directory / f"epoch-{epoch:06d}.npz")      # atomic (mfcore._persist)
    for p in directory.iterdir():
        m = _CHECKPOINT_RE.fullmatch(p.name)
        if m and int(m.group(1)) < epoch - 1:                # keep the last two
            p.unlink(missing_ok=True)


class _ClusterError(RuntimeError):
    """Routing rows to a block failed for a reason of the cluster (the half-sweep is re-run)."""


def _infrastructure_error(exc):
    """True for what a lost worker or connection raises (KilledWorker, cancelled/lost futures, closed comms)."""
    import asyncio
    import concurrent.futures

    if isinstance(exc, (_ClusterError, OSError, TimeoutError, asyncio.CancelledError,
                        concurrent.futures.CancelledError)):
        return True
    return type(exc).__module__.split(".")[0] in ("distributed", "tornado")


# ----------------------------------------------------------------------------
# the fit
# ----------------------------------------------------------------------------
class _Driver:
    def __init__(self, model, kind, client, blocks, plans, solve, stats, dtype):
        self.model, self.kind, self.client = model, kind, client
        self.blocks, self.plans, self.solve, self.stats, self.dtype = blocks, plans, solve, stats, dtype

    def _submit(self, side, fixed_f, fixed_b, solved_f, solved_b, prior):
        from distributed import wait

        client, kind = self.client, self.kind
        routed = serialized = other = 0
        futures, payloads = [], []
        # each block's routed rows go straight to the worker holding the block (one hop, no scheduler)
        try:
            holders = client.who_has(self.blocks[side])
        except Exception as exc:
            raise _ClusterError(f"who_has failed: {exc!r}") from exc
        for block, plan in zip(self.blocks[side], self.plans[side]):
            lo, hi, need = plan["lo"], plan["hi"], plan["needed"]
            F = np.ascontiguousarray(fixed_f[need])
            warm = None
            if self.solve["solver"] == "cg":
                warm = solved_f[lo:hi].copy() if kind == "implicit" else (solved_f[lo:hi].copy(),
                                                                          solved_b[lo:hi].copy())
                other += solved_f[lo:hi].nbytes + (0 if kind == "implicit" else solved_b[lo:hi].nbytes)
            routed += F.nbytes
            serialized += _serialized_size(F)
            if kind == "implicit":
                other += prior.nbytes
                payload, fn = (F, prior, warm), _blocks.solve_implicit_block
            else:
                B = np.ascontiguousarray(fixed_b[need])
                routed += B.nbytes
                serialized += _serialized_size(B)
                c = d = None
                if prior is not None:
                    c = np.ascontiguousarray(prior[0][lo:hi])
                    d = None if prior[1] is None else np.ascontiguousarray(prior[1][lo:hi])
                    other += c.nbytes + (0 if d is None else d.nbytes)
                payload, fn = (F, B, warm, c, d), _blocks.solve_explicit_block
            where = list(holders.get(block.key, ()))[:1] or None
            try:   # whatever fails here is the cluster's, e.g. the scheduler's KeyError for a worker just lost
                sent = client.scatter([payload], workers=where, hash=False)[0]
                payloads.append(sent)
                solve = self.solve if kind != "implicit" else dict(self.solve, count_scale=self.count_scale[side])
                futures.append(client.submit(fn, block, sent, self.mu, solve, workers=where,
                                             allow_other_workers=where is not None, pure=False))
            except Exception as exc:
                raise _ClusterError(f"routing to {side} block [{lo}, {hi}) failed: {exc!r}") from exc
        wait(futures)
        results = client.gather(futures)
        client.cancel(payloads)
        for plan, (f, b, status) in zip(self.plans[side], results):
            lo, hi = plan["lo"], plan["hi"]
            solved_f[lo:hi] = f
            if b is not None:
                solved_b[lo:hi] = b
            if status >= 0:
                self._fail(side, lo + status)
        return routed, serialized, other

    def item_residual_sums(self, row_vectors):
        """GenreALS's cold-start bias map inputs: every item's residual sum and rating count, from the
        item blocks (the users' rows routed as in a half-sweep); the local fit's numbers bit for bit."""
        m, client = self.model, self.client
        futures, payloads = [], []
        for block, plan in zip(self.blocks["item"], self.plans["item"]):
            lo, hi, need = plan["lo"], plan["hi"], plan["needed"]
            payload = (np.ascontiguousarray(m.user_factors[need]), np.ascontiguousarray(m.user_bias[need]),
                       np.ascontiguousarray(row_vectors[lo:hi]))
            sent = client.scatter([payload], hash=False)[0]
            payloads.append(sent)
            futures.append(client.submit(_blocks.residual_sums_block, block, sent, self.mu, self.solve["num_threads"],
                                         pure=False))
        results = client.gather(futures)
        client.cancel(payloads)
        sums = np.concatenate([r[0] for r in results])
        counts = np.concatenate([r[1] for r in results])
        return sums, counts

    def user_residual_sums(self, col_vectors, col_bias):
        """GenreALS's cold-item user offsets: every user's sum of ``r - mu - x_i . u - c_i`` over its ratings
        (``col_vectors`` / ``col_bias`` the items' cold vectors and biases, the model dtype) and its rating
        count, from the user blocks; the local fit's numbers bit for bit."""
        m, client = self.model, self.client
        futures, payloads = [], []
        for block, plan in zip(self.blocks["user"], self.plans["user"]):
            lo, hi, need = plan["lo"], plan["hi"], plan["needed"]
            payload = (np.ascontiguousarray(col_vectors[need]), np.ascontiguousarray(col_bias[need]),
                       np.ascontiguousarray(m.user_factors[lo:hi], dtype=np.float64))
            sent = client.scatter([payload], hash=False)[0]
            payloads.append(sent)
            futures.append(client.submit(_blocks.residual_sums_block, block, sent, self.mu, self.solve["num_threads"],
                                         pure=False))
        results = client.gather(futures)
        client.cancel(payloads)
        return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])

    def _fail(self, side, index):
        ids = self.model._users if side == "user" else self.model._items
        raise FloatingPointError(f"the solve failed for {side} {ids.to_raw(np.array([index]))[0].item()!r} "
                                 f"(index {index}); increase regularization")

    def half_sweep(self, side, *args):
        """One half-sweep; re-run whole when a worker died under it (the driver's arrays are unchanged
        until every block has returned, and block data is recomputed from the ratings graph)."""
        for attempt in range(_RETRIES + 1):
            try:
                return self._submit(side, *args)
            except Exception as exc:
                if not _infrastructure_error(exc):
                    raise                                # an error of the solve itself: no retry
                if attempt == _RETRIES:
                    raise RuntimeError(f"{side} half-sweep failed {attempt + 1} times: {exc!r}") from exc
                self.stats.retries += 1
                time.sleep(0.5 * (attempt + 1))          # let the scheduler notice the lost worker
                self.client.wait_for_workers(1, timeout=60)

    def epoch(self):
        m, kind = self.model, self.kind
        if kind == "implicit":
            r1 = self.half_sweep("user", m.item_factors, None, m.user_factors, None, implicit_gram(m.item_factors))
            r2 = self.half_sweep("item", m.user_factors, None, m.item_factors, None, implicit_gram(m.user_factors))
        else:
            r1 = self.half_sweep("user", m.item_factors, m.item_bias, m.user_factors, m.user_bias, None)
            prior = None
            if kind == "genre":
                c, d = m._centroids()
                tau_b = float(m.genre_bias_weight)
                prior = (np.ascontiguousarray(c, dtype=self.dtype),
                         np.ascontiguousarray(d, dtype=self.dtype) if tau_b > 0 else None)
            r2 = self.half_sweep("item", m.user_factors, m.user_bias, m.item_factors, m.item_bias, prior)
            if kind == "genre":
                m._update_projection()
        m._fitted_changed()
        return tuple(a + b for a, b in zip(r1, r2))


def fit(model, ddf, client=None, n_user_blocks=None, n_item_blocks=None, checkpoint_dir=None, *,
        user_ids=None, item_ids=None, item_genres=None, genre_names=None, movies=None, num_threads=None,
        keep_seen=True, callback=None):
    """Fit an ALS model on a Dask cluster; returns the ordinary fitted ``model``.

    Parameters
    ----------
    model : ExplicitALS, GenreALS or ImplicitALS
        Unfitted or fitted (refitted from scratch); its parameters are used as in ``model.fit``.
        ImplicitALS is fitted without genres (its ``genre_share`` prior is not distributed): the
        result equals a local fit on the ratings alone (its frequency-scaled regularization,
        ``regularization_exponent``, included).
    ddf : dask.dataframe.DataFrame
        Columns ``userId``, ``movieId`` (integer raw ids), ``rating`` (finite numbers) and
        optionally ``timestamp`` (ignored), e.g. ``dask.dataframe.read_csv("ml-32m/ratings.csv")``
        or ``read_parquet``. Every (userId, movieId) pair at most once.
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    n_user_blocks, n_item_blocks : int, optional
        P and Q, the row blocks of each side (contiguous index ranges balanced by rating
        count). Default: twice the number of workers each.
    checkpoint_dir : path, optional
        After every epoch the model is saved there (``epoch-NNNNNN.npz``, the format of
        :meth:`FactorModel.save`, written atomically; the last two are kept) beside
        ``fit.json`` (the fit's fingerprint). A later call with the same data, parameters and
        directory resumes after the last completed epoch and ends with the same factors.
    user_ids, item_ids : sorted int arrays, optional
        The vocabularies (raw id of every index). Default: the sorted unique ids of the
        ratings, as ``Interactions.from_dataframe`` builds them. Give them to match a local
        fit that knows more ids (e.g. ``load_movielens`` takes items from movies.csv).
    item_genres : (n_items, n_genres) multi-hot, optional
        GenreALS: rows aligned with ``item_ids``. Or give ``movies``.
    genre_names : list of str, optional
    movies : pandas.DataFrame, optional
        GenreALS: ``movieId`` and ``genres`` (``|``-separated) as in movies.csv; sets
        ``item_ids`` (unless given) and the genres exactly as ``load_movielens`` does; with a
        ``title`` column and ``release_years=True`` (the default) also the release-year
        buckets, as a local fit on ``load_movielens`` data (``item_genres=`` has none).
    num_threads : int, optional
        Kernel threads per block solve in a worker (default: the model's ``num_threads``;
        0 = every core the worker process may use).
    keep_seen : bool, default True
        Gather the users x items pattern (4 bytes per rating) into the model so
        ``recommend`` filters seen items as after a local fit; False for data that does
        not fit in the driver (then pass ``user_items`` to ``recommend``).
    callback : callable, optional
        ``callback(epoch, record, model)`` after each epoch; True stops.

    Returns
    -------
    model
        Fitted in place: factors, biases, ids, ``history_`` (``epoch``, ``seconds``,
        ``routed_bytes``) and ``distributed_stats_`` (:class:`FitStats`).
    """
    _import_dask()
    import dask
    from distributed import get_client

    kind = _model_kind(model)
    model._validate_params()
    if client is None:
        client = get_client()
    for name in _blocks.REQUIRED:
        if name not in ddf.columns:
            raise _blocks.RatingsInputError(f"ddf is missing column {name!r} (it has {list(map(str, ddf.columns))}); "
                                            f"expected {', '.join(_blocks.REQUIRED)}[, timestamp]")
    dtype = check_dtype(model.dtype)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    P = check_int(n_user_blocks if n_user_blocks is not None else 2 * n_workers, "n_user_blocks", min_value=1)
    Q = check_int(n_item_blocks if n_item_blocks is not None else 2 * n_workers, "n_item_blocks", min_value=1)
    year_edges = None
    if kind == "genre" and movies is not None:
        item_ids, item_genres, genre_names, titles = _genres_from_movies(
            movies, None if item_ids is None else np.asarray(item_ids).astype(np.int64))
        if titles is not None and model.release_years:      # as a local fit on load_movielens data
            from .._item_features import DEFAULT_YEAR_EDGES, append_year_buckets

            with_years, year_names = append_year_buckets(item_genres, titles, DEFAULT_YEAR_EDGES)
            if with_years.nnz > item_genres.nnz:
                item_genres, genre_names = with_years, list(genre_names) + year_names
                year_edges = list(DEFAULT_YEAR_EDGES)
    if kind == "genre" and item_genres is None:
        raise ValueError("GenreALS needs item genres: pass movies= (movieId, genres) or item_genres= with item_ids=")

    # 1. every partition checked (errors name the column and the partition) before anything else
    parts = ddf.to_delayed()
    check = dask.delayed(_blocks.check_partition, pure=True)
    summaries = client.gather(client.compute([check(p, i) for i, p in enumerate(parts)]))
    found_users = np.unique(np.concatenate([s["users"] for s in summaries]))
    found_items = np.unique(np.concatenate([s["items"] for s in summaries]))
    uvocab = _vocab(found_users, user_ids, "user_ids")
    ivocab = _vocab(found_items, item_ids, "item_ids")
    n_users, n_items = len(uvocab), len(ivocab)
    if sum(s["n"] for s in summaries) == 0:
        raise ValueError("ddf has no ratings")
    ucount = np.zeros(n_users, np.int64)
    icount = np.zeros(n_items, np.int64)
    for s in summaries:
        ucount[np.searchsorted(uvocab, s["users"])] += s["user_counts"]
        icount[np.searchsorted(ivocab, s["items"])] += s["item_counts"]
    ubounds, ibounds = _bounds(ucount, P), _bounds(icount, Q)
    P, Q = len(ubounds) - 1, len(ibounds) - 1

    # 2. blocks: built from the ratings graph and kept in worker memory (recomputable from it)
    if kind == "implicit":
        # a ratings frame: "auto" settings resolve as for a local fit of an Interactions with ratings
        threshold, binarize = model._resolved("ratings")
        transform = ("implicit", None if threshold is None else float(threshold), bool(binarize),
                     float(model.alpha), str(model.confidence))
    else:
        transform = ("explicit",)
    uv, iv = dask.delayed(uvocab), dask.delayed(ivocab)
    split = dask.delayed(_blocks.split_partition, pure=True, nout=2)
    pieces = [split(p, i, uv, iv, ubounds, ibounds, dtype) for i, p in enumerate(parts)]
    build = dask.delayed(_blocks.build_block, pure=True)
    ublocks = [build([pc[0][b] for pc in pieces], "user", ubounds[b], ubounds[b + 1], transform, uv, iv)
               for b in range(P)]
    iblocks = [build([pc[1][b] for pc in pieces], "item", ibounds[b], ibounds[b + 1], transform, uv, iv)
               for b in range(Q)]
    futures = client.compute(ublocks + iblocks)
    plans = client.gather([client.submit(_blocks.block_plan, f, pure=False) for f in futures])
    blocks = {"user": futures[:P], "item": futures[P:]}
    plans = {"user": plans[:P], "item": plans[P:]}
    nnz = sum(p["nnz"] for p in plans["user"])
    total = 0.0
    for p in plans["user"]:          # fixed order
        total += p["sum"]
    if nnz == 0:
        raise ValueError("ddf has no ratings" if kind != "implicit" else "ddf has no positive interactions")
    mu = total / nnz if kind != "implicit" else 0.0

    stats = FitStats()
    stats.n_user_blocks, stats.n_item_blocks = P, Q
    stats.user_bounds, stats.item_bounds = ubounds, ibounds
    stats.routed_rows_per_epoch = int(sum(len(p["needed"]) for side in plans.values() for p in side))
    stats.pair_rows = np.array([[int(np.searchsorted(p["needed"], ibounds[q + 1]) - np.searchsorted(p["needed"],
                                                                                                  ibounds[q]))
                                 for q in range(Q)] for p in plans["user"]], dtype=np.int64)

    # 3. the initial state, exactly as the local model's _begin_fit sets it
    rng = check_random_state(model.random_state)
    K = int(model.factors)
    umap, imap = IdMap("user", n_users, uvocab), IdMap("item", n_items, ivocab)
    model.history_, model.best_epoch_ = [], None
    if kind == "implicit":
        scale = float(model.init_scale) / np.sqrt(K)
        uf = (rng.standard_normal((n_users, K)) * scale).astype(dtype)
        vf = (rng.standard_normal((n_items, K)) * scale).astype(dtype)
        # the popularity bias from every rating of the item, as the local fit counts its stored entries
        model._set_state(user_factors=uf, item_factors=vf, user_map=umap, item_map=imap,
                         item_bias=(float(model.popularity_bias) * np.log1p(icount.astype(np.float64))).astype(dtype))
    else:
        model._set_state(user_factors=np.zeros((n_users, K), dtype),
                         item_factors=(rng.standard_normal((n_items, K)) * model.init_scale).astype(dtype),
                         user_bias=np.zeros(n_users, dtype), item_bias=np.zeros(n_items, dtype), global_mean=mu,
                         user_map=umap, item_map=imap,
                         # the training ratings' range, for predict's clipping (as a local fit learns it)
                         rating_scale=(min(s["lowest"] for s in summaries), max(s["highest"] for s in summaries)))
    if kind == "genre":
        from ..models.genre_als import normalised_genres

        model._G = normalised_genres(item_genres, n_items, np.float64)
        model._genre_matrix = sp.csr_matrix(item_genres, dtype=np.float32)
        model.genre_names = (list(genre_names) if genre_names is not None
                             else [f"genre_{g}" for g in range(model._G.shape[1])])
        model.year_edges_ = year_edges
        model.genre_cold_bias_ = None
        model._update_projection()

    solve = dict(reg=model.regularization, solver=model.solver, cg_steps=model.cg_steps,
                 num_threads=model.num_threads if num_threads is None else check_int(num_threads, "num_threads",
                                                                                     min_value=0))
    if kind != "implicit":
        solve.update(reg_bias=model.bias_regularization, scale_by_count=model.regularization_scaling == "count")
        if kind == "genre":
            solve.update(prior_weight=float(model.genre_weight), bias_prior_weight=float(model.genre_bias_weight))

    # 4. resume from a checkpoint of this very fit
    start = 0
    directory = None
    if checkpoint_dir is not None:
        directory = Path(checkpoint_dir)
        fingerprint = _fingerprint(model, uvocab, ivocab, ubounds, ibounds, nnz, total)
        if directory.is_dir():
            start, saved = _latest_checkpoint(directory, fingerprint)
            if saved is not None:
                for name in model._snapshot_arrays:
                    getattr(model, name)[...] = getattr(saved, name)
                model._fitted_changed()
                stats.resumed_from = start
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_json(directory / "fit.json", fingerprint)

    driver = _Driver(model, kind, client, blocks, plans, solve, stats, dtype)
    if kind == "implicit":
        # positives per user / item, as ImplicitALS._begin_fit computes them (nnz: the positives here)
        model._count_means = (nnz / n_users, nnz / n_items)
        nu_user, nu_item = model._exponents()
        driver.count_scale = {"user": (nu_user, model._count_means[0]), "item": (nu_item, model._count_means[1])}
    driver.mu = mu
    with blas_limited():
        for epoch in range(start + 1, int(model.iterations) + 1):
            t0 = time.perf_counter()
            routed, serialized, other = driver.epoch()
            record = {"epoch": epoch, "seconds": time.perf_counter() - t0, "routed_bytes": routed}
            stats.routed_bytes.append(routed)
            stats.serialized_bytes.append(serialized)
            stats.other_bytes.append(other)
            model.history_.append(record)
            if directory is not None:
                _save_checkpoint(directory, model, epoch)
            if callback is not None and callback(epoch, record, model):
                break
    if kind == "genre":
        model.user_cold_bias_ = model.cold_items_ = None
    if kind == "genre" and (model.cold_bias == "ratings" or model.cold_user_bias is not None):
        item_sums, item_counts = driver.item_residual_sums(model._cold_vectors())
        if model.cold_bias == "ratings":     # as GenreALS._end_fit after a local fit
            model._set_cold_bias(item_sums, item_counts)
    if kind == "genre" and model.cold_user_bias is not None:     # as GenreALS._end_fit
        dtype = model.item_factors.dtype
        sums, counts = driver.user_residual_sums(model._cold_vectors().astype(dtype),
                                                 model._cold_item_biases().astype(dtype))
        model._set_user_cold_bias(sums, counts, item_counts == 0)
    if keep_seen:   # every rating (also ImplicitALS's non-positives), as the local fit's seen matrix
        if kind == "implicit":    # its blocks hold only the positives: split the partitions again
            pattern = dask.delayed(_blocks.block_pattern, pure=True)
            patterns = client.gather(client.compute([pattern([pc[0][b] for pc in pieces], ubounds[b],
                                                             ubounds[b + 1]) for b in range(P)]))
        else:
            patterns = client.gather([client.submit(_blocks.block_columns, f, pure=False) for f in blocks["user"]])
        indptr = np.zeros(n_users + 1, np.int64)
        pieces_ = []
        for plan_, (ip, ix) in zip(plans["user"], patterns):
            indptr[plan_["lo"] + 1:plan_["hi"] + 1] = ip[1:] + indptr[plan_["lo"]]
            pieces_.append(ix)
        model._seen = seen_pattern(indptr.astype(np.int32), np.concatenate(pieces_), (n_users, n_items), dtype)
    client.cancel(futures)
    model.distributed_stats_ = stats
    return model
