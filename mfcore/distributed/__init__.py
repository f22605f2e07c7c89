"""Fit mfcore's ALS models on a Dask cluster (optional extra ``mfcore[dask]``).

``mfcore.distributed.fit(model, ddf, client=client)`` trains an ExplicitALS,
GenreALS or ImplicitALS from a ``dask.dataframe`` of (userId, movieId, rating)
with Spark-style blocked ALS on Dask futures and returns the ordinary fitted
model. With the Cholesky solver and the same seed its factors are bit-identical
to a local ``model.fit`` on the same data. See docs/scale-out.md.

Dask is imported only when :func:`fit` is called; the models never import it.
"""

from __future__ import annotations

__all__ = ["fit", "FitStats", "RatingsInputError"]


def __getattr__(name):
    if name in ("fit", "FitStats"):
        from . import _fit

        return getattr(_fit, name)
    if name == "RatingsInputError":
        from ._blocks import RatingsInputError

        return RatingsInputError
    raise AttributeError(f"module 'mfcore.distributed' has no attribute {name!r}")
