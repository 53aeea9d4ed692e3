"""The shared memo behind every process-wide cache: one make per key under concurrency, bounded,
and a failed make is not remembered."""

import threading
import time

import pytest

from geoviz.data.memo import SharedMemo


def test_concurrent_callers_of_one_key_make_it_once():
    memo, made = SharedMemo(), []

    def make():
        made.append(1)
        time.sleep(0.05)
        return "model"

    got = []
    threads = [threading.Thread(target=lambda: got.append(memo.get_or_make("k", make))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["model"] * 8 and len(made) == 1


def test_bounded_and_a_failure_is_not_kept():
    memo = SharedMemo(maxsize=2)
    for k in "abc":
        memo[k] = k.upper()
    assert len(memo) == 2 and "a" not in memo and memo["c"] == "C"
    with pytest.raises(RuntimeError):
        memo.get_or_make("x", lambda: (_ for _ in ()).throw(RuntimeError("offline")))
    assert "x" not in memo and memo.get_or_make("x", lambda: 1) == 1
