"""otpq's own Prometheus metrics, served by each worker on `OTPQ_METRICS_PORT`.

Flower's `/metrics` counts Celery events; these say what happened to the jobs in
otpq's terms (outcome and reason, Pinpoint latency and 429s, rate-limit waits, queue
length). Recorded from Celery signals and a botocore event hook, so tasks stay thin.

Every label value comes from a closed set (task and lane names, outcome reasons,
Pinpoint operation names, error codes that are letters only): a phone number or an
OTP can never become a label, and cardinality stays bounded.

The metrics live in their own registry: Flower imports this package too, and its
`/metrics` (the default registry) must not show otpq's zeros beside its own series.

Pools: the default threads pool runs every task in the worker's one process, whose
HTTP server sees everything. Under prefork the tasks run in child processes; set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory for the worker and the server sums
the children's values (prometheus_client's multiprocess mode); without it the
worker logs a warning and only the queue length is meaningful.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import signals
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from otpq_core.outcomes import REASONS, reason_of
from otpq_core.settings import Settings
from otpq_core.wire import QUEUES, SEND_TASK, SERVED_QUEUES, VERIFY_TASK

log = logging.getLogger(__name__)

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
_RETRY_PREFIX = "retrying: "
_RETRY_WORDS = {
    "waiting for capacity": "capacity",
    "rate limiter unavailable": "limiter_unavailable",
}
_STARTED = "otpq_started"
_OPERATION = "otpq_operation"
# kombu's Redis transport keeps a queue's priority levels in lists named
# `<queue>\x06\x16<priority>`; the plain name holds priority 0.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS = Counter(
    "otpq_jobs",
    "Jobs that ended, by outcome (succeeded/failed) and failure reason.",
    ["task", "lane", "outcome", "reason"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "otpq_retries",
    "Jobs rescheduled, by reason (Pinpoint error code, capacity, limiter_unavailable).",
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


def lane_of(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    return lane_label(info.get("routing_key") if isinstance(info, Mapping) else None)


def failure_reason(exception: BaseException | str) -> str:
    """One of producer.outcomes' reasons, or `error` for anything else."""
    reason = reason_of(str(exception))
    return reason if reason in REASONS else "error"


def retry_reason(exception: BaseException | str | None) -> str:
    """`TooManyRequestsException`, `TEMPORARY_FAILURE`, `capacity`, ... or `other`."""
    text = str(exception or "")
    while text.startswith(_RETRY_PREFIX):
        text = text[len(_RETRY_PREFIX) :]
    for words, reason in _RETRY_WORDS.items():
        if text.startswith(words):
            return reason
    code = text.split(":", 1)[0].strip()
    return code if _CODE.fullmatch(code) else OTHER


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


# --- recording -------------------------------------------------------------------


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
    """Called by OtpTask.capacity() each time a job asked the fleet limiter."""
    RATELIMIT_WAIT.labels(lane_label(lane)).observe(max(0.0, seconds))


def observe_pinpoint(operation: str, status: int | None, seconds: float) -> None:
    op = operation_label(operation)
    result = call_result(status)
    PINPOINT_SECONDS.labels(op, result).observe(max(0.0, seconds))
    if result == "throttled":
        THROTTLED.labels(op).inc()


# --- Celery signals ----------------------------------------------------------------


@signals.task_success.connect
def _on_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    job_succeeded(getattr(sender, "name", ""), lane_of(getattr(sender, "request", None)), result)


@signals.task_failure.connect
def _on_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    lane = lane_of(getattr(sender, "request", None))
    job_failed(getattr(sender, "name", ""), lane, exception or "error")


@signals.task_retry.connect
def _on_retry(sender: Any = None, reason: Any = None, **_: Any) -> None:
    # `reason` is Celery's Retry; its `exc` is our Retrying("<code>: <detail>").
    job_retried(getattr(sender, "name", ""), getattr(reason, "exc", None) or reason)


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    if settings.metrics_port is None:
        return
    pool = type(getattr(sender, "pool", None)).__module__
    if "prefork" in pool and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning(
            "OTPQ_METRICS_PORT with the prefork pool: tasks run in child processes whose "
            "metrics this server cannot see; set PROMETHEUS_MULTIPROC_DIR or use -P threads"
        )
    serve(settings.metrics_port, settings, addr=settings.metrics_addr)


