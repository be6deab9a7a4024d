"""Which failures give a job's abuse slot back (worker/abuse.py `refund`, called by
worker/ending.py from OtpTask.on_failure), on fakeredis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import fakeredis
import pytest

from otpq_core.outcomes import (
    DestinationLimited,
    GaveUp,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    ResendCooldown,
    Uncertain,
)
from otpq_core.settings import Settings
from otpq_core.wire import CALLS_HEADER
from producer.refid import generate_ref_id
from worker import tasks
from worker.abuse import Abuse

pytest.importorskip(
    "lupa", reason="fakeredis runs Lua scripts only with lupa", exc_type=ImportError
)

DEST = "+14255550142"
BUDGET = ((5, 900.0),)


@pytest.fixture
def abuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Abuse]:
    settings = replace(
        Settings.from_env({"OTPQ_HASH_KEY": "unit-test-hash-key-0123456789"}),
        destination_sends=BUDGET,
        verify_failures=BUDGET,
    )
    guard = Abuse(fakeredis.FakeRedis(), settings)
    monkeypatch.setattr(tasks.OtpTask, "rt", property(lambda self: SimpleNamespace(abuse=guard)))
    yield guard
    guard.redis.close()


def slot_after(abuse: Abuse, task: object, exc: Exception, calls: int = 0) -> bool:
    kwargs = {"destination": DEST, "brand_name": "ExampleCorp", "source": "Login"}
    reference = generate_ref_id(DEST, "ExampleCorp", "Login")
    key = abuse.sends_key(DEST) if task is tasks.send else abuse.failures_key(DEST, reference)
    abuse.redis.delete(key)
    abuse.windows.admit(key, "job", BUDGET)
    task.push_request(id="job", **{CALLS_HEADER: calls})  # type: ignore[attr-defined]
    try:
        task.on_failure(exc, "job", (), kwargs, None)  # type: ignore[attr-defined]
    finally:
        task.pop_request()  # type: ignore[attr-defined]
    return abuse.redis.zscore(key, "job") is not None


@pytest.mark.parametrize(
    ("exc", "calls", "kept"),
    [
        (PinpointRejected("OPT_OUT"), 0, False),  # no SMS, no charge
        (PinpointRejected("OPT_OUT"), 2, False),
        (JobExpired("no capacity"), 0, False),  # never reached Pinpoint
        (JobExpired("late retry"), 1, True),  # an earlier attempt may have sent
        (ResendCooldown("job x"), 0, False),
        (GaveUp("after 5 attempts"), 0, True),  # some attempt may have been delivered
        (Uncertain("in flight"), 0, True),
        (DestinationLimited("over"), 0, True),  # holds no slot of its own: untouched
        (InvalidRequest("otp", "bad"), 0, True),
        (RuntimeError("a bug"), 0, True),
    ],
)
def test_send_refunds(abuse: Abuse, exc: Exception, calls: int, kept: bool) -> None:
    assert slot_after(abuse, tasks.send, exc, calls) is kept


@pytest.mark.parametrize(
    "exc",
    [PinpointRejected("x"), JobExpired("x"), GaveUp("x"), OtpqError("x")],
)
def test_a_verify_that_verified_nothing_is_not_a_failed_guess(abuse: Abuse, exc: Exception) -> None:
    assert slot_after(abuse, tasks.verify, exc) is False


def test_unparsable_kwargs_are_ignored(abuse: Abuse) -> None:
    for kwargs in (None, [], {"destination": 5}, {}):
        tasks.send.on_failure(PinpointRejected("x"), "job", (), kwargs, None)
