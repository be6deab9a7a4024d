"""How every job ends: the one seam, whatever ran it and however it ended.

dramatiq's `after_process_message` in otpq's terms. An `otp.send` or `otp.verify` task
(OtpTask's `on_success`/`on_failure`/`on_retry`, worker/tasks.py) and a row of an
`otp.send_batch` (worker/batch.py) end here, and nowhere else is "a job finished"
handled: the stored result (a row's; Celery stores a task's), its campaign row or the
day's send count, the verify answer a campaign counts, metrics, and the abuse refund.
Celery calls a task's hooks exactly where it sent the task_success/failure/retry
signals the old receivers listened to (a worker-lost job is requeued, not failed).

A fresh send's bookkeeping (`sent_into`) rides on the pipeline that records its claim's
outcome (worker/claims.py `complete`), so claim, result, campaign row and counters move
in one round trip. The claim and the result stay two keys: the claim says "in flight"
while the backend is called and is what a redelivery replays (worker/claims.py), the
result is Celery's public `AsyncResult` record.

Bookkeeping never fails a job: a Redis error here is logged (without numbers) and the
job's own outcome stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from celery.states import SUCCESS

from otpq_core.outcomes import OtpqError, Retrying
from otpq_core.redaction import redact_text
from otpq_core.wire import SEND_TASK, VERIFY_TASK
from worker import campaign_hooks, early_acks, metrics, results
from worker.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A job as its ending sees it."""

    task: str
    job_id: str
    lane: str
    kwargs: Any = None
    campaign: str | None = None
    #: Backend calls made by earlier runs (a refund depends on it).
    calls_before: int = 0
    #: A row of `otp.send_batch`: its result is stored here, not by Celery.
    row: bool = False
    #: The task's message, acked with a fresh send's outcome (None for a row).
    delivery_tag: str | None = None


def sent_into(pipe: redis.client.Pipeline, job: Job, result: dict[str, Any]) -> None:
    """A send this run made: queue its stored result, its campaign row or daily count and
    its message's ack on the pipeline recording its claim's outcome (one round trip)."""
    _queue_result(pipe, job.job_id, result)
    campaign_hooks.sent_into(job.campaign, job.job_id, pipe)
    if not job.row:
        early_acks.ack_into(pipe, job.delivery_tag)


def stored(job: Job) -> None:
    """`sent_into`'s pipeline went through: Celery need not store this task's result
    again once the task returns it, nor ack its message in Redis (a row's result is
    never Celery's to store, and its batch's message is acked as a whole)."""
    if not job.row:
        results.stored_with_claim(job.job_id)
        if job.delivery_tag:
            early_acks.acked(job.delivery_tag)


def succeeded(rt: Runtime, job: Job, result: Any, *, fresh: bool = True) -> None:
    """The job returned `result`. `fresh`: this run made the send (its bookkeeping went
    with its claim, `sent_into`); a replayed row's result is stored and settled here."""
    if job.task == SEND_TASK and job.row and not fresh:
        result_backend().store_result(job.job_id, result, SUCCESS)
        campaign_hooks.settle_send(job.campaign, job.job_id, None)
    if job.task == VERIFY_TASK and isinstance(result, dict):
        campaign_hooks.verified(job.kwargs, bool(result.get("valid")), job.job_id)
    metrics.job_succeeded(job.task, job.lane, result)


def failed(rt: Runtime, job: Job, exc: BaseException) -> None:
    """The job ended with `exc` (an OtpqError, or anything unexpected)."""
    if job.row:
        if not isinstance(exc, OtpqError):
            # Unexpected (a Redis error, say): stored as text, numbers masked.
            exc = RuntimeError(redact_text(f"{type(exc).__name__}: {exc}"))
        # Celery's own store, not a write queued with the ledger's: it first reads the
        # stored state and never overwrites a SUCCESS (a redelivered batch's row that
        # was sent, then found its campaign cancelled or its deadline passed).
        result_backend().mark_as_failure(job.job_id, exc)
    if job.task == SEND_TASK:
        campaign_hooks.settle_send(job.campaign, job.job_id, exc)
    metrics.job_failed(job.task, job.lane, exc)
    rt.abuse.refund(job.task, job.kwargs, job.job_id, exc, calls_before=job.calls_before)
    if job.row:
        logger.info("row %s failed: %s", job.job_id, redact_text(str(exc)))


def retried(job: Job, why: Retrying | BaseException | None) -> None:
    """The job was rescheduled (a Celery retry, or a row re-enqueued as `otp.send`)."""
    if job.task == SEND_TASK:
        campaign_hooks.retried_send(job.campaign)
    metrics.job_retried(job.task, why)


def result_backend() -> Any:
    """Celery's result backend (imported late: worker.app loads the tasks)."""
    from worker.app import app

    return app.backend


def _queue_result(pipe: Any, job_id: str, result: dict[str, Any]) -> None:
    """What `app.backend.store_result(job_id, result, SUCCESS)` writes (SET + PUBLISH),
    queued on the pipeline that records the send's claim. Celery's call first reads the
    stored state so that a late write cannot overwrite a SUCCESS: a send that has just
    won its claim has no such outcome to protect, and skipping that read and Celery's
    own write saves two round trips per send. The meta is Celery's shape for a store
    without a group or a parent (otpq's jobs have neither)."""
    backend = result_backend()
    meta = {
        "status": SUCCESS,
        "result": backend.encode_result(result, SUCCESS),
        "traceback": None,
        "children": [],
        "date_done": backend.app.now().isoformat(),
        "task_id": job_id,
    }
    key, value = backend.get_key_for_task(job_id), backend.encode(meta)
    if backend.expires:
        pipe.setex(key, backend.expires, value)
    else:
        pipe.set(key, value)
    pipe.publish(key, value)
