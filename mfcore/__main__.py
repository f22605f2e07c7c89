"""``python -m mfcore``: the same as the ``mfcore`` command."""

import sys

from .cli import main

sys.exit(main())
