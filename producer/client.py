"""`OtpClient`: what a web backend calls. Enqueues, polls, waits; never calls AWS.

    client = OtpClient.from_env()
    job_id = client.send(destination="+14255550142", brand_name="ExampleCorp",
                         source="CreateAccount")
    client.status(job_id).state   # "queued" | "running" | "retrying" | "succeeded" | "failed"

Bad input raises `InvalidRequest` (a `ValueError` naming the field) before anything
is queued. An unreachable Redis raises `BrokerUnavailable` within the configured
timeout instead of hanging the request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult
from redis.backoff import NoBackoff
from redis.retry import Retry

from otpq_core.celery_config import celery_config, producer_config
from otpq_core.outcomes import OtpqError, reason_of
from otpq_core.redaction import redact_text
from otpq_core.redis_factory import redis_client
from otpq_core.sealing import Sealer
from otpq_core.settings import Settings
from otpq_core.status import in_flight
from producer.guards import Guards
from producer.publish import Job, build_message, send_job, verify_job

#: Celery states, as a caller wants to read them.
STATES = {
    "PENDING": "queued",
    "RECEIVED": "queued",
    "STARTED": "running",
    "RETRY": "retrying",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "failed",
}


class BrokerUnavailable(OtpqError):
    """Redis did not answer within OTPQ_REDIS_TIMEOUT.

    After a refused connection nothing was queued. After a timeout the job may have
    been queued all the same (the push reached Redis, its reply did not); its id is
    lost to the caller, so a retry is a new job (docs/guarantees.md)."""

    reason = "unavailable"


@dataclass(frozen=True)
class JobStatus:
    """Where a job is, and how it ended if it has."""

    job_id: str
    state: str
    result: Mapping[str, Any] | None = None
    reason: str | None = None
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job_id": self.job_id, "state": self.state}
        if self.result is not None:
            out["result"] = dict(self.result)
        if self.reason:
            out["reason"] = self.reason
            out["error"] = self.error
        return out


class OtpClient:
    """Enqueue OTP jobs and read their outcome. Thread-safe; make one per process."""

    def __init__(self, settings: Settings | None = None, *, app: Celery | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.app = app or make_app(self.settings)
        self.sealer = Sealer(
            self.settings.otp_keys, plaintext_allowed=self.settings.allow_plaintext_otp
        )
        self.guards = Guards(self.settings, self._redis)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OtpClient:
        return cls(Settings.from_env(env))

    # -- enqueue ----------------------------------------------------------------

    def send(self, destination: str, brand_name: str, source: str, **options: Any) -> str:
        """Queue one SendOTPMessage; returns the job id. See `SendRequest` for options.

        `lane` ("interactive" or "bulk"), `deadline` (seconds from now) and
        `idempotency_key` are job options, not request fields. A repeat of an
        idempotency key within OTPQ_IDEMPOTENCY_TTL, or a second send for the same
        destination and reference within OTPQ_RESEND_COOLDOWN, returns the first job's
        id and queues nothing. A blocked country raises `DestinationBlocked`.
        """
        job = send_job(self.settings, destination, brand_name, source, options)
        assert job.destination is not None
        self.guards.check_country(job.destination)
        return self._guarded(job)

    def verify(
        self, destination: str, otp: str, brand_name: str, source: str, **options: Any
    ) -> str:
        """Queue one VerifyOTPMessage; returns the job id. Poll for `result["valid"]`.

        The code travels sealed with OTPQ_OTP_KEYS (otpq_core/sealing.py)."""
        return self._guarded(
            verify_job(self.settings, self.sealer, destination, otp, brand_name, source, options)
        )

    def _guarded(self, job: Job) -> str:
        """One enqueue behind the idempotency key and the resend cooldown (producer/guards.py)."""
        job_id = str(uuid.uuid4())
        try:
            held = self.guards.reserve(
                job_id,
                task=job.task,
                idempotency_key=job.idempotency_key,
                cooldown=job.cooldown,
            )
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not queue {job.task}: {exc}")) from None
        if held.repeat_of:
            return held.repeat_of
        try:
            return self._enqueue(job, job_id)
        except BaseException:
            held.release()
            raise

    def _redis(self) -> redis.Redis:
        """The producer's own connection (guards, pushes, claims): one bounded retry, so a
        stale pooled connection reconnects but a dead Redis fails within its timeout."""
        return redis_client(self.settings, retry=Retry(NoBackoff(), 1))

    def _enqueue(self, job: Job, job_id: str) -> str:
        message = build_message(self.app, job, job_id)
        try:
            self.guards.redis.lpush(message.key, message.payload)
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not queue {job.task}: {exc}")) from None
        return job_id

    # -- poll -------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        result = AsyncResult(job_id, app=self.app)
        try:
            state = result.state
            value = result.result
        except Exception as exc:
            raise BrokerUnavailable(redact_text(f"could not read job {job_id}: {exc}")) from None
        return job_status(job_id, state, value, lambda: self._in_flight(job_id))

    def _in_flight(self, job_id: str) -> bool:
        """A worker is making this send's Pinpoint call (its claim, worker/claims.py)."""
        try:
            return in_flight(self.guards.redis, job_id)
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not read job {job_id}: {exc}")) from None

    def wait(self, job_id: str, timeout: float = 30.0, interval: float = 0.05) -> JobStatus:
        """Poll until the job is done; raises `TimeoutError` naming the job otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status.done:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {status.state} after {timeout:g}s")
            time.sleep(interval)
            interval = min(interval * 1.5, 0.5)

    def close(self) -> None:
        self.app.close()
        if "redis" in self.guards.__dict__:
            self.guards.redis.close()


def job_status(job_id: str, state: str, value: Any, in_flight: Callable[[], bool]) -> JobStatus:
    """A Celery state and result as a caller reads them (both clients use this).

    `in_flight` is asked only for a PENDING job: is a worker making its call right now?"""
    mapped = STATES.get(state, state.lower())
    if state == "PENDING" and in_flight():
        mapped = "running"
    if state == "SUCCESS":
        return JobStatus(job_id, mapped, result=value if isinstance(value, dict) else {})
    if state in ("FAILURE", "REVOKED", "RETRY"):
        text = redact_text(str(value)) if value is not None else state.lower()
        # Celery rebuilds otpq's exceptions by class; the text is read only for a class
        # it could not rebuild.
        reason = value.reason if isinstance(value, OtpqError) else reason_of(text)
        return JobStatus(job_id, mapped, reason=reason, error=text)
    return JobStatus(job_id, mapped)


def make_app(settings: Settings) -> Celery:
    """A Celery app that only produces and reads results: it registers no task."""
    app = Celery("otpq-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.update(producer_config(settings))
    return app
