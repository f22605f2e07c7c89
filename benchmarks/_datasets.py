"""Data shared by the asv suites: sizes, environment switches, generation and caching.

Sizes
-----
Every scaling suite has an asv parameter ``size`` in ``SIZES = ["1m", "32m"]``:

* ``"1m"``  -- ``make_movielens_like(scale="1m", random_state=0)``: 6,040 users,
  3,706 items, 1,000,209 ratings (the MovieLens-1M shape). Always run.
* ``"32m"`` -- ``make_movielens_like(scale="32m", random_state=0)``: 200,948
  users, 87,585 items, 32,000,204 ratings; or the real ratings of
  ``$MFCORE_BENCH_RATINGS`` (a MovieLens directory such as ``ml-32m/``). Only
  run when ``MFCORE_BENCH_FULL=1``; otherwise ``setup`` raises
  ``NotImplementedError``, which asv records as *skipped* (shown as ``n/a``),
  so CI can run ``asv run --quick`` in a few minutes on 2 cores.

asv parameters cannot be changed per run, hence the environment switch rather
than a different ``params`` list (a different list would also change the
benchmark identities and break comparisons between runs).

Environment variables
---------------------
``MFCORE_BENCH_FULL=1``
    Also run the ``"32m"`` parameter (needs about 4 GB free RAM and, on 2 cores,
    on the order of an hour for the whole suite).
``MFCORE_BENCH_RATINGS=/path/to/ml-32m``
    Use this MovieLens directory (``ratings.csv`` + ``movies.csv``, read with
    ``mfcore.load_movielens`` and its default cache) as the ``"32m"`` data
    instead of the synthetic 32M set.
``MFCORE_BENCH_THREADS=n``
    OpenMP threads of the models (``num_threads``); default 0 = every core the
    process may use.
``MFCORE_BENCH_CACHE=/some/dir``
    Keep generated datasets (``.npz``) in this directory across runs and reuse
    them (delete the files to regenerate). Default: each asv run generates the
    data once per ``setup_cache`` in asv's temporary cache directory.
``MFCORE_DATA_HOME``
    The quality suite reads ``$MFCORE_DATA_HOME/ml-latest-small``.

Data flow
---------
Each suite family has one ``setup_cache`` (run once per ``asv run`` in a
fresh process; its working directory is asv's cache directory) that writes the
arrays it needs to files there and returns their absolute paths; ``setup``
reloads only what a benchmark needs (e.g. the users x items CSR), so
``peakmem_`` figures are the process peak of a user who loads a CSR and fits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

SIZES = ["1m", "32m"]

#: Version of the on-disk layout / generation recipe; bump to invalidate MFCORE_BENCH_CACHE files.
DATA_VERSION = 1
SEED = 0


def full_mode() -> bool:
    """True when ``MFCORE_BENCH_FULL=1`` (the ``"32m"`` size is run)."""
    return os.environ.get("MFCORE_BENCH_FULL", "0").strip().lower() in ("1", "true", "yes", "on")


def enabled_sizes() -> list:
    return list(SIZES) if full_mode() else [s for s in SIZES if s != "32m"]


def require(size: str) -> None:
    """Raise NotImplementedError (asv: skip) for a size that is not enabled in this run."""
    if size not in SIZES:
        raise ValueError(f"unknown benchmark size {size!r}; expected one of {SIZES}")
    if size not in enabled_sizes():
        raise NotImplementedError(f"size {size!r} is skipped; set MFCORE_BENCH_FULL=1 to run it")


def threads() -> int:
    """``num_threads`` for the models: ``$MFCORE_BENCH_THREADS`` or 0 (all cores)."""
    value = os.environ.get("MFCORE_BENCH_THREADS", "0").strip() or "0"
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"MFCORE_BENCH_THREADS must be an integer >= 0, got {value!r}") from None
    if n < 0:
        raise ValueError(f"MFCORE_BENCH_THREADS must be an integer >= 0, got {value!r}")
    return n


def bench_timeout() -> float:
    """Per-benchmark timeout in seconds: generous in full mode, short in quick CI mode."""
    return 7200.0 if full_mode() else 600.0


def real_ratings_dir():
    """``Path`` of ``$MFCORE_BENCH_RATINGS`` or None; a set-but-missing directory is an error."""
    value = os.environ.get("MFCORE_BENCH_RATINGS", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MFCORE_BENCH_RATINGS={value!r} does not exist (expected a MovieLens directory)")
    return path.resolve()


def data_label(size: str) -> str:
    """Human-readable origin of a size's data (for logs)."""
    real = real_ratings_dir() if size == "32m" else None
    return f"MovieLens ratings from {real}" if real else f"make_movielens_like(scale={size!r}, random_state={SEED})"


