"""kombu's Redis transport, hardened against items that are not kombu messages.

Anyone who can write to Redis can LPUSH anything into `otp.interactive`. Stock kombu
pops the item and parses it inside the worker's event loop: an item that is not JSON,
or JSON that is not a message envelope, raises there and stops the worker with
"Unrecoverable error" (and a fleet of workers, one after the other). Here such an
item is dropped with a warning naming only its queue and size — its bytes may hold
a phone number or a code. Well-formed envelopes go on as usual: Celery itself
refuses content types other than JSON (pickle included) and discards them.

It also keeps a lost connection from killing the worker: when Redis goes away while
the worker holds messages, Celery closes the channel, kombu tries to put the held
messages back and, about one time in ten, builds a new connection pool from a
connection object already released — `AttributeError: 'NoneType' object has no
attribute 'hostname'`, "Unrecoverable error", and the worker stops consuming for
good. Here that is the connection error it is (`Channel._connparams`), which Celery
handles by reconnecting; the held messages stay in Redis's unacked set and come back
through the visibility timeout.

And it keeps one Redis client per connection pool: stock kombu builds a new
`redis.Redis` for every ack, every prefetch bookkeeping write and every event
published, and redis-py fills a dict of a few hundred response callbacks in each
constructor — a tenth of a busy worker's CPU (py-spy, `bench/throughput.py`).

And it keeps a lost connection from losing the message it was delivering: kombu pops a
message (BRPOP) and only then records it as unacked, in a second round trip. A
connection dropped in between — a failover's clients killed, a Redis restart — leaves
the message in neither place. Here it is kept in memory and pushed back to its queue
as soon as the channel polls again (tests/system/test_sentinel.py hits this window).

And it asks Redis for the lanes in order, keeping slots for logins (worker/lanes.py):
the interactive lane first, the bulk lane last and only while the worker holds fewer
bulk messages than its slots less the ones kept for logins.

With a `sentinel://` broker URL the same hardening rides on kombu's SentinelChannel,
which asks the sentinels for the current master (`master_name` transport option, set
by otpq_core.celery_config) and follows it after a failover.

Registered for the redis, rediss and sentinel schemes in worker.app; producers never
consume, so they keep the stock transport.

The clients built here are kombu's own (`super()._create_client()` over kombu's pool):
they stay outside otpq_core.redis_factory, which builds otpq's clients.

Without an event loop (`-P gevent`: Celery's synloop calls `drain_events` instead of
registering the transport with its hub) kombu's Redis transport falls short three ways,
each of which kept jobs from finishing:

- Celery acks on the task's own greenlet, so two hundred greenlets ack at once through a
  pool of `max_connections` (10): kombu's pool raises "Too many connections", the ack is
  lost (its message waits in the unacked set and keeps a prefetch slot until the channel
  goes), and the consumer's own bookkeeping fails the same way and drops the connection.
  Here a caller waits for a free connection instead (`_WaitsForConnection`).
- With every prefetch slot taken, the consumer sleeps (or polls an idle socket) for up
  to two seconds whatever the pool does: a worker takes `-c` jobs per two seconds, and
  a backlog drains that slowly. Here an ack wakes it (`Poller.credit`).
- The unacked set is swept for messages whose delivery was cut short (a worker killed
  mid-job, an ack or restore lost with the connection) only by the event loop's timer:
  such a message was never delivered again. Here the poller sweeps on the same period.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from time import monotonic
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from worker import early_acks
from worker.lanes import BULK_RECHECK, LaneCycle, is_bulk

logger = logging.getLogger(__name__)


def is_envelope(message: object) -> bool:
    """The shape kombu's virtual `Message` reads without raising."""
    if not isinstance(message, dict):
        return False
    properties = message.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"), str):
        return False
    if not isinstance(properties.get("delivery_info", {}), dict):
        return False
    headers = message.get("headers")
    body = message.get("body")
    return (headers is None or isinstance(headers, dict)) and isinstance(body, str | type(None))


#: (payload, exchange, routing key) of messages popped whose unacked record failed.
#: Process-wide: Celery builds a new channel when it reconnects.
_undelivered: deque[tuple[dict[str, Any], str, str]] = deque()


