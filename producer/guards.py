"""Abuse guards checked before a job is queued.

The producer refuses a blocked country at once, and answers a repeated send (same
destination and reference within OTPQ_RESEND_COOLDOWN) or a repeated idempotency key
with the first job's id instead of queueing a second one. Both are one atomic script
in Redis (otpq_core/cooldown.py). The worker applies the same country and cooldown
rules, and the same script, to jobs enqueued by name (worker/abuse.py), with the same
key names.

Key names come from otpq_core.keys (a keyed digest of the canonical number, never the
number); the country rule is otpq_core.countries, shared with the worker.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import redis

from otpq_core import cooldown
from otpq_core.countries import check_country
from otpq_core.keys import KeyHasher
from otpq_core.outcomes import InvalidRequest
from otpq_core.settings import Settings

IDEMPOTENCY_KEY_MAX = 128

_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")

# Deletes a key only while it still holds this job's id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def first_wins(client: redis.Redis, key: str, job_id: str, ttl: float) -> str | None:
    """Point `key` at `job_id` for `ttl` seconds unless it already names a job.

    Returns None when this job is the first (or already the holder), else the id of
    the job that is. The rule is otpq_core.cooldown's, the same script the worker runs.
    """
    from producer.receipts import JobId  # local: keeps this module's imports as they are

    holder = cooldown.first_wins(client, key, job_id, ttl)
    return None if holder is None else JobId(holder, deduplicated=True)


def check_idempotency_key(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("idempotency_key", "must be a non-empty string")
    if len(value) > IDEMPOTENCY_KEY_MAX or not _PRINTABLE.fullmatch(value):
        raise InvalidRequest(
            "idempotency_key", f"must be at most {IDEMPOTENCY_KEY_MAX} printable characters"
        )
    return value


@dataclass
class Reservation:
    """The outcome of `Guards.reserve`: queue `job_id`, or return `repeat_of` instead."""

    job_id: str
    repeat_of: str | None = None
    keys: list[str] = field(default_factory=list)
    client: redis.Redis | None = None

    def release(self) -> None:
        """The job was not queued after all: free its keys (those it still holds)."""
        for key in self.keys if self.client is not None else ():
            with contextlib.suppress(redis.RedisError):  # else they expire by themselves
                self.client.eval(_RELEASE, 1, key, self.job_id)


class Guards:
    """The producer's guards, over a Redis client built on first use."""

    def __init__(self, settings: Settings, connect: Callable[[], redis.Redis]) -> None:
        self.settings = settings
        self._connect = connect

    @cached_property
    def redis(self) -> redis.Redis:
        return self._connect()

    @cached_property
    def hasher(self) -> KeyHasher:
        return KeyHasher.resolve(self.redis, self.settings.hash_key)

    def check_country(self, destination: str) -> None:
        check_country(destination, self.settings)

    def reserve(
        self,
        job_id: str,
        *,
        task: str,
        idempotency_key: str | None = None,
        cooldown: tuple[str, str] | None = None,
    ) -> Reservation:
        """Claim the idempotency key and the (destination, reference) cooldown for
        `job_id`. Costs no Redis call when neither applies."""
        held = Reservation(job_id)
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        use_cooldown = cooldown is not None and self.settings.resend_cooldown > 0
        if idempotency_key is None and not use_cooldown:
            return held
        held.client = self.redis
        if idempotency_key is not None:
            key = self.hasher.key("idem", task, idempotency_key)
            held.repeat_of = first_wins(self.redis, key, job_id, self.settings.idempotency_ttl)
            if held.repeat_of:
                return held
            held.keys.append(key)
        if use_cooldown:
            assert cooldown is not None
            key = self.hasher.number_key("cooldown", *cooldown)
            held.repeat_of = first_wins(self.redis, key, job_id, self.settings.resend_cooldown)
            if held.repeat_of:
                # The idempotency key, if any, now names the job the caller gets back.
                for idem in held.keys:
                    self.redis.set(idem, held.repeat_of, xx=True, keepttl=True)
                held.keys.clear()
                return held
            held.keys.append(key)
        return held
