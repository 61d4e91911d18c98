"""``python -m umltui``: the same as the ``umltui`` command."""

import sys

from .cli import main

sys.exit(main())
