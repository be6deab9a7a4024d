"""`otp.send` and `otp.verify`: parse, check policy, call the gateway, shape the outcome.

Thin on purpose. Validation is the producer's request model; Pinpoint's shapes are
the gateway's; fleet limits are the throttle's; what each failure means is
producer.outcomes' table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from celery import Task

from producer.lanes import (
    BULK,
    CALLS_HEADER,
    CAMPAIGN_HEADER,
    DEADLINE_HEADER,
    FAILURES_HEADER,
    INTERACTIVE,
    SEND_TASK,
    VERIFY_TASK,
)
from producer.outcomes import (
    GaveUp,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    ResendCooldown,
    Retrying,
    Uncertain,
    reason_of,
)
from producer.redaction import mask_number, redact_kwargs
from producer.requests import SendRequest, VerifyRequest
from worker import campaign_hooks, metrics
from worker.abuse import AbuseUnavailable
from worker.app import app, settings
from worker.backoff import full_jitter
from worker.gateway import Permanent, Transient
from worker.ratelimit import Bucket, LimiterUnavailable
from worker.runtime import Runtime, runtime

_R = TypeVar("_R", SendRequest, VerifyRequest)

#: Longest a rescheduled job waits before it looks for capacity again.
CAPACITY_RECHECK_CAP = 5.0


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

    def check_deadline(self) -> float:
        deadline = self.deadline()
        if time.time() > deadline:
            late = time.time() - deadline
            raise JobExpired(f"deadline passed {late:.1f}s before the job could run")
        return deadline

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
        failures = self._count(FAILURES_HEADER)
        if error.throttled:
            self.rt.throttle.throttled(buckets)
        else:
            failures += 1
            if failures >= settings.max_attempts:
                raise GaveUp(f"after {calls} attempts: {error}")
        delay = full_jitter(failures, settings.retry_base, settings.retry_cap)
        if time.time() + delay >= self.deadline():
            raise GaveUp(f"after {calls} attempts (deadline reached): {error}")
        self.again(delay, error, calls=calls, failures=failures)

    def capacity(self, buckets: list[Bucket], deadline: float, *, fail_open: bool) -> float:
        """Take a token from every bucket, or reschedule. Returns seconds waited."""
        calls, failures = self._count(CALLS_HEADER), self._count(FAILURES_HEADER)
        try:
            capacity = self.rt.throttle.take(buckets, bulk=self.bulk, deadline=deadline)
        except LimiterUnavailable:
            if fail_open:
                return 0.0
            self.again(1.0, Retrying("rate limiter unavailable"), calls=calls, failures=failures)
        metrics.observe_capacity_wait(BULK if self.bulk else INTERACTIVE, capacity.waited)
        if capacity.granted:
            return capacity.waited
        countdown = min(capacity.retry_after, CAPACITY_RECHECK_CAP)
        if time.time() + countdown >= deadline:
            raise JobExpired("no rate-limit capacity before the deadline")
        self.again(countdown, Retrying("waiting for capacity"), calls=calls, failures=failures)

    def admit(self, check: Callable[[], None]) -> None:
        """Abuse limits (worker/abuse.py). If Redis cannot answer, try again shortly:
        never send unchecked."""
        try:
            check()
        except AbuseUnavailable:
            calls, failures = self._count(CALLS_HEADER), self._count(FAILURES_HEADER)
            self.again(1.0, Retrying("abuse limits unavailable"), calls=calls, failures=failures)

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Give back the abuse slot of a job that ended without using it: a verify that
        verified nothing; a send that expired before its first call or that Pinpoint
        refused (no SMS). A send that may have reached Pinpoint keeps its slot."""
        destination = kwargs.get("destination") if isinstance(kwargs, dict) else None
        if not isinstance(destination, str) or not isinstance(exc, OtpqError):
            return
        if isinstance(exc, InvalidRequest):
            return  # refused before any slot was taken
        if self.name == VERIFY_TASK:
            self.rt.abuse.refund_verify(destination, task_id)
        elif isinstance(exc, PinpointRejected) or (
            isinstance(exc, JobExpired | ResendCooldown) and self._count(CALLS_HEADER) == 0
        ):
            self.rt.abuse.refund_send(destination, task_id)


def _parse(model: type[_R], args: tuple[Any, ...], kwargs: Any) -> _R:
    if args:
        raise InvalidRequest("args", "takes keyword arguments only")
    return model.from_kwargs(kwargs)


@app.task(name=SEND_TASK, bind=True, base=OtpTask)
def send(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    request = _parse(SendRequest, args, kwargs)
    deadline = self.check_deadline()
    campaign_hooks.raise_if_cancelled(self)
    job_id = self.request.id
    self.admit(lambda: self.rt.abuse.admit_send(request, job_id))
    origination = request.origination_identity or settings.origination_identity
    buckets = self.rt.throttle.buckets(request, origination)
    self.capacity(buckets, deadline, fail_open=False)
    claim = self.rt.claims.claim(job_id)
    if not claim.won:
        if claim.outcome is None:
            raise Uncertain("a previous delivery was in flight when its worker stopped")
        return _replay(claim.outcome)
    calls = self._count(CALLS_HEADER) + 1
    try:
        delivery = self.rt.gateway.send(request)
    except Transient as error:
        self.rt.claims.release(job_id)
        self.retry_or_give_up(error, buckets, calls=calls)
    except Permanent as error:
        self.rt.claims.complete(job_id, {"error": str(PinpointRejected(str(error)))})
        raise PinpointRejected(str(error)) from None
    result = {
        "job_id": job_id,
        "reference_id": request.ref_id,
        "message_id": delivery.message_id,
        "delivery_status": delivery.delivery_status,
        "status_code": delivery.status_code,
        "destination": mask_number(request.destination),
        "attempts": calls,
    }
    self.rt.claims.complete(job_id, {"result": result})
    return result


@app.task(name=VERIFY_TASK, bind=True, base=OtpTask)
def verify(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    request = _parse(VerifyRequest, args, self.rt.sealer.open_kwargs(kwargs))
    deadline = self.check_deadline()
    self.admit(lambda: self.rt.abuse.admit_verify(request, self.request.id))
    buckets = self.rt.throttle.buckets(request, None)
    self.capacity(buckets, deadline, fail_open=True)
    calls = self._count(CALLS_HEADER) + 1
    try:
        valid = self.rt.gateway.verify(request)
    except Transient as error:
        self.retry_or_give_up(error, buckets, calls=calls)
    except Permanent as error:
        raise PinpointRejected(str(error)) from None
    self.rt.abuse.verified(request, valid=valid)
    return {
        "job_id": self.request.id,
        "valid": valid,
        "reference_id": request.ref_id,
        "destination": mask_number(request.destination),
        "attempts": calls,
    }


def _replay(outcome: dict[str, Any]) -> dict[str, Any]:
    """A redelivered send whose first delivery finished: same outcome, no new SMS."""
    if "result" in outcome:
        return dict(outcome["result"])
    text = str(outcome.get("error", "rejected: unknown"))
    reason = reason_of(text)
    detail = text.split(": ", 1)[1] if ": " in text else text
    raise PinpointRejected(detail) if reason == "rejected" else Uncertain(detail)
