"""Sliding-window budgets with an explicit clock, on a real Redis and on fakeredis."""

from __future__ import annotations

import pytest
import redis

from otpq_core.settings import ConfigError, Settings, parse_budgets
from worker.sliding_windows import Backoff, SlidingWindows

T0 = 1_000_000.0
KEY = "otpq:sends:test"


@pytest.fixture
def windows(scripting_redis: redis.Redis) -> SlidingWindows:
    return SlidingWindows(scripting_redis)


def test_limit_per_window_then_room_when_the_oldest_leaves(windows: SlidingWindows) -> None:
    budget = [(5, 900.0)]
    for i in range(5):
        assert windows.admit(KEY, f"job{i}", budget, now=T0 + i).admitted
    refused = windows.admit(KEY, "job5", budget, now=T0 + 10)
    assert not refused.admitted
    assert (refused.limit, refused.window) == (5, 900.0)
    assert refused.retry_after == pytest.approx(890.0)  # job0 leaves at T0 + 900
    assert not windows.admit(KEY, "job5", budget, now=T0 + 899.9).admitted
    assert windows.admit(KEY, "job5", budget, now=T0 + 900).admitted
    assert not windows.admit(KEY, "job6", budget, now=T0 + 900.5).admitted
    assert windows.used(KEY, 900, now=T0 + 900.5) == 5


def test_every_window_applies_and_the_tightest_one_refuses(windows: SlidingWindows) -> None:
    budgets = parse_budgets("3/86400, 2/60")
    assert budgets == ((2, 60.0), (3, 86400.0))
    assert windows.admit(KEY, "a", budgets, now=T0).admitted
    assert windows.admit(KEY, "b", budgets, now=T0 + 1).admitted
    short = windows.admit(KEY, "c", budgets, now=T0 + 2)
    assert (short.admitted, short.limit, short.window) == (False, 2, 60.0)
    assert short.retry_after == pytest.approx(58.0)
    assert windows.admit(KEY, "c", budgets, now=T0 + 61).admitted
    day = windows.admit(KEY, "d", budgets, now=T0 + 200)
    assert (day.admitted, day.limit, day.window) == (False, 3, 86400.0)
    assert day.retry_after == pytest.approx(86400 - 200)


def test_admission_is_idempotent_per_job_and_refund_is_exact(windows: SlidingWindows) -> None:
    budget = [(2, 900.0)]
    assert windows.admit(KEY, "a", budget, now=T0).admitted
    for _ in range(3):  # a retried or redelivered job keeps its one slot
        assert windows.admit(KEY, "a", budget, now=T0 + 5).admitted
    assert windows.admit(KEY, "b", budget, now=T0 + 6).admitted
    assert windows.admit(KEY, "a", budget, now=T0 + 7).admitted  # holder, even when full
    assert not windows.admit(KEY, "c", budget, now=T0 + 8).admitted
    windows.refund(KEY, "b")
    windows.refund(KEY, "never-admitted")
    assert windows.admit(KEY, "c", budget, now=T0 + 9).admitted
    assert not windows.admit(KEY, "d", budget, now=T0 + 10).admitted


def test_keys_expire_after_the_longest_window(windows: SlidingWindows) -> None:
    import time

    windows.admit(KEY, "a", [(1, 60.0), (5, 3600.0)], now=time.time())
    assert 3600 <= windows.redis.ttl(KEY) <= 3601


def test_no_budget_admits_without_touching_redis() -> None:
    class Exploding:
        def register_script(self, source: str) -> object:
            return lambda **_: (_ for _ in ()).throw(AssertionError("called Redis"))

    assert SlidingWindows(Exploding()).admit(KEY, "a", ()).admitted  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0", "off", "OFF"])
def test_off_means_no_budget(text: str) -> None:
    assert parse_budgets(text) == ()


@pytest.mark.parametrize("text", ["5", "5/", "/900", "0/900", "5/0", "-1/9", "a/b", "5/nan"])
def test_bad_budgets_are_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="OTPQ_DESTINATION_SENDS"):
        Settings.from_env({"OTPQ_DESTINATION_SENDS": text})


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.destination_sends == ((5, 900.0), (10, 86400.0))
    assert settings.verify_failures == ((5, 3600.0),) and settings.verify_backoff == 1.0
    assert settings.resend_cooldown == 30 and settings.idempotency_ttl == 86400
    assert settings.allowed_countries == settings.denied_countries == frozenset()


def test_cooldown_first_wins_in_the_same_script(windows: SlidingWindows) -> None:
    cooldown = ("otpq:cooldown:test", 30.0)
    budget = [(5, 900.0)]
    assert windows.admit(KEY, "job0", budget, now=T0, cooldown=cooldown).admitted
    again = windows.admit(KEY, "job1", budget, now=T0 + 1, cooldown=cooldown)
    assert not again.admitted and again.cooldown_holder == "job0"
    # The holder itself (a redelivery, or the producer having set the key) goes on.
    assert windows.admit(KEY, "job0", budget, now=T0 + 2, cooldown=cooldown).admitted
    # A job refused by the cooldown took no budget slot.
    assert windows.redis.zcard(KEY) == 1


def test_cooldown_without_budgets_still_runs(windows: SlidingWindows) -> None:
    cooldown = ("otpq:cooldown:only", 30.0)
    assert windows.admit(KEY, "a", [], cooldown=cooldown).admitted
    assert windows.admit(KEY, "b", [], cooldown=cooldown).cooldown_holder == "a"
    assert 0 < windows.redis.pttl("otpq:cooldown:only") <= 30_000


def test_backoff_doubles_each_wait_after_the_free_ones(windows: SlidingWindows) -> None:
    key, budget, backoff = "otpq:fails:test", [(10, 3600.0)], Backoff(first=1.0, free=2, cap=4.0)
    t = 1000.0
    assert windows.admit(key, "g0", budget, now=t, backoff=backoff).admitted
    assert windows.admit(key, "g1", budget, now=t, backoff=backoff).admitted  # two free
    waits = []
    for i in range(2, 6):
        refused = windows.admit(key, f"g{i}", budget, now=t, backoff=backoff)
        assert refused.backoff and not refused.admitted
        waits.append(refused.retry_after)
        t += refused.retry_after
        assert windows.admit(key, f"g{i}", budget, now=t, backoff=backoff).admitted
    assert waits == [1.0, 2.0, 4.0, 4.0]  # doubling, capped
    assert windows.admit(key, "g1", budget, now=t, backoff=backoff).admitted  # idempotent
