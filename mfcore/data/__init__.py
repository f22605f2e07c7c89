"""MovieLens ingestion, the Interactions container, synthetic data and splits."""

from .interactions import Interactions
from ._cache import cache_info, clear_cache
from ._errors import MovieLensDownloadError, MovieLensFormatError
from .features import item_features_with_years, release_years, year_buckets
from .fetch import fetch_movielens
from .movielens import load_movielens
from .split import item_cold_start_split, leave_last_k_split, random_split, temporal_split
from .synthetic import make_movielens_like, write_ratings_csv

__all__ = [
    "Interactions", "load_movielens", "fetch_movielens", "MovieLensFormatError", "MovieLensDownloadError",
    "make_movielens_like", "write_ratings_csv",
    "temporal_split", "random_split", "leave_last_k_split", "item_cold_start_split", "cache_info", "clear_cache",
    "release_years", "year_buckets", "item_features_with_years",
]
