"""The worker's side of bulk campaigns: report each row's outcome, count answers, and
skip rows of a cancelled campaign.

Send jobs of a campaign carry its id in the `otpq_campaign` header (not a kwarg: the
kwargs are the public contract). A row is settled when its job ends: a sent one in the
round trip that records its claim's outcome (`sent_into`), a failed one on Celery's
task_failure signal; task_retry counts retries. A verify whose reference id belongs
to a campaign moves that campaign's verified/rejected counts.
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
from celery import Task, signals

from otpq_core.campaign_keys import SENT, state_for
from otpq_core.outcomes import Cancelled, OtpqError
from otpq_core.wire import CAMPAIGN_HEADER, SEND_TASK, VERIFY_TASK
from producer.refid import generate_ref_id
from worker.app import app, settings
from worker.campaign_ledger import CampaignLedger as Ledger
from worker.runtime import runtime

logger = logging.getLogger(__name__)

_current: tuple[int, Ledger] | None = None


def ledger() -> Ledger:
    """One Ledger per process, over the runtime's Redis pool (built after a fork)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        rt = runtime(settings, pool_size=app.conf.worker_concurrency or 16)
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


def raise_if_cancelled(task: Task) -> None:
    """Called by otp.send before it takes capacity and claims: one Redis lookup, and only
    for campaign jobs. If Redis cannot answer, the send goes on to the limiter, which
    fails closed and checks the cancel mark again with the claim."""
    raise_if_campaign_cancelled(campaign_of(task.request))


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
    against the day's sends. Called by the signals below for `otp.send`, and directly
    for each row of an `otp.send_batch`."""
    try:
        if campaign is None:
            if exception is None:
                ledger().count_send()
            return
        if exception is None:
            ledger().settle(campaign, job_id, SENT)
        else:
            reason = exception.reason if isinstance(exception, OtpqError) else "error"
            ledger().settle(campaign, job_id, state_for(reason))
    except redis.RedisError as exc:
        logger.warning("campaign bookkeeping failed for job %s: %s", job_id, exc)


def sent_into(campaign: str | None, job_id: str, pipe: redis.client.Pipeline) -> None:
    """`settle_send` for a send that went out, queued on the pipeline recording its claim's
    outcome, so the count moves in the same round trip (worker/sending.py `on_sent`)."""
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


@signals.task_success.connect
def _on_success(sender: Task | None = None, result: Any = None, **_: Any) -> None:
    if sender is None:
        return
    if sender.name == SEND_TASK:
        return  # settled with its claim's outcome (sent_into), or by the run that sent it
    try:
        if sender.name == VERIFY_TASK and isinstance(result, dict):
            kwargs = sender.request.kwargs or {}
            destination = kwargs.get("destination")
            # The result shows the default reference id masked: recompute the real one.
            reference_id = kwargs.get("reference_id") or generate_ref_id(
                str(destination), str(kwargs.get("brand_name")), str(kwargs.get("source"))
            )
            if isinstance(destination, str) and isinstance(reference_id, str):
                ledger().answer(reference_id, destination, bool(result.get("valid")))
    except redis.RedisError as exc:
        logger.warning("campaign bookkeeping failed for job %s: %s", sender.request.id, exc)


@signals.task_failure.connect
def _on_failure(sender: Task | None = None, exception: Any = None, **_: Any) -> None:
    if sender is None or sender.name != SEND_TASK:
        return
    campaign = campaign_of(sender.request)
    if campaign is not None:
        settle_send(campaign, sender.request.id, exception or Exception("error"))


@signals.task_retry.connect
def _on_retry(sender: Task | None = None, request: Any = None, **_: Any) -> None:
    if sender is None or sender.name != SEND_TASK:
        return
    retried_send(campaign_of(request))
