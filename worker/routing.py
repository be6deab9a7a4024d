"""What a worker consumes, and the exchange bindings it leaves in Redis.

Two ways a job published another standard way went wrong (docs/guarantees.md):

- A client that enqueues by name without `queue=` (celery-node's default) publishes to
  Celery's default queue, `celery`. A worker that serves the interactive lane consumes
  it too, whatever `-Q` says, and runs its jobs as interactive: no job waits there, its
  plaintext kwargs with it, for a consumer that never comes.
- kombu's Redis transport keeps each exchange's bindings in a set,
  `_kombu.binding.<exchange>`, members `routing_key␆␖pattern␆␖queue`. Before each
  lane had its own exchange, both lanes were bound to `otp.interactive` with key
  `otp.interactive`; such a member outlives the deploy that made it, and a job
  published through the exchange would still reach both queues. A worker, once
  connected, declares the current layout (otpq_core.celery_config.lane_bindings: the
  routing key picks the lane on either lane's exchange) and removes every other binding
  of an otpq queue on an otpq exchange.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from otpq_core.celery_config import lane_bindings, unrouted_queue
from otpq_core.wire import INTERACTIVE, SERVED_QUEUES, UNROUTED

log = logging.getLogger(__name__)


@signals.celeryd_after_setup.connect
def _serve_unrouted(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """After `-Q` is applied: a worker of the interactive lane also consumes `celery`."""
    queues = instance.app.amqp.queues
    if INTERACTIVE in queues.consume_from and UNROUTED not in queues.consume_from:
        queues.select_add(unrouted_queue())


def declared_bindings(app: Any) -> dict[str, set[tuple[str, str]]]:
    """exchange → {(routing key, queue)}: the app's queues' own, and the lane bindings."""
    out: dict[str, set[tuple[str, str]]] = {}
    for queue in app.amqp.queues.values():
        if queue.exchange is not None and queue.exchange.name:
            out.setdefault(queue.exchange.name, set()).add((queue.routing_key, queue.name))
    for exchange, routing_key, queue_name in lane_bindings():
        out.setdefault(exchange, set()).add((routing_key, queue_name))
    return out


def declare_lane_bindings(channel: Any) -> None:
    """Bind each lane on every lane's exchange by its own key (idempotent)."""
    for exchange, routing_key, queue in sorted(lane_bindings()):
        channel.exchange_declare(exchange=exchange, type="direct", durable=True)
        channel.queue_declare(queue=queue, durable=True)
        channel.queue_bind(queue=queue, exchange=exchange, routing_key=routing_key)


def prune_stale_bindings(app: Any, channel: Any) -> int:
    """Remove bindings of otpq queues on otpq exchanges that the layout does not declare.

    Bindings of other queues (another application's) are left alone. Returns how many
    were removed."""
    prefix = getattr(channel, "keyprefix_queue", None)
    permanent = getattr(channel, "keyprefix_binding_permanent", None)
    sep = getattr(channel, "sep", None)
    if not prefix or not sep:
        return 0  # not kombu's Redis transport
    client = channel.client
    declared = declared_bindings(app)
    removed = 0
    for exchange in SERVED_QUEUES:
        key = prefix % (exchange,)
        for raw in client.smembers(key):
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            parts = member.split(sep)
            if len(parts) != 3 or parts[2] not in SERVED_QUEUES:
                continue
            routing_key, _, queue = parts
            if (routing_key, queue) in declared.get(exchange, set()):
                continue
            client.srem(key, member)
            if permanent:
                client.srem(permanent % (exchange,), member)
            removed += 1
            log.warning(
                "removed a stale binding: exchange %s, routing key %s -> queue %s "
                "(left by an older otpq; it delivered jobs twice)",
                exchange,
                routing_key,
                queue,
            )
    return removed


@signals.worker_ready.connect
def _prune_on_start(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None:
        return
    try:
        with app.connection_for_write() as conn:
            declare_lane_bindings(conn.default_channel)
            prune_stale_bindings(app, conn.default_channel)
    except Exception as exc:  # never keep a worker from serving over housekeeping
        log.warning("could not check exchange bindings: %s", type(exc).__name__)
