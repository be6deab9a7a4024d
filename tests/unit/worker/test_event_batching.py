"""EventBatching: many buffered events, one flush per interval (a fake hub and consumer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from tests.helpers import wait_until
from worker import event_batching
from worker.event_batching import FLUSH_INTERVAL, EventBatching


class Hub:
    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []
        self.later: list[tuple[float, Callable[[], None]]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.later.append((delay, callback))

    def run_soon(self) -> None:
        callbacks, self.soon = self.soon, []
        for callback in callbacks:
            callback()


def consumer() -> Any:
    flushes: list[int] = []
    c = SimpleNamespace(
        hub=Hub(),
        event_dispatcher=SimpleNamespace(on_send_buffered=lambda: None),
        flushes=flushes,
    )
    c._flush_events = lambda: flushes.append(1)
    EventBatching(SimpleNamespace()).start(c)
    return c


def test_buffered_events_share_one_flush(monkeypatch: Any) -> None:
    clock = [100.0]
    monkeypatch.setattr(event_batching.time, "monotonic", lambda: clock[0])
    c = consumer()
    for _ in range(50):
        c.event_dispatcher.on_send_buffered()
    assert len(c.hub.soon) == 1  # one wake-up for fifty events
    c.hub.run_soon()
    assert c.flushes == [1]  # nothing flushed lately: at once

    for _ in range(50):
        c.event_dispatcher.on_send_buffered()
    clock[0] += FLUSH_INTERVAL / 5
    c.hub.run_soon()
    assert c.flushes == [1]  # too soon after the last: deferred
    ((delay, flush),) = c.hub.later
    assert 0 < delay <= FLUSH_INTERVAL
    flush()
    assert c.flushes == [1, 1]
    c.event_dispatcher.on_send_buffered()
    assert len(c.hub.soon) == 1  # armed again after the flush


def test_a_worker_without_events_is_left_alone() -> None:
    c = SimpleNamespace(hub=Hub(), event_dispatcher=None)
    EventBatching(SimpleNamespace()).start(c)
    assert c.event_dispatcher is None


def test_without_an_event_loop_task_events_are_buffered_and_flushed_once(
    monkeypatch: Any,
) -> None:
    """gevent's synloop has no hub: Celery would publish each event on its own. Here fifty
    buffered events start one flusher, which flushes once when its wait ends."""
    gate = threading.Event()
    monkeypatch.setattr(event_batching.time, "sleep", lambda _: gate.wait(10))
    flushes: list[int] = []
    c = SimpleNamespace(hub=None, event_dispatcher=SimpleNamespace(buffer_group=frozenset()))
    c._flush_events = lambda: flushes.append(1)
    EventBatching(SimpleNamespace()).start(c)
    assert c.event_dispatcher.buffer_group == {"task"}
    for _ in range(50):
        c.event_dispatcher.on_send_buffered()
    (flusher,) = [t for t in threading.enumerate() if t.name == "otpq-events"]
    gate.set()
    flusher.join(10)
    assert flushes == [1]
    c.event_dispatcher.on_send_buffered()  # armed again after the flush
    wait_until(lambda: flushes == [1, 1], what="a second flush")