class QoS(kombu_redis.QoS):
    """kombu's ack emulation, also counting the bulk-lane messages held (worker/lanes.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Delivery tags of bulk-lane messages delivered and not yet acked or rejected.
        #: Touched on the consumer's loop (Celery acks there), or its greenlets under gevent.
        self.bulk_tags: set[str] = set()

    def append(self, message: Any, delivery_tag: str) -> None:
        try:
            super().append(message, delivery_tag)
        except (redis.ConnectionError, redis.TimeoutError):
            info = message.delivery_info
            _undelivered.append((message._raw, info["exchange"], info["routing_key"]))
            raise
        if is_bulk(message.delivery_info):
            self.bulk_tags.add(delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if early_acks.take(delivery_tag):
            # Its unacked record went with its outcome (worker/early_acks.py).
            virtual.QoS.ack(self, delivery_tag)
        else:
            super().ack(delivery_tag)
        self.bulk_tags.discard(delivery_tag)
        self._freed_slot()

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().reject(delivery_tag, requeue=requeue)
        self.bulk_tags.discard(delivery_tag)
        self._freed_slot()

    def restore_unacked(self, client: Any = None) -> None:
        super().restore_unacked(client)
        self.bulk_tags.clear()

    def _freed_slot(self) -> None:
        """A prefetch slot is free: wake a consumer waiting for one (`Poller.get`)."""
        credit = getattr(getattr(self.channel.connection, "cycle", None), "credit", None)
        if credit is not None:
            credit.set()


class _WaitsForConnection:
    """Mixed into a channel's redis-py pool (plain or Sentinel): when all
    `max_connections` are in use, a caller waits up to `wait_timeout` seconds for one to
    be released instead of failing at once with MaxConnectionsError."""

    max_connections: int
    wait_timeout: float
    _freed: threading.Condition
    _released: int

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        give_up = monotonic() + self.wait_timeout
        while True:
            with self._freed:
                seen = self._released
            try:
                return super().get_connection(*args, **kwargs)  # type: ignore[misc]
            except redis.exceptions.MaxConnectionsError:
                with self._freed:
                    while self._released == seen:  # none released since this try
                        left = give_up - monotonic()
                        if left <= 0:
                            raise
                        self._freed.wait(left)

    def release(self, connection: Any) -> None:
        try:
            super().release(connection)  # type: ignore[misc]
        finally:
            with self._freed:
                self._released += 1
                self._freed.notify()


_waiting_classes: dict[type, type] = {}


def wait_for_connections(pool: Any, timeout: float) -> Any:
    """Make `pool` (built by kombu or by redis-py's Sentinel) wait for a free connection."""
    cls = type(pool)
    if not issubclass(cls, _WaitsForConnection):
        if cls not in _waiting_classes:
            name, bases = f"Waiting{cls.__name__}", (_WaitsForConnection, cls)
            _waiting_classes[cls] = type(name, bases, {"__module__": __name__})
        pool.__class__ = _waiting_classes[cls]
    pool._freed = threading.Condition()
    pool._released = 0
    pool.wait_timeout = timeout
    return pool


class Poller(kombu_redis.MultiChannelPoller):
    """kombu's poller, with what its event loop would otherwise do when none drives it
    (Celery's synloop under `-P gevent`: `drain_events` calls `get` in a loop)."""

    def __init__(self) -> None:
        super().__init__()
        #: Set when an ack or reject frees a prefetch slot.
        self.credit = threading.Event()
        self._last_sweep = float("-inf")

    def get(self, callback: Any, timeout: float | None = None) -> Any:
        self.maybe_restore_messages()
        self.credit.clear()
        if self._starved():
            # kombu would sleep or poll an idle socket here for up to `timeout`
            # (synloop: 2 s), whatever the pool acks meanwhile: wait for a free slot.
            self.credit.wait(1.0 if timeout is None else min(timeout, 1.0))
            if self._starved():
                timeout = 0  # kombu's own bookkeeping, then back here to wait again
        return super().get(callback, timeout)

    def _starved(self) -> bool:
        """Every channel consuming a queue has all its prefetch slots taken."""
        consuming = [channel for channel in self._channels if channel.active_queues]
        return bool(consuming) and not any(channel.qos.can_consume() for channel in consuming)

    def maybe_restore_messages(self) -> Any:
        """Sweep the unacked set at most every half `unacked_restore_interval`: on the
        event loop's timer (every interval), and from `get` without one."""
        interval = min(
            (getattr(ch, "unacked_restore_interval", 10) for ch in self._channels), default=10
        )
        now = monotonic()
        if now - self._last_sweep < interval / 2:
            return None
        self._last_sweep = now
        try:
            return super().maybe_restore_messages()
        except redis.exceptions.ResponseError:  # a full noeviction server: BRPOP goes on
            logger.warning("unacked sweep refused by Redis; trying again next period")
            return None


class _Hardened:
    """What otpq adds to a kombu Redis channel, plain or Sentinel."""

    QoS = QoS
    #: Transport option (set by the worker, worker/pools.py): messages a worker that
    #: consumes both lanes keeps for the interactive lanes. 0: no bulk bound.
    interactive_slots = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lane order instead of kombu's round robin (worker/lanes.py).
        cycle = LaneCycle(self._bulk_full)
        cycle.update(self._queue_cycle.items)
        self._queue_cycle = cycle
        if not getattr(self, "global_keyprefix", None):
            early_acks.use_keys(self.unacked_key, self.unacked_index_key)

    def _bulk_full(self) -> bool:
        """The worker holds its share of bulk messages: the rest is for logins."""
        reserved, held = int(self.interactive_slots or 0), self.qos.prefetch_count
        return bool(reserved and held) and len(self.qos.bulk_tags) >= held - reserved

    def _brpop_start(self, timeout: float | None = None) -> Any:
        while _undelivered:  # a connection error here reconnects and tries again
            payload, exchange, routing_key = _undelivered[0]
            self._do_restore_message(payload, exchange, routing_key, self.client)
            _undelivered.popleft()
            logger.warning("put back a message whose delivery a lost connection cut short")
        if self._queue_cycle.hold_back() and timeout is None:
            timeout = BULK_RECHECK
        return super()._brpop_start(timeout)

    _sync_client: redis.Redis | None = None

    def _get_pool(self, asynchronous: bool = False) -> Any:
        """The synchronous pool (acks, unacked records, sweeps) waits for a free connection
        rather than failing: under gevent every task greenlet acks on its own."""
        pool = super()._get_pool(asynchronous=asynchronous)
        if asynchronous:  # BRPOP's: one connection, the consumer's
            return pool
        return wait_for_connections(pool, timeout=max(1.0, float(self.socket_timeout or 5)))

    def _create_client(self, asynchronous: bool = False) -> Any:
        """Reuse the client while its pool lives: a client is a thread-safe view of it."""
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if getattr(self.connection, "client", None) is None:  # released: connection gone
            raise redis.ConnectionError("the broker connection was closed")
        return dict(super()._connparams(asynchronous=asynchronous))

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            # Only what the item's own bytes raise: any other ValueError (a socket closed
            # under another greenlet: "I/O operation on closed file") is the connection's
            # trouble, and kombu's handling of it keeps the item.
            logger.warning("dropped an item that is not a message from a queue: %s", type(exc))
            return True


class Channel(_Hardened, kombu_redis.Channel):
    from_transport_options = (*kombu_redis.Channel.from_transport_options, "interactive_slots")


class SentinelChannel(_Hardened, kombu_redis.SentinelChannel):
    from_transport_options = (
        *kombu_redis.SentinelChannel.from_transport_options,
        "interactive_slots",
    )


class Transport(kombu_redis.Transport):
    Channel: type[kombu_redis.Channel] = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        # worker.app registers this class for every Redis scheme, so the scheme
        # picks the channel, as kombu's own `sentinel://` transport would.
        if any(url.lower().startswith("sentinel://") for url in client.alt or [client.hostname]):
            self.Channel = SentinelChannel
            self.default_port = kombu_redis.SentinelTransport.default_port
        super().__init__(client, **kwargs)
        self.cycle = Poller()

    def _deliver(self, message: Any, queue: str) -> None:
        if not is_envelope(message):
            logger.warning(
                "dropped a malformed message (%d bytes) from %s", len(repr(message)), queue
            )
            return
        super()._deliver(message, queue)
