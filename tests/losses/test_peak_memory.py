"""Issue 2's memory bound: forward+backward of each 000/004 term on [8,1,1024,1024] takes at most 8×
one input tensor of extra memory. Measured as `bench/bench_losses.py` measures it: the growth of the
resident set's high-water mark over each term's run, every large tensor its own mapping (here all
terms in one fresh process, to pay one start-up; the figures come out up to a quarter of one input
lower than the bench's one process per term, whose first run also pays PyTorch's lazy set-up)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERMS = ["000 depth_consistency_loss", "004 WeightedDataLoss (adepth)", "004 StandardizeData+L1 (rdepth)",
         "004 WeightedMSGradLoss", "004 g2 total", "004 ssi_loss"]
ONE_INPUT = 8 * 1024 * 1024 * 4


def _can_reset_peak() -> bool:
    """Whether this system lets a process reset its resident high-water mark (Linux, not every container)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _can_reset_peak(), reason="needs a writable /proc/self/clear_refs (Linux)")


@pytest.fixture(scope="module")
def peaks() -> dict[str, int]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_losses import peak_extra
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return peak_extra(TERMS, "ours", 8, 1024, 1024)


@pytest.mark.parametrize("term", TERMS)
def test_peak_extra_memory_at_most_8_inputs(peaks, term):
    extra = peaks[term] / ONE_INPUT
    # at least the gradient (one input) must show, or the measurement measures nothing
    assert 0.9 < extra < 8.0, f"{term}: peak extra memory {extra:.2f}x one input"
