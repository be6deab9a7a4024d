"""Issued codes, keyed like their backend keys them.

Pinpoint keys by application, destination and reference id; Notify by destination and
reference id. Each backend has its own store, so a code never crosses over. A code dies
when it is verified, when it expires, or when its wrong attempts run out; a new send for
the same key replaces it, so only the latest code ever verifies.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from sandbox.clock import Clock

#: Pinpoint: (application id, destination, reference id); Notify: (destination, reference id)
OtpKey = tuple[str, ...]

DIGITS = "0123456789"


@dataclass
class _Entry:
    code: str
    expires_at: float
    attempts_left: int


class OtpStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[OtpKey, _Entry] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        key: OtpKey,
        code_length: int,
        validity_minutes: int,
        allowed_attempts: int,
        alphabet: str = DIGITS,
    ) -> str:
        """Generate a fresh code for ``key`` from ``alphabet``, replacing any earlier one."""
        code = "".join(secrets.choice(alphabet) for _ in range(code_length))
        expires_at = self._clock.now() + validity_minutes * 60
        with self._lock:
            self._entries[key] = _Entry(code, expires_at, allowed_attempts)
        return code

    def verify(self, key: OtpKey, otp: str) -> bool:
        """True exactly once for the live code; every other answer is False."""
        now = self._clock.now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            if now >= entry.expires_at:
                del self._entries[key]
                return False
            if secrets.compare_digest(entry.code, otp):
                del self._entries[key]
                return True
            entry.attempts_left -= 1
            if entry.attempts_left <= 0:
                del self._entries[key]
            return False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
