"""`AsyncOtpClient`: `OtpClient` for asyncio backends (FastAPI, aiohttp, ...).

    client = AsyncOtpClient.from_env()
    job_id = await client.send(destination="+14255550142", brand_name="ExampleCorp",
                               source="CreateAccount")
    (await client.wait(job_id)).state

The same methods, options, results and exceptions as `OtpClient`, and the same bytes
in Redis: both validate and build their message in producer/publish.py; this one
pushes it, reads results and holds its guards over `redis.asyncio`, so no call
blocks the event loop. Celery has no asyncio client (and aio-celery speaks AMQP only),
so this one reads Celery's result key itself and decodes it with Celery's backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from otpq_core.countries import check_country
from otpq_core.keys import HASH_KEY_NAME, KeyHasher
from otpq_core.redaction import redact_text
from otpq_core.redis_factory import async_redis_client
from otpq_core.sealing import Sealer
from otpq_core.settings import Settings
from otpq_core.status import claim_key, shows_in_flight
from producer.client import BrokerUnavailable, JobStatus, job_status, make_app
from producer.guards import _RELEASE, check_idempotency_key
from producer.publish import Job, build_message, send_job, verify_job


class AsyncOtpClient:
    """Enqueue OTP jobs and read their outcome from asyncio code. One per event loop."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        # Builds messages and decodes results only: it never opens a connection.
        self.app = make_app(self.settings)
        self.sealer = Sealer(
            self.settings.otp_keys, plaintext_allowed=self.settings.allow_plaintext_otp
        )
        self.redis = async_redis_client(self.settings, retry=Retry(NoBackoff(), 1))
        self._hasher: KeyHasher | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AsyncOtpClient:
        return cls(Settings.from_env(env))

    # -- enqueue ----------------------------------------------------------------

    async def send(self, destination: str, brand_name: str, source: str, **options: Any) -> str:
        """Queue one SendOTPMessage; returns the job id (see `OtpClient.send`)."""
        job = send_job(self.settings, destination, brand_name, source, options)
        assert job.destination is not None
        check_country(job.destination, self.settings)
        return await self._guarded(job)

    async def verify(
        self, destination: str, otp: str, brand_name: str, source: str, **options: Any
    ) -> str:
        """Queue one VerifyOTPMessage; returns the job id (see `OtpClient.verify`)."""
        job = verify_job(self.settings, self.sealer, destination, otp, brand_name, source, options)
        return await self._guarded(job)

    async def _guarded(self, job: Job) -> str:
        job_id = str(uuid.uuid4())
        try:
            repeat_of, held = await self._reserve(job, job_id)
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not queue {job.task}: {exc}")) from None
        if repeat_of:
            return repeat_of
        message = build_message(self.app, job, job_id)
        try:
            await self.redis.lpush(message.key, message.payload)
        except BaseException as exc:
            await self._release(held, job_id)
            if isinstance(exc, redis.RedisError):
                text = redact_text(f"could not queue {job.task}: {exc}")
                raise BrokerUnavailable(text) from None
            raise
        return job_id

    async def _reserve(self, job: Job, job_id: str) -> tuple[str | None, list[str]]:
        """`Guards.reserve` over asyncio: the same keys, the same first-wins rule."""
        if job.idempotency_key is not None:
            check_idempotency_key(job.idempotency_key)
        use_cooldown = job.cooldown is not None and self.settings.resend_cooldown > 0
        held: list[str] = []
        if job.idempotency_key is None and not use_cooldown:
            return None, held
        hasher = await self._key_hasher()
        if job.idempotency_key is not None:
            key = hasher.key("idem", job.task, job.idempotency_key)
            first = await self._first_wins(key, job_id, self.settings.idempotency_ttl)
            if first:
                return first, []
            held.append(key)
        if use_cooldown:
            assert job.cooldown is not None
            key = hasher.key("cooldown", *job.cooldown)
            first = await self._first_wins(key, job_id, self.settings.resend_cooldown)
            if first:
                for idem in held:
                    await self.redis.set(idem, first, xx=True, keepttl=True)
                return first, []
            held.append(key)
        return None, held

    async def _first_wins(self, key: str, job_id: str, ttl: float) -> str | None:
        for _ in range(3):  # the holder may expire between the two calls
            if await self.redis.set(key, job_id, nx=True, px=max(1, int(ttl * 1000))):
                return None
            held = await self.redis.get(key)
            if held is not None:
                holder = held.decode() if isinstance(held, bytes) else str(held)
                return None if holder == job_id else holder
        return None

    async def _release(self, keys: list[str], job_id: str) -> None:
        for key in keys:
            with contextlib.suppress(redis.RedisError):  # else they expire by themselves
                await self.redis.eval(_RELEASE, 1, key, job_id)

    async def _key_hasher(self) -> KeyHasher:
        if self._hasher is None:
            if self.settings.hash_key:
                self._hasher = KeyHasher(self.settings.hash_key.encode("utf-8"))
            else:
                await self.redis.set(HASH_KEY_NAME, secrets.token_hex(32), nx=True)
                stored = await self.redis.get(HASH_KEY_NAME)
                if not stored:
                    raise redis.RedisError(f"{HASH_KEY_NAME} vanished right after it was set")
                self._hasher = KeyHasher(stored if isinstance(stored, bytes) else stored.encode())
        return self._hasher

    # -- poll -------------------------------------------------------------------

    async def status(self, job_id: str) -> JobStatus:
        """Where the job is: one round trip for its result and its send claim."""
        backend = self.app.backend
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(backend.get_key_for_task(job_id))
                pipe.get(claim_key(job_id))
                raw, claim = await pipe.execute()
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not read job {job_id}: {exc}")) from None
        if raw is None:
            state, value = "PENDING", None
        else:
            meta = backend.decode_result(raw)
            state, value = meta["status"], meta["result"]
        return job_status(job_id, state, value, lambda: shows_in_flight(claim))

    async def wait(self, job_id: str, timeout: float = 30.0, interval: float = 0.05) -> JobStatus:
        """Poll until the job is done; raises `TimeoutError` naming the job otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status(job_id)
            if status.done:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {status.state} after {timeout:g}s")
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.5)

    async def close(self) -> None:
        await self.redis.aclose()
        self.app.close()

    async def __aenter__(self) -> AsyncOtpClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
