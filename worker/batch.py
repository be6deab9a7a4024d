"""`otp.send_batch`: a chunk of bulk rows in one message, their sends made concurrently.

Celery's per-task machinery (fetch, events, result stores, ack) costs more CPU than a
send's own work; a campaign pays it once per batch instead of once per row. Nothing
else changes for a row: it runs the same policy as `otp.send` (worker/sending.py:
validation, deadline, campaign cancel check, abuse limits, the fleet limiter with the
bulk reserve, the send claim, the gateway), its result is stored under its own job id
(so `OtpClient.status(job_id)` and `AsyncResult(job_id)` work per row), its campaign
row is settled, and its abuse slot refunded, exactly as a single send's would be: a
row ends through worker/ending.py, as a task does.

A row that must run again (transient Pinpoint trouble, no capacity yet, Redis busy)
is re-enqueued alone as a plain `otp.send` on the bulk lane, with the same job id, a
countdown and the carried headers, so retries take the existing path. Rows run on one
thread pool per worker process (OTPQ_BATCH_CONCURRENCY), shared by every batch the
process holds. A batch never holds a row past its deadline, nor past the window in
which it must start so that the batch is acked well within the visibility timeout:
a row not started by then is handed off as an `otp.send` without being tried.

A redelivered batch texts nobody twice: each row's claim replays the first outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery.exceptions import Reject

from otpq_core.outcomes import InvalidRequest, RetryCause
from otpq_core.redaction import redact_text
from otpq_core.settings import BATCH_MAX_ROWS, Settings
from otpq_core.wire import (
    BULK,
    CALLS_HEADER,
    CAMPAIGN_HEADER,
    DEADLINE_HEADER,
    FAILURES_HEADER,
    SEND_BATCH_TASK,
    SEND_TASK,
)
from worker import ending, sending
from worker.app import app, settings
from worker.policy import Again, Attempt
from worker.runtime import Runtime
from worker.tasks import OtpTask, send

logger = logging.getLogger(__name__)

#: Longest row job id accepted (Celery's own ids are 36 characters).
JOB_ID_MAX = 200

_pool: tuple[int, ThreadPoolExecutor] | None = None


def row_pool() -> ThreadPoolExecutor:
    """One pool per process, built after a fork."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        workers = settings.batch_concurrency
        _pool = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="otpq-row"))
    return _pool[1]


def start_window(config: Settings) -> float:
    """Seconds after a batch starts in which each of its rows must start. A row holds
    at most one capacity wait and one call, so the last row ends by half the
    visibility timeout and a live batch is never delivered again."""
    row_hold = config.max_capacity_wait + config.connect_timeout + config.read_timeout
    return max(0.0, config.visibility_timeout / 2 - row_hold)


@dataclass
class Row:
    """One row's run: `kind` is sent | failed | again | malformed."""

    kind: str
    job_id: str = ""
    kwargs: Any = None
    again: Again | None = None


class BatchTask(OtpTask):
    """A batch is not a job: each row ends on its own (worker/ending.py), and a refused
    batch used no row's abuse slot."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        pass

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        pass

    def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        pass


@app.task(name=SEND_BATCH_TASK, bind=True, base=BatchTask)
def send_batch(self: BatchTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    rows = _rows(args, kwargs)
    batch = dataclasses.replace(
        self.attempt(), bulk=True, calls=0, failures=0, row=True, delivery_tag=None
    )
    start_by = time.time() + start_window(settings)
    rt = self.rt
    futures = [row_pool().submit(_run_row, rt, batch, row, start_by) for row in rows]
    counts: Counter[str] = Counter()
    for future in futures:
        row = future.result()
        counts[row.kind] += 1
        if row.again is not None:
            _requeue(row, batch)
    return {"rows": len(rows), **{k: counts[k] for k in ("sent", "failed", "again", "malformed")}}


def _rows(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    if args:
        raise InvalidRequest("args", "takes keyword arguments only")
    for name in kwargs:
        if name != "rows":
            raise InvalidRequest(redact_text(str(name)[:40]), "unknown argument")
    rows = kwargs.get("rows")
    if not isinstance(rows, list):
        raise InvalidRequest("rows", "must be a list of {job_id, kwargs}")
    if len(rows) > BATCH_MAX_ROWS:
        raise InvalidRequest("rows", f"at most {BATCH_MAX_ROWS} rows per batch")
    return rows


def _run_row(rt: Runtime, batch: Attempt, row: Any, start_by: float) -> Row:
    if not isinstance(row, dict):
        return Row("malformed")
    job_id, kwargs = row.get("job_id"), row.get("kwargs")
    if not isinstance(job_id, str) or not 0 < len(job_id) <= JOB_ID_MAX:
        return Row("malformed")
    attempt = dataclasses.replace(batch, job_id=job_id)
    job = attempt.as_job(SEND_TASK, kwargs)
    try:
        if time.time() > start_by:
            raise attempt.again(0.0, RetryCause.HANDED_OFF, calls=0, failures=0)
        sent = sending.run(rt, attempt, (), kwargs)
    except Again as again:
        return Row("again", job_id, kwargs, again)
    except Exception as exc:  # every row ends with a stored outcome, like a task
        ending.failed(rt, job, exc)
        return Row("failed", job_id)
    ending.succeeded(rt, job, sent.result, fresh=sent.fresh)
    return Row("sent", job_id)


def _requeue(row: Row, batch: Attempt) -> None:
    """The row alone, as a plain `otp.send` on the bulk lane, same id and headers. If it
    cannot be published, the whole batch goes back to its queue (claims make the rows
    already sent replay, not send again)."""
    assert row.again is not None
    why = row.again.why
    headers: dict[str, Any] = {
        DEADLINE_HEADER: batch.deadline,
        CALLS_HEADER: row.again.calls,
        FAILURES_HEADER: row.again.failures,
    }
    if batch.campaign:
        headers[CAMPAIGN_HEADER] = batch.campaign
    try:
        # Before the publish: the retried send may finish (and store its result) first.
        app.backend.mark_as_retry(row.job_id, why)
        send.apply_async(
            kwargs=row.kwargs if isinstance(row.kwargs, dict) else {},
            task_id=row.job_id,
            queue=BULK,
            countdown=row.again.countdown,
            headers=headers,
        )
    except Exception as exc:
        logger.warning("could not re-enqueue row %s: %s", row.job_id, redact_text(str(exc)))
        raise Reject(redact_text(str(exc)), requeue=True) from None
    ending.retried(dataclasses.replace(batch, job_id=row.job_id).as_job(SEND_TASK, row.kwargs), why)
