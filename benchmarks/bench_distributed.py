"""asv: ExplicitALS (K=64, Cholesky) fitted by ``mfcore.distributed`` on a 2-worker Dask LocalCluster.

``track_epoch_seconds``
    Median of ``history_[e]["seconds"]`` over 3 epochs of the distributed fit (routing the
    factor rows, the block solves in the workers, gathering the solved rows); kernel
    ``num_threads`` = 1 per worker (2 worker processes x 1 thread).
``track_ratio_to_local``
    That median over the median of a local ``ExplicitALS.fit`` with 2 threads on the same
    matrix, measured right after in the same process (issue 14 target: <= 1.5 at 32M).
``track_routed_megabytes_per_epoch``
    Bytes of factor rows and biases routed per epoch (the traffic formula of docs/scale-out.md), in MB.

The ratings are written once per benchmark as 8 Parquet partitions and read with
``dask.dataframe.read_parquet``. Sizes as in ``_datasets`` ("32m" only with MFCORE_BENCH_FULL=1).
Needs the ``dask`` extra; without it the benchmarks are skipped.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

import mfcore

from ._datasets import SIZES, FitData, load_matrices, require

EPOCHS = 3
FACTORS = 64


class DistributedExplicitALS(FitData):
    params = (SIZES,)
    param_names = ["size"]
    rounds = 1
    repeat = 1
    number = 1
    warmup_time = 0.0

    def setup(self, cache, size):
        require(size)
        try:
            import dask.dataframe as dd
            from distributed import Client, LocalCluster
        except ImportError:
            raise NotImplementedError("the dask extra is not installed") from None
        import pandas as pd

        from mfcore._sparse import row_of_entry

        X, _ = load_matrices(cache[size])
        self.X = X
        self.tmp = tempfile.TemporaryDirectory(prefix="mfcore-asv-dist-")
        path = Path(self.tmp.name)
        df = pd.DataFrame({"userId": row_of_entry(X.indptr).astype(np.int64), "movieId": X.indices.astype(np.int64),
                           "rating": X.data})
        for k, rows in enumerate(np.array_split(np.arange(len(df)), 8)):
            df.iloc[rows].to_parquet(path / f"part.{k}.parquet", index=False)
        self.ddf = dd.read_parquet(path)
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    silence_logs=40)
        self.client = Client(self.cluster)
        self.dist = self.local = None

    def teardown(self, cache, size):
        for name in ("client", "cluster", "tmp"):          # setup may have stopped early (skipped size)
            obj = getattr(self, name, None)
            if obj is not None:
                obj.cleanup() if name == "tmp" else obj.close()

    def _distributed(self):
        if self.dist is None:
            import mfcore.distributed as mdist

            model = mfcore.ExplicitALS(factors=FACTORS, iterations=EPOCHS, num_threads=1,
                                       calculate_training_loss=False)
            self.dist = mdist.fit(model, self.ddf, client=self.client, user_ids=np.arange(self.X.shape[0]),
                                  item_ids=np.arange(self.X.shape[1]), keep_seen=False)
        return self.dist

    def track_epoch_seconds(self, cache, size):
        return statistics.median(r["seconds"] for r in self._distributed().history_)

    track_epoch_seconds.unit = "seconds"

    def track_ratio_to_local(self, cache, size):
        dist = statistics.median(r["seconds"] for r in self._distributed().history_)
        local = mfcore.ExplicitALS(factors=FACTORS, iterations=EPOCHS, num_threads=2, calculate_training_loss=False)
        local.fit(self.X, show_progress=False)
        return dist / statistics.median(r["seconds"] for r in local.history_)

    track_ratio_to_local.unit = "ratio"

    def track_routed_megabytes_per_epoch(self, cache, size):
        return self._distributed().distributed_stats_.routed_bytes[0] / 1e6

    track_routed_megabytes_per_epoch.unit = "MB"
