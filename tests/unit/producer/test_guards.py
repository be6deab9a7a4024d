"""The producer's guards on fakeredis: idempotency keys, resend cooldown, countries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import fakeredis
import pytest
import redis

from otpq_core.outcomes import DestinationBlocked, InvalidRequest, for_humans
from otpq_core.settings import Settings
from producer.guards import Guards, first_wins
from tests.helpers import RedisClock

pytest.importorskip(
    "lupa", reason="fakeredis runs Lua scripts only with lupa", exc_type=ImportError
)

US, FR = "+14255550142", "+33612345678"
BASE = Settings.from_env({"OTPQ_HASH_KEY": "unit-test-hash-key-0123456789"})


@pytest.fixture
def client() -> Iterator[fakeredis.FakeRedis]:
    conn = fakeredis.FakeRedis()
    yield conn
    conn.close()


def guards(client: redis.Redis, **changes: object) -> Guards:
    return Guards(replace(BASE, **changes), lambda: client)  # type: ignore[arg-type]


def test_idempotency_key_returns_the_first_job_per_task(client: fakeredis.FakeRedis) -> None:
    g = guards(client, resend_cooldown=0)
    first = g.reserve("job-1", task="otp.send", idempotency_key="signup-123")
    assert first.repeat_of is None
    again = g.reserve("job-2", task="otp.send", idempotency_key="signup-123")
    assert again.repeat_of == "job-1"
    other_task = g.reserve("job-3", task="otp.verify", idempotency_key="signup-123")
    assert other_task.repeat_of is None
    other_key = g.reserve("job-4", task="otp.send", idempotency_key="signup-124")
    assert other_key.repeat_of is None
    (key,) = first.keys
    assert "signup" not in key and 86000 < client.ttl(key) <= 86400


def test_cooldown_returns_the_first_job_for_the_same_destination_and_reference(
    client: fakeredis.FakeRedis,
) -> None:
    g = guards(client, resend_cooldown=30.0)
    assert g.reserve("job-1", task="otp.send", cooldown=(US, "ref")).repeat_of is None
    assert g.reserve("job-2", task="otp.send", cooldown=(US, "ref")).repeat_of == "job-1"
    assert g.reserve("job-3", task="otp.send", cooldown=(US, "ref2")).repeat_of is None
    assert g.reserve("job-4", task="otp.send", cooldown=("+16135550123", "ref")).repeat_of is None


def test_cooldown_expires(client: fakeredis.FakeRedis, redis_clock: RedisClock) -> None:
    g = guards(client, resend_cooldown=30)
    g.reserve("job-1", task="otp.send", cooldown=(US, "ref"))
    redis_clock.advance(29)
    assert g.reserve("job-2", task="otp.send", cooldown=(US, "ref")).repeat_of == "job-1"
    redis_clock.advance(2)
    assert g.reserve("job-3", task="otp.send", cooldown=(US, "ref")).repeat_of is None


def test_idempotency_key_follows_the_job_the_cooldown_returned(
    client: fakeredis.FakeRedis,
) -> None:
    g = guards(client, resend_cooldown=30.0)
    g.reserve("job-1", task="otp.send", cooldown=(US, "ref"))
    held = g.reserve("job-2", task="otp.send", idempotency_key="k", cooldown=(US, "ref"))
    assert held.repeat_of == "job-1"
    assert g.reserve("job-3", task="otp.send", idempotency_key="k").repeat_of == "job-1"


def test_release_frees_only_keys_still_held(client: fakeredis.FakeRedis) -> None:
    g = guards(client, resend_cooldown=30.0)
    held = g.reserve("job-1", task="otp.send", idempotency_key="k", cooldown=(US, "ref"))
    assert len(held.keys) == 2
    held.release()  # the enqueue failed: nothing was queued under job-1
    assert g.reserve("job-2", task="otp.send", idempotency_key="k").repeat_of is None
    stale = g.reserve("job-3", task="otp.send", cooldown=(US, "ref"))
    client.set(stale.keys[0], "someone-else")
    stale.release()
    assert client.get(stale.keys[0]) == b"someone-else"


def test_nothing_to_guard_costs_no_redis_call() -> None:
    def no_redis() -> redis.Redis:
        raise AssertionError("Redis was asked")

    g = Guards(replace(BASE, resend_cooldown=0), no_redis)
    assert g.reserve("job-1", task="otp.send", cooldown=(US, "ref")).repeat_of is None
    assert g.reserve("job-2", task="otp.verify").repeat_of is None
    g.check_country(US)


@pytest.mark.parametrize("bad", ["", "   ", "x" * 129, "a\nb", 5, None.__class__])
def test_bad_idempotency_keys_are_invalid(client: fakeredis.FakeRedis, bad: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        guards(client).reserve("job", task="otp.send", idempotency_key=bad)  # type: ignore[arg-type]
    assert info.value.field == "idempotency_key"
    assert client.keys() == []


def test_country_guard_raises_before_anything(client: fakeredis.FakeRedis) -> None:
    g = guards(client, allowed_countries=frozenset({"US"}))
    g.check_country(US)
    with pytest.raises(DestinationBlocked) as info:
        g.check_country(FR)
    assert isinstance(info.value, InvalidRequest) and info.value.field == "destination"
    assert str(info.value) == "blocked: destination: country FR is not allowed"


def test_first_wins_answers_the_holder(client: fakeredis.FakeRedis) -> None:
    winners = [first_wins(client, "otpq:k", f"job-{i}", 30) for i in range(10)]
    assert winners[0] is None and set(winners[1:]) == {"job-0"}
    assert first_wins(client, "otpq:k", "job-0", 30) is None  # the holder itself


def test_first_wins_has_one_winner_among_racing_threads(redis_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    conn = redis.Redis.from_url(redis_url)
    barrier = threading.Barrier(16)

    def race(i: int) -> str | None:
        barrier.wait()
        return first_wins(conn, "otpq:race", f"job-{i}", 30)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(race, range(16)))
    winner = conn.get("otpq:race").decode()
    assert answers.count(None) == 1
    assert answers.index(None) == int(winner.split("-")[1])
    assert {a for a in answers if a is not None} == {winner}
    conn.close()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.2, "1 s"), (45, "45 s"), (60, "1 min"), (725, "12 min 5 s"), (3600, "1 h"),
        (86365, "23 h 59 min"), (86400, "24 h"),
    ],
)  # fmt: skip
def test_waits_are_shown_for_humans(seconds: float, shown: str) -> None:
    assert for_humans(seconds) == shown
