"""Many users at once, shortened (``bench/load.py`` is the full run): concurrent gradio_client sessions
on the test server, each with its own sample; every response must carry its own session's numbers,
and the queue's concurrency limit (4 on the test server) must bound the handlers running at once."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import load  # noqa: E402

import geoviz.app.page as ui  # noqa: E402

SESSIONS, REQUESTS = 6, 8
QUEUE_LIMIT = 4  # conftest's default_concurrency_limit


def test_concurrent_sessions_each_get_their_own_numbers(app_url, tmp_path):
    samples = load.make_samples(tmp_path / "data", SESSIONS, size=96)
    ui.ACTIVITY["peak"] = 0
    result = load.run_load(app_url, samples, REQUESTS)
    print("\n".join(load.report_lines(result)))
    assert result.errors == []
    assert result.requests == SESSIONS * REQUESTS
    assert sorted(result.latencies) == ["diagnose", "param change", "weights"]
    # the burst was concurrent, and the queue held it to its limit
    assert 2 <= ui.ACTIVITY["peak"] <= QUEUE_LIMIT, ui.ACTIVITY
