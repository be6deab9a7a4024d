"""Which endings give a job's abuse slot back (worker/abuse.py keeps the slots).

A slot stands for a code that may have reached someone: a job that ended without using
it returns it, so a failure on otpq's side never counts against a user's budget.
"""

from __future__ import annotations

from typing import Any

from otpq_core.outcomes import (
    Cancelled,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    ResendCooldown,
)
from otpq_core.wire import VERIFY_TASK
from producer.refid import generate_ref_id
from worker.runtime import Runtime


def refund(
    rt: Runtime, task: str, kwargs: Any, job_id: str, exc: BaseException, *, calls_before: int
) -> None:
    """Give back the abuse slot of a job that ended without using it: a verify that
    verified nothing; a send that expired or was cancelled before its first call, or
    that Pinpoint refused (no SMS). A send that may have reached Pinpoint keeps its slot."""
    destination = kwargs.get("destination") if isinstance(kwargs, dict) else None
    if not isinstance(destination, str) or not isinstance(exc, OtpqError):
        return
    if isinstance(exc, InvalidRequest):
        return  # refused before any slot was taken
    if task == VERIFY_TASK:
        reference = kwargs.get("reference_id") or generate_ref_id(
            destination, str(kwargs.get("brand_name", "")), str(kwargs.get("source", ""))
        )
        rt.abuse.refund_verify(destination, str(reference), job_id)
    elif isinstance(exc, PinpointRejected) or (
        isinstance(exc, JobExpired | ResendCooldown | Cancelled) and calls_before == 0
    ):
        rt.abuse.refund_send(destination, job_id)
