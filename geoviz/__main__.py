"""``python -m geoviz`` → :func:`geoviz.cli.main`."""

import sys

from .cli import main

sys.exit(main())
