"""A campaign's record in Redis: the key layout both sides write, and its row states.

The producer records rows as it enqueues them (producer/campaign/ledger.py); the worker
settles each row as its send ends and moves the answer counts as verifies arrive
(worker/campaign_ledger.py); the limiter's claim script checks the cancel mark and fills
the in-flight register (worker/claims.py). Every change that must not be half done is
one Lua script, kept with the half that runs it, so counts stay equal to the rows they
count whatever crashes in between.

Keys (no key name ever holds a phone number or a digest anyone can recompute from one:
rows are keyed by job id, itself a keyed digest (campaign_ids.py), the reference map by
an HMAC of the reference id under OTPQ_HASH_KEY)::

    otpq:campaign:<id>            hash   brand_name, source, name, created, started, cancelled
    otpq:campaign:<id>:rows       hash   job id -> queued | sent | expired | limited |
                                         cancelled | failed:<reason>
    otpq:campaign:<id>:numbers    hash   job id -> ["+1425...", reference id as shown, line]
    otpq:campaign:<id>:answers    hash   job id -> verified | rejected
    otpq:campaign:<id>:counts     hash   total, queued, sent, ..., verified, rejected, retries
    otpq:campaign:<id>:plan:<n>   set    job ids seen by one start (deleted when it ends)
    otpq:campaign:<id>:inflight   zset   claim key of each row between claim and outcome
                                         -> server time of the claim (its cancel waits)
    otpq:campaign-ref:<hmac>      string campaign id, for verifies that carry the refid
    otpq:sends:<YYYY-MM-DD>       int    sends counted or reserved that UTC day
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cached_property

import redis

from otpq_core.campaign_ids import row_job_id
from otpq_core.keys import KeyHasher

PREFIX = "otpq:campaign:"
REF_PREFIX = "otpq:campaign-ref:"
DAILY_PREFIX = "otpq:sends:"
#: A day's counter outlives its day, so a campaign started just before midnight still
#: finds yesterday's figure in its report.
DAILY_TTL = 2 * 24 * 3600
#: A start's plan set is deleted when the start ends; this only bounds a crashed one's.
PLAN_TTL = 3600

QUEUED = "queued"
SENT = "sent"
VERIFIED = "verified"
REJECTED = "rejected"
#: Final states that are not failures in their own right (the brief's own columns).
OWN_STATES = {"expired": "expired", "limited": "limited", "cancelled": "cancelled"}
#: The meta hash field whose presence stops the campaign's sends (checked by the
#: limiter's script in the step that claims a row, worker/ratelimit/script.py).
CANCELLED_FIELD = "cancelled"


def state_for(reason: str) -> str:
    """A failed send's row state: its own column, or failed:<reason>."""
    return OWN_STATES.get(reason, f"failed:{reason}")


def meta_key(campaign: str) -> str:
    return PREFIX + campaign


def rows_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:rows"


def numbers_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:numbers"


def answers_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:answers"


def counts_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:counts"


def inflight_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:inflight"


def plan_key(campaign: str, nonce: str) -> str:
    return f"{PREFIX}{campaign}:plan:{nonce}"


def ref_key(reference_id: str, hasher: KeyHasher) -> str:
    """`otpq:campaign-ref:<hmac>`: the default md5 reference id is a digest of the
    number, and a caller's own id might hold one; neither may be a key name."""
    return hasher.key("campaign-ref", reference_id)


def daily_key(now: float | None = None) -> str:
    day = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
    return DAILY_PREFIX + day.isoformat()


class CampaignRecord:
    """What both halves of the ledger share: a Redis client, and the keyed hasher that
    names a campaign's rows and reference ids. Thread-safe, like the client."""

    def __init__(self, client: redis.Redis, hash_key: str | None = None) -> None:
        self.redis = client
        self._hash_key = hash_key

    @cached_property
    def hasher(self) -> KeyHasher:
        """OTPQ_HASH_KEY, else the deployment's secret kept in Redis (otpq_core/keys.py)."""
        return KeyHasher.resolve(self.redis, self._hash_key)

    def row_job_id(self, campaign: str, destination: str) -> str:
        return row_job_id(campaign, destination, self.hasher)

    def ref_key(self, reference_id: str) -> str:
        return ref_key(reference_id, self.hasher)

    def is_cancelled(self, campaign: str) -> bool:
        return bool(self.redis.hexists(meta_key(campaign), CANCELLED_FIELD))
