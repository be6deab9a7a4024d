"""A fresh send's message is acked in the round trip that records its outcome.

With late acks, Celery acks a job's message once the task has returned: for kombu's
Redis transport that is one more MULTI/EXEC round trip (drop the delivery from the
`unacked` hash and its index), made on the consumer's own thread. A send that has just
recorded its claim's outcome and stored its result is finished: nothing a redelivery
would do differs from replaying that outcome. So the same pipeline removes the delivery
from the unacked set (`ack_into`), and when Celery then acks, the transport only
updates its in-memory bookkeeping (worker/broker.py QoS.ack, `take`).

If the worker dies after that pipeline and before Celery's ack, the message is simply
gone from Redis, as it would be a moment later: its outcome and result are stored. A
delivery whose pipeline failed is not marked, and Celery's ack goes to Redis as usual.
Only the consumer's own channel names the keys (`use_keys`); with kombu's
`global_keyprefix` (which otpq does not set) nothing is acked early.
"""

from __future__ import annotations

from typing import Any

_keys: tuple[str, str] | None = None
#: Delivery tags whose unacked record this process has already removed.
_acked: set[str] = set()


def use_keys(unacked: str, unacked_index: str) -> None:
    """The consuming channel's unacked hash and index (kombu's `unacked_key`,
    `unacked_index_key`)."""
    global _keys
    _keys = (unacked, unacked_index)


def forget_keys() -> None:
    global _keys
    _keys = None


def ack_into(pipe: Any, delivery_tag: object) -> bool:
    """Queue the delivery's ack on `pipe`; False when it cannot be acked early."""
    if _keys is None or not isinstance(delivery_tag, str) or not delivery_tag:
        return False
    unacked, index = _keys
    pipe.zrem(index, delivery_tag)
    pipe.hdel(unacked, delivery_tag)
    return True


def acked(delivery_tag: str) -> None:
    """The pipeline holding `ack_into`'s commands went through."""
    _acked.add(delivery_tag)


def take(delivery_tag: str) -> bool:
    """Whether the delivery was acked early (and forget it)."""
    try:
        _acked.remove(delivery_tag)
    except KeyError:
        return False
    return True
