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


def login_position(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    *,
    prefix: int,
    in_flight: int,
    **env: str,
) -> tuple[int, list[str]]:
    """Two slots, four slow bulk sends (1 s each at the backend) queued first; once
    `in_flight` of them are at the backend, a login is queued. Returns where the login
    stands among the sends the backend recorded, and that order."""
    pinpoint.set_faults(latency_ms=1000)
    jobs = [client.send(n, **JOB, lane="bulk") for n in numbers(prefix, 4)]
    start_worker(worker_env(redis_server, sandbox, **env), f"slots{prefix}", concurrency=2)
    wait_until(
        lambda: all(client.status(j).state == "running" for j in jobs[:in_flight]),
        what=f"{in_flight} bulk send(s) in flight",
    )
    (login,) = numbers(prefix + 1, 1)
    login_job = client.send(login, **JOB)
    wait_until(lambda: finished(client, [login_job]), what="the login sent", timeout=30)
    order = sent_order(pinpoint)
    pinpoint.set_faults()
    wait_until(lambda: finished(client, jobs), what="the bulk sends", timeout=60)
    return order.index(login), order


def test_a_general_worker_keeps_a_slot_for_logins_while_bulk_jobs_hold_the_rest(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """One of two slots kept for logins: bulk sends hold one slot at a time, so the login
    reaches the backend before the second bulk send."""
    position, order = login_position(
        redis_server, sandbox, pinpoint, client, start_worker, prefix=557, in_flight=1
    )
    assert position <= 1, order  # at most the first bulk send before it


def test_with_no_slot_kept_bulk_jobs_may_fill_every_slot(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """OTPQ_INTERACTIVE_SLOTS=0 turns the reservation off: both slots hold bulk sends and
    the login comes after both (the control of the test above)."""
    position, order = login_position(
        redis_server, sandbox, pinpoint, client, start_worker,
        prefix=559, in_flight=2, OTPQ_INTERACTIVE_SLOTS="0",
    )  # fmt: skip
    assert position >= 2, order
