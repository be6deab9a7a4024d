"""`otp.send` and `otp.verify`: parse, check policy, call the gateway, shape the outcome.

Thin on purpose. Validation is the producer's request model; Pinpoint's shapes are
the gateway's; fleet limits are the throttle's; what each failure means is
producer.outcomes' table; a send's policy is worker/sending.py's (shared with the rows
of `otp.send_batch`, worker/batch.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import redis
from celery import Task

from otpq_core.outcomes import OtpqError, PinpointRejected, Retrying
from otpq_core.redaction import mask_number, redact_kwargs
from otpq_core.wire import (
    BULK,
    CALLS_HEADER,
    CAMPAIGN_HEADER,
    DEADLINE_HEADER,
    FAILURES_HEADER,
    SEND_TASK,
    VERIFY_TASK,
)
from producer.refid import shown_ref_id
from producer.requests import VerifyRequest
from worker import campaign_hooks, sending
from worker.app import app, settings
from worker.gateways import Permanent, Transient
from worker.ratelimit import Bucket
from worker.runtime import Runtime, runtime

#: Kept for callers of the old name; the value lives with the send policy.
CAPACITY_RECHECK_CAP = sending.CAPACITY_RECHECK_CAP


class OtpTask(Task):
    """Base of both tasks: redacted arguments, deadlines, and the retry policy."""

    Request = "worker.request:RedactedRequest"
    typing = False
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by OTPQ_MAX_ATTEMPTS and the job's deadline instead
    # Expected outcomes: logged as one line, without a traceback.
    throws = (OtpqError,)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        # Retries re-publish through here: keep their message reprs clean too.
        options.setdefault("argsrepr", "()")
        options.setdefault("kwargsrepr", repr(redact_kwargs(kwargs or {})))
        return super().apply_async(args, kwargs, **options)

    @property
    def rt(self) -> Runtime:
        return runtime(settings, pool_size=app.conf.worker_concurrency or 16)

    def _header(self, name: str) -> Any:
        value = getattr(self.request, name, None)
        if value is None:
            value = (self.request.headers or {}).get(name)
        return value

    def _count(self, name: str) -> int:
        try:
            return max(0, int(self._header(name) or 0))
        except (TypeError, ValueError):
            return 0

    @property
    def bulk(self) -> bool:
        return (self.request.delivery_info or {}).get("routing_key") == BULK

    def deadline(self) -> float:
        """The producer's deadline; a job enqueued by name gets one from its first run."""
        try:
            return float(self._header(DEADLINE_HEADER))
        except (TypeError, ValueError):
            default = settings.bulk_deadline if self.bulk else settings.interactive_deadline
            deadline = time.time() + default
            self.request.headers = {**(self.request.headers or {}), DEADLINE_HEADER: deadline}
            setattr(self.request, DEADLINE_HEADER, deadline)
            return deadline

    def attempt(self) -> sending.Attempt:
        """This run as the send policy sees it, from the message's headers."""
        return sending.Attempt(
            job_id=self.request.id,
            deadline=self.deadline(),
            bulk=self.bulk,
            campaign=campaign_hooks.campaign_of(self.request),
            calls=self._count(CALLS_HEADER),
            failures=self._count(FAILURES_HEADER),
        )

    @contextlib.contextmanager
    def rescheduling(self) -> Iterator[None]:
        """The policy's `Again` becomes a Celery retry of this job."""
        try:
            yield
        except sending.Again as again:
            self.again(again.countdown, again.why, calls=again.calls, failures=again.failures)

    def check_deadline(self) -> float:
        return sending.check_deadline(self.deadline())

    def again(self, countdown: float, why: Exception, *, calls: int, failures: int) -> NoReturn:
        """Re-publish this job to its own queue after `countdown`, carrying its counters."""
        headers = {
            DEADLINE_HEADER: self.deadline(),
            CALLS_HEADER: calls,
            FAILURES_HEADER: failures,
        }
        if campaign := campaign_hooks.campaign_of(self.request):
            headers[CAMPAIGN_HEADER] = campaign
        raise self.retry(
            countdown=countdown, exc=Retrying(str(why)), max_retries=None, headers=headers
        )

    def retry_or_give_up(self, error: Transient, buckets: list[Bucket], *, calls: int) -> NoReturn:
        """Transient Pinpoint trouble. 429s slow the fleet and cost no attempt."""
        with self.rescheduling():
            sending.retry_or_give_up(self.rt, error, buckets, self.attempt(), calls=calls)
        raise AssertionError("unreachable")  # pragma: no cover

    def capacity(self, buckets: list[Bucket], deadline: float, *, fail_open: bool) -> float:
        """Take a token from every bucket, or reschedule. Returns seconds waited."""
        attempt = dataclasses.replace(self.attempt(), deadline=deadline)
        with self.rescheduling():
            return sending.take_capacity(self.rt, buckets, attempt, fail_open=fail_open).waited
        raise AssertionError("unreachable")  # pragma: no cover

    def origin(self, request: VerifyRequest) -> str:
        """The backend that sent this code (worker/code_origins.py); Redis trouble
        reschedules rather than guess."""
        default = self.rt.settings.backend
        with self.rescheduling():
            try:
                return self.rt.origins.backend_for(request, default)
            except redis.RedisError:
                raise sending.Again(
                    1.0,
                    Retrying("code origin unavailable"),
                    calls=self._count(CALLS_HEADER),
                    failures=self._count(FAILURES_HEADER),
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def admit(self, check: Callable[[], None]) -> None:
        """Abuse limits (worker/abuse.py); Redis trouble reschedules."""
        with self.rescheduling():
            sending.admit(check, self.attempt())

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        sending.refund(
            self.rt, self.name, kwargs, task_id, exc, calls_before=self._count(CALLS_HEADER)
        )


@app.task(name=SEND_TASK, bind=True, base=OtpTask)
def send(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    attempt = self.attempt()

    def on_sent(pipe: Any, result: dict[str, Any]) -> None:
        campaign_hooks.sent_into(attempt.campaign, attempt.job_id, pipe)

    with self.rescheduling():
        return sending.send(self.rt, attempt, args, kwargs, on_sent=on_sent)
    raise AssertionError("unreachable")  # pragma: no cover


@app.task(name=VERIFY_TASK, bind=True, base=OtpTask)
def verify(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    request = sending.parse(VerifyRequest, args, self.rt.sealer.open_kwargs(kwargs))
    job_id = self.request.id
    # A job delivered twice ends with its first run's outcome (worker/claims.py).
    if (first := self.rt.claims.finished(job_id)) is not None:
        return sending.replay(first)
    deadline = self.check_deadline()
    self.admit(lambda: self.rt.abuse.admit_verify(request, job_id))
    buckets = self.rt.throttle.buckets(request, None)
    self.capacity(buckets, deadline, fail_open=True)
    claim = self.rt.claims.claim_verify(job_id)
    if claim.outcome is not None:
        return sending.replay(claim.outcome)
    calls = self._count(CALLS_HEADER) + 1
    gateway = self.rt.gateway_for(self.origin(request))
    try:
        valid = gateway.verify(request)
    except Transient as error:
        self.rt.claims.release(job_id)
        self.retry_or_give_up(error, buckets, calls=calls)
    except Permanent as error:
        self.rt.claims.complete(job_id, {"error": str(PinpointRejected(str(error)))})
        raise PinpointRejected(str(error)) from None
    result = {
        "job_id": job_id,
        "valid": valid,
        "reference_id": shown_ref_id(request.reference_id, request.ref_id),
        "destination": mask_number(request.destination),
        "attempts": calls,
    }
    self.rt.claims.complete(job_id, {"result": result})
    self.rt.abuse.verified(request, valid=valid)
    return result
