"""SIGKILL a worker mid-load: no job is lost, none is sent twice.

Every job the dead worker held — prefetched, running, or waiting in ETA for a retry
or for rate-limit capacity — sits in kombu's unacked hash in Redis. A live worker's
sweep puts it back once it is older than the visibility timeout; the claim keeps a
redelivered send from texting twice (docs/guarantees.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from otpq_core.settings import Settings
from otpq_core.wire import INTERACTIVE
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import wait_until
from tests.integration.conftest import worker_env
from tests.system.resilience import (
    FAST_RECOVERY,
    Tally,
    destinations,
    enqueue,
    wait_all,
    wait_for_sends,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

JOBS = 300


def held_by_dead_worker(server: RedisServer) -> dict[str, bool]:
    """Job ids kombu recorded as delivered and not acked → whether each had an ETA."""
    client = redis.Redis.from_url(server.url)
    try:
        held = [json.loads(raw)[0]["headers"] for raw in client.hgetall("unacked").values()]
    finally:
        client.close()
    return {headers["id"]: bool(headers.get("eta")) for headers in held}


def wait_drained(server: RedisServer, queue: str, timeout: float = 60) -> None:
    client = redis.Redis.from_url(server.url)
    try:
        wait_until(lambda: not client.llen(queue), timeout, f"{queue} drained")
    finally:
        client.close()


def wait_restored(server: RedisServer, timeout: float) -> float:
    """Seconds from the last delivery of a held job until every held job is back in
    a queue: the real redelivery delay. kombu scores each delivery (a delivery tag)
    with wall-clock time; a restored message is delivered again under a new tag."""
    client = redis.Redis.from_url(server.url)
    try:
        held = dict(client.zrange("unacked_index", 0, -1, withscores=True))
        wait_until(
            lambda: all(client.zscore("unacked_index", tag) is None for tag in held),
            timeout,
            "every held job back in a queue",
        )
    finally:
        client.close()
    return time.time() - max(held.values())


def test_sigkill_mid_load_loses_no_job_and_sends_none_twice(
    sandbox: PinpointSandbox, pinpoint: SandboxControl, tmp_path: Path
) -> None:
    # Latency keeps many sends in flight; random 500s put retries in ETA; the fleet
    # rate puts jobs to wait for capacity. All three kinds are held at the kill.
    pinpoint.set_faults(latency_ms=50, error_rate=0.2, seed=6)
    with RedisServer() as server:
        env = worker_env(
            server,
            sandbox,
            OTPQ_SEND_RATE="60",
            # Retries wait up to 2 s in ETA; enough attempts that 20% errors never
            # exhaust them (0.2**8 per job).
            OTPQ_RETRY_BASE="1",
            OTPQ_RETRY_CAP="2",
            OTPQ_MAX_ATTEMPTS="8",
            **FAST_RECOVERY,
        )
        client = OtpClient(Settings.from_env(env))
        first = WorkerProcess(env, name="crash-first", log_path=tmp_path / "first.log").start()
        second = WorkerProcess(env, name="crash-second", log_path=tmp_path / "second.log")
        try:
            jobs = enqueue(client, destinations(JOBS))
            wait_for_sends(pinpoint, JOBS // 5)
            # Retries go to the back of the queue: kill once the worker holds the
            # rest, so some of what it holds waits in ETA.
            wait_drained(server, INTERACTIVE)
            first.kill()
            killed = time.monotonic()
            held = held_by_dead_worker(server)
            assert any(held.values()), f"the kill should land while jobs wait in ETA: {held}"
            second.start()
            restored = wait_restored(server, timeout=90)
            statuses = wait_all(client, jobs, timeout=120)
            all_done = time.monotonic() - killed
        finally:
            first.kill()
            second.kill()
            client.close()

    tally = Tally.of(jobs, statuses, pinpoint)
    tally.report(
        f"SIGKILL mid-load ({len(held)} jobs held by the dead worker, "
        f"{sum(held.values())} of them waiting in ETA)",
        statuses,
    )
    print(
        f"held jobs back in a queue {restored:.1f}s after their last delivery "
        f"(visibility timeout {FAST_RECOVERY['OTPQ_VISIBILITY_TIMEOUT']}s); "
        f"all {JOBS} jobs terminal {all_done:.1f}s after the kill"
    )
    assert set(statuses) == set(jobs)
    tally.check(statuses)
    # Jobs the dead worker never touched must all have gone through.
    assert all(statuses[j].state == "succeeded" for j in jobs if j not in held)
