"""Fixtures of the analysis tests: the hand-built dataset of ``tiny_data``."""

import pytest
from .tiny_data import make_tiny


@pytest.fixture
def tiny():
    return make_tiny()
