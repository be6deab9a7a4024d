"""What is limited: a named bucket with a rate and a burst, and how it is named in Redis.

Bucket names look like ``send`` or ``oid:+18005550100`` (a kind, then an identity).
Identities are often phone numbers, which must not appear in Redis key names (they
show up in `SCAN`, slow logs and monitoring), so a bucket's `label` keeps a plain
lowercase kind readable and replaces everything else with a short sha256. The label
is what logs print and what follows the limiter's key prefix.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

#: Hex digits of sha256 kept in a label: 64 bits, no collisions among a fleet's buckets.
HASH_CHARS = 16

# A readable part has no digits at all, so no part of a phone number survives into a key.
_WORD = re.compile(r"[a-z][a-z_.-]*")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def label_for(name: str) -> str:
    """Log- and key-safe form of a bucket name: ``oid:+1800...`` -> ``oid:3f2a...``."""
    if _WORD.fullmatch(name):
        return name
    kind, sep, identity = name.partition(":")
    if sep and _WORD.fullmatch(kind):
        return f"{kind}:{_digest(identity)}"
    return f"h:{_digest(name)}"


@dataclass(frozen=True)
class Bucket:
    """A fleet-wide limit: `rate` requests per second, at most `burst` at once.

    `burst` defaults to ``max(1, rate)`` — one second of the rate. A bigger bucket
    lets an idle fleet fire a minute's worth of requests at once and overshoot the
    provider's quota. A `rate` of None or 0 means unlimited: the limiter skips it.
    """

    name: str
    rate: float | None
    burst: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("bucket name must not be empty")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate >= 0):
            raise ValueError(f"bucket {self.label}: rate must be >= 0, got {self.rate!r}")
        if self.burst is not None and not (math.isfinite(self.burst) and self.burst >= 1):
            raise ValueError(f"bucket {self.label}: burst must be >= 1, got {self.burst!r}")

    @property
    def limited(self) -> bool:
        return bool(self.rate)

    @property
    def capacity(self) -> float:
        """The burst in tokens, defaulted."""
        if self.burst is not None:
            return float(self.burst)
        return max(1.0, float(self.rate or 0.0))

    @property
    def label(self) -> str:
        return label_for(self.name)
