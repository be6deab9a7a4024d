"""Redis dies and comes back: producers fail fast meanwhile, workers reconnect by
themselves, persisted jobs are sent after it returns, and nothing is sent twice."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from producer.client import BrokerUnavailable, OtpClient
from producer.settings import Settings
from producer.stack.redis_server import RedisServer
from producer.stack.worker_process import WorkerProcess
from sandbox import PinpointSandbox, SandboxControl
from tests.integration.conftest import worker_env
from tests.system.resilience import (
    FAST_RECOVERY,
    JOB,
    Tally,
    destinations,
    enqueue,
    pinpoint,
    sandbox,
    wait_all,
    wait_for_sends,
)

__all__ = ["pinpoint", "sandbox"]  # fixtures

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

#: Short, so a hang would show as a pytest timeout long before the 60 s below.
REDIS_TIMEOUT = "1"


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    server = RedisServer(persist=True).start()
    yield server
    server.stop(keep_dir=True)
    shutil.rmtree(server.dir, ignore_errors=True)


def restart(server: RedisServer) -> RedisServer:
    """A new redis-server on the same port and directory, reading the same AOF."""
    return RedisServer(server.port, persist=True, directory=server.dir).start()


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_producer_gets_broker_unavailable_not_a_hang(
    persistent_redis: RedisServer, how: str
) -> None:
    """Killed: connections are refused. Frozen (SIGSTOP): the kernel still accepts
    connections and nothing ever answers — the case that hangs without timeouts."""
    client = OtpClient(
        Settings.from_env({"REDIS_URL": persistent_redis.url, "OTPQ_REDIS_TIMEOUT": REDIS_TIMEOUT})
    )
    job = client.send("+14255550142", **JOB)
    assert client.status(job).state == "queued"
    process = persistent_redis.process
    assert process is not None
    if how == "killed":
        persistent_redis.kill()
    else:
        process.send_signal(signal.SIGSTOP)
    try:
        for name, call in (
            ("send", lambda: client.send("+14255550143", **JOB)),
            ("status", lambda: client.status(job)),
            ("verify", lambda: client.verify("+14255550142", "123456", **JOB)),
        ):
            error, took = timed(call)
            print(f"{how} Redis: {name} raised {type(error).__name__} after {took:.2f}s")
            assert isinstance(error, BrokerUnavailable), error
            assert str(error).startswith("unavailable: ")
    finally:
        if how == "frozen":
            process.send_signal(signal.SIGCONT)
    back = persistent_redis if how == "frozen" else restart(persistent_redis)
    try:
        # The same client recovers by itself: the job queued before the outage survived.
        assert client.status(job).state == "queued"
        assert client.status(client.send("+14255550144", **JOB)).state == "queued"
    finally:
        client.close()
        if back is not persistent_redis:
            back.stop(keep_dir=True)


def test_jobs_queued_before_a_redis_crash_are_sent_after_it_returns(
    persistent_redis: RedisServer, sandbox: PinpointSandbox, pinpoint: SandboxControl
) -> None:
    env = worker_env(persistent_redis, sandbox, **FAST_RECOVERY)
    client = OtpClient(Settings.from_env(env))
    jobs = enqueue(client, destinations(20, first=1000))
    persistent_redis.kill()  # SIGKILL: no final save, only the append-only file
    server = restart(persistent_redis)
    try:
        with WorkerProcess(env, name="after-crash"):
            statuses = wait_all(client, jobs, timeout=60)
    finally:
        client.close()
        server.stop(keep_dir=True)
    assert {s.state for s in statuses.values()} == {"succeeded"}
    Tally.of(jobs, statuses, pinpoint).check(statuses)


def test_redis_restart_mid_load_loses_no_job_and_sends_none_twice(
    persistent_redis: RedisServer, sandbox: PinpointSandbox, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(latency_ms=50)
    env = worker_env(persistent_redis, sandbox, OTPQ_SEND_RATE="60", **FAST_RECOVERY)
    client = OtpClient(Settings.from_env(env))
    worker = WorkerProcess(env, name="redis-restart").start()
    server = persistent_redis
    try:
        jobs = enqueue(client, destinations(300, first=2000))
        wait_for_sends(pinpoint, 60)
        persistent_redis.kill()
        sent_while_down = len(pinpoint.outbox())
        time.sleep(2)  # the worker notices, its in-flight sends fail to record
        server = restart(persistent_redis)
        statuses = wait_all(client, jobs, timeout=150)
        assert worker.running(), "the worker must reconnect, not exit"
    finally:
        worker.stop()
        client.close()
        server.stop(keep_dir=True)

    tally = Tally.of(jobs, statuses, pinpoint)
    tally.report(f"Redis SIGKILL + restart mid-load ({sent_while_down} sent before)", statuses)
    assert set(statuses) == set(jobs)
    tally.check(statuses)
