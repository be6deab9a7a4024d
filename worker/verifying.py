"""One verify's policy: the `otp.verify` task's, in the same shape as the send's.

parse (the code unsealed) → a finished earlier run? → deadline → abuse limits (the
destination's failed-guess lockout) → rate-limit capacity (fails open: a verify texts
nobody) → claim → the backend that sent the code (worker/code_origins.py) → gateway →
result. Rescheduling is the caller's (`Again`), as for a send; how it ends is
worker/ending.py's.
"""

from __future__ import annotations

from typing import Any

import redis

from otpq_core.outcomes import PinpointRejected, RetryCause, record
from otpq_core.redaction import mask_number
from producer.refid import shown_ref_id
from producer.requests import VerifyRequest
from worker.gateways import Permanent, Transient
from worker.policy import (
    Attempt,
    admit,
    check_deadline,
    parse,
    replay,
    retry_or_give_up,
    take_capacity,
)
from worker.runtime import Runtime


def origin(rt: Runtime, request: VerifyRequest, attempt: Attempt) -> str:
    """The backend that sent this code; Redis trouble reschedules rather than guess."""
    try:
        return rt.origins.backend_for(request, rt.settings.backend)
    except redis.RedisError:
        raise attempt.again(1.0, RetryCause.CODE_ORIGIN_UNAVAILABLE) from None


def verify(rt: Runtime, attempt: Attempt, args: tuple[Any, ...], kwargs: Any) -> dict[str, Any]:
    """One verify, start to finish: its result, or an OtpqError, or `Again`."""
    request = parse(VerifyRequest, args, rt.sealer.open_kwargs(kwargs))
    job_id = attempt.job_id
    # A job delivered twice ends with its first run's outcome (worker/claims.py); it
    # looks before the abuse check, so a replay takes no guess slot.
    if (first := rt.claims.finished(job_id)) is not None:
        return replay(first)
    check_deadline(attempt.deadline)
    admit(lambda: rt.abuse.admit_verify(request, job_id), attempt)
    buckets = rt.throttle.buckets(request, None)
    take_capacity(rt, buckets, attempt, fail_open=True)
    claim = rt.claims.claim_verify(job_id)
    if claim.outcome is not None:
        return replay(claim.outcome)
    calls = attempt.calls + 1
    gateway = rt.gateway_for(origin(rt, request, attempt))
    try:
        valid = gateway.verify(request)
    except Transient as error:
        rt.claims.release(job_id)
        retry_or_give_up(rt, error, buckets, attempt, calls=calls)
    except Permanent as error:
        rejected = PinpointRejected(str(error))
        rt.claims.complete(job_id, record(rejected))
        raise rejected from None
    result = {
        "job_id": job_id,
        "valid": valid,
        "reference_id": shown_ref_id(request.reference_id, request.ref_id),
        "destination": mask_number(request.destination),
        "attempts": calls,
    }
    rt.claims.complete(job_id, {"result": result})
    rt.abuse.verified(request, valid=valid)
    return result
