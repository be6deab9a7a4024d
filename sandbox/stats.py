"""What clients actually did: counts by status, accepted-request times, concurrency.

Rate-limit tests read ``max_per_second`` (or recompute windows from ``accepted_times``,
epoch seconds) to prove a fleet stayed under its quota; ``max_in_flight`` proves slow
answers did not serialize clients; ``connections`` proves keep-alive reuse.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.backends import BACKEND_OF

OPERATIONS = tuple(BACKEND_OF)
THROTTLED = 429


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """Most timestamps inside any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class _OperationStats:
    received: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    accepted_times: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "accepted": len(self.accepted_times),
            "max_per_second": max_per_window(self.accepted_times),
            "accepted_times": list(self.accepted_times),
            "max_in_flight": self.max_in_flight,
        }


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._ops = {name: _OperationStats() for name in (*OPERATIONS, "all")}
            self._connections = 0

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    @contextmanager
    def request(self, operation: str) -> Iterator[None]:
        """Count one request as in flight for the duration of the block."""
        with self._lock:
            for op in (self._ops[operation], self._ops["all"]):
                op.received += 1
                op.in_flight += 1
                op.max_in_flight = max(op.max_in_flight, op.in_flight)
        try:
            yield
        finally:
            with self._lock:
                for op in (self._ops[operation], self._ops["all"]):
                    op.in_flight -= 1

    def answered(self, operation: str, status: int, at: float) -> None:
        """Record the answer; every status but 429 counts as accepted at time ``at``."""
        with self._lock:
            for op in (self._ops[operation], self._ops["all"]):
                op.by_status[status] += 1
                if status != THROTTLED:
                    op.accepted_times.append(at)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "operations": {name: self._ops[name].to_json() for name in OPERATIONS},
                "all": self._ops["all"].to_json(),
                "connections": self._connections,
            }
