"""One kind of process-wide memo for every cache threads share (loaded models, depth estimates,
Gram matrices, unreachable downloads): a lock guards the table, and a value is made once per key —
concurrent callers of one key wait for the first, callers of other keys do not."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["SharedMemo"]

_MISSING = object()


class SharedMemo:
    """A thread-safe dict with :meth:`get_or_make`; ``maxsize``: the oldest entry leaves when full
    (None: unbounded)."""

    def __init__(self, maxsize: int | None = None):
        self.maxsize = maxsize
        self._items: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, default=None):
        """The value under ``key``, or ``default``."""
        with self._lock:
            return self._items.get(key, default)

    def __getitem__(self, key: Hashable):
        with self._lock:
            return self._items[key]

    def __setitem__(self, key: Hashable, value) -> None:
        with self._lock:
            self._put(key, value)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def pop(self, key: Hashable, default=None):
        """Remove ``key``; its value, or ``default``."""
        with self._lock:
            return self._items.pop(key, default)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def _put(self, key, value) -> None:
        self._items.pop(key, None)
        if self.maxsize is not None and len(self._items) >= self.maxsize:
            self._items.pop(next(iter(self._items)))
        self._items[key] = value

    def get_or_make(self, key: Hashable, make: Callable[[], Any]):
        """The value under ``key``, made by ``make()`` once when absent (an exception is not kept:
        the next caller tries again)."""
        with self._lock:
            value = self._items.get(key, _MISSING)
            if value is not _MISSING:
                return value
            gate = self._making.setdefault(key, threading.Lock())
        with gate:  # one maker per key; the others wait here, then find the value
            with self._lock:
                value = self._items.get(key, _MISSING)
            if value is _MISSING:
                value = make()
                with self._lock:
                    self._put(key, value)
        with self._lock:
            self._making.pop(key, None)
        return value
