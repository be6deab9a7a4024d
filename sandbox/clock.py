"""The sandbox's notion of "now": wall time plus an offset tests can advance.

Advancing instead of sleeping lets expiry tests run in milliseconds. Only OTP lifetimes
and outbox times follow this clock; rate limits and stats use real time, because they
describe how fast clients really called.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds, shifted by every ``advance`` since the last ``reset``."""
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
