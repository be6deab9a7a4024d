"""Fleet-wide limits with several worker processes against the sandbox set to a quota."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Login"}


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid US numbers (+1 425 555 01xx is a fictional, valid range)."""
    return [f"+1425{2000000 + start + i:07d}" for i in range(count)]


def own_db(server: RedisServer, db: int) -> str:
    url = server.url.rsplit("/", 1)[0] + f"/{db}"
    redis.Redis.from_url(url).flushdb()
    return url


def start_workers(
    env: dict[str, str], workers: Workers, *profiles: tuple[str, tuple[str, ...]]
) -> list[WorkerProcess]:
    return [workers(env, name, queues=queues) for name, queues in profiles]


@pytest.fixture
def stack(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> Iterator[tuple[dict[str, str], Workers, list[WorkerProcess]]]:
    env = worker_env(redis_server, sandbox, REDIS_URL=own_db(redis_server, 2))
    running: list[WorkerProcess] = []
    yield env, start_worker, running
    for process in running:
        process.kill()
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def test_two_workers_share_one_budget(stack, pinpoint: SandboxControl) -> None:  # type: ignore[no-untyped-def]
    env, workers, running = stack
    rate = 10
    env.update(OTPQ_SEND_RATE=str(rate))
    pinpoint.set_faults(quota_rps=rate, quota_burst=rate)
    running += start_workers(
        env, workers, ("a", ("otp.interactive", "otp.bulk")), ("b", ("otp.interactive", "otp.bulk"))
    )
    client = OtpClient(Settings.from_env(env))
    jobs = [client.send(n, **JOB) for n in numbers(50)]
    states = [client.wait(job, timeout=60) for job in jobs]
    assert [s.state for s in states] == ["succeeded"] * 50
    sends = pinpoint.stats()["operations"]["SendOTPMessage"]
    # The sandbox's quota equals the fleet's rate: a 429 means the two workers together
    # went over it. How close to the rate they ran, and their busiest second, are
    # figures of bench/rate_limits.py (timings do not belong in tests).
    assert sends["by_status"].get("429", 0) == 0, sends["by_status"]
    assert sends["received"] == 50  # one call per job: nothing retried, nothing twice
    assert len({w.name for w in running}) == 2 and all(w.running() for w in running)
    client.close()


def test_expired_jobs_are_never_sent(stack, pinpoint: SandboxControl) -> None:  # type: ignore[no-untyped-def]
    env, workers, running = stack
    client = OtpClient(Settings.from_env(env))
    late = client.send(numbers(1)[0], **JOB, deadline=0.2)
    expires = time.time() + 0.2  # no earlier than the deadline the send just stamped
    fresh = client.send(numbers(1, start=1)[0], **JOB)
    # No worker yet: the first job's deadline passes while it waits in the queue.
    wait_until(lambda: time.time() > expires, what="the first job's deadline")
    running += start_workers(env, workers, ("c", ("otp.interactive",)))
    expired = client.wait(late, timeout=30)
    assert expired.state == "failed" and expired.reason == "expired", expired
    assert client.wait(fresh, timeout=30).state == "succeeded"
    assert pinpoint.outbox(destination=numbers(1)[0]) == []
    assert pinpoint.stats()["operations"]["SendOTPMessage"]["received"] == 1
    client.close()


def test_interactive_finishes_while_a_bulk_backlog_waits(stack, pinpoint: SandboxControl) -> None:  # type: ignore[no-untyped-def]
    env, workers, running = stack
    env.update(OTPQ_SEND_RATE="20")
    running += start_workers(
        env,
        workers,
        ("general", ("otp.interactive", "otp.bulk")),
        ("interactive", ("otp.interactive",)),
    )
    general, interactive = running[-2:]
    # Each says at start whether it keeps slots from bulk jobs (only with both lanes).
    assert "8 slots (2 kept for logins)" in general.log()
    assert "8 slots (one lane)" in interactive.log()
    client = OtpClient(Settings.from_env(env))
    backlog = [client.send(n, **JOB, lane="bulk") for n in numbers(300)]
    urgent = [client.send(n, **JOB) for n in numbers(5, start=1000)]
    done = [client.wait(job, timeout=60) for job in urgent]
    assert [s.state for s in done] == ["succeeded"] * 5
    bulk_sent = sum(1 for job in backlog if client.status(job).state == "succeeded")
    assert bulk_sent < len(backlog), "the backlog drained first: interactive waited behind it"
    client.close()
