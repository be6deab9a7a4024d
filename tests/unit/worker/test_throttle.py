"""Which buckets a job takes tokens from, and how lanes wait (fakeredis-backed limiter)."""

from __future__ import annotations

import fakeredis
import pytest

from otpq_core.settings import Settings
from producer.requests import SendRequest, VerifyRequest
from worker.ratelimit import RateLimiter
from worker.throttle import Throttle, bucket

pytest.importorskip("lupa")

SEND = SendRequest("+14255550142", "B", "S")
VERIFY = VerifyRequest("+447911123456", "123456", "B", "S")


def throttle(**env: str) -> Throttle:
    return Throttle(RateLimiter(fakeredis.FakeRedis()), Settings.from_env(env))


def test_operation_origination_and_country_buckets() -> None:
    t = throttle(
        OTPQ_SEND_RATE="20",
        OTPQ_VERIFY_RATE="30",
        OTPQ_ORIGINATION_RATES="+18005550100=3",
        OTPQ_COUNTRY_RATES="US=5, 44=2",
    )
    assert [b.name for b in t.buckets(SEND, "+18005550100")] == [
        "send",
        "oid:+18005550100",
        "cc:us",
    ]
    assert [b.name for b in t.buckets(SEND, "+18005550999")] == ["send", "cc:us"]
    assert [b.name for b in t.buckets(VERIFY, None)] == ["verify", "cc:44"]


def test_zero_rate_means_unlimited() -> None:
    t = throttle(OTPQ_SEND_RATE="0")
    assert t.buckets(SEND, None) == []
    assert t.take([], bulk=False, deadline=None).granted


def test_burst_is_a_second_less_jitter_headroom() -> None:
    assert bucket("send", 10).capacity == 9
    assert bucket("send", 100).capacity == 90
    assert bucket("send", 1).capacity == 1
    assert not bucket("send", 0).limited


def test_bulk_leaves_the_reserve_for_interactive() -> None:
    t = throttle(OTPQ_SEND_RATE="10", OTPQ_BULK_RESERVE="0.5", OTPQ_MAX_CAPACITY_WAIT="0")
    buckets = t.buckets(SEND, None)
    bulk = [t.take(buckets, bulk=True, deadline=None).granted for _ in range(9)]
    assert bulk.count(True) < 9  # bulk stops while tokens remain
    assert t.take(buckets, bulk=False, deadline=None).granted  # interactive still gets one
