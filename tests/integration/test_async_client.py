"""`AsyncOtpClient` against a real worker and the sandbox: one event loop, many jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from otpq_core.outcomes import InvalidRequest, OtpqError
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer import AsyncOtpClient, BrokerUnavailable, DestinationBlocked, OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.integration.conftest import worker_env

JOB = {"brand_name": "ExampleCorp", "source": "CreateAccount"}
DESTS = [f"+1425555{n:04d}" for n in range(20)]


@pytest.fixture
def settings(redis_server: RedisServer, sandbox: PinpointSandbox) -> Settings:
    return Settings.from_env(worker_env(redis_server, sandbox))


class Heartbeat:
    """Counts turns of the event loop: a client that blocks the loop stops the count."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def during(self, work: Awaitable[Any]) -> tuple[Any, int]:
        before = self.ticks
        result = await work
        return result, self.ticks - before


def test_concurrent_sends_and_verifies_from_one_loop(
    worker: WorkerProcess, settings: Settings, pinpoint: SandboxControl
) -> None:
    async def scenario() -> None:
        async with AsyncOtpClient(settings) as client:
            with Heartbeat() as heart:
                sends = [client.send(dest, **JOB) for dest in DESTS]
                ids, ticks = await heart.during(asyncio.gather(*sends))
                assert len(set(ids)) == len(DESTS)
                assert ticks >= 2  # the loop ran other work while the sends awaited Redis
                waits = asyncio.gather(*(client.wait(job, timeout=60) for job in ids))
                statuses, ticks = await heart.during(waits)
                assert ticks >= 2
            assert [s.state for s in statuses] == ["succeeded"] * len(DESTS)
            assert all(s.result and s.result["message_id"] for s in statuses)
            code = pinpoint.outbox(destination=DESTS[0])[-1]["code"]
            good = await client.wait(await client.verify(DESTS[0], code, **JOB), timeout=30)
            bad = await client.wait(await client.verify(DESTS[1], "00000", **JOB), timeout=30)
            assert good.result == {**(good.result or {}), "valid": True}
            assert bad.result is not None and bad.result["valid"] is False

    asyncio.run(scenario())
    for dest in DESTS:
        assert len(pinpoint.outbox(destination=dest)) == 1


def test_an_idempotency_key_returns_the_first_job(
    worker: WorkerProcess, settings: Settings
) -> None:
    async def scenario() -> tuple[str, str, str]:
        async with AsyncOtpClient(settings) as client:
            first = await client.send(DESTS[2], **JOB, idempotency_key="signup-42")
            again = await client.send(DESTS[2], **JOB, idempotency_key="signup-42")
            other = await client.send(DESTS[2], **JOB, idempotency_key="signup-43")
            await client.wait(other, timeout=30)
            return first, again, other

    first, again, other = asyncio.run(scenario())
    assert first == again != other
    sync = OtpClient(settings)
    try:  # the sync client reads the same keys: it gets the same first job back
        assert sync.send(DESTS[2], **JOB, idempotency_key="signup-42") == first
    finally:
        sync.close()


BAD_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("send", {"destination": "4255550142", **JOB}),
    ("send", {"destination": DESTS[0], "brand_name": "x" * 21, "source": "S"}),
    ("send", {"destination": DESTS[0], **JOB, "code_length": 9}),
    ("send", {"destination": DESTS[0], **JOB, "lane": "fast"}),
    ("send", {"destination": DESTS[0], **JOB, "deadline": -1}),
    ("send", {"destination": DESTS[0], **JOB, "idempotency_key": ""}),
    ("verify", {"destination": DESTS[0], "otp": "12ab", **JOB}),
]


def both(settings: Settings, method: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """What the sync and the async client raise (or return) for the same call."""

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except OtpqError as exc:
            return exc

    sync = OtpClient(settings)
    try:
        sync_outcome = outcome(lambda: getattr(sync, method)(**kwargs))
    finally:
        sync.close()

    async def run() -> Any:
        async with AsyncOtpClient(settings) as client:
            try:
                return await getattr(client, method)(**kwargs)
            except OtpqError as exc:
                return exc

    return sync_outcome, asyncio.run(run())


@pytest.mark.parametrize(("method", "kwargs"), BAD_CALLS)
def test_bad_input_raises_what_the_sync_client_raises(
    settings: Settings, method: str, kwargs: dict[str, Any]
) -> None:
    sync, aio = both(settings, method, kwargs)
    assert isinstance(sync, InvalidRequest) and type(aio) is type(sync)
    assert str(aio) == str(sync) and aio.field == sync.field


def test_a_blocked_country_raises_what_the_sync_client_raises(
    redis_server: RedisServer, sandbox: PinpointSandbox
) -> None:
    settings = Settings.from_env(worker_env(redis_server, sandbox, OTPQ_ALLOWED_COUNTRIES="GB"))
    sync, aio = both(settings, "send", {"destination": DESTS[0], **JOB})
    assert isinstance(sync, DestinationBlocked) and isinstance(aio, DestinationBlocked)
    assert str(aio) == str(sync)


@pytest.fixture
def nowhere() -> Iterator[Settings]:
    """Settings for a Redis that refuses connections (nothing listens on port 1)."""
    yield Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", "OTPQ_REDIS_TIMEOUT": "1"})


def test_redis_down_is_broker_unavailable(nowhere: Settings) -> None:
    sync, aio = both(nowhere, "send", {"destination": DESTS[0], **JOB})
    assert isinstance(sync, BrokerUnavailable) and isinstance(aio, BrokerUnavailable)
    assert str(aio).startswith("unavailable: could not queue otp.send")

    async def status() -> BaseException | None:
        async with AsyncOtpClient(nowhere) as client:
            try:
                await client.status("0f0e0d0c-0000-4000-8000-000000000000")
            except BrokerUnavailable as exc:
                return exc
        return None

    assert isinstance(asyncio.run(status()), BrokerUnavailable)
