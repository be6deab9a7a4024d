"""The worker's abuse limits, checked after the deadline and before rate-limit capacity.

An OTP system is an authentication system and an SMS bill. Per destination (keyed by
an HMAC of the number, otpq_core/keys.py):

- country allow/deny list (sends) → `blocked`; SMS pumping targets premium ranges;
- resend cooldown (sends enqueued by name; the producer answers repeats itself) →
  `cooldown`, naming the first job, whose code stands;
- send budgets, OTPQ_DESTINATION_SENDS → `limited`. A slot is kept only by a send
  that may have reached Pinpoint: it is refunded (`refund`, when the job ends) when
  the job expires before its first call or Pinpoint refuses it permanently (no SMS,
  no charge);
- wrong codes per destination *and reference*, OTPQ_VERIFY_FAILURES → `locked`, with
  an exponential backoff between guesses (OTPQ_VERIFY_BACKOFF). A verify takes a slot
  when admitted (so parallel guesses cannot overshoot), keeps it if the code was
  wrong, gives it back if nothing was verified; a correct code clears them, and so
  does a fresh code sent to that destination and reference. So a stranger's guesses
  are bounded (OTPQ_VERIFY_FAILURES per code, and codes per day by the send budgets),
  and cost the real user at most a resend: never a day's lockout.

Redis trouble raises AbuseUnavailable: the task retries shortly rather than send
unchecked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis

from otpq_core.countries import check_country
from otpq_core.keys import KeyHasher
from otpq_core.outcomes import (
    Cancelled,
    DestinationLimited,
    DestinationLocked,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    ResendCooldown,
    for_humans,
)
from otpq_core.settings import Settings
from otpq_core.wire import VERIFY_TASK
from producer.refid import generate_ref_id
from producer.requests import SendRequest, VerifyRequest
from worker.autopipe import AutoPipeline
from worker.ratelimit import Guard
from worker.sliding_windows import FUNCTION, Backoff, SlidingWindows, Verdict, verdict

log = logging.getLogger(__name__)


class AbuseUnavailable(Exception):
    """Redis could not answer an abuse check; the redis error is the `__cause__`."""


@dataclass
class Abuse:
    redis: redis.Redis
    settings: Settings
    autopipe: AutoPipeline | None = None

    @cached_property
    def hasher(self) -> KeyHasher:
        return KeyHasher.resolve(self.redis, self.settings.hash_key)

    @cached_property
    def windows(self) -> SlidingWindows:
        return SlidingWindows(self.redis, self.autopipe)

    def sends_key(self, destination: str) -> str:
        return self.hasher.number_key("sends", destination)

    def failures_key(self, destination: str, reference: str) -> str:
        """Wrong codes are counted per destination and reference id: the scope of one
        code (a verify names both; AWS checks the code against both)."""
        return self.hasher.number_key("fails", destination, reference)

    def admit_send(self, request: SendRequest, job_id: str) -> None:
        """Admit a send on its own round trip (`send_guard` rides on the send's token)."""
        guard = self.send_guard(request, job_id)
        if guard is None:
            return
        try:
            reply = self.windows.run(guard)
        except redis.RedisError as exc:
            raise AbuseUnavailable(str(exc)) from exc
        self.check_send(verdict(reply))

    def send_guard(self, request: SendRequest, job_id: str) -> Guard | None:
        """A send's destination limits (country lists here; resend cooldown and send
        budgets as the guard of its first rate-limit acquire, worker/sending.py), or
        None when no budget or cooldown applies. `check_send` reads the guard's reply."""
        check_country(request.destination, self.settings)
        cooldown = self.settings.resend_cooldown
        first_wins = None
        if cooldown > 0:
            key = self.hasher.number_key("cooldown", request.destination, request.ref_id)
            first_wins = (key, cooldown)
        admission = SlidingWindows.admission(
            self.sends_key(request.destination),
            job_id,
            self.settings.destination_sends,
            cooldown=first_wins,
        )
        if admission is None:
            return None
        return Guard(FUNCTION, admission.keys, admission.args)

    def check_send(self, verdict: Verdict) -> None:
        """`cooldown` or `limited` unless the send's admission let it go."""
        if verdict.cooldown_holder is not None:
            raise ResendCooldown(
                f"job {verdict.cooldown_holder} sent a code for this destination and "
                f"reference less than {self.settings.resend_cooldown:g}s ago"
            )
        if not verdict.admitted:
            raise DestinationLimited(
                f"at most {verdict.limit} sends per {verdict.window:g}s to this destination; "
                f"room again in {for_humans(verdict.retry_after)}"
            )

    def admit_verify(self, request: VerifyRequest, job_id: str) -> None:
        backoff = Backoff(self.settings.verify_backoff)
        try:
            verdict = self.windows.admit(
                self.failures_key(request.destination, request.ref_id),
                job_id,
                self.settings.verify_failures,
                backoff=backoff,
            )
        except redis.RedisError as exc:
            raise AbuseUnavailable(str(exc)) from exc
        if verdict.backoff:
            raise DestinationLocked(
                "wrong codes for this destination and reference; "
                f"try again in {for_humans(verdict.retry_after)}"
            )
        if not verdict.admitted:
            raise DestinationLocked(
                f"{verdict.limit} wrong codes in {for_humans(verdict.window)} for this "
                f"destination and reference; a new code unlocks it, or wait "
                f"{for_humans(verdict.retry_after)}"
            )

    def verified(self, request: VerifyRequest, *, valid: bool) -> None:
        """A correct code clears its failures; a wrong one keeps its slot."""
        if valid:
            key = self.failures_key(request.destination, request.ref_id)
            _quietly(lambda: self.redis.delete(key))

    def code_sent_into(self, pipe: redis.client.Pipeline, request: SendRequest) -> None:
        """A fresh code went out: the wrong guesses made against the last one no longer
        count (queued on the pipeline that records the send's outcome)."""
        if self.settings.verify_failures:
            pipe.delete(self.failures_key(request.destination, request.ref_id))

    def refund(
        self, task: str, kwargs: Any, job_id: str, exc: BaseException, *, calls_before: int
    ) -> None:
        """Give back the slot of a job that ended without using it (worker/ending.py): a
        verify that verified nothing; a send that expired, hit a cooldown or was
        cancelled before its first call, or that the backend refused (no SMS). A send
        that may have reached the backend keeps its slot."""
        destination = kwargs.get("destination") if isinstance(kwargs, dict) else None
        if not isinstance(destination, str) or not isinstance(exc, OtpqError):
            return
        if isinstance(exc, InvalidRequest):
            return  # refused before any slot was taken
        if task == VERIFY_TASK:
            reference = kwargs.get("reference_id") or generate_ref_id(
                destination, str(kwargs.get("brand_name", "")), str(kwargs.get("source", ""))
            )
            self.refund_verify(destination, str(reference), job_id)
        elif isinstance(exc, PinpointRejected) or (
            isinstance(exc, JobExpired | ResendCooldown | Cancelled) and calls_before == 0
        ):
            self.refund_send(destination, job_id)

    def refund_send(self, destination: str, job_id: str) -> None:
        _quietly(lambda: self.windows.refund(self.sends_key(destination), job_id))

    def refund_verify(self, destination: str, reference: str, job_id: str) -> None:
        key = self.failures_key(destination, reference)
        _quietly(lambda: self.windows.refund(key, job_id))


def _quietly(call: Callable[[], object]) -> None:
    """Bookkeeping after the outcome is decided: a Redis hiccup must not change it."""
    try:
        call()
    except redis.RedisError as exc:
        log.warning("abuse bookkeeping skipped: %s", exc)
