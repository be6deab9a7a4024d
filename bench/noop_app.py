"""The baseline: raw Celery, same broker, same result backend, same pool, a no-op task.

Every otpq figure in bench/ is a ratio against this, measured in the same run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery, signals

app = Celery("noop", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    result_backend_thread_safe=True,
    task_default_queue="noop",
    # Without an event loop (-P gevent) every task acks on its own greenlet: kombu's pool
    # of 10 connections overflows and acks fail ("Too many connections"), losing jobs.
    # otpq's transport waits for a connection instead (worker/broker.py); the baseline
    # gets a pool as large as its concurrency (BENCH_POOL_CONNECTIONS), which is fair.
    broker_transport_options={
        "max_connections": max(10, int(os.environ.get("BENCH_POOL_CONNECTIONS", "10")) + 8)
    },
)


@app.task(name="noop")
def noop(**kwargs: Any) -> dict[str, Any]:
    return {"ok": True}


@signals.worker_ready.connect
def _ready(**_: Any) -> None:
    if os.environ.get("OTPQ_READY_FILE"):
        Path(os.environ["OTPQ_READY_FILE"]).touch()
