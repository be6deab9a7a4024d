"""The Celery app behind `celery -A worker worker` and `celery -A worker flower`.

Configured only by environment variables (otpq_core.settings lists them). Defaults
suit I/O-bound work: a thread pool, one prefetched message per slot, late acks so a
job held by a crashed worker is delivered again.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

from otpq_core import wire
from otpq_core.celery_config import celery_config
from otpq_core.redaction import redact_args, redact_kwargs
from otpq_core.settings import Settings
from worker import events, lanes, logs, pools
from worker import metrics as _metrics  # noqa: F401  (connects its signal receivers)
from worker import routing as _routing  # noqa: F401  (serves `celery`, prunes bindings)
from worker.event_batching import EventBatching
from worker.results import result_backend_url

log = logging.getLogger(__name__)

settings = Settings.from_env()


class _RedactingCelery(Celery):
    """Every message this app publishes shows masked arguments: a retry, `celery -A worker
    call`, `app.send_task` by name. Its headers' argsrepr/kwargsrepr are also what its
    `task-sent` event carries (task_send_sent_event, below), which Celery would otherwise
    fill with the real number and code."""

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if isinstance(args, list | tuple) or args is None:
            options.setdefault("argsrepr", redact_args(args))
        if isinstance(kwargs, Mapping) or kwargs is None:  # else Celery refuses it itself
            options.setdefault("kwargsrepr", repr(redact_kwargs(kwargs)))
        return super().send_task(name, args, kwargs, **options)


app = _RedactingCelery("otpq")
app.conf.update(celery_config(settings))
# A late RETRY never overwrites a finished result (worker/results.py).
app.conf.result_backend = result_backend_url(settings.redis_url)
app.conf.update(
    worker_pool="threads",
    # Threads per worker process when `-c` does not say: enough for rate × AWS latency.
    worker_concurrency=pools.DEFAULT_SLOTS,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=True,
    # No STARTED state: Celery writes it with a read and a write to Redis per job
    # (7 % of throughput, bench/throughput.py). OtpClient.status says "running" from
    # the send's claim instead; Flower still sees task-started events.
    task_track_started=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    worker_redirect_stdouts=False,
)
# Items in a queue that are not messages are dropped, not fatal (worker.broker). The
# transport is registered under the URL's own schemes rather than named with
# `broker_transport`: Flower picks its broker view (the Broker tab, queue lengths) by
# the scheme of `as_uri()`, which a transport class name would replace.
for _scheme in ("redis", "rediss", "sentinel"):
    TRANSPORT_ALIASES[_scheme] = "worker.broker:Transport"

app.conf.update(
    # A retry (or a reschedule for capacity) is published from inside the task: ride
    # out a Redis restart of a few seconds instead of failing at once (Celery's
    # default gives up after about 0.6 s). See worker.request.RedactedRequest.reject
    # for what happens when even this fails.
    task_publish_retry=True,
    task_publish_retry_policy={
        "max_retries": 10,
        "interval_start": 0.1,
        "interval_step": 0.5,
        "interval_max": 1.0,
    },
)


app.steps["consumer"].add(EventBatching)


@signals.worker_init.connect
def _check_start(sender: Any = None, **_: Any) -> None:
    """Refuse, before anything is consumed, what otpq cannot run on (worker/pools.py)
    or without (Notify's sending identity)."""
    pools.check(getattr(sender, "pool_cls", app.conf.worker_pool), sys.argv)
    _check_backend()


@signals.celeryd_after_setup.connect
def _size_and_warm_up(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """Size this process from the worker's real concurrency, then build the boto3 client
    and Redis pool before the first job, not inside it.

    Built lazily, the first jobs would take their rate-limit tokens and only then spend
    a hundred milliseconds building a client: their requests reach AWS bunched together,
    and a quota equal to ours answers 429.
    """
    from worker.runtime import runtime

    pool = pools.adopt(instance) if instance is not None else pools.current()
    reserved = lanes.reserved_slots(pool.slots, settings.interactive_slots)
    multiplier = max(1, int(app.conf.worker_prefetch_multiplier or 1))
    transport = app.conf.broker_transport_options
    transport["interactive_slots"] = reserved * multiplier
    transport["max_connections"] = pool.broker_connections
    app.conf.broker_pool_limit = pool.broker_connections
    rt = runtime(settings)
    rt.gateway  # noqa: B018  (cached: builds the client)
    rt.throttle  # noqa: B018
    log.info(
        "otpq worker: %s pool, %d slots (%s), %d AWS connections, %d broker connections",
        pool.name,
        pool.slots,
        f"{reserved} kept for logins" if _serves_both_lanes() else "one lane",
        rt.pool_size,
        app.pool.limit,
    )


def _serves_both_lanes() -> bool:
    """Whether the worker consumes the bulk lane beside another (the reservation applies
    only then: worker/broker.py)."""
    queues = getattr(getattr(app.amqp, "queues", None), "consume_from", None) or {}
    names = set(queues)
    return wire.BULK in names and len(names) > 1


def _check_backend() -> None:
    """A backend that would refuse every send for want of a setting: say so at start, not
    at the first login (a worker without PINPOINT_APPLICATION_ID once consumed happily
    and failed each send it took `rejected`, beside workers that had it). SystemExit,
    because Celery logs and ignores a signal handler's Exception."""
    if settings.backend == "pinpoint" and not settings.application_id:
        raise SystemExit(
            "otpq worker: OTPQ_BACKEND=pinpoint (the default) needs PINPOINT_APPLICATION_ID, "
            "the Pinpoint project to send from; give every worker the fleet's environment "
            "(REDIS_URL, PINPOINT_*, OTPQ_OTP_KEYS, OTPQ_HASH_KEY), or set OTPQ_BACKEND=notify"
        )
    if settings.backend == "notify" and not settings.origination_identity:
        raise SystemExit(
            "otpq worker: OTPQ_BACKEND=notify needs a sending identity: set "
            "PINPOINT_ORIGINATION_IDENTITY (or OTPQ_ORIGINATION_IDENTITY) to the phone "
            "number, sender id or pool Notify sends from"
        )


@signals.worker_ready.connect
def _mark_ready(**_: Any) -> None:
    """Touch OTPQ_READY_FILE once consuming: a readiness probe for supervisors."""
    if settings.ready_file:
        Path(settings.ready_file).touch()


@signals.worker_shutdown.connect
def _mark_stopping(**_: Any) -> None:
    if settings.ready_file:
        Path(settings.ready_file).unlink(missing_ok=True)


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _scrub_logs(logger: Any = None, **_: Any) -> None:
    logs.install(logger)


# `celery -A worker flower` and `celery -A worker events` import this module: scrub
# events before Flower or Celery's event monitor keeps or prints them.
events.install_flower_filter()
events.install_event_filters()
