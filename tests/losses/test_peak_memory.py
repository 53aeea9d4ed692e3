"""Issue 2's memory bound: forward+backward of each 000/004 term on [8,1,1024,1024] takes at most 8×
one input tensor of extra memory. Measured as `bench/bench_losses.py` measures it: in a fresh process,
the growth of the resident set's high-water mark (every large tensor its own mapping)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERMS = ["000 depth_consistency_loss", "004 WeightedDataLoss (adepth)", "004 StandardizeData+L1 (rdepth)",
         "004 WeightedMSGradLoss", "004 g2 total", "004 ssi_loss"]
ONE_INPUT = 8 * 1024 * 1024 * 4


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs")
@pytest.mark.parametrize("term", TERMS)
def test_peak_extra_memory_at_most_8_inputs(term):
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_losses.py"), "--peak", term, "ours", "8", "1024", "1024"],
        capture_output=True, text=True, check=True, env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
    )
    extra = json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"] / ONE_INPUT
    assert 0.9 < extra < 8.0, f"{term}: peak extra memory {extra:.2f}x one input"
