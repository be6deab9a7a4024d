"""Celery settings shared by the producer's client app and the worker's app.

Both sides must agree on serializers, queues and the Redis transport's visibility
timeout, so both build their configuration here.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from producer.lanes import BULK, DEFAULT_QUEUE, INTERACTIVE, SEND_TASK, VERIFY_TASK
from producer.settings import Settings


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
    }
    return {
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
        "task_queues": [Queue(INTERACTIVE), Queue(BULK)],
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {SEND_TASK: {"queue": DEFAULT_QUEUE}, VERIFY_TASK: {"queue": DEFAULT_QUEUE}},
        "task_create_missing_queues": False,
        "enable_utc": True,
        "timezone": "UTC",
    }