@signals.worker_process_shutdown.connect
def _on_child_exit(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def serve(port: int, settings: Settings, addr: str | None = None) -> WSGIServer | None:
    """Start the HTTP endpoint in a daemon thread; None if the port is taken. It listens
    on `addr`, by default OTPQ_METRICS_ADDR (127.0.0.1: it has no authentication)."""
    addr = addr or settings.metrics_addr
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    with contextlib.suppress(ValueError):  # served once per process; tests may ask again
        registry.register(QueueLength(settings))
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        log.error("otpq metrics not served: port %s: %s", port, exc)
        return None
    log.info("otpq metrics on http://%s:%s/metrics", addr or "*", port)
    return server


class QueueLength(Collector):
    """`otpq_queue_length{lane}`: jobs waiting in Redis, read at scrape time.

    The lanes and Celery's default queue (`lane="celery"`, where a by-name client that
    names no queue publishes; interactive workers drain it): a backlog there is a
    client to fix, or no interactive worker running.

    Every worker reports the same lists; alert on `max by (lane)`. Jobs a worker
    already holds (prefetched, or waiting for a retry countdown) are not counted.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            from otpq_core.redis_factory import redis_client

            self._client = redis_client(
                self.settings, timeout=min(self.settings.redis_timeout, 2.0)
            )
        return self._client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "otpq_queue_length", "Jobs waiting in each lane's Redis list.", labels=["lane"]
        )
        try:
            with self._redis().pipeline(transaction=False) as pipe:
                for queue in SERVED_QUEUES:
                    pipe.llen(queue)
                    for step in _PRIORITY_STEPS:
                        pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
                counts = pipe.execute()
        except Exception as exc:  # a scrape must not fail because Redis hiccupped
            log.warning("otpq_queue_length: Redis unavailable: %s", type(exc).__name__)
            return
        per_queue = 1 + len(_PRIORITY_STEPS)
        for index, queue in enumerate(SERVED_QUEUES):
            family.add_metric(
                [queue], float(sum(counts[index * per_queue : (index + 1) * per_queue]))
            )
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("otpq_queue_length", "", labels=["lane"])


# --- botocore hook -------------------------------------------------------------------


def instrument(client: Any) -> Any:
    """Time each Pinpoint call on `client` (a boto3 client) from botocore's own events.

    botocore's retries are off, so one call is one HTTP request. Idempotent.
    """
    events = client.meta.events
    # botocore runs wildcard handlers before service-specific ones, and stops at the first
    # that answers the call (the Stubber does): be first among those. Each client talks
    # to one backend.
    service = client.meta.service_model.service_id.hyphenize()
    events.register_first("before-call.*.*", _before_call, unique_id="otpq-metrics-before")
    events.register(f"after-call.{service}", _after_call, unique_id="otpq-metrics-after")
    events.register(
        f"after-call-error.{service}", _after_call_error, unique_id="otpq-metrics-error"
    )
    return client


def _before_call(model: Any = None, context: Any = None, **_: Any) -> None:
    if isinstance(context, dict):
        context[_STARTED] = time.perf_counter()
        context[_OPERATION] = getattr(model, "name", None)


def _elapsed(context: Any) -> tuple[str, float] | None:
    if not isinstance(context, dict) or _STARTED not in context:
        return None
    started = context.pop(_STARTED)
    return str(context.get(_OPERATION)), time.perf_counter() - started


def _after_call(http_response: Any = None, context: Any = None, **_: Any) -> None:
    timing = _elapsed(context)
    if timing is not None:
        observe_pinpoint(timing[0], getattr(http_response, "status_code", None), timing[1])


def _after_call_error(context: Any = None, **_: Any) -> None:
    timing = _elapsed(context)
    if timing is not None:
        observe_pinpoint(timing[0], None, timing[1])