# ----------------------------------------------------------------------------- Interactions


def _persistent_path(size):
    root = os.environ.get("MFCORE_BENCH_CACHE", "").strip()
    if not root or (size == "32m" and real_ratings_dir() is not None):
        return None
    return Path(root).expanduser() / f"mfcore-bench-{size}-seed{SEED}-v{DATA_VERSION}.npz"


def _save_interactions(data, path):
    arrays = {
        "users": np.asarray(data.users), "items": np.asarray(data.items),
        "ratings": np.asarray(data.ratings), "timestamps": np.asarray(data.timestamps),
        "user_ids": np.asarray(data.user_ids), "item_ids": np.asarray(data.item_ids),
    }
    if data.item_genres is not None:
        g = sp.csr_matrix(data.item_genres)
        arrays.update(genre_indptr=g.indptr, genre_indices=g.indices, genre_data=g.data,
                      genre_shape=np.asarray(g.shape, dtype=np.int64),
                      genre_names=np.asarray(list(data.genre_names), dtype=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_interactions(path):
    from mfcore import Interactions

    with np.load(path, allow_pickle=False) as z:
        genres = names = None
        if "genre_indptr" in z:
            genres = sp.csr_matrix((z["genre_data"], z["genre_indices"], z["genre_indptr"]),
                                   shape=tuple(int(v) for v in z["genre_shape"]))
            names = [str(v) for v in z["genre_names"]]
        return Interactions(z["users"], z["items"], z["ratings"], z["timestamps"], user_ids=z["user_ids"],
                            item_ids=z["item_ids"], item_genres=genres, genre_names=names)


def make_interactions(size: str):
    """The ``mfcore.Interactions`` of a benchmark size (see the module docstring).

    Synthetic data is deterministic (``random_state=0``, generated without a
    movies file so it does not depend on which data files a machine has).
    """
    from mfcore import load_movielens, make_movielens_like

    if size not in SIZES:
        raise ValueError(f"unknown benchmark size {size!r}; expected one of {SIZES}")
    real = real_ratings_dir() if size == "32m" else None
    if real is not None:
        return load_movielens(real)
    cached = _persistent_path(size)
    if cached is not None and cached.exists():
        return _load_interactions(cached)
    data = make_movielens_like(scale=size, random_state=SEED)
    if cached is not None:
        _save_interactions(data, cached)
    return data


# ----------------------------------------------------------------------------- matrices for fits


def save_matrices(data, path):
    """Write the users x items CSR (float32 ratings) and the item x genre CSR of ``data`` to ``path``."""
    ui = data.user_items()
    arrays = {"ui_indptr": ui.indptr, "ui_indices": ui.indices, "ui_data": ui.data,
              "ui_shape": np.asarray(ui.shape, dtype=np.int64)}
    if data.item_genres is not None:
        g = sp.csr_matrix(data.item_genres, dtype=np.float32)
        arrays.update(g_indptr=g.indptr, g_indices=g.indices, g_data=g.data,
                      g_shape=np.asarray(g.shape, dtype=np.int64))
    np.savez(path, **arrays)
    return str(Path(path).resolve())


def load_matrices(path, genres=False):
    """(user_items CSR float32, item_genres CSR float32 or None) from :func:`save_matrices`."""
    with np.load(path, allow_pickle=False) as z:
        ui = sp.csr_matrix((z["ui_data"], z["ui_indices"], z["ui_indptr"]),
                           shape=tuple(int(v) for v in z["ui_shape"]))
        g = None
        if genres and "g_indptr" in z:
            g = sp.csr_matrix((z["g_data"], z["g_indices"], z["g_indptr"]),
                              shape=tuple(int(v) for v in z["g_shape"]))
    ui.has_sorted_indices = True
    return ui, g


class FitData:
    """Base class of the training suites: one shared ``setup_cache`` writes one matrices file per enabled size.

    Subclasses inherit ``setup_cache`` (asv keys the cache by the defining
    module and line, so all training suites share a single run of it).
    """

    timeout = bench_timeout()

    def setup_cache(self):
        out = {}
        for size in enabled_sizes():
            data = make_interactions(size)
            out[size] = save_matrices(data, f"fit-matrices-{size}.npz")
            del data
        return out

    setup_cache.timeout = bench_timeout()
