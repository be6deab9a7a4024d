"""Redis dies and comes back: producers fail fast meanwhile, workers reconnect by
themselves, persisted jobs are sent after it returns, and nothing is sent twice."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from otpq_core.settings import Settings
from otpq_core.wire import QUEUES
from otpq_local.redis_server import RedisServer
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import OTP_KEY, worker_env
from tests.system.resilience import (
    FAST_RECOVERY,
    JOB,
    Tally,
    destinations,
    enqueue,
    wait_all,
    wait_for_sends,
)

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
        Settings.from_env(
            {
                "REDIS_URL": persistent_redis.url,
                "OTPQ_REDIS_TIMEOUT": REDIS_TIMEOUT,
                "OTPQ_OTP_KEYS": OTP_KEY,
            }
        )
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
    persistent_redis: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    env = worker_env(persistent_redis, sandbox, **FAST_RECOVERY)
    client = OtpClient(Settings.from_env(env))
    jobs = enqueue(client, destinations(20, first=1000))
    persistent_redis.kill()  # SIGKILL: no final save, only the append-only file
    server = restart(persistent_redis)
    try:
        with start_worker.running(env, "after-crash"):
            statuses = wait_all(client, jobs, timeout=60)
    finally:
        client.close()
        server.stop(keep_dir=True)
    assert {s.state for s in statuses.values()} == {"succeeded"}
    Tally.of(jobs, statuses, pinpoint).check(statuses)


def settle(
    client: OtpClient, server: RedisServer, jobs: dict[str, str], timeout: float
) -> tuple[dict[str, JobStatus], set[str]]:
    """Poll until every job is terminal, or until the rest can never run: no queue
    and no worker holds them (kombu's unacked set is empty). Returns (done, lost)."""
    done: dict[str, JobStatus] = {}
    deadline = time.monotonic() + timeout
    broker = redis.Redis.from_url(server.url)
    try:
        while True:
            for job in set(jobs) - set(done):
                status = client.status(job)
                if status.done:
                    done[job] = status
            pending = set(jobs) - set(done)
            if not pending:
                return done, set()
            idle = not broker.hlen("unacked") and not any(broker.llen(q) for q in QUEUES)
            if idle and all(not client.status(job).done for job in pending):
                return done, pending
            if time.monotonic() > deadline:
                pytest.fail(f"{len(pending)} jobs neither terminal nor lost after {timeout}s")
            time.sleep(0.2)
    finally:
        broker.close()


@pytest.mark.parametrize("how", ["restarted", "crashed"])
def test_redis_restart_mid_load_sends_none_twice(
    persistent_redis: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    how: str,
    start_worker: Workers,
) -> None:
    """Restarted (SIGTERM, then start) or crashed (SIGKILL): a message being handed to
    a worker at that instant can be lost — kombu moves it from the queue (BRPOP) to
    its unacked set (HSET) in two round trips (docs/guarantees.md; seen in about one
    run in three, one message each time). Everything else ends terminal, nothing is
    sent twice, and a lost job was never sent."""
    pinpoint.set_faults(latency_ms=50)
    env = worker_env(persistent_redis, sandbox, OTPQ_SEND_RATE="60", **FAST_RECOVERY)
    client = OtpClient(Settings.from_env(env))
    worker = start_worker(env, f"redis-{how}")
    server = persistent_redis
    try:
        jobs = enqueue(client, destinations(300, first=2000))
        wait_for_sends(pinpoint, 60)
        if how == "crashed":
            persistent_redis.kill()
        else:
            persistent_redis.stop(keep_dir=True)
        sent_before = len(pinpoint.outbox())
        time.sleep(2)  # the worker notices; in-flight sends ride out the outage
        server = restart(persistent_redis)
        statuses, lost = settle(client, server, jobs, timeout=150)
        assert worker.running(), "the worker must reconnect, not exit"
    finally:
        worker.stop()
        client.close()
        server.stop(keep_dir=True)

    tally = Tally.of(jobs, statuses, pinpoint)
    tally.report(f"Redis {how} mid-load ({sent_before} sent before, {len(lost)} lost)", statuses)
    tally.check(statuses)
    assert all(tally.sms_per_job[job] == 0 for job in lost), "a lost job was sent"
    assert len(lost) <= 2, lost
