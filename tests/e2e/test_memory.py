"""No per-request leak: 200 evaluations in one server process (diagnoses with uploads and parameter
changes, each computing anew) grow its RSS by under 100 MB after warm-up, with the result cache
bounded (an LRU by bytes, ``GEOVIZ_CACHE_MB``; here 16 MB so the warm-up fills it)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import load  # noqa: E402

from geoviz.engine.cache import RESULT_CACHE  # noqa: E402

WARMUP, EVALUATIONS, BUDGET_MB, CACHE_MB = 30, 200, 100, 16


def test_two_hundred_evaluations_do_not_grow_memory(app_url, tmp_path):
    samples = load.make_samples(tmp_path / "data", 3, size=64)
    users = [load.connect(app_url, f, download_files=False) for f in samples[:2]]  # the server is measured
    old_limit = RESULT_CACHE.max_bytes
    RESULT_CACHE.max_bytes = CACHE_MB * 2**20
    counter = iter(range(10**6))

    def evaluation(i: int) -> None:
        """A quarter are diagnoses of a freshly uploaded sample, else a parameter change; each with a
        temperature never used before, so the change-mask terms are computed, not read from the cache."""
        user = users[i % len(users)]
        ep = user.endpoints
        temperature = 0.3 + 1e-3 * next(counter)
        if (i // len(users)) % 4 == 0:  # each user's first request is a diagnosis
            args, name = ep.diagnose_args(samples[i % len(samples)]), "/diagnose"
        else:
            args, name = ep.defaults("/recompute"), "/recompute"
        args[ep.labelled(name, "temperature")] = temperature
        summary = user.client.predict(*args, api_name=name)[-1]
        assert summary["params"]["change_mask"]["temperature"] == temperature

    try:
        for i in range(WARMUP):
            evaluation(i)
        gc.collect()
        before = load.rss_mb()
        for i in range(WARMUP, WARMUP + EVALUATIONS):
            evaluation(i)
        gc.collect()
        growth = load.rss_mb() - before
        print(f"\nRSS {before:.0f} MB → {before + growth:.0f} MB after {EVALUATIONS} evaluations "
              f"(+{growth:.1f} MB); result cache {RESULT_CACHE.nbytes / 2**20:.1f} MB in {len(RESULT_CACHE)} entries")
        assert RESULT_CACHE.nbytes <= RESULT_CACHE.max_bytes
        assert growth < BUDGET_MB, f"RSS grew by {growth:.0f} MB over {EVALUATIONS} evaluations"
    finally:
        RESULT_CACHE.max_bytes = old_limit
