"""Celery settings shared by the producer's client app and the worker's app.

Both sides must agree on serializers, queues and the Redis transport's visibility
timeout, so both build their configuration here.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kombu import Exchange, Queue

from otpq_core.settings import DEFAULT_RESTORE_INTERVAL, ConfigError, Settings
from otpq_core.wire import (
    BULK,
    DEFAULT_QUEUE,
    INTERACTIVE,
    QUEUES,
    SEND_BATCH_TASK,
    SEND_TASK,
    UNROUTED,
    VERIFY_TASK,
)

#: `ssl_cert_reqs` values a `rediss://` URL may carry (Celery's spellings).
CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "CERT_REQUIRED": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "CERT_OPTIONAL": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "CERT_NONE": ssl.CERT_NONE,
}


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {
        # A job held by a dead worker must come back long before an OTP expires; the
        # default (one hour) is longer than any code lives. Set the same value in all
        # three places, as Celery's docs ask.
        "visibility_timeout": settings.visibility_timeout,
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "retry_on_timeout": True,
        "health_check_interval": 25,
        # A job this app publishes through an exchange with a key no queue is bound by
        # goes to Celery's default queue, which interactive workers serve, instead of
        # being dropped without a word (kombu's default).
        "deadletter_queue": UNROUTED,
        **recovery_options(),
        **sentinel_options(settings),
    }
    tls = redis_tls(settings)
    config = {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": dict(transport),
        "visibility_timeout": settings.visibility_timeout,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": settings.redis_timeout,
        "redis_socket_timeout": settings.redis_timeout,
        "redis_socket_connect_timeout": settings.redis_timeout,
        "redis_retry_on_timeout": True,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 10,
        # JSON only: pickle from a broker is remote code execution.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "result_expires": int(settings.result_ttl),
        "result_backend_thread_safe": True,
        "task_queues": [lane_queue(INTERACTIVE), lane_queue(BULK), unrouted_queue()],
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {
            SEND_TASK: {"queue": DEFAULT_QUEUE},
            VERIFY_TASK: {"queue": DEFAULT_QUEUE},
            SEND_BATCH_TASK: {"queue": BULK},
        },
        "task_create_missing_queues": False,
        "enable_utc": True,
        "timezone": "UTC",
    }
    if tls:
        config["broker_use_ssl"] = tls
        config["redis_backend_use_ssl"] = dict(tls)
    return config


def lane_queue(name: str) -> Queue:
    """A lane: its own direct exchange and routing key, both named like the queue.

    A `Queue(name)` without them gets Celery's default exchange and the default queue's
    routing key: both lanes were bound to `otp.interactive`/`otp.interactive`, so a job
    published through that exchange reached both queues and ran twice, and `otp.bulk` on
    it matched nothing and was dropped. This is also the layout any Celery client
    declares for a queue it does not know. Workers add `lane_bindings` on top."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def lane_bindings() -> set[tuple[str, str, str]]:
    """(exchange, routing key, queue): each lane bound on every lane's exchange, and on
    Celery's default exchange `celery`, by its own key, so the routing key picks the lane
    whichever of those exchanges a client publishes through, and a job reaches exactly
    one queue (kombu drops a message whose exchange has no binding for its key, without a
    word). A worker declares the ones its queues do not (worker/routing.py): kombu drops a
    Queue's own exchange when it is given extra `bindings`."""
    return {(exchange, lane, lane) for exchange in (*QUEUES, UNROUTED) for lane in QUEUES}


def unrouted_queue() -> Queue:
    """Celery's default queue, declared as Celery itself does (`celery`/`celery`)."""
    return Queue(UNROUTED, Exchange(UNROUTED, type="direct"), routing_key=UNROUTED)


