"""Matrix-factorization models: ExplicitALS, GenreALS, BPR, ImplicitALS."""

from .als import ExplicitALS
from .base import FactorModel, NotFittedError
from .bpr import BPR
from .genre_als import GenreALS
from .implicit_als import ImplicitALS

__all__ = ["ExplicitALS", "GenreALS", "BPR", "ImplicitALS", "FactorModel", "NotFittedError"]
