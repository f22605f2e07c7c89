"""asv: MovieLens CSV ingestion, binary-cache reload and synthetic generation.

``setup_cache`` writes each enabled size's ratings once with
``mfcore.data.write_ratings_csv`` (``ratings.csv`` + ``movies.csv`` in asv's
cache directory; with ``MFCORE_BENCH_RATINGS`` the "32m" size reads that
directory instead) and builds a loader cache for it in a private cache
directory, so

* ``time_load_csv`` = ``load_movielens(path, cache=False)``: parse + validate
  + build the Interactions (1,000,209 / 32,000,204 rows);
* ``time_load_cached`` = ``load_movielens(path, cache=True, cache_dir=...)``
  when the cache is warm (fingerprint check + npz reload);
* ``peakmem_load_csv`` = the process peak RSS of a CSV parse.
"""

from __future__ import annotations

from pathlib import Path

from mfcore import load_movielens, make_movielens_like
from mfcore.data import write_ratings_csv

from ._datasets import SIZES, bench_timeout, enabled_sizes, make_interactions, real_ratings_dir, require


class Ingest:
    params = (SIZES,)
    param_names = ["size"]
    timeout = bench_timeout()
    # A 32M parse takes tens of seconds: at most 5 samples or 60 s per process, no warm-up.
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0

    def setup_cache(self):
        out = {}
        for size in enabled_sizes():
            real = real_ratings_dir() if size == "32m" else None
            if real is not None:
                ratings_dir = real
            else:
                ratings_dir = Path(f"ratings-{size}").resolve()
                write_ratings_csv(make_interactions(size), ratings_dir)
            cache_dir = Path(f"loader-cache-{size}").resolve()
            load_movielens(ratings_dir, cache=True, cache_dir=cache_dir)  # warm the binary cache
            out[size] = {"dir": str(ratings_dir), "cache_dir": str(cache_dir)}
        return out

    setup_cache.timeout = bench_timeout()

    def setup(self, cache, size):
        require(size)
        self.dir = cache[size]["dir"]
        self.cache_dir = cache[size]["cache_dir"]

    def time_load_csv(self, cache, size):
        load_movielens(self.dir, cache=False)

    def time_load_cached(self, cache, size):
        load_movielens(self.dir, cache=True, cache_dir=self.cache_dir)

    def peakmem_load_csv(self, cache, size):
        load_movielens(self.dir, cache=False)


class Synthetic:
    """``make_movielens_like(scale=size)``: the generator the other suites use (1m only in quick mode)."""

    params = (SIZES,)
    param_names = ["size"]
    timeout = bench_timeout()
    number = 1
    repeat = (1, 3, 60.0)
    warmup_time = 0.0

    def setup(self, size):
        require(size)

    def time_make_movielens_like(self, size):
        make_movielens_like(scale=size, random_state=0)
