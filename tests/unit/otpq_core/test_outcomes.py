"""Outcomes as data: a failure is stored as {reason, detail} and rebuilt from it, and
a record written by an older worker (text only) still replays the same way."""

from __future__ import annotations

import pytest

from otpq_core.outcomes import (
    REFUSALS,
    Cancelled,
    DestinationLimited,
    GaveUp,
    InvalidRequest,
    OtpqError,
    PinpointRejected,
    RetryCause,
    Retrying,
    Uncertain,
    reason_for,
    rebuild,
    record,
)
from worker.policy import replay

DEST = "+14255550142"


@pytest.mark.parametrize(
    "error",
    [PinpointRejected("OPT_OUT: opted out"), GaveUp("after 3 attempts: x"), Cancelled("c")],
)
def test_a_failure_is_rebuilt_from_its_record_as_the_same_class(error: OtpqError) -> None:
    stored = record(error)
    assert stored["reason"] == error.reason and stored["detail"] == error.detail
    again = rebuild(stored)
    assert type(again) is type(error) and str(again) == str(error)


@pytest.mark.parametrize(
    ("text", "cls", "detail"),
    [
        ("rejected: OPT_OUT: opted out", PinpointRejected, "OPT_OUT: opted out"),
        ("uncertain: in flight", Uncertain, "in flight"),
        ("something else", Uncertain, "something else"),
    ],
)
def test_an_older_workers_text_only_record_replays_as_before(
    text: str, cls: type[OtpqError], detail: str
) -> None:
    with pytest.raises(cls) as raised:
        replay({"error": text})
    assert raised.value.detail == detail


def test_a_record_with_an_unknown_reason_replays_uncertain_not_as_a_crash() -> None:
    assert type(rebuild({"error": "x", "reason": "nope", "detail": "d"})) is Uncertain
    # InvalidRequest takes (field, problem): never rebuilt from a bare detail.
    assert type(rebuild(record(InvalidRequest("destination", "bad")))) is Uncertain


def test_a_record_keeps_no_number() -> None:
    stored = record(PinpointRejected(f"{DEST} opted out"))
    assert DEST not in repr(stored) and DEST[1:] not in stored["error"]


def test_reason_comes_from_the_class_not_the_text() -> None:
    assert reason_for(DestinationLimited("rejected: looks like another word")) == "limited"
    assert reason_for(RuntimeError("limited: not ours")) == "error"


def test_retrying_says_its_cause_once() -> None:
    why = Retrying.because(RetryCause.CAPACITY)
    assert str(why) == "retrying: waiting for capacity"
    assert why.cause is RetryCause.CAPACITY
    # Celery rebuilds it from its args: the cause is not among them, the text is the same.
    assert why.args == ("waiting for capacity",) and str(Retrying(*why.args)) == str(why)


def test_every_cause_is_a_label_word() -> None:
    assert all(cause.value.isidentifier() for cause in RetryCause)


def test_refusals_are_the_policy_outcomes_only() -> None:
    reasons = {cls.reason for cls in REFUSALS}
    assert reasons == {"invalid", "expired", "limited", "locked", "cooldown", "cancelled"}
    assert not issubclass(PinpointRejected, REFUSALS) and not issubclass(GaveUp, REFUSALS)
