"""The metrics server's life in a worker: started when the worker is ready.

Every job runs in the worker's one process (worker/pools.py refuses prefork), so the
server in that process sees every job's metrics.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from otpq_core.settings import Settings
from worker.metrics.server import serve

log = logging.getLogger("worker.metrics")


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    settings = Settings.from_env()
    if settings.metrics_port is None:
        return
    serve(settings.metrics_port, settings, addr=settings.metrics_addr)
