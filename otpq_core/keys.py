"""Redis key names: the layout both sides share, and the keyed hasher behind them.

No Redis key name holds a phone number, nor an unkeyed digest of one: per-number keys
are an HMAC-SHA256 of the canonical number (and the purpose, so one number's keys for
different purposes cannot be linked) under OTPQ_HASH_KEY. Without that setting a
random secret is created once in Redis itself (`otpq:hash-key`) and shared by every
producer and worker of that Redis; docs/security.md says why production should set it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import redis

from otpq_core.numbers import canonical_number

#: Where the fallback hashing secret lives when OTPQ_HASH_KEY is not set.
HASH_KEY_NAME = "otpq:hash-key"
#: Hex digits kept of each HMAC: 128 bits, no collisions among real numbers.
DIGEST_CHARS = 32

#: Prefix of a job's claim (worker/claims.py): "inflight" while a worker is making its
#: backend call, then the outcome. Read by otpq_core.status for `OtpClient.status`.
CLAIM_PREFIX = "otpq:claim:"
INFLIGHT = b"inflight"


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
        holder of the key can recompute (campaign row ids, otpq_core/campaign_ids.py)."""
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
