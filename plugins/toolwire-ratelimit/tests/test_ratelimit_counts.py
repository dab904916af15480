"""The in-process counts: the same answers as ``limits``' own memory storage, at a fraction of the cost."""

from __future__ import annotations

import math
import random
import threading
import time

import limits
import limits.storage
import limits.strategies
import pytest
from toolwire_ratelimit._backends import MemoryBackend
from toolwire_ratelimit._settings import STRATEGIES, Strategy

#: ``limits``' strategies over its ``MemoryStorage``: the reference the counts must agree with.
REFERENCE = {
    "moving-window": limits.strategies.MovingWindowRateLimiter,
    "fixed-window": limits.strategies.FixedWindowRateLimiter,
    "sliding-window-counter": limits.strategies.SlidingWindowCounterRateLimiter,
}


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_counts_agree_with_limits_hit_by_hit(
    strategy: Strategy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each strategy allows and refuses exactly the hits limits' memory storage does, with the
    same retry_after, over uneven gaps, across window boundaries, for several keys."""
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    storage = limits.storage.MemoryStorage()
    reference = REFERENCE[strategy](storage)
    ours = MemoryBackend(strategy)
    items = [limits.parse("3/2 seconds"), limits.parse("5/minute"), limits.parse("1/second")]
    keys = [("lookup", "user", "*"), ("lookup", "admin", "*"), ("search", "user", "alice")]
    chooser = random.Random(26)
    answers = {True: 0, False: 0}
    try:
        for _ in range(2_000):
            # Never exactly on a window's edge, where limits' own answer depends on whether
            # its expiry thread ran first.
            clock.now += (
                chooser.choice([0.0, 0.01, 0.1, 0.3, 0.7, 1.3, 2.9]) + chooser.random() / 997
            )
            item, key = chooser.choice(items), chooser.choice(keys)
            allowed = reference.hit(item, *key)
            expected = (
                None
                if allowed
                else max(
                    0, math.ceil(reference.get_window_stats(item, *key).reset_time - clock.now)
                )
            )
            assert ours.hit_now(item, *key) == expected, (strategy, str(item), key, clock.now)
            answers[allowed] += 1
    finally:
        storage.timer.cancel()
    assert min(answers.values()) > 100, "the sequence must both allow and refuse often"


def test_counts_nobody_hits_any_more_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A count whose window holds no call is dropped, so a principal seen once costs no memory
    for ever."""
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    backend = MemoryBackend("moving-window")
    item = limits.parse("2/minute")
    for principal in range(1_000):
        assert backend.hit_now(item, "lookup", "user", str(principal)) is None
    clock.now += 61
    assert backend.hit_now(item, "lookup", "user", "new") is None
    assert len(backend._counts) == 1


def test_a_moving_window_keeps_no_more_than_its_limit() -> None:
    """A moving window holds at most N call times, however many calls are refused or made."""
    backend = MemoryBackend("moving-window")
    item = limits.parse("5/hour")
    answers = [backend.hit_now(item, "lookup", "user", "*") for _ in range(10_000)]
    assert answers[:5] == [None] * 5 and all(a is not None and a > 0 for a in answers[5:])
    (count,) = backend._counts.values()
    assert len(count[1]) == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_counting_starts_no_thread(strategy: Strategy) -> None:
    """Counting in process starts no thread of its own (limits' memory storage starts a timer
    thread every 10 ms to expire entries)."""
    before = set(threading.enumerate())
    backend = MemoryBackend(strategy)
    item = limits.parse("1000/second")
    for _ in range(100):
        backend.hit_now(item, "lookup", "user", "*")
    assert set(threading.enumerate()) == before
