"""Lazy access to matplotlib for the plot functions, with one house style.

Nothing in mfcore imports matplotlib at import time; plot functions call
:func:`pyplot` first, which selects the non-interactive Agg backend (figures are
written to files, never shown) and raises an ImportError naming the extra to
install when matplotlib is missing.
"""

from __future__ import annotations

INSTALL_HINT = 'pip install "mfcore[report]"'


def pyplot():
    """Return ``matplotlib.pyplot`` on the Agg backend, or raise ImportError naming the extra."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - exercised by a test that hides matplotlib
        raise ImportError(
            f"plotting needs matplotlib, which is not installed; install the report extra: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


#: Figure size in inches for a single-panel figure (readable at 100 dpi in a report).
FIGSIZE = (7.0, 4.5)
