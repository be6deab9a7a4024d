"""A thread-safe token bucket: Pinpoint's account quota, shared by both OTP operations."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``; starts full, like a fresh quota."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token if there is one; a refused request spends nothing."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
