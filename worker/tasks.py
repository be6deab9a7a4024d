"""`otp.send` and `otp.verify`: the Celery glue around the two policies.

Only what is Celery's lives here: reading the message's headers into an `Attempt`,
turning the policy's `Again` into a Celery retry, and handing each ending (success,
failure, retry) to worker/ending.py. The send policy is worker/sending.py (shared
with the rows of `otp.send_batch`, worker/batch.py), the verify policy
worker/verifying.py; validation is the producer's request models; what each failure
means is otpq_core.outcomes' table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from celery import Task

from otpq_core.outcomes import OtpqError
from otpq_core.wire import (
    BULK,
    CALLS_HEADER,
    CAMPAIGN_HEADER,
    DEADLINE_HEADER,
    FAILURES_HEADER,
    INTERACTIVE,
    SEND_TASK,
    VERIFY_TASK,
    default_deadline,
)
from worker import campaign_hooks, ending, sending, verifying
from worker.app import app, settings
from worker.policy import Again, Attempt
from worker.runtime import Runtime, runtime

#: Shortest countdown a retry is published with. Celery stores a job's RETRY state only
#: after it has published the retry; with a countdown near zero (full jitter can draw
#: one) another thread may run the retry and store SUCCESS first, and the late RETRY then
#: overwrites it (Celery's guard is a read, then a write). A tenth of a second keeps the
#: republished job from starting before its first run has recorded RETRY.
RETRY_FLOOR = 0.1


class OtpTask(Task):
    """Base of both tasks: redacted arguments, deadlines, the retry policy, endings."""

    Request = "worker.request:RedactedRequest"
    typing = False
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by OTPQ_MAX_ATTEMPTS and the job's deadline instead
    # Expected outcomes: logged as one line, without a traceback.
    throws = (OtpqError,)

    @property
    def rt(self) -> Runtime:
        return runtime(settings)

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
            lane = BULK if self.bulk else INTERACTIVE
            deadline = time.time() + default_deadline(lane, settings)
            self.request.headers = {**(self.request.headers or {}), DEADLINE_HEADER: deadline}
            setattr(self.request, DEADLINE_HEADER, deadline)
            return deadline

    def attempt(self) -> Attempt:
        """This run as the policies see it, from the message's headers (read once per
        run: the task and its ending both ask)."""
        cached = getattr(self.request, "otpq_attempt", None)
        if isinstance(cached, Attempt) and cached.job_id == self.request.id:
            return cached
        attempt = Attempt(
            job_id=self.request.id,
            deadline=self.deadline(),
            bulk=self.bulk,
            campaign=campaign_hooks.campaign_of(self.request),
            calls=self._count(CALLS_HEADER),
            failures=self._count(FAILURES_HEADER),
            delivery_tag=(self.request.delivery_info or {}).get("delivery_tag"),
        )
        self.request.otpq_attempt = attempt
        return attempt

    @contextlib.contextmanager
    def rescheduling(self) -> Iterator[None]:
        """The policy's `Again` becomes a Celery retry of this job."""
        try:
            yield
        except Again as again:
            self.again(again)

    def again(self, again: Again) -> NoReturn:
        """Re-publish this job to its own queue after the countdown, with its counters."""
        headers = {
            DEADLINE_HEADER: self.deadline(),
            CALLS_HEADER: again.calls,
            FAILURES_HEADER: again.failures,
        }
        if campaign := campaign_hooks.campaign_of(self.request):
            headers[CAMPAIGN_HEADER] = campaign
        countdown = max(again.countdown, RETRY_FLOOR)
        raise self.retry(countdown=countdown, exc=again.why, max_retries=None, headers=headers)

    def _job(self, kwargs: Any) -> ending.Job:
        job = self.attempt().as_job(self.name, kwargs)
        # Metrics label the lane the job came from (Celery's default queue is `other`).
        lane = (self.request.delivery_info or {}).get("routing_key")
        return dataclasses.replace(job, lane=lane if isinstance(lane, str) else "")

    # Every ending goes to worker/ending.py (Celery calls these with the request current).

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        ending.succeeded(self.rt, self._job(kwargs), retval)

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        ending.failed(self.rt, self._job(kwargs), exc)

    def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        ending.retried(self._job(kwargs), exc)


@app.task(name=SEND_TASK, bind=True, base=OtpTask)
def send(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with self.rescheduling():
        return sending.send(self.rt, self.attempt(), args, kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


@app.task(name=VERIFY_TASK, bind=True, base=OtpTask)
def verify(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with self.rescheduling():
        return verifying.verify(self.rt, self.attempt(), args, kwargs)
    raise AssertionError("unreachable")  # pragma: no cover
