"""Matrix-factorization models: ExplicitALS, GenreALS, BPR, ImplicitALS, and the BiasBaseline."""

from .als import ExplicitALS
from .base import FactorModel, NotFittedError
from .baseline import BiasBaseline
from .bpr import BPR
from .genre_als import GenreALS
from .implicit_als import ImplicitALS

__all__ = ["ExplicitALS", "GenreALS", "BPR", "ImplicitALS", "BiasBaseline", "FactorModel", "NotFittedError"]
