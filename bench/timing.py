"""What every benchmark shares: the ``--device`` option, a clock that waits for the device, and peak
device memory.

On CUDA a kernel launch returns before the kernel ends: a timing reads the clock only after
``torch.cuda.synchronize()``, and the peak memory is ``torch.cuda.max_memory_allocated`` since the
last :func:`reset_peak`. On the CPU both are plain (the peak there is measured per bench, e.g. as
resident-set growth in a subprocess).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["add_device_option", "resolve_device", "sync", "median_time", "reset_peak", "peak_bytes", "describe",
           "Results"]


def add_device_option(ap: argparse.ArgumentParser) -> None:
    """``--device {auto,cpu,cuda}`` (auto: CUDA when there is one) and ``--json PATH`` (the rows
    measured, for ``bench/gpu_check.py``'s table)."""
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="where the benchmark runs (auto: CUDA when available)")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the measured rows here (JSON)")


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else the CPU; ``cuda`` without a GPU is an error naming the fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (torch.cuda.is_available() is False); use --device cpu")
    return torch.device(name)


def sync(device: torch.device | str) -> None:
    """Wait until every kernel queued on ``device`` has finished (nothing on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], repeats: int, device: torch.device | str = "cpu", warmup: int = 1) -> float:
    """The median seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls, the device synchronised
    before each clock reading."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reset_peak(device: torch.device | str) -> None:
    """Start a new peak-memory window on a CUDA device (nothing on the CPU)."""
    if torch.device(device).type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_bytes(device: torch.device | str) -> int | None:
    """Bytes allocated at most on a CUDA device since :func:`reset_peak` (None on the CPU)."""
    if torch.device(device).type != "cuda":
        return None
    sync(device)
    return int(torch.cuda.max_memory_allocated(device))


def describe(device: torch.device) -> str:
    """``torch 2.x, cuda (NVIDIA H200, 139 GiB)`` / ``torch 2.x, cpu, 2 threads``."""
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"torch {torch.__version__}, cuda ({p.name}, {p.total_memory / 2**30:.0f} GiB)"
    return f"torch {torch.__version__}, cpu, {torch.get_num_threads()} threads"


class Results:
    """The rows a benchmark measured: ``add(name, seconds, peak)``; :meth:`write` puts them in a JSON
    file ``{"device": ..., "rows": [{"name", "seconds", "peak_bytes"}]}``."""

    def __init__(self, device: torch.device):
        self.device, self.rows = device, []

    def add(self, name: str, seconds: float, peak: int | None = None) -> None:
        self.rows.append({"name": name, "seconds": float(seconds), "peak_bytes": peak})

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps({"device": str(self.device), "rows": self.rows}, indent=1))
