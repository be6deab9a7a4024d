"""otpq's own Prometheus metrics, served by each worker on `OTPQ_METRICS_PORT`.

Flower's `/metrics` counts Celery events; these say what happened to the jobs in
otpq's terms (outcome and reason, Pinpoint latency and 429s, rate-limit waits, queue
length). Recorded where a job ends (worker/ending.py) and from a botocore event hook.

The package: `definitions` (registry, series, closed label sets), `recording` (what
worker/ending.py and the policies call), `calls` (the botocore hook), `server` (the
HTTP endpoint and the queue-length gauge), `signals` (the server's life in a worker).
The names other modules use are re-exported here.
"""

from __future__ import annotations

from worker.metrics import signals as _signals  # noqa: F401  (connects the server's receivers)
from worker.metrics.calls import _after_call, _after_call_error, _before_call, instrument
from worker.metrics.definitions import (
    JOBS,
    NO_REASON,
    OPERATIONS,
    OTHER,
    PINPOINT_BUCKETS,
    PINPOINT_SECONDS,
    RATELIMIT_WAIT,
    REGISTRY,
    RETRIES,
    TASKS,
    THROTTLED,
    VERIFICATIONS,
    WAIT_BUCKETS,
    call_result,
    lane_label,
    operation_label,
    task_label,
)
from worker.metrics.recording import (
    failure_reason,
    job_failed,
    job_retried,
    job_succeeded,
    observe_capacity_wait,
    observe_pinpoint,
    retry_reason,
)
from worker.metrics.server import QueueLength, serve

__all__ = [
    "JOBS",
    "NO_REASON",
    "OPERATIONS",
    "OTHER",
    "PINPOINT_BUCKETS",
    "PINPOINT_SECONDS",
    "RATELIMIT_WAIT",
    "REGISTRY",
    "RETRIES",
    "TASKS",
    "THROTTLED",
    "VERIFICATIONS",
    "WAIT_BUCKETS",
    "QueueLength",
    "_after_call",
    "_after_call_error",
    "_before_call",
    "call_result",
    "failure_reason",
    "instrument",
    "job_failed",
    "job_retried",
    "job_succeeded",
    "lane_label",
    "observe_capacity_wait",
    "observe_pinpoint",
    "operation_label",
    "retry_reason",
    "serve",
    "task_label",
]
