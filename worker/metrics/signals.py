"""The metrics server's life in a worker: started when the worker is ready, and a
prefork child's values retired when it exits (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import logging
import os
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
