"""The worker's result store: a finished result is never overwritten by a state that
is not final.

Celery stores a retried job's RETRY state only after it has published the retry, and
guards a SUCCESS with a read and then a write. When the retry runs at once on another
thread (a near-zero backoff), it can store SUCCESS between the two: the late RETRY then
overwrote it, and a job that had succeeded read `retrying` for good. Here the check and
the write are one Lua script, so a RETRY (or any other state that is not final) lands
only on a key that holds no final state yet.

A fresh send's result is written by otpq itself, in the round trip that records its
claim (worker/ending.py `sent_into`); `stored_with_claim` tells this backend, so the
SUCCESS Celery stores when the task returns is not written a second time (Celery's
store is a read and a write: two round trips a send saved).
"""

from __future__ import annotations

import threading
from typing import Any

from celery import states
from celery.backends.redis import RedisBackend, SentinelBackend

#: SET (with its expiry) and PUBLISH unless the key already holds a final state.
_UNLESS_FINISHED = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and (doc['status'] == 'SUCCESS'
      or doc['status'] == 'FAILURE' or doc['status'] == 'REVOKED') then
    return 0
  end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""


#: Per thread (per greenlet under gevent): the task whose SUCCESS otpq just stored.
_stored = threading.local()


def stored_with_claim(task_id: str) -> None:
    """The running task's SUCCESS result is already in Redis, written with its claim."""
    _stored.task_id = task_id


class _KeepsFinished:
    """Mixin for Celery's Redis backends (plain and Sentinel)."""

    expires: Any
    client: Any

    def store_result(
        self, task_id: Any, result: Any, state: str, traceback: Any = None, **kwargs: Any
    ) -> Any:
        if state == states.SUCCESS and getattr(_stored, "task_id", None) == task_id:
            _stored.task_id = None
            return result
        return super().store_result(task_id, result, state, traceback, **kwargs)  # type: ignore[misc]

    def _set_with_state(self, key: Any, value: Any, state: str) -> Any:
        if state in states.READY_STATES:
            return super()._set_with_state(key, value, state)  # type: ignore[misc]
        return self.ensure(self._set_unless_finished, (key, value))  # type: ignore[attr-defined]

    def _set_unless_finished(self, key: Any, value: Any) -> Any:
        expires = int(self.expires or 0)
        return self.client.eval(_UNLESS_FINISHED, 1, key, value, expires)


class KeepsFinishedRedisBackend(_KeepsFinished, RedisBackend):
    pass


class KeepsFinishedSentinelBackend(_KeepsFinished, SentinelBackend):
    """The same, for a `sentinel://` REDIS_URL."""


def result_backend_url(redis_url: str) -> str:
    """`result_backend` for the worker's app: this module's class for the URL's scheme."""
    scheme = redis_url.split("://", 1)[0].lower()
    name = "KeepsFinishedSentinelBackend" if scheme == "sentinel" else "KeepsFinishedRedisBackend"
    return f"worker.results:{name}+{redis_url}"
