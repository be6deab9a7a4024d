"""The worker's side of bulk campaigns: report each row's outcome, count answers, and
skip rows of a cancelled campaign.

Send jobs of a campaign carry its id in the `otpq_campaign` header (not a kwarg: the
kwargs are the public contract). A row is settled when its job ends (worker/ending.py
calls these): a sent one in the round trip that records its claim's outcome
(`sent_into`), a failed one by `settle_send`; `retried_send` counts retries. A verify
whose reference id belongs to a campaign moves that campaign's verified/rejected counts
(`verified`).
Sends outside campaigns are counted per UTC day for OTPQ_DAILY_SEND_CAP (campaign rows
were reserved when their campaign started).

Bookkeeping never fails a job: a Redis error here is logged (without numbers) and the
job's own outcome stands.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis

from otpq_core.campaign_keys import SENT, state_for
from otpq_core.outcomes import Cancelled, reason_for
from otpq_core.wire import CAMPAIGN_HEADER
from producer.refid import generate_ref_id
from worker.app import settings
from worker.campaign_ledger import CampaignLedger as Ledger
from worker.runtime import runtime

logger = logging.getLogger(__name__)

_current: tuple[int, Ledger] | None = None


def ledger() -> Ledger:
    """One Ledger per process, over the runtime's Redis pool (built after a fork)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        rt = runtime(settings)
        _current = (os.getpid(), Ledger(rt.redis, settings.hash_key))
    return _current[1]


def campaign_of(request: Any) -> str | None:
    """The campaign id a job's message carries, if any."""
    if request is None:
        return None
    value = getattr(request, CAMPAIGN_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(CAMPAIGN_HEADER)
    return value if isinstance(value, str) and value else None


#: How long a process trusts a "not cancelled" answer to this early check. The check is
#: only a shortcut (a cancelled row skips the abuse limits and the limiter); what stops
#: a cancelled campaign's rows is the check made with each row's claim, in the
#: limiter's script (worker/sending.py), which no cache delays.
CANCEL_CHECK_TTL = 0.5

_running: dict[str, float] = {}  # campaign id → when it was last seen not cancelled


def raise_if_campaign_cancelled(campaign: str | None) -> None:
    """The same check for a row of an `otp.send_batch`, which names its campaign."""
    if campaign is None:
        return
    now = time.monotonic()
    if now - _running.get(campaign, -CANCEL_CHECK_TTL) < CANCEL_CHECK_TTL:
        return
    try:
        cancelled = ledger().is_cancelled(campaign)
    except redis.RedisError:
        return
    if cancelled:
        _running.pop(campaign, None)
        raise Cancelled("its campaign was cancelled before it was sent")
    if len(_running) > 1024:
        _running.clear()
    _running[campaign] = now


def settle_send(campaign: str | None, job_id: str, exception: BaseException | None) -> None:
    """A send ended (exception None = sent): settle its campaign row, or count it
    against the day's sends (worker/ending.py, for tasks and batch rows alike)."""
    try:
        if campaign is None:
            if exception is None:
                ledger().count_send()
            return
        if exception is None:
            ledger().settle(campaign, job_id, SENT)
        else:
            ledger().settle(campaign, job_id, state_for(reason_for(exception)))
    except redis.RedisError as exc:
        logger.warning("campaign bookkeeping failed for job %s: %s", job_id, exc)


def sent_into(campaign: str | None, job_id: str, pipe: redis.client.Pipeline) -> None:
    """`settle_send` for a send that went out, queued on the pipeline recording its claim's
    outcome, so the count moves in the same round trip (worker/ending.py `sent_into`)."""
    if campaign is None:
        Ledger.count_send_into(pipe)
    else:
        ledger().settle_into(pipe, campaign, job_id, SENT)


def retried_send(campaign: str | None) -> None:
    """A campaign send was rescheduled: count the retry."""
    if campaign is None:
        return
    try:
        ledger().retried(campaign)
    except redis.RedisError as exc:
        logger.warning("campaign bookkeeping failed for a retry: %s", exc)


def verified(kwargs: Any, valid: bool, job_id: str) -> None:
    """A verify answered: if its reference id belongs to a campaign, count the answer."""
    try:
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        destination = kwargs.get("destination")
        if not isinstance(destination, str):
            return
        # The result shows the default reference id masked: recompute the real one.
        reference_id = kwargs.get("reference_id") or generate_ref_id(
            destination, str(kwargs.get("brand_name")), str(kwargs.get("source"))
        )
        if isinstance(reference_id, str):
            ledger().answer(reference_id, destination, valid)
    except redis.RedisError as exc:
        logger.warning("campaign bookkeeping failed for job %s: %s", job_id, exc)
