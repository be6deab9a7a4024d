"""Task events still reach a monitor (Flower's receiver) when the worker batches them:
on its event loop (threads) and without one (gevent)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["threads", "gevent"])
def worker(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    start_module_worker: Workers,
) -> Iterator[WorkerProcess]:
    env = worker_env(redis_server, sandbox)
    with start_module_worker.running(env, f"events-{request.param}", pool=request.param) as w:
        yield w


def test_every_task_event_still_arrives(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl, redis_url: str
) -> None:
    app = Celery(broker=redis_url)
    seen: list[dict[str, Any]] = []
    subscribed, done = threading.Event(), threading.Event()
    ids: set[str] = set()
    receivers: list[Any] = []

    def on_event(event: dict[str, Any]) -> None:
        subscribed.set()  # the worker's heartbeats arrive: nothing sent from now is missed
        seen.append(event)
        finished = {e["uuid"] for e in seen if e["type"] == "task-succeeded"}
        if ids and ids <= finished:
            done.set()
            receivers[0].should_stop = True

    def listen() -> None:
        with app.connection() as conn:
            receivers.append(app.events.Receiver(conn, handlers={"*": on_event}))
            receivers[0].capture(limit=None, timeout=30, wakeup=False)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert subscribed.wait(15), "no worker heartbeat reached the receiver"
    numbers = [f"+1425555{i:04d}" for i in range(20)]
    ids.update(client.send(n, "Events", "Batching") for n in numbers)
    assert done.wait(30), "not every task-succeeded event arrived"
    thread.join(10)
    for job in ids:
        kinds = {e["type"] for e in seen if e.get("uuid") == job}
        assert {"task-received", "task-started", "task-succeeded"} <= kinds, kinds
    app.close()
