"""The package version, in a module of its own so that internal modules can read it
without importing the package (``from ._version import __version__``)."""

__version__ = "0.1.0"
