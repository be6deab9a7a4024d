"""The HTTP endpoint (`OTPQ_METRICS_PORT`) and the queue-length gauge read at scrape
time.

Every pool otpq runs on (threads, gevent, solo: worker/pools.py) runs the jobs in the
worker's one process, whose HTTP server sees everything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from otpq_core.settings import Settings
from otpq_core.wire import SERVED_QUEUES
from worker.metrics.definitions import REGISTRY

log = logging.getLogger("worker.metrics")

# kombu's Redis transport keeps a queue's priority levels in lists named
# `<queue>\x06\x16<priority>`; the plain name holds priority 0.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def serve(port: int, settings: Settings, addr: str | None = None) -> WSGIServer | None:
    """Start the HTTP endpoint in a daemon thread; None if the port is taken. It listens
    on `addr`, by default OTPQ_METRICS_ADDR (127.0.0.1: it has no authentication)."""
    addr = addr or settings.metrics_addr
    registry = REGISTRY
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
