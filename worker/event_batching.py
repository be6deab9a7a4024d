"""Task events leave the worker in batches, at most every FLUSH_INTERVAL seconds.

Celery buffers a worker's task events (received, started, succeeded...) and asks its
event loop to publish the buffer on the very next turn: at a few hundred jobs a second
that is one Redis PUBLISH for every job or two, a tenth of the worker's CPU (py-spy,
bench/throughput.py). Waiting FLUSH_INTERVAL first puts a few dozen events in each
`task.multi` message. Flower shows them that much later; nothing else reads them.
Celery still flushes at once when a buffer reaches its limit, and on shutdown.

Without an event loop (`-P gevent`: Celery's synloop) Celery buffers nothing and
publishes every event as it is sent, three round trips a job; there the task events are
buffered too, and a short-lived thread (a greenlet, under gevent) flushes them
FLUSH_INTERVAL after the first.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import bootsteps

#: Longest an event waits in the worker before it is published.
FLUSH_INTERVAL = 0.05


class EventBatching(bootsteps.StartStopStep):
    """Consumer step: replaces the event dispatcher's "flush on the next turn" hook."""

    requires = ("celery.worker.consumer.events:Events",)

    def start(self, c: Any) -> None:
        dispatcher, hub = getattr(c, "event_dispatcher", None), getattr(c, "hub", None)
        if dispatcher is None:
            return
        if hub is None:
            _batch_without_loop(c, dispatcher)
            return
        if dispatcher.on_send_buffered is None:
            return
        state = {"armed": False, "last": 0.0}

        def flush() -> None:  # on the event loop's thread
            state["armed"] = False
            state["last"] = time.monotonic()
            c._flush_events()

        def schedule() -> None:  # on the event loop's thread
            due = state["last"] + FLUSH_INTERVAL - time.monotonic()
            if due <= 0:
                flush()
            else:
                hub.call_later(due, flush)

        def on_buffered() -> None:  # on any thread: only the loop touches its timer
            if not state["armed"]:
                state["armed"] = True
                hub.call_soon(schedule)

        dispatcher.on_send_buffered = on_buffered


def _batch_without_loop(c: Any, dispatcher: Any) -> None:
    """Buffer task events and flush them FLUSH_INTERVAL after the first, from a thread of
    its own (Celery's dispatcher flushes under its mutex: safe from any thread)."""
    dispatcher.buffer_group = frozenset({"task"})
    lock = threading.Lock()
    armed = [False]

    def flush_soon() -> None:
        time.sleep(FLUSH_INTERVAL)
        with lock:
            armed[0] = False
        c._flush_events()

    def on_buffered() -> None:
        with lock:
            if armed[0]:
                return
            armed[0] = True
        threading.Thread(target=flush_soon, name="otpq-events", daemon=True).start()

    dispatcher.on_send_buffered = on_buffered
