"""mfcore.distributed: blocked ALS on a 2-worker Dask LocalCluster (processes) equals a local fit bit for bit.

One cluster serves the module (worker start-up is the slow part). Data: a synthetic
200,000-rating set (1M in the slow test) and ml-latest-small when present.
"""

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mfcore

dd = pytest.importorskip("dask.dataframe", reason="the dask extra (pip install 'mfcore[dask]') is not installed")
distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from mfcore import distributed as mdist  # noqa: E402

FITTED = ("user_factors", "item_factors", "user_bias", "item_bias")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def synthetic():
    data = mfcore.make_movielens_like(n_users=3000, n_items=2000, n_ratings=200_000, random_state=3)
    return data, data.to_dataframe()


def frame(df, n):
    return dd.from_pandas(df, npartitions=n, sort=False)


def models(iterations=3):
    return {
        "explicit": lambda: mfcore.ExplicitALS(factors=8, iterations=iterations, num_threads=1),
        "genre": lambda: mfcore.GenreALS(factors=8, iterations=iterations, num_threads=1),
        # the distributed fit has no genre prior for ImplicitALS: compare with a local fit without it
        "implicit": lambda: mfcore.ImplicitALS(factors=8, iterations=iterations, num_threads=1, solver="cholesky",
                                               genre_share=0.0),
    }


def genre_options(kind, data):
    return {"item_genres": data.item_genres, "genre_names": data.genre_names} if kind == "genre" else {}


def assert_identical(dist, local):
    for name in FITTED:
        a, b = getattr(dist, name), getattr(local, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), f"{name}: max |diff| {np.max(np.abs(a.astype(float) - b.astype(float)))}"
    assert dist.global_mean == local.global_mean
    # the same fitted metadata: predict clips to the same rating range, fold-in reads the same kind
    assert dist.rating_scale_ == local.rating_scale_
    assert dist.input_kind_ == local.input_kind_
    np.testing.assert_array_equal(dist._users.raw_ids, local._users.raw_ids)
    np.testing.assert_array_equal(dist._items.raw_ids, local._items.raw_ids)
    if hasattr(local, "genre_factors"):
        assert np.array_equal(dist.genre_factors, local.genre_factors)
    if getattr(local, "user_cold_bias_", None) is not None:      # GenreALS's offsets for unrated items
        assert np.array_equal(dist.user_cold_bias_, local.user_cold_bias_)
        assert np.array_equal(dist.cold_items_, local.cold_items_)
    else:
        assert getattr(dist, "user_cold_bias_", None) is None


# ----------------------------------------------------------------------------
# bit-identity
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["explicit", "genre", "implicit"])
def test_synthetic_bit_identical(client, synthetic, kind):
    data, df = synthetic
    make = models()[kind]
    dist = mdist.fit(make(), frame(df, 5), client=client, n_user_blocks=3, n_item_blocks=4,
                     **genre_options(kind, data))
    local = make()
    if kind == "genre":     # item_genres= carries no titles: the genres-only model
        local.set_params(release_years=False)
    local.fit(data, show_progress=False)
    assert_identical(dist, local)
    if kind == "genre":
        assert dist.year_edges_ is None
    assert (dist._seen != local._seen).nnz == 0
    ids, _ = dist.recommend(df.userId.iloc[0], N=5)
    np.testing.assert_array_equal(ids, local.recommend(df.userId.iloc[0], N=5)[0])


def test_cg_solver_is_identical_too(client, synthetic):
    """Not promised (CG is approximate), but the kernels are deterministic per row: the warm starts are routed."""
    data, df = synthetic
    make = lambda: mfcore.ExplicitALS(factors=8, iterations=2, num_threads=1, solver="cg")  # noqa: E731
    assert_identical(mdist.fit(make(), frame(df, 3), client=client), make().fit(data, show_progress=False))


