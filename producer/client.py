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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult

from producer.celery_config import celery_config, producer_config, redis_tls
from producer.guards import Guards
from producer.lanes import (
    BULK,
    CLAIM_PREFIX,
    DEADLINE_HEADER,
    INFLIGHT,
    INTERACTIVE,
    QUEUES,
    SEND_TASK,
    VERIFY_TASK,
)
from producer.outcomes import InvalidRequest, OtpqError, reason_of
from producer.redaction import redact_kwargs, redact_text
from producer.requests import SendRequest, VerifyRequest
from producer.sealing import Sealer
from producer.settings import Settings

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
        self.sealer = Sealer(self.settings.otp_keys)
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
        lane = options.pop("lane", "interactive")
        deadline = options.pop("deadline", None)
        idempotency_key = options.pop("idempotency_key", None)
        request = SendRequest.from_kwargs(
            {"destination": destination, "brand_name": brand_name, "source": source, **options}
        )
        self.guards.check_country(request.destination)
        return self._guarded(
            SEND_TASK,
            request.to_kwargs(),
            lane=lane,
            deadline=deadline,
            idempotency_key=idempotency_key,
            cooldown=(request.destination, request.ref_id),
        )

    def verify(
        self, destination: str, otp: str, brand_name: str, source: str, **options: Any
    ) -> str:
        """Queue one VerifyOTPMessage; returns the job id. Poll for `result["valid"]`.

        The code travels sealed with OTPQ_OTP_KEYS (producer/sealing.py)."""
        lane = options.pop("lane", "interactive")
        deadline = options.pop("deadline", None)
        idempotency_key = options.pop("idempotency_key", None)
        request = VerifyRequest.from_kwargs(
            {
                "destination": destination,
                "otp": otp,
                "brand_name": brand_name,
                "source": source,
                **options,
            }
        )
        return self._guarded(
            VERIFY_TASK,
            self.sealer.seal_kwargs(request.to_kwargs()),
            lane=lane,
            deadline=deadline,
            idempotency_key=idempotency_key,
        )

    def _guarded(
        self,
        task: str,
        kwargs: dict[str, Any],
        *,
        lane: str,
        deadline: float | None,
        idempotency_key: str | None,
        cooldown: tuple[str, str] | None = None,
    ) -> str:
        """One enqueue behind the idempotency key and the resend cooldown (producer/guards.py)."""
        job_id = str(uuid.uuid4())
        try:
            held = self.guards.reserve(
                job_id, task=task, idempotency_key=idempotency_key, cooldown=cooldown
            )
        except redis.RedisError as exc:
            raise BrokerUnavailable(redact_text(f"could not queue {task}: {exc}")) from None
        if held.repeat_of:
            return held.repeat_of
        try:
            return self._enqueue(task, kwargs, lane=lane, deadline=deadline, job_id=job_id)
        except BaseException:
            held.release()
            raise

    def _redis(self) -> redis.Redis:
        """The guards' own connection: same timeout and TLS settings as the broker's."""
        return redis.Redis.from_url(
            self.settings.redis_url,
            socket_timeout=self.settings.redis_timeout,
            socket_connect_timeout=self.settings.redis_timeout,
            **(redis_tls(self.settings) or {}),
        )

    def _enqueue(
        self,
        task: str,
        kwargs: dict[str, Any],
        *,
        lane: str,
        deadline: float | None,
        job_id: str | None = None,
    ) -> str:
        queue = _queue_for(lane)
        if deadline is None:
            deadline = (
                self.settings.interactive_deadline
                if queue == INTERACTIVE
                else self.settings.bulk_deadline
            )
        if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
            raise InvalidRequest("deadline", "must be a positive number of seconds")
        job_id = job_id or str(uuid.uuid4())
        try:
            self.app.send_task(
                task,
                kwargs=kwargs,
                queue=queue,
                task_id=job_id,
                headers={DEADLINE_HEADER: time.time() + deadline},
                argsrepr="()",
                kwargsrepr=repr(redact_kwargs(kwargs)),
                retry=False,
            )
        except OtpqError:
            raise
        except Exception as exc:  # kombu/redis raise many types for "Redis is down"
            raise BrokerUnavailable(redact_text(f"could not queue {task}: {exc}")) from None
        return job_id

    # -- poll -------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        result = AsyncResult(job_id, app=self.app)
        try:
            state = result.state
            value = result.result
        except Exception as exc:
            raise BrokerUnavailable(redact_text(f"could not read job {job_id}: {exc}")) from None
        mapped = STATES.get(state, state.lower())
        if state == "PENDING" and self._in_flight(job_id):
            mapped = "running"
        if state == "SUCCESS":
            return JobStatus(job_id, mapped, result=value if isinstance(value, dict) else {})
        if state in ("FAILURE", "REVOKED", "RETRY"):
            text = redact_text(str(value)) if value is not None else state.lower()
            return JobStatus(job_id, mapped, reason=reason_of(text), error=text)
        return JobStatus(job_id, mapped)

    def _in_flight(self, job_id: str) -> bool:
        """A worker is making this send's Pinpoint call (its claim, worker/claims.py)."""
        try:
            return self.guards.redis.get(CLAIM_PREFIX + job_id) == INFLIGHT
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


def _queue_for(lane: str) -> str:
    queue = {"interactive": INTERACTIVE, "bulk": BULK}.get(lane, lane)
    if queue not in QUEUES:
        raise InvalidRequest("lane", "must be 'interactive' or 'bulk'")
    return queue


def make_app(settings: Settings) -> Celery:
    """A Celery app that only produces and reads results: it registers no task."""
    app = Celery("otpq-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.update(producer_config(settings))
    return app
