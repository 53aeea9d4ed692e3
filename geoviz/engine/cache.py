"""The engine's caches: term results by content (an LRU bounded by the bytes of their maps,
``GEOVIZ_CACHE_MB``, default 512 MB) and scale readouts by content. Both are thread-safe: every
session of the server shares them, and a hit never depends on who computed it."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from geoviz.engine.scale import ScaleReadout
from geoviz.engine.terms import TermResult

__all__ = ["ResultCache", "ReadoutCache", "RESULT_CACHE", "READOUT_CACHE"]


def _nbytes(result: TermResult) -> int:
    n = 0
    for a in (result.contribution, result.gradient, result.gradient_full, *result.extras.values()):
        if isinstance(a, np.ndarray):
            n += a.nbytes
    return n


class ResultCache:
    """A thread-safe LRU of TermResults bounded by the bytes of their arrays."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple, tuple[TermResult, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> TermResult | None:
        """The TermResult stored under ``key`` (marked most recently used), or None; counts a hit or a miss."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: tuple, value: TermResult) -> None:
        """Store ``value`` under ``key`` (replacing any previous entry), then evict least recently used
        entries while the held bytes exceed ``max_bytes`` — the newest entry is always kept, even alone
        over the limit."""
        size = _nbytes(value)
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        """Drop every entry (the ``hits`` / ``misses`` counters are kept)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Bytes of the NumPy arrays held (each result's maps, full gradient and array extras)."""
        return self._bytes


RESULT_CACHE = ResultCache(int(os.environ.get("GEOVIZ_CACHE_MB", "512")) * 2**20)


class ReadoutCache:
    """A thread-safe LRU of scale readouts by content (kind and the four images' hashes): a readout
    is a few numbers, so thousands cost nothing, and the same files loaded again — a dataset
    reopened, a bundle restored, a link opened — are not read again."""

    def __init__(self, max_entries: int = 4096):
        self.max_entries = max_entries
        self._data: OrderedDict[tuple, ScaleReadout] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> ScaleReadout | None:
        """The readout stored under ``key`` (made most recent), or None."""
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, value: ScaleReadout) -> None:
        """Store ``value`` under ``key``, dropping the least recent entries beyond ``max_entries``."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


READOUT_CACHE = ReadoutCache()