def sentinel_options(settings: Settings) -> dict[str, Any]:
    """For a `sentinel://` REDIS_URL: the options kombu's SentinelChannel and Celery's
    SentinelBackend read (the broker and result backend pick them by the URL's scheme)."""
    from otpq_core import redis_factory  # it imports this module

    if not redis_factory.is_sentinel(settings.redis_url):
        return {}
    return {
        "master_name": redis_factory.sentinel_master(settings),
        "sentinel_kwargs": redis_factory.sentinel_kwargs(settings),
    }


def recovery_options() -> dict[str, Any]:
    """Redis transport options that bring a dead worker's jobs back in time.

    kombu keeps every delivered, unacked message in a sorted set scored by delivery
    time. Only a live consumer puts them back: its event loop calls `restore_visible`
    every `unacked_restore_interval` seconds, but scans Redis only on every
    `unacked_restore_throttle`-th call (defaults 10 and 10: a 100 s period, on top of
    the visibility timeout). A sweep holds a Redis mutex that a worker killed
    mid-sweep leaves behind for `unacked_mutex_expire` (default 300 s), blocking every
    other sweep. Restores are transactions on the unacked hash, so two sweeps running
    at once cannot push a message twice: a short mutex is safe.
    """
    return {
        "unacked_restore_interval": DEFAULT_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": int(max(10, 2 * DEFAULT_RESTORE_INTERVAL)),
    }


def redis_tls(settings: Settings) -> dict[str, Any] | None:
    """TLS options for a `rediss://` URL, for both kombu and Celery's result backend.

    Certificates are verified unless the URL says `ssl_cert_reqs=none`. Query
    parameters win over OTPQ_REDIS_CA_CERTS / OTPQ_REDIS_CERTFILE / OTPQ_REDIS_KEYFILE.
    """
    parts = urlsplit(settings.redis_url.split(";", 1)[0])
    query = dict(parse_qsl(parts.query))
    if parts.scheme != "rediss" and not (parts.scheme == "sentinel" and settings.sentinel_tls):
        return None
    reqs = query.get("ssl_cert_reqs", "required")
    if reqs not in CERT_REQS:
        raise ConfigError("REDIS_URL: ssl_cert_reqs must be one of required, optional, none")
    tls: dict[str, Any] = {"ssl_cert_reqs": CERT_REQS[reqs]}
    for key, fallback in (
        ("ssl_ca_certs", settings.redis_ca_certs),
        ("ssl_certfile", settings.redis_certfile),
        ("ssl_keyfile", settings.redis_keyfile),
    ):
        value = query.get(key) or fallback
        if value:
            tls[key] = value
    return tls


def producer_config(settings: Settings) -> dict[str, Any]:
    """Overrides for the producer's app: one bounded attempt per Redis operation.

    A web request must get `BrokerUnavailable` within OTPQ_REDIS_TIMEOUT, not sit
    through the worker's retry budget: redis-py's retry on timeout (one more socket
    timeout), the result backend's `always_retry` (about 10 s of backoff) and its
    reconnect policy (20 tries). The producer polls results, so it never subscribes
    to them either (see producer.results).
    """
    config = celery_config(settings)
    # max_retries=0: kombu otherwise retries connecting until broker_connection_timeout
    # and then sleeps one more interval.
    transport = {**config["broker_transport_options"], "retry_on_timeout": False, "max_retries": 0}
    backend = {**config["result_backend_transport_options"], "retry_on_timeout": False}
    backend["retry_policy"] = {"max_retries": 0}
    return {
        "broker_transport_options": transport,
        "result_backend_transport_options": backend,
        "result_backend": f"producer.results:{_polling_backend(settings)}+{settings.redis_url}",
        "redis_retry_on_timeout": False,
        "result_backend_always_retry": False,
        "broker_connection_retry": False,
        "broker_connection_max_retries": 0,
        "task_publish_retry": False,
    }


def _polling_backend(settings: Settings) -> str:
    scheme = settings.redis_url.split("://", 1)[0].lower()
    return "PollingSentinelBackend" if scheme == "sentinel" else "PollingRedisBackend"
