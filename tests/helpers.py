"""The one way a test waits for state: poll a condition until it holds, with a bound.

Tests never sleep a guessed time for state to settle (a guess is either slow or flaky
under load); they name the condition and wait for it, and a timeout fails with `what`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two looks: short enough not to slow a test, long enough to stay cheap.
POLL_INTERVAL = 0.05


def wait_until(predicate: Callable[[], T], timeout: float = 30, what: str = "the condition") -> T:
    """The first truthy value `predicate` returns; AssertionError naming `what` (and the
    last value seen) if none within `timeout` seconds. An exception from `predicate` ends
    the wait at once: a test that expects one should catch it in the predicate."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(POLL_INTERVAL)


class RedisClock:
    """fakeredis' clock, moved by the test: keys expire when it says, not in real time.
    Only fakeredis reads it; everything else still reads the real `time`."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
