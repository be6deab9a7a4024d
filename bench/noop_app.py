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
)


@app.task(name="noop")
def noop(**kwargs: Any) -> dict[str, Any]:
    return {"ok": True}


@signals.worker_ready.connect
def _ready(**_: Any) -> None:
    if os.environ.get("OTPQ_READY_FILE"):
        Path(os.environ["OTPQ_READY_FILE"]).touch()
