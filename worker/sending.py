"""One send's policy, whoever runs it: the `otp.send` task, or a row of `otp.send_batch`.

parse → deadline → campaign cancelled? → country lists → abuse limits (resend cooldown,
send budgets), rate-limit capacity, claim and (for a campaign row) the cancel check
again, in one atomic step → gateway → result, written with the claim's outcome.
Rescheduling belongs to the caller: the pipeline raises `Again`, and `otp.send`
re-publishes itself (a Celery retry) while a batch re-enqueues the row alone as an
`otp.send` with the same job id. How either ends (result, campaign row, metrics,
refund) is worker/ending.py's, the same code for both. The steps it shares with the
verify policy (worker/verifying.py) are worker/policy.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from otpq_core.outcomes import Cancelled, PinpointRejected, RetryCause, Uncertain, record
from otpq_core.redaction import mask_number
from otpq_core.wire import SEND_TASK
from producer.refid import shown_ref_id
from producer.requests import SendRequest
from worker import campaign_hooks, ending
from worker.gateways import Permanent, Transient
from worker.gateways.base import origination_for
from worker.policy import (
    CAPACITY_RECHECK_CAP,
    Again,
    Attempt,
    admit,
    check_deadline,
    parse,
    replay,
    retry_or_give_up,
    take_capacity,
)
from worker.ratelimit import GuardRefused
from worker.runtime import Runtime
from worker.sliding_windows import verdict

__all__ = [
    "CAPACITY_RECHECK_CAP",
    "Again",
    "Attempt",
    "Sent",
    "admit",
    "check_deadline",
    "parse",
    "replay",
    "retry_or_give_up",
    "run",
    "send",
    "take_capacity",
]


@dataclass(frozen=True)
class Sent:
    """A send's result, and whether this run made it (`fresh`) or replayed an earlier
    delivery's outcome."""

    result: dict[str, Any]
    fresh: bool


def send(rt: Runtime, attempt: Attempt, args: tuple[Any, ...], kwargs: Any) -> dict[str, Any]:
    """One send, start to finish: its result, or an OtpqError, or `Again`."""
    return run(rt, attempt, args, kwargs).result


def run(rt: Runtime, attempt: Attempt, args: tuple[Any, ...], kwargs: Any) -> Sent:
    """`send`, saying whether the result is this run's. A fresh send's bookkeeping
    (worker/ending.py `sent_into`) rides on its claim's completion pipeline."""
    request = parse(SendRequest, args, kwargs)
    gateway = rt.gateway
    request.check_backend(gateway.backend)
    check_deadline(attempt.deadline)
    campaign_hooks.raise_if_campaign_cancelled(attempt.campaign)
    job_id = attempt.job_id
    # Country lists here; the destination's budgets and resend cooldown ride on the
    # first token's round trip, before anything is taken.
    guard = rt.abuse.send_guard(request, job_id)
    origination = origination_for(request, rt.settings.origination_identity)
    buckets = rt.throttle.buckets(request, origination)
    # The claim rides on the token's round trip when a bucket is limited (always, in
    # production); it is made on its own only when that did not settle it. A campaign
    # row's claim is refused in that same step once its campaign is cancelled, however
    # long the row waited for capacity: after `campaign cancel` returns, no row claims.
    campaign = attempt.campaign
    mark = rt.claims.mark(job_id, campaign)
    try:
        capacity = take_capacity(rt, buckets, attempt, fail_open=False, mark=mark, guard=guard)
    except GuardRefused as refused:
        rt.abuse.check_send(verdict(refused.reply))
        raise AssertionError("a guard refused without a refusal") from None
    if capacity.stopped:
        raise Cancelled("its campaign was cancelled before it was sent")
    if not capacity.marked:
        claim = rt.claims.claim(job_id)
        if not claim.won:
            if claim.outcome is None:
                raise Uncertain("a previous delivery was in flight when its worker stopped")
            return Sent(replay(claim.outcome), fresh=False)
        if capacity.marked is False:  # the claim was let go between the two looks
            rt.claims.release(job_id)
            raise attempt.again(0.0, RetryCause.CLAIM_CHANGED)
    calls = attempt.calls + 1
    try:
        delivery = gateway.send(request)
    except Transient as error:
        rt.claims.release(job_id, campaign)
        retry_or_give_up(rt, error, buckets, attempt, calls=calls)
    except Permanent as error:
        rejected = PinpointRejected(str(error))
        rt.claims.complete(job_id, record(rejected), campaign=campaign)
        raise rejected from None
    result = {
        "job_id": job_id,
        "reference_id": shown_ref_id(request.reference_id, request.ref_id),
        "message_id": delivery.message_id,
        "delivery_status": delivery.delivery_status,
        "status_code": delivery.status_code,
        "destination": mask_number(request.destination),
        "attempts": calls,
    }
    job = attempt.as_job(SEND_TASK, kwargs)

    def also(pipe: redis.client.Pipeline) -> None:
        rt.origins.remember_into(pipe, request, delivery.backend)
        rt.abuse.code_sent_into(pipe, request)
        ending.sent_into(pipe, job, result)

    if rt.claims.complete(job_id, {"result": result}, also=also, campaign=campaign):
        ending.stored(job)
    return Sent(result, fresh=True)
