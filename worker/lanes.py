"""A worker that serves both lanes serves logins first.

kombu's Redis transport asks for its next message with one BRPOP over every queue the
worker consumes, rotating their order after each message (round robin), and Celery asks
only while the worker holds fewer messages than it has slots. Behind a campaign, a
general worker's slots fill with bulk jobs (sleeping for a token, or waiting on AWS),
and a login waits for one of them to end, then for its queue's turn.

Two rules, applied by the transport (worker/broker.py) each time it asks Redis:

- **Order.** The interactive lane, then Celery's default queue (whose jobs run as
  interactive, worker/routing.py), then any other queue, then the bulk lane: always in
  that order. BRPOP pops from the first non-empty list it names, so whenever a slot
  frees, a waiting login is the message it gets.
- **Slots.** A worker consuming the bulk lane beside an interactive one holds at most
  `slots - reserved` bulk messages. At that bound it asks for the other queues only, so
  `reserved` slots are always there for logins, whatever the backlog. While it asks
  without the bulk lane, its BRPOP lasts BULK_RECHECK seconds instead of kombu's one
  second: a bulk slot that frees is refilled that soon.

A bulk-only worker has nothing to reserve slots for; a worker with one slot (the solo
pool) cannot reserve any, and gets the order rule alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from otpq_core.wire import BULK, INTERACTIVE, UNROUTED

#: Seconds a BRPOP that leaves out the bulk lane waits before the worker asks again
#: (Redis 6+ takes fractional timeouts): at most this long a freed bulk slot stays empty.
BULK_RECHECK = 0.02
#: Share of a general worker's slots kept for the interactive lane when
#: OTPQ_INTERACTIVE_SLOTS is unset (at least one, when the worker has two or more).
DEFAULT_RESERVED_SHARE = 0.25

_RANK = {INTERACTIVE: 0, UNROUTED: 1, BULK: 3}
_OTHER = 2


def order(queues: Iterable[str]) -> list[str]:
    """Queues in the order a worker asks Redis for them (stable within a rank)."""
    return sorted(queues, key=lambda queue: _RANK.get(queue, _OTHER))


def is_bulk(delivery_info: Mapping[str, Any] | None) -> bool:
    """A delivered message of the bulk lane: the routing key picks the lane on every otpq
    exchange (otpq_core.celery_config.lane_bindings), as the tasks read it."""
    return bool(delivery_info) and delivery_info.get("routing_key") == BULK  # type: ignore[union-attr]


def reserved_slots(slots: int, configured: int | None) -> int:
    """Slots kept for the interactive lane on a worker with `slots` slots: the setting, or
    a quarter (at least one); never every slot, so bulk work always has one."""
    if slots < 2:
        return 0
    wanted = configured if configured is not None else max(1, int(slots * DEFAULT_RESERVED_SHARE))
    return max(0, min(wanted, slots - 1))


class LaneCycle:
    """kombu's queue cycle (`update`, `consume`, `rotate`), in lane order, leaving out the
    bulk lane while `bulk_full()` says the worker holds its share of bulk messages."""

    def __init__(self, bulk_full: Callable[[], bool]) -> None:
        self.items: list[str] = []
        self._bulk_full = bulk_full
        #: Whether the last `hold_back` left the bulk lane out.
        self.holding = False

    def update(self, items: Iterable[str]) -> None:
        self.items = order(items)

    def hold_back(self) -> bool:
        """Decide, for the next `consume`, whether to leave the bulk lane out: only when
        the worker is at its bulk bound and has another queue to ask."""
        self.holding = BULK in self.items and len(self.items) > 1 and self._bulk_full()
        return self.holding

    def consume(self, n: int) -> list[str]:
        queues = self.items[:n]
        if self.holding:
            return [q for q in queues if q != BULK]
        return queues

    def rotate(self, last_used: str) -> None:
        """The order is fixed: nothing rotates."""
