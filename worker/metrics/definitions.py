"""What otpq measures: the registry, its series, and the closed label sets.

Every label value comes from a closed set (task and lane names, outcome reasons,
retry causes, backend operation names, error codes that are letters only): a phone
number or an OTP can never become a label, and cardinality stays bounded.

The metrics live in their own registry: Flower imports this package too, and its
`/metrics` (the default registry) must not show otpq's zeros beside its own series.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram

from otpq_core.wire import QUEUES, SEND_TASK, VERIFY_TASK

#: Task names that get a series; anything else is not otpq's and is not recorded.
TASKS = frozenset({SEND_TASK, VERIFY_TASK})
#: Backend operations the gateways call (Pinpoint's, then Notify's): the operation
#: label names the backend too.
OPERATIONS = frozenset(
    {
        "SendOTPMessage",
        "VerifyOTPMessage",
        "SendNotifyCodeVerification",
        "ValidateNotifyCodeVerification",
    }
)
#: The `reason` of a succeeded job.
NO_REASON = "none"
#: Label for a value outside its closed set.
OTHER = "other"
#: Pinpoint latency buckets, seconds: a healthy call is tens of milliseconds, and the
#: default connect + read timeouts end a hung one at 7 s.
PINPOINT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0)
#: Rate-limit wait buckets, seconds, up to OTPQ_MAX_CAPACITY_WAIT's default (10 s);
#: the first counts jobs that did not wait at all.
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# An error code is a word (TooManyRequestsException, TEMPORARY_FAILURE,
# ConnectTimeoutError): letters and underscores only, so never a number or a code.
_CODE = re.compile(r"[A-Za-z][A-Za-z_]{0,63}")

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS = Counter(
    "otpq_jobs",
    "Jobs that ended, by outcome (succeeded/failed) and failure reason.",
    ["task", "lane", "outcome", "reason"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "otpq_retries",
    "Jobs rescheduled, by reason (the backend's error code, or a RetryCause).",
    ["task", "reason"],
    registry=REGISTRY,
)
VERIFICATIONS = Counter(
    "otpq_verifications",
    "Finished verify jobs by whether the code was valid: a surge of false is guessing.",
    ["valid"],
    registry=REGISTRY,
)
PINPOINT_SECONDS = Histogram(
    "otpq_pinpoint_request_duration_seconds",
    "Pinpoint API call latency by operation and result.",
    ["operation", "result"],
    buckets=PINPOINT_BUCKETS,
    registry=REGISTRY,
)
THROTTLED = Counter(
    "otpq_throttled",
    "Pinpoint answers 429 TooManyRequests, by operation.",
    ["operation"],
    registry=REGISTRY,
)
RATELIMIT_WAIT = Histogram(
    "otpq_ratelimit_wait_seconds",
    "Seconds a job waited in its worker slot for fleet rate-limit capacity.",
    ["lane"],
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)


def task_label(name: object) -> str | None:
    return name if isinstance(name, str) and name in TASKS else None


def lane_label(routing_key: object) -> str:
    return routing_key if isinstance(routing_key, str) and routing_key in QUEUES else OTHER


def operation_label(name: object) -> str:
    return name if isinstance(name, str) and name in OPERATIONS else OTHER


def call_result(status: int | None) -> str:
    """An HTTP status as a call result: ok, throttled, client_error, server_error."""
    if status is None:
        return "connection_error"
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "throttled"
    return "server_error" if status >= 500 else "client_error"
