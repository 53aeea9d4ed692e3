"""geoviz — the dashboard's front door.

    python app.py [--host 127.0.0.1] [--port 7860] [--device auto] [--sessions-dir DIR] [--data-root DIR]

Serves the Gradio dashboard with the bundled insert_box demo already diagnosed (the same as
``python -m geoviz serve``).
"""

from __future__ import annotations

import sys

from geoviz.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
