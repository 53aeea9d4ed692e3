"""Serving the dashboard: the launch settings it needs and the warnings before exposing it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gradio as gr

from geoviz.app.layout import build_demo
from geoviz.app.sessions import ASSETS, demo_session
from geoviz.app.style import CSS

__all__ = ["launch", "launch_options", "exposure_warnings", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_CONCURRENCY"]

log = logging.getLogger("geoviz.app")

DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_CONCURRENCY = 4
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def launch(host: str = "127.0.0.1", port: int = 7860, device: str = "auto", sessions_dir: str | Path | None = None,
           data_root: str | Path | None = None, depth_weights: str | None = None, taef1_weights: str | None = None,
           auth: list[tuple[str, str]] | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
           concurrency: int = DEFAULT_CONCURRENCY, run_dir: str | Path | None = None, **kwargs) -> gr.Blocks:
    """Build the dashboard with the insert_box demo preloaded and serve it. ``auth``: (user, password)
    pairs a browser or API client must log in with; ``concurrency``: diagnoses computed at once (a
    burst waits in the queue instead of exhausting memory); ``run_dir``: a training run to follow."""
    for warning in exposure_warnings(host, auth):
        log.warning(warning)
    t0 = time.perf_counter()
    pre = demo_session(device)
    log.info("demo diagnosis ready in %.1f s", time.perf_counter() - t0)
    demo = build_demo(device, preload=pre, sessions_dir=sessions_dir, data_root=data_root, depth_weights=depth_weights,
                      taef1_weights=taef1_weights, run_dir=run_dir)
    demo.queue(default_concurrency_limit=concurrency).launch(
        server_name=host, server_port=port, auth=auth or None, **launch_options(max_upload_mb), **kwargs)
    return demo


def exposure_warnings(host: str, auth) -> list[str]:
    """What to warn about before serving on ``host``: any address other than loopback without auth
    lets everyone on the network read the uploads and use the server's CPU/GPU."""
    if host in _LOOPBACK or host.startswith("127.") or auth:
        return []
    return [f"serving on {host} without --auth: anyone who can reach this machine can open the dashboard, "
            "see what is uploaded and run computations; add --auth user:password (or --auth-file)"]


def launch_options(max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> dict:
    """The launch() settings the dashboard needs (tests use them too): no run history (it slows every
    event 2–3×), the CSS, a bounded upload size. Gradio serves only its own upload cache and the
    bundled demo assets (public, read-only): no data root, sessions folder or other path."""
    return {"css": CSS, "run_history": False, "max_file_size": f"{max_upload_mb:g}mb", "allowed_paths": [str(ASSETS)],
            "show_error": True}
