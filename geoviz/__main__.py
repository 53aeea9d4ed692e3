"""``python -m geoviz`` → :func:`geoviz.cli.main`."""

import sys

from geoviz.cli import main

sys.exit(main())
