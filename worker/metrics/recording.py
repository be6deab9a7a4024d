"""Recording a job's ending, its rate-limit wait and its backend calls.

Called by worker/ending.py (jobs), worker/sending.py (waits) and worker/metrics/calls.py
(backend calls): the labels come from data (an exception's class, a RetryCause), never
from parsing a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otpq_core.outcomes import RetryCause, Retrying, reason_for, reason_of
from otpq_core.wire import VERIFY_TASK
from worker.metrics.definitions import (
    _CODE,
    JOBS,
    NO_REASON,
    OTHER,
    PINPOINT_SECONDS,
    RATELIMIT_WAIT,
    RETRIES,
    THROTTLED,
    VERIFICATIONS,
    call_result,
    lane_label,
    operation_label,
    task_label,
)

#: Causes whose label is the backend's own error code, when it has one.
_BACKEND_CAUSES = frozenset({RetryCause.BACKEND_TRANSIENT, RetryCause.THROTTLED})


def failure_reason(exception: BaseException | str) -> str:
    """One of otpq_core.outcomes' reasons (from the exception's class), or `error`."""
    if isinstance(exception, BaseException):
        return reason_for(exception)
    return reason_of(exception)


def retry_reason(exception: BaseException | str | None) -> str:
    """The backend's error code (`TooManyRequestsException`, `TEMPORARY_FAILURE`, ...)
    for a backend cause, else the RetryCause (`capacity`, `limiter_unavailable`, ...),
    else `other`. A Retrying without a cause (raised by other code) is labelled by its
    first word if that is a code word."""
    if isinstance(exception, Retrying) and exception.cause is not None:
        code = exception.code
        if exception.cause in _BACKEND_CAUSES and code and _CODE.fullmatch(code):
            return code
        return exception.cause.value
    text = exception.detail if isinstance(exception, Retrying) else str(exception or "")
    code = text.split(":", 1)[0].strip()
    return code if _CODE.fullmatch(code) else OTHER


def job_succeeded(task: str, lane: str, result: Any = None) -> None:
    if task_label(task) is None:
        return
    JOBS.labels(task, lane_label(lane), "succeeded", NO_REASON).inc()
    if task == VERIFY_TASK and isinstance(result, Mapping) and "valid" in result:
        VERIFICATIONS.labels("true" if result["valid"] is True else "false").inc()


def job_failed(task: str, lane: str, exception: BaseException | str) -> None:
    if task_label(task) is None:
        return
    JOBS.labels(task, lane_label(lane), "failed", failure_reason(exception)).inc()


def job_retried(task: str, exception: BaseException | str | None) -> None:
    if task_label(task) is None:
        return
    RETRIES.labels(task, retry_reason(exception)).inc()


def observe_capacity_wait(lane: str, seconds: float) -> None:
    """Called by the send and verify policies each time a job asked the fleet limiter."""
    RATELIMIT_WAIT.labels(lane_label(lane)).observe(max(0.0, seconds))


def observe_pinpoint(operation: str, status: int | None, seconds: float) -> None:
    op = operation_label(operation)
    result = call_result(status)
    PINPOINT_SECONDS.labels(op, result).observe(max(0.0, seconds))
    if result == "throttled":
        THROTTLED.labels(op).inc()
