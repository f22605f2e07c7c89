"""mfcore benchmarks: asv suites (``bench_*.py``) and helper scripts.

asv imports every module of this package, so modules here must be cheap and
side-effect free to import. See ``asv.conf.json`` at the repository root and
``benchmarks/_datasets.py`` for the environment variables that select the
data sizes.
"""
