"""Which rate-limit buckets a job must take a token from, and how each lane waits.

Every request that reaches Pinpoint takes one token from each bucket that applies:
the operation's (OTPQ_SEND_RATE / OTPQ_VERIFY_RATE), its origination identity's
(OTPQ_ORIGINATION_RATES) and its destination country's (OTPQ_COUNTRY_RATES).

Lanes: a job sleeps in its slot for its token, at most OTPQ_MAX_CAPACITY_WAIT, then is
rescheduled. Sleeping in the slot (not rescheduling at once) is what keeps a bulk
backlog in Redis instead of in worker memory, and keeps the fleet from spinning. A
bulk job must also leave OTPQ_BULK_RESERVE of each burst for interactive work, so an
interactive job finds a token waiting however long the bulk backlog. A process's bulk
jobs wait for capacity one at a time (the others blocked on a lock, not polling Redis):
a campaign's rows no longer all wake for every token. A worker serving both lanes keeps
slots from bulk jobs (worker/lanes.py), so a login never waits for a slot either.

If Redis cannot answer the limiter, sends fail closed (the job is retried later, not
sent unmetered: an SMS bill has no undo) and verifies fail open (Pinpoint's own quota
still applies, and a login should not fail because our bookkeeping hiccupped).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from otpq_core.settings import Settings
from producer.requests import SendRequest, VerifyRequest
from worker.ratelimit import (
    Bucket,
    Guard,
    LimiterUnavailable,
    Mark,
    MarkHeld,
    RateLimiter,
    Stopped,
)

#: Seconds of each burst held back (at least one token): a token is taken some
#: milliseconds before its request reaches Pinpoint, and that delay varies with load;
#: without slack, requests taken an interval apart arrive closer together and draw a 429
#: from a quota equal to ours. The steady rate is unchanged; only the first burst shrinks.
JITTER_HEADROOM = 0.1


def bucket(name: str, rate: float | None) -> Bucket:
    """A bucket of `rate`/s whose burst is one second of the rate, less the headroom."""
    if not rate:
        return Bucket(name, None)
    held_back = max(1.0, rate * JITTER_HEADROOM)
    return Bucket(name, rate, burst=max(1.0, rate - held_back))


@dataclass(frozen=True)
class Capacity:
    granted: bool
    #: Seconds this job slept in its slot for the token.
    waited: float = 0.0
    #: When refused: seconds until the buckets could grant.
    retry_after: float = 0.0
    #: The mark asked for (a send's claim): set with the token (True), found already
    #: set so nothing was taken (False), or not asked of Redis (None: no bucket limited).
    marked: bool | None = None
    #: The mark's stop was set (its campaign was cancelled): nothing taken.
    stopped: bool = False


@lru_cache(maxsize=4096)
def _country_keys(destination: str) -> tuple[str, str]:
    number = phonenumbers.parse(destination, None)
    return phonenumbers.region_code_for_number(number) or "", str(number.country_code)


@dataclass
class Throttle:
    limiter: RateLimiter
    settings: Settings
    #: Bulk jobs of this process wait for capacity one at a time (RateLimiter.wait `turn`).
    bulk_turn: threading.Lock = field(default_factory=threading.Lock)

    def buckets(
        self, request: SendRequest | VerifyRequest, origination: str | None
    ) -> list[Bucket]:
        if isinstance(request, SendRequest):
            found = [bucket("send", self.settings.send_rate)]
            rate = self.settings.origination_rates.get(origination or "")
            if origination and rate:
                found.append(bucket(f"oid:{origination}", rate))
        else:
            found = [bucket("verify", self.settings.verify_rate)]
        if self.settings.country_rates:
            for key in _country_keys(request.destination):
                rate = self.settings.country_rates.get(key)
                if rate:
                    found.append(bucket(f"cc:{key.lower()}", rate))
                    break
        return [b for b in found if b.limited]

    def take(
        self,
        buckets: list[Bucket],
        *,
        bulk: bool,
        deadline: float | None,
        mark: Mark | None = None,
        guard: Guard | None = None,
    ) -> Capacity:
        """Wait in the slot for a token from every bucket, bounded; bulk leaves a reserve.
        With `mark`, the token is taken only if the mark's key is free, and sets it. A mark
        with a stop, or a `guard` (checked in the first acquire; `GuardRefused` when it
        refuses), goes to Redis even when no bucket is limited: the stop is checked in the
        step that sets the mark, never apart from it."""
        if not buckets and (mark is None or mark.stop is None) and guard is None:
            return Capacity(granted=True)
        reserve = self.settings.bulk_reserve if bulk else 0.0
        hold_until = time.time() + self.settings.max_capacity_wait
        try:
            granted, waited = self.limiter.wait(
                buckets,
                deadline=min(deadline, hold_until) if deadline else hold_until,
                reserve=reserve,
                mark=mark,
                guard=guard,
                turn=self.bulk_turn if bulk else None,
            )
        except MarkHeld:
            return Capacity(False, marked=False)
        except Stopped:
            return Capacity(False, stopped=True)
        if granted:
            return Capacity(True, waited=waited, marked=True if mark else None)
        decision = self.limiter.acquire(buckets, reserve=reserve, mark=mark)
        return Capacity(
            decision.granted,
            waited=waited,
            retry_after=decision.retry_after,
            marked=decision.marked,
            stopped=decision.stopped,
        )

    def throttled(self, buckets: list[Bucket]) -> None:
        """Pinpoint said 429 anyway: slow the whole fleet on these buckets."""
        with contextlib.suppress(LimiterUnavailable):
            self.limiter.throttled(buckets)
