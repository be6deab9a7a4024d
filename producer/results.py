"""The producer's view of the result store: it polls, it never subscribes.

Celery's Redis backend subscribes to a task's result channel on every send, so that
`AsyncResult.get()` can wait on pub/sub. otpq's producer reads state with
`OtpClient.status`/`wait` instead, so the subscription is a wasted round trip per
send — and, with Redis down, one more operation with its own reconnect policy
between a web request and its `BrokerUnavailable`.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend, SentinelBackend


class PollingRedisBackend(RedisBackend):
    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Nothing to subscribe to: results are read with GET when polled."""


class PollingSentinelBackend(SentinelBackend):
    """The same, for a `sentinel://` REDIS_URL (Celery's SentinelBackend finds the master)."""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Nothing to subscribe to: results are read with GET when polled."""
