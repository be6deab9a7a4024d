"""One send's policy, whoever runs it: the `otp.send` task, or a row of `otp.send_batch`.

parse → deadline → campaign cancelled? → abuse limits → rate-limit capacity, claim and
(for a campaign row) the cancel check again, in one atomic step → gateway → result.
Rescheduling belongs to the caller: the pipeline raises `Again`, and `otp.send`
re-publishes itself (a Celery retry) while a batch re-enqueues the row alone as an
`otp.send` with the same job id. Everything else (outcomes, refunds) is the same code
for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import redis

from otpq_core.outcomes import (
    Cancelled,
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
from otpq_core.redaction import mask_number
from otpq_core.wire import BULK, INTERACTIVE, VERIFY_TASK
from producer.refid import generate_ref_id, shown_ref_id
from producer.requests import SendRequest, VerifyRequest
from worker import campaign_hooks, metrics
from worker.abuse import AbuseUnavailable
from worker.backoff import full_jitter
from worker.gateways import Permanent, Transient
from worker.ratelimit import Bucket, LimiterUnavailable, Mark
from worker.runtime import Runtime
from worker.throttle import Capacity

_R = TypeVar("_R", SendRequest, VerifyRequest)

#: Longest a rescheduled job waits before it looks for capacity again.
CAPACITY_RECHECK_CAP = 5.0


@dataclass(frozen=True)
class Attempt:
    """What one run of a job knows besides its kwargs (from its message headers)."""

    job_id: str
    deadline: float
    bulk: bool
    campaign: str | None = None
    #: Pinpoint calls made by earlier runs, and how many of them failed transiently.
    calls: int = 0
    failures: int = 0


class Again(Exception):
    """Run this job again after `countdown` seconds, carrying its counters."""

    def __init__(self, countdown: float, why: Exception, *, calls: int, failures: int) -> None:
        super().__init__(str(why))
        self.countdown = countdown
        self.why = why
        self.calls = calls
        self.failures = failures


def parse(model: type[_R], args: tuple[Any, ...], kwargs: Any) -> _R:
    if args:
        raise InvalidRequest("args", "takes keyword arguments only")
    return model.from_kwargs(kwargs)


def check_deadline(deadline: float) -> float:
    if time.time() > deadline:
        late = time.time() - deadline
        raise JobExpired(f"deadline passed {late:.1f}s before the job could run")
    return deadline


def admit(check: Callable[[], None], attempt: Attempt) -> None:
    """Abuse limits (worker/abuse.py). If Redis cannot answer, try again shortly:
    never send unchecked."""
    try:
        check()
    except AbuseUnavailable:
        raise Again(
            1.0,
            Retrying("abuse limits unavailable"),
            calls=attempt.calls,
            failures=attempt.failures,
        ) from None


def take_capacity(
    rt: Runtime,
    buckets: list[Bucket],
    attempt: Attempt,
    *,
    fail_open: bool,
    mark: Mark | None = None,
) -> Capacity:
    """Take a token from every bucket (and set `mark` with it), or reschedule. Returns
    at once, without a token, if `mark`'s key is already set."""
    calls, failures, deadline = attempt.calls, attempt.failures, attempt.deadline
    try:
        capacity = rt.throttle.take(buckets, bulk=attempt.bulk, deadline=deadline, mark=mark)
    except LimiterUnavailable:
        if fail_open:
            return Capacity(True)
        raise Again(
            1.0, Retrying("rate limiter unavailable"), calls=calls, failures=failures
        ) from None
    metrics.observe_capacity_wait(BULK if attempt.bulk else INTERACTIVE, capacity.waited)
    if capacity.granted or capacity.marked is False or capacity.stopped:
        return capacity
    countdown = min(capacity.retry_after, CAPACITY_RECHECK_CAP)
    if time.time() + countdown >= deadline:
        raise JobExpired("no rate-limit capacity before the deadline")
    raise Again(countdown, Retrying("waiting for capacity"), calls=calls, failures=failures)


def retry_or_give_up(
    rt: Runtime, error: Transient, buckets: list[Bucket], attempt: Attempt, *, calls: int
) -> NoReturn:
    """Transient Pinpoint trouble. 429s slow the fleet and cost no attempt."""
    settings = rt.settings
    failures = attempt.failures
    if error.throttled:
        rt.throttle.throttled(buckets)
    else:
        failures += 1
        if failures >= settings.max_attempts:
            raise GaveUp(f"after {calls} attempts: {error}")
    delay = full_jitter(failures, settings.retry_base, settings.retry_cap)
    if time.time() + delay >= attempt.deadline:
        raise GaveUp(f"after {calls} attempts (deadline reached): {error}")
    raise Again(delay, error, calls=calls, failures=failures)


