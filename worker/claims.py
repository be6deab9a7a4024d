"""Job claims: a job id is claimed in Redis, atomically, just before the backend is called.

Sends and verifies alike: a verify run twice would call the backend again after the
first run consumed the code, answer `valid: false` and overwrite the first result.

Redis delivers a message again after a lost connection, a restart or a visibility
timeout. Without a claim, the second delivery would text the user a second code and
void the first. With it, a redelivered job finds either its finished outcome (and
returns it) or an in-flight claim left by a worker that died mid-call (and is not
sent blindly again).

Races, and what each costs (docs/guarantees.md states the resulting guarantee):

- died between claim and call: nothing was sent, but the redelivery cannot know
  that and ends `uncertain` (at most once beats a second code).
- died between call and complete: the SMS may have gone; redelivery ends `uncertain`.
- two live deliveries of one job id at once (a retry published but the original's ack
  lost with the connection, or a visibility timeout that fired early): the second
  finds an in-flight claim younger than one Pinpoint call can take, so its holder may
  be alive. It waits for that holder's outcome instead of reporting `uncertain` for a
  send that is about to succeed. Ages come from the key's own TTL in Redis, so
  workers' clocks never enter.
- a claim must outlive every redelivery of its message: its lifetime is the result
  TTL, and never less than the longest deadline plus the visibility timeout.
- Redis restarting while a send is in flight: recording the outcome fails after the
  SMS went out, and the job would end in a connection error (later overwritten by
  `uncertain` on redelivery). Every claim operation rides out a short outage instead,
  for up to one call's length (`hold`), then gives up with the connection error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from otpq_core.campaign_keys import CANCELLED_FIELD, inflight_key, meta_key
from otpq_core.keys import CLAIM_PREFIX, INFLIGHT
from otpq_core.settings import Settings
from worker.autopipe import AutoPipeline
from worker.ratelimit import Mark

log = logging.getLogger(__name__)

PREFIX = CLAIM_PREFIX
#: Margin on top of botocore's connect + read timeouts for one Pinpoint call and the
#: Redis round trips around it: an in-flight claim older than that has a dead holder.
CALL_MARGIN = 2.0
#: How often a second delivery looks again at a claim whose holder may be alive.
POLL_INTERVAL = 0.1
#: Longest pause between two tries of a claim operation while Redis is unreachable.
OUTAGE_BACKOFF_CAP = 0.5

_T = TypeVar("_T")


@dataclass(frozen=True)
class Claim:
    """`won` → go ahead; `outcome` → already finished; neither → died in flight."""

    won: bool
    outcome: dict[str, Any] | None = None


class JobClaims:
    """Claims of send and verify jobs."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl: float,
        hold: float = 0.0,
        autopipe: AutoPipeline | None = None,
    ) -> None:
        # One lifetime for both states: an in-flight claim must outlive any
        # redelivery of its message, and a finished one as long as the result.
        self.redis = client
        self.ttl = max(1, int(ttl))
        #: Longest a live holder keeps a claim in flight (one Pinpoint call).
        self.hold = hold
        self.autopipe = autopipe or AutoPipeline(client)

    @classmethod
    def from_settings(
        cls, client: redis.Redis, settings: Settings, autopipe: AutoPipeline | None = None
    ) -> JobClaims:
        longest_deadline = max(settings.interactive_deadline, settings.bulk_deadline)
        ttl = max(settings.result_ttl, longest_deadline + settings.visibility_timeout)
        hold = settings.connect_timeout + settings.read_timeout + CALL_MARGIN
        return cls(client, ttl=ttl, hold=hold, autopipe=autopipe)

    def _through_outage(self, operation: Callable[[], _T]) -> _T:
        """Run a Redis operation, retrying connection errors for up to `hold` seconds."""
        give_up = time.monotonic() + max(self.hold, 1.0)
        pause = 0.05
        while True:
            try:
                return operation()
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() + pause > give_up:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, OUTAGE_BACKOFF_CAP)

    def mark(self, job_id: str, campaign: str | None = None) -> Mark:
        """The claim as the rate limiter sets it: with the token, if no claim exists. A
        campaign row's claim is also refused once its campaign is cancelled, and joins the
        campaign's in-flight register until `complete` or `release` (its cancel waits)."""
        if campaign is None:
            return Mark(PREFIX + job_id, INFLIGHT, self.ttl)
        return Mark(
            PREFIX + job_id,
            INFLIGHT,
            self.ttl,
            stop=(meta_key(campaign), CANCELLED_FIELD),
            register=inflight_key(campaign),
        )

    def claim(self, job_id: str) -> Claim:
        return self._through_outage(lambda: self._claim(job_id))

    def _claim(self, job_id: str) -> Claim:
        key = PREFIX + job_id
        while True:
            if self.redis.set(key, INFLIGHT, nx=True, ex=self.ttl):
                return Claim(won=True)
            pipe = self.redis.pipeline(transaction=True)  # value and age of one key state
            pipe.get(key).pttl(key)
            held, pttl = pipe.execute()
            if held is None:  # expired or released between the two calls
                continue
            if held != INFLIGHT:
                return Claim(won=False, outcome=json.loads(held))
            age = self.ttl - max(0, pttl) / 1000
            if age >= self.hold:
                return Claim(won=False)
            time.sleep(min(POLL_INTERVAL, self.hold - age))

    def finished(self, job_id: str) -> dict[str, Any] | None:
        """The outcome an earlier run of `job_id` recorded, if one finished.

        A verify looks before its abuse check: a redelivery replays the first answer
        without taking a guess slot a correct first answer already cleared."""
        held = self._through_outage(lambda: self.redis.get(PREFIX + job_id))
        return None if held is None or held == INFLIGHT else json.loads(held)

    def claim_verify(self, job_id: str) -> Claim:
        """A verify's claim: as `claim`, but a dead holder's claim is taken over.

        Repeating a verify texts nobody. If the dead run's call reached the backend,
        the code may be consumed and this run answers `valid: false`; if it did not
        (the likelier case: it died between claim and call), this run gives the true
        answer. `uncertain` would be right in neither case more often."""
        claim = self.claim(job_id)
        if not claim.won and claim.outcome is None:
            key = PREFIX + job_id
            self._through_outage(lambda: self.redis.set(key, INFLIGHT, ex=self.ttl))
            return Claim(won=True)
        return claim

    def release(self, job_id: str, campaign: str | None = None) -> None:
        """The attempt failed transiently and sent nothing that counts; allow the next."""

        def run() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(PREFIX + job_id)
            if campaign is not None:
                pipe.zrem(inflight_key(campaign), PREFIX + job_id)
            pipe.execute()

        self._through_outage(run)

    def complete(
        self,
        job_id: str,
        outcome: dict[str, Any],
        also: Callable[[redis.client.Pipeline], None] | None = None,
        campaign: str | None = None,
    ) -> bool:
        """Record the outcome. `also` queues bookkeeping (the stored result, campaign
        counts) on the same pipeline: one round trip for all of it. Only the claim's own
        write can fail the job; an error in the rest is logged and the outcome stands.
        Returns whether all of the bookkeeping was written too."""
        value = json.dumps(outcome)

        def build(pipe: redis.client.Pipeline) -> None:
            pipe.set(PREFIX + job_id, value, ex=self.ttl)
            if campaign is not None:
                pipe.zrem(inflight_key(campaign), PREFIX + job_id)
            if also is not None:
                also(pipe)

        replies = self._through_outage(lambda: self.autopipe.run(build))
        if isinstance(replies[0], Exception):
            raise replies[0]
        written = True
        for reply in replies[1:]:
            if isinstance(reply, Exception):
                log.warning("bookkeeping after job %s failed: %s", job_id, reply)
                written = False
        return written
