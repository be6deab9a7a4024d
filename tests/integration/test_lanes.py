"""A general worker (both lanes) serves logins first (worker/lanes.py): the order it
fetches in, and the slots it keeps from bulk jobs. Observed in the order the sandbox
records the sends, never by timing."""

from __future__ import annotations

import pytest

from otpq_local.redis_server import RedisServer
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Lanes"}


def numbers(prefix: int, count: int) -> list[str]:
    return [f"+1425{prefix:03d}{i:04d}" for i in range(count)]


def sent_order(pinpoint: SandboxControl) -> list[str]:
    return [sms["destination"] for sms in pinpoint.outbox()]


def finished(client: OtpClient, jobs: list[str]) -> bool:
    return all(client.status(job).state == "succeeded" for job in jobs)


def test_a_general_worker_runs_every_queued_login_before_any_bulk_job(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """One slot, a bulk backlog queued first, logins after it: kombu's round robin would
    alternate between the lanes; the lane order takes every login first."""
    bulk, logins = numbers(555, 12), numbers(556, 4)
    jobs = [client.send(n, **JOB, lane="bulk") for n in bulk]
    jobs += [client.send(n, **JOB) for n in logins]
    start_worker(worker_env(redis_server, sandbox), "lanes", concurrency=1)
    wait_until(lambda: finished(client, jobs), what="every job sent", timeout=60)
    order = sent_order(pinpoint)
    assert sorted(order) == sorted(bulk + logins)
    assert set(order[: len(logins)]) == set(logins), order


def test_a_general_worker_keeps_a_slot_for_logins_while_bulk_jobs_hold_the_rest(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """Two slots, one kept for logins: slow bulk sends (1 s at the backend) hold one slot
    at a time, so a login queued while the first is in flight reaches the backend before
    the second bulk send. Without the reservation both slots hold bulk sends and the
    login comes after both."""
    pinpoint.set_faults(latency_ms=1000)
    bulk = numbers(557, 4)
    jobs = [client.send(n, **JOB, lane="bulk") for n in bulk]
    start_worker(worker_env(redis_server, sandbox), "reserve", concurrency=2)
    wait_until(
        lambda: client.status(jobs[0]).state == "running", what="the first bulk send in flight"
    )
    (login,) = numbers(558, 1)
    login_job = client.send(login, **JOB)
    wait_until(lambda: finished(client, [login_job]), what="the login sent", timeout=30)
    order = sent_order(pinpoint)
    assert order.index(login) <= 1, order  # at most the first bulk send before it
    pinpoint.set_faults()
    wait_until(lambda: finished(client, jobs), what="the bulk sends", timeout=60)


def test_with_no_slot_kept_bulk_jobs_may_fill_every_slot(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """OTPQ_INTERACTIVE_SLOTS=0 turns the reservation off: the same setting as above puts
    both slots on bulk sends (the control of the test above)."""
    pinpoint.set_faults(latency_ms=1000)
    bulk = numbers(559, 4)
    jobs = [client.send(n, **JOB, lane="bulk") for n in bulk]
    env = worker_env(redis_server, sandbox, OTPQ_INTERACTIVE_SLOTS="0")
    start_worker(env, "noreserve", concurrency=2)
    wait_until(
        lambda: all(client.status(j).state == "running" for j in jobs[:2]),
        what="two bulk sends in flight",
    )
    (login,) = numbers(560, 1)
    login_job = client.send(login, **JOB)
    wait_until(lambda: finished(client, [login_job]), what="the login sent", timeout=30)
    order = sent_order(pinpoint)
    assert order.index(login) >= 2, order
    pinpoint.set_faults()
    wait_until(lambda: finished(client, jobs), what="the bulk sends", timeout=60)
