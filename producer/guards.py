"""Abuse guards checked before a job is queued, and the keyed hashing both sides use.

The producer refuses a blocked country at once, and answers a repeated send (same
destination and reference within OTPQ_RESEND_COOLDOWN) or a repeated idempotency key
with the first job's id instead of queueing a second one. Both are one atomic
``SET NX`` in Redis. The worker applies the same country and cooldown rules to jobs
enqueued by name (worker/abuse.py), with the same key names.

No Redis key name holds a phone number: per-destination keys are an HMAC-SHA256 of
the number under OTPQ_HASH_KEY. Without that setting a random secret is created once
in Redis itself (`otpq:hash-key`) and shared by every producer and worker of that
Redis; docs/security.md says why production should set it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import phonenumbers
import redis

from producer.outcomes import DestinationBlocked, InvalidRequest
from producer.requests import canonical_number
from producer.settings import Settings

#: Where the fallback hashing secret lives when OTPQ_HASH_KEY is not set.
HASH_KEY_NAME = "otpq:hash-key"
#: Hex digits kept of each HMAC: 128 bits, no collisions among real numbers.
DIGEST_CHARS = 32
IDEMPOTENCY_KEY_MAX = 128

_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")

# Deletes a key only while it still holds this job's id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class KeyHasher:
    """Redis key names for per-destination state, with no number in them."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def resolve(cls, client: redis.Redis, configured: str | None) -> KeyHasher:
        """OTPQ_HASH_KEY if set, else the secret shared through Redis (created once)."""
        if configured:
            return cls(configured.encode("utf-8"))
        client.set(HASH_KEY_NAME, secrets.token_hex(32), nx=True)
        stored = client.get(HASH_KEY_NAME)
        if not stored:
            raise redis.RedisError(f"{HASH_KEY_NAME} vanished right after it was set")
        return cls(stored if isinstance(stored, bytes) else str(stored).encode())

    def digest(self, purpose: str, *parts: str) -> str:
        """HMAC-SHA256 hex of the purpose and parts: a digest of a number that only a
        holder of the key can recompute (campaign row ids, producer/campaign/ids.py)."""
        message = "\x1f".join((purpose, *parts)).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def key(self, purpose: str, *parts: str) -> str:
        """``otpq:<purpose>:<hmac>``; the purpose is inside the MAC too, so one number's
        keys for different purposes cannot be linked."""
        return f"otpq:{purpose}:{self.digest(purpose, *parts)[:DIGEST_CHARS]}"

    def number_key(self, purpose: str, number: str, *parts: str) -> str:
        """`key` for per-number state, always over the canonical number: every spelling
        of one phone shares one budget, cooldown and lockout, even if a spelling got
        past the request models (they refuse any but the canonical one)."""
        return self.key(purpose, canonical_number(number), *parts)


@lru_cache(maxsize=4096)
def region_of(destination: str) -> str:
    """The region code (US, CA, GB…) of a validated E.164 number; "ZZ" when none."""
    number = phonenumbers.parse(destination, None)
    return phonenumbers.region_code_for_number(number) or "ZZ"


def check_country(destination: str, settings: Settings) -> None:
    """Raise DestinationBlocked if the number's country may not receive SMS."""
    if not settings.allowed_countries and not settings.denied_countries:
        return
    region = region_of(destination)
    if settings.allowed_countries and region not in settings.allowed_countries:
        raise DestinationBlocked("destination", f"country {region} is not allowed")
    if region in settings.denied_countries:
        raise DestinationBlocked("destination", f"country {region} is denied")


def first_wins(client: redis.Redis, key: str, job_id: str, ttl: float) -> str | None:
    """Point `key` at `job_id` for `ttl` seconds unless it already names a job.

    Returns None when this job is the first (or already the holder), else the id of
    the job that is. Atomic: ``SET NX``, then a read of the winner.
    """
    from producer.receipts import JobId  # local: keeps this module's imports as they are

    for _ in range(3):  # the holder may expire between the two calls
        if client.set(key, job_id, nx=True, px=max(1, int(ttl * 1000))):
            return None
        held = client.get(key)
        if held is not None:
            holder = held.decode() if isinstance(held, bytes) else str(held)
            return None if holder == job_id else JobId(holder, deduplicated=True)
    return None


def for_humans(seconds: float) -> str:
    """A wait as people read it: ``45 s``, ``12 min 5 s``, ``23 h 59 min`` (rounded up:
    never "0 s" while something still waits)."""
    total = max(1, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


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
