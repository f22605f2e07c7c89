"""Matrix-factorization models: ExplicitALS, GenreALS (and, with the ranking engines, BPR, ImplicitALS)."""

from .als import ExplicitALS
from .base import FactorModel, NotFittedError
from .genre_als import GenreALS

__all__ = ["ExplicitALS", "GenreALS", "FactorModel", "NotFittedError"]