@pytest.mark.parametrize("kind", ["explicit", "genre", "implicit"])
def test_ml_latest_small_bit_identical(client, ml_small_path, kind):
    local_data = mfcore.load_movielens(ml_small_path, cache=False)
    ddf = dd.read_csv(Path(ml_small_path) / "ratings.csv", blocksize=600_000)   # 4 partitions
    assert ddf.npartitions > 1
    movies = pd.read_csv(Path(ml_small_path) / "movies.csv")
    make = models(iterations=2)[kind]
    # load_movielens takes the items from movies.csv (18 of them unrated): the same vocabulary here
    opts = {"movies": movies} if kind == "genre" else {"item_ids": np.sort(movies.movieId.to_numpy())}
    dist = mdist.fit(make(), ddf, client=client, **opts)
    local = make().fit(local_data, show_progress=False)
    assert_identical(dist, local)
    if kind == "genre":
        assert dist.genre_names == local.genre_names
        assert dist.year_edges_ == local.year_edges_ is not None    # both with the release-year buckets


@pytest.mark.slow
def test_one_million_ratings_from_parquet_bit_identical(client, tmp_path):
    data = mfcore.make_movielens_like(scale="1m", random_state=5)
    df = data.to_dataframe()
    (tmp_path / "ratings").mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(df)), 8)):      # 8 Parquet partitions
        df.iloc[part].to_parquet(tmp_path / "ratings" / f"part.{k}.parquet")
    make = lambda: mfcore.ExplicitALS(factors=16, iterations=2, num_threads=1)  # noqa: E731
    dist = mdist.fit(make(), dd.read_parquet(tmp_path / "ratings"), client=client)
    assert_identical(dist, make().fit(data, show_progress=False))


# ----------------------------------------------------------------------------
# traffic
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_routed_bytes_follow_the_formula(client, synthetic, kind):
    data, df = synthetic
    make = models(iterations=2)[kind]
    model = mdist.fit(make(), frame(df, 4), client=client, n_user_blocks=3, n_item_blocks=5)
    stats = model.distributed_stats_
    ub, ib = stats.user_bounds, stats.item_bounds
    X = data.user_items()
    if kind == "implicit":
        X = X.multiply(X >= 4.0).tocsr()
        X.eliminate_zeros()
    coo = X.tocoo()
    ublock = np.searchsorted(ub, coo.row, side="right") - 1
    iblock = np.searchsorted(ib, coo.col, side="right") - 1
    per_user = len(np.unique(coo.row.astype(np.int64) * 64 + iblock))     # (user, item block) pairs
    per_item = len(np.unique(coo.col.astype(np.int64) * 64 + ublock))     # (item, user block) pairs
    K = 8
    row_bytes = 4 * (K + 1) if kind == "explicit" else 4 * K             # ImplicitALS has no biases to route
    assert stats.routed_rows_per_epoch == per_user + per_item
    assert stats.routed_bytes == [row_bytes * (per_user + per_item)] * 2
    assert [r["routed_bytes"] for r in model.history_] == stats.routed_bytes
    # Dask's serialisation adds a small header per routed array, nothing per row
    n_arrays = (3 + 5) * (2 if kind == "explicit" else 1)
    overhead = stats.serialized_bytes[0] - stats.routed_bytes[0]
    assert 0 <= overhead <= 1024 * n_arrays
    assert stats.pair_rows.shape == (3, 5) and stats.pair_rows.sum() == per_item


# ----------------------------------------------------------------------------
# faults and checkpoints
# ----------------------------------------------------------------------------
def test_killed_worker_changes_nothing(client, synthetic):
    data, df = synthetic
    make = models(iterations=3)["explicit"]
    killed = []

    def kill_a_worker(epoch, record, model):
        if epoch == 1:
            pids = client.run(os.getpid)
            addr, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)          # its blocks are gone; the nanny starts a fresh worker
            killed.append(addr)

    dist = mdist.fit(make(), frame(df, 4), client=client, callback=kill_a_worker)
    assert killed and len(dist.history_) == 3
    assert addr_gone(client, killed[0])
    print("half-sweeps re-run:", dist.distributed_stats_.retries)
    assert_identical(dist, make().fit(data, show_progress=False))
    client.wait_for_workers(2, timeout=60)


def addr_gone(client, addr):
    return addr not in client.scheduler_info()["workers"]


