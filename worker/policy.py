"""What the send and verify policies share: a run's view of its job (`Attempt`), the
rescheduling signal (`Again`), and the steps both take — parse, deadline, abuse
admission, rate-limit capacity, transient-failure backoff, replay of a finished run.

worker/sending.py and worker/verifying.py put these steps in their order; the Celery
glue (worker/tasks.py) and the batch (worker/batch.py) only run them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from otpq_core.outcomes import (
    GaveUp,
    InvalidRequest,
    JobExpired,
    RetryCause,
    Retrying,
    rebuild,
)
from otpq_core.wire import BULK, INTERACTIVE
from producer.requests import SendRequest, VerifyRequest
from worker import ending, metrics
from worker.abuse import AbuseUnavailable
from worker.backoff import full_jitter
from worker.gateways import Transient
from worker.ratelimit import Bucket, Guard, LimiterUnavailable, Mark
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
    #: A row of `otp.send_batch` (its result is stored by its ending, worker/ending.py).
    row: bool = False
    #: The task's message (a row's is its batch's, never acked for the row).
    delivery_tag: str | None = None

    def again(self, countdown: float, cause: RetryCause, **counters: int) -> Again:
        """`Again` for `cause`, carrying this run's counters unless told otherwise."""
        return Again(
            countdown,
            Retrying.because(cause),
            calls=counters.get("calls", self.calls),
            failures=counters.get("failures", self.failures),
        )

    def as_job(self, task: str, kwargs: Any) -> ending.Job:
        """This run as worker/ending.py sees it."""
        return ending.Job(
            task,
            self.job_id,
            BULK if self.bulk else INTERACTIVE,
            kwargs,
            self.campaign,
            calls_before=self.calls,
            row=self.row,
            delivery_tag=None if self.row else self.delivery_tag,
        )


class Again(Exception):
    """Run this job again after `countdown` seconds, carrying its counters. `why` is
    what the job shows while it waits (its `cause` is the metrics label)."""

    def __init__(self, countdown: float, why: Retrying, *, calls: int, failures: int) -> None:
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
        raise attempt.again(1.0, RetryCause.ABUSE_UNAVAILABLE) from None


def take_capacity(
    rt: Runtime,
    buckets: list[Bucket],
    attempt: Attempt,
    *,
    fail_open: bool,
    mark: Mark | None = None,
    guard: Guard | None = None,
) -> Capacity:
    """Take a token from every bucket (and set `mark` with it), or reschedule. Returns
    at once, without a token, if `mark`'s key is already set. `guard` is checked in the
    same step as the first token (`GuardRefused` when it refuses)."""
    deadline = attempt.deadline
    try:
        capacity = rt.throttle.take(
            buckets, bulk=attempt.bulk, deadline=deadline, mark=mark, guard=guard
        )
    except LimiterUnavailable:
        if fail_open:
            return Capacity(True)
        raise attempt.again(1.0, RetryCause.LIMITER_UNAVAILABLE) from None
    metrics.observe_capacity_wait(BULK if attempt.bulk else INTERACTIVE, capacity.waited)
    if capacity.granted or capacity.marked is False or capacity.stopped:
        return capacity
    countdown = min(capacity.retry_after, CAPACITY_RECHECK_CAP)
    if time.time() + countdown >= deadline:
        raise JobExpired("no rate-limit capacity before the deadline")
    raise attempt.again(countdown, RetryCause.CAPACITY)


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
    cause = RetryCause.THROTTLED if error.throttled else RetryCause.BACKEND_TRANSIENT
    raise Again(
        delay, Retrying.because(cause, str(error), code=error.code), calls=calls, failures=failures
    )


def replay(outcome: dict[str, Any]) -> dict[str, Any]:
    """A redelivered job whose first delivery finished: same outcome, no new call. A
    failure is rebuilt from its `{reason, detail}` (otpq_core.outcomes `rebuild`)."""
    if "result" in outcome:
        return dict(outcome["result"])
    raise rebuild(outcome)
