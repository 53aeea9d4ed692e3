"""geoviz — the dashboard's front door.

    python app.py [--host 127.0.0.1] [--port 7860] [--device auto]

Serves the Gradio dashboard with the bundled insert_box demo already diagnosed.
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="geoviz dashboard")
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from geoviz.ui import launch

    launch(host=args.host, port=args.port, device=args.device)


if __name__ == "__main__":
    main()
