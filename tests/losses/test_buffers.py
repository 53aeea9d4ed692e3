"""`losses.buffers.fresh_buffer`: the contract of `torch.empty`, whichever allocator serves it."""

import re
from pathlib import Path

import pytest
import torch
from support import cuda_or_skip

from losses.buffers import fresh_buffer


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("shape", [(3, 1, 5, 7), (2, 1, 1024, 1024), (0, 1, 4, 4)])
def test_shape_dtype_device_and_ownership(shape, dtype):
    like = torch.zeros(1, dtype=dtype)
    t = fresh_buffer(shape, like)
    assert t.shape == shape and t.dtype == dtype and t.device == like.device and t.is_contiguous()
    # writable, and its own memory: filling it leaves a second buffer untouched
    u = fresh_buffer(torch.Size(shape), like)
    t.fill_(3)
    u.fill_(5)
    assert bool((t == 3).all()) and bool((u == 5).all())
    # usable where PyTorch puts a gradient, updated in place as an optimiser does
    p = torch.zeros(shape, dtype=dtype, requires_grad=dtype.is_floating_point)
    if dtype.is_floating_point:
        p.grad = t
        with torch.no_grad():
            p.sub_(p.grad, alpha=0.5)
        assert bool((p == -1.5).all())


def _rss_bytes() -> int:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc/self/status on this system")
    return int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1)) * 1024


def test_large_buffers_are_given_back():
    """60 × 32 MiB written and dropped: the process keeps none of it (the NumPy-backed storage is
    released with its last tensor)."""
    like = torch.zeros(1)
    fresh_buffer((8, 1, 1024, 1024), like).fill_(1)
    before = _rss_bytes()
    for _ in range(60):
        fresh_buffer((8, 1, 1024, 1024), like).fill_(1)
    assert _rss_bytes() - before < 64 << 20


@pytest.mark.cuda
def test_cuda_buffer_stays_on_the_device():
    device = cuda_or_skip()
    t = fresh_buffer((2, 1, 1024, 1024), torch.zeros(1, device=device))
    assert t.device.type == "cuda" and t.dtype == torch.float32 and t.is_contiguous()