#: Queues a fresh send's bookkeeping on the pipeline that records its outcome.
OnSent = Callable[["redis.client.Pipeline", dict[str, Any]], None]


def send(
    rt: Runtime,
    attempt: Attempt,
    args: tuple[Any, ...],
    kwargs: Any,
    *,
    on_sent: OnSent | None = None,
) -> dict[str, Any]:
    """One send, start to finish: its result, or an OtpqError, or `Again`.

    `on_sent` runs only for a send made by this run (not for a replayed outcome), inside
    the claim's completion pipeline."""
    request = parse(SendRequest, args, kwargs)
    gateway = rt.gateway
    request.check_backend(gateway.backend)
    check_deadline(attempt.deadline)
    campaign_hooks.raise_if_campaign_cancelled(attempt.campaign)
    job_id = attempt.job_id
    admit(lambda: rt.abuse.admit_send(request, job_id), attempt)
    origination = request.origination_identity or rt.settings.origination_identity
    buckets = rt.throttle.buckets(request, origination)
    # The claim rides on the token's round trip when a bucket is limited (always, in
    # production); it is made on its own only when that did not settle it. A campaign
    # row's claim is refused in that same step once its campaign is cancelled, however
    # long the row waited for capacity: after `campaign cancel` returns, no row claims.
    campaign = attempt.campaign
    mark = rt.claims.mark(job_id, campaign)
    capacity = take_capacity(rt, buckets, attempt, fail_open=False, mark=mark)
    if capacity.stopped:
        raise Cancelled("its campaign was cancelled before it was sent")
    if not capacity.marked:
        claim = rt.claims.claim(job_id)
        if not claim.won:
            if claim.outcome is None:
                raise Uncertain("a previous delivery was in flight when its worker stopped")
            return replay(claim.outcome)
        if capacity.marked is False:  # the claim was let go between the two looks
            rt.claims.release(job_id)
            raise Again(
                0.0,
                Retrying("its claim changed hands"),
                calls=attempt.calls,
                failures=attempt.failures,
            )
    calls = attempt.calls + 1
    try:
        delivery = gateway.send(request)
    except Transient as error:
        rt.claims.release(job_id, campaign)
        retry_or_give_up(rt, error, buckets, attempt, calls=calls)
    except Permanent as error:
        outcome = {"error": str(PinpointRejected(str(error)))}
        rt.claims.complete(job_id, outcome, campaign=campaign)
        raise PinpointRejected(str(error)) from None
    result = {
        "job_id": job_id,
        "reference_id": shown_ref_id(request.reference_id, request.ref_id),
        "message_id": delivery.message_id,
        "delivery_status": delivery.delivery_status,
        "status_code": delivery.status_code,
        "destination": mask_number(request.destination),
        "attempts": calls,
    }

    def also(pipe: redis.client.Pipeline) -> None:
        rt.origins.remember_into(pipe, request, delivery.backend)
        rt.abuse.code_sent_into(pipe, request)
        if on_sent is not None:
            on_sent(pipe, result)

    rt.claims.complete(job_id, {"result": result}, also=also, campaign=campaign)
    return result


def replay(outcome: dict[str, Any]) -> dict[str, Any]:
    """A redelivered send whose first delivery finished: same outcome, no new SMS."""
    if "result" in outcome:
        return dict(outcome["result"])
    text = str(outcome.get("error", "rejected: unknown"))
    reason = reason_of(text)
    detail = text.split(": ", 1)[1] if ": " in text else text
    raise PinpointRejected(detail) if reason == "rejected" else Uncertain(detail)


def refund(
    rt: Runtime, task: str, kwargs: Any, job_id: str, exc: BaseException, *, calls_before: int
) -> None:
    """Give back the abuse slot of a job that ended without using it: a verify that
    verified nothing; a send that expired or was cancelled before its first call, or
    that Pinpoint refused (no SMS). A send that may have reached Pinpoint keeps its slot."""
    destination = kwargs.get("destination") if isinstance(kwargs, dict) else None
    if not isinstance(destination, str) or not isinstance(exc, OtpqError):
        return
    if isinstance(exc, InvalidRequest):
        return  # refused before any slot was taken
    if task == VERIFY_TASK:
        reference = kwargs.get("reference_id") or generate_ref_id(
            destination, str(kwargs.get("brand_name", "")), str(kwargs.get("source", ""))
        )
        rt.abuse.refund_verify(destination, str(reference), job_id)
    elif isinstance(exc, PinpointRejected) or (
        isinstance(exc, JobExpired | ResendCooldown | Cancelled) and calls_before == 0
    ):
        rt.abuse.refund_send(destination, job_id)