@pytest.mark.parametrize("kind", ["genre", "implicit"])
def test_resume_from_checkpoint(client, synthetic, tmp_path, kind):
    data, df = synthetic
    make = models(iterations=4)[kind]
    opts = genre_options(kind, data)
    ddf = frame(df, 3)
    first = mdist.fit(make(), ddf, client=client, checkpoint_dir=tmp_path,
                      callback=lambda epoch, record, model: epoch == 2, **opts)   # the client "dies" after epoch 2
    assert len(first.history_) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-000001.npz", "epoch-000002.npz", "fit.json"]
    saved = mfcore.load_model(tmp_path / "epoch-000002.npz")           # an ordinary model file
    assert np.array_equal(saved.item_factors, first.item_factors)
    resumed = mdist.fit(make(), ddf, client=client, checkpoint_dir=tmp_path, **opts)
    assert resumed.distributed_stats_.resumed_from == 2
    assert [r["epoch"] for r in resumed.history_] == [3, 4]
    assert_identical(resumed, make().fit(data, show_progress=False, **({"item_genres": data.item_genres}
                                                                          if kind == "genre" else {})))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-000003.npz", "epoch-000004.npz", "fit.json"]


def test_checkpoint_of_another_fit_is_refused(client, synthetic, tmp_path):
    data, df = synthetic
    mdist.fit(mfcore.ExplicitALS(factors=8, iterations=1, num_threads=1), frame(df, 2), client=client,
              checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another fit"):
        mdist.fit(mfcore.ExplicitALS(factors=4, iterations=1, num_threads=1), frame(df, 2), client=client,
                  checkpoint_dir=tmp_path)


# ----------------------------------------------------------------------------
# bad input: a clear error before training, nothing in checkpoint_dir
# ----------------------------------------------------------------------------
def small_frame():
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame({"userId": rng.integers(1, 40, n), "movieId": np.arange(n) % 97 + 1,
                         "rating": rng.integers(1, 11, n) / 2.0}).drop_duplicates(["userId", "movieId"])


def partitions(parts, meta=None):
    import dask

    return dd.from_delayed([dask.delayed(p) for p in parts], meta=meta if meta is not None else parts[0].iloc[:0],
                           verify_meta=False)


def bad_cases():
    base = small_frame()
    a, b, c = base.iloc[:100].copy(), base.iloc[100:200].copy(), base.iloc[200:].copy()
    text = b.copy()
    text["rating"] = text["rating"].astype(object)
    text.iloc[7, 2] = "four"
    nan = c.copy()
    nan.iloc[3, 2] = np.nan
    dup_in = b.copy()
    dup_in.iloc[5, :2] = dup_in.iloc[2, :2].to_numpy()
    dup_across = c.copy()
    dup_across.iloc[0, :2] = a.iloc[0, :2].to_numpy()
    return {
        "missing in meta": (dd.from_pandas(base.drop(columns="rating"), npartitions=2),
                            r"missing column 'rating'"),
        "missing in a partition": (partitions([a, b.drop(columns="movieId"), c], meta=a.iloc[:0]),
                                   r"partition 1: missing column 'movieId'"),
        "non-numeric": (partitions([a, text, c], meta=a.iloc[:0]),
                        r"partition 1: column 'rating' must be numeric.*'four' at row 7"),
        "NaN": (partitions([a, b, nan]), r"partition 2: column 'rating' holds nan .*row 3"),
        "duplicate in a partition": (partitions([a, dup_in, c]), r"partition 1: duplicate \(userId, movieId\)"),
        "duplicate across partitions": (partitions([a, b, dup_across]),
                                        r"duplicate \(userId, movieId\) pair .* in partitions 0 and 2"),
    }


@pytest.mark.parametrize("case", list(bad_cases()))
def test_bad_partitions_fail_before_training(client, tmp_path, case):
    ddf, message = bad_cases()[case]
    target = tmp_path / "ckpt"
    model = mfcore.ExplicitALS(factors=4, iterations=2, num_threads=1)
    with pytest.raises(ValueError, match=message):
        mdist.fit(model, ddf, client=client, checkpoint_dir=target)
    assert not target.exists()
    assert model.item_factors is None


def test_bpr_stays_single_machine(client, synthetic):
    with pytest.raises(TypeError, match="BPR.*one machine"):
        mdist.fit(mfcore.BPR(), frame(synthetic[1], 2), client=client)
