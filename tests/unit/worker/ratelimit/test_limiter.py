"""Limiter logic with an explicit clock, on a real Redis and on fakeredis (with lupa)."""

from __future__ import annotations

import math
import socket
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import worker.ratelimit
from otpq_core.settings import parse_rate_map
from worker.ratelimit import (
    Bucket,
    Decision,
    LimiterUnavailable,
    Mark,
    MarkHeld,
    RateLimiter,
    Stopped,
)

T0 = 1_000_000.0
PHONE = "+18005550100"


@pytest.fixture
def client(scripting_redis: redis.Redis) -> redis.Redis:
    return scripting_redis


@pytest.fixture
def limiter(client: redis.Redis) -> RateLimiter:
    return RateLimiter(client)


def drain(limiter: RateLimiter, buckets: list[Bucket], now: float, reserve: float = 0.0) -> int:
    """Grants available at `now`, taken until the first refusal."""
    for granted in range(10_000):
        if not limiter.acquire(buckets, reserve=reserve, now=now).granted:
            return granted
    raise AssertionError("bucket never refused")


def dead_client() -> redis.Redis:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # No client retries: redis-py 8 would otherwise back off for ~4 s before giving up.
    return redis.Redis(
        port=port, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )


def test_public_api_is_exactly_this() -> None:
    assert sorted(worker.ratelimit.__all__) == [
        "Bucket",
        "Decision",
        "Guard",
        "GuardRefused",
        "LimiterUnavailable",
        "Mark",
        "MarkHeld",
        "RateLimiter",
        "Stopped",
    ]


# -- refill and burst ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst", "elapsed"),
    [(3, None, 1.0), (3, None, 0.5), (10, 10, 0.25), (10, 10, 0.7), (2, 4, 1.5), (7, 7, 100.0)],
)
def test_refill_grants_floor_of_elapsed_times_rate_capped_at_burst(
    limiter: RateLimiter, rate: float, burst: float | None, elapsed: float
) -> None:
    bucket = Bucket("send", rate, burst)
    assert drain(limiter, [bucket], T0) == bucket.capacity
    expected = min(bucket.capacity, math.floor(elapsed * rate))
    assert drain(limiter, [bucket], T0 + elapsed) == expected


def test_long_idle_allows_only_one_burst(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 100, burst=5)
    assert drain(limiter, [bucket], T0) == 5
    assert drain(limiter, [bucket], T0 + 3600) == 5


def test_default_burst_is_one_second_of_the_rate() -> None:
    assert Bucket("send", 50).capacity == 50
    assert Bucket("send", 0.2).capacity == 1
    assert Bucket("send", 50, burst=3).capacity == 3


def test_retry_after_is_time_until_the_next_token(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 4, burst=2)
    assert drain(limiter, [bucket], T0) == 2
    assert limiter.acquire([bucket], now=T0).retry_after == pytest.approx(0.25)
    assert limiter.acquire([bucket], now=T0 + 0.1).retry_after == pytest.approx(0.15)
    assert limiter.acquire([bucket], now=T0 + 0.25) == Decision(True, 0.0, T0 + 0.25)
    assert limiter.acquire([bucket], now=T0 + 0.25).retry_after == pytest.approx(0.25)


# -- several buckets ----------------------------------------------------------------


def test_refused_multi_bucket_acquire_takes_nothing(limiter: RateLimiter) -> None:
    send, oid = Bucket("send", 10), Bucket(f"oid:{PHONE}", 1)
    assert drain(limiter, [oid], T0) == 1
    for _ in range(5):
        decision = limiter.acquire([send, oid], now=T0)
        assert not decision.granted
        assert decision.retry_after == pytest.approx(1.0)
    assert drain(limiter, [send], T0) == 10


def test_multi_bucket_retry_after_is_the_longest_wait(limiter: RateLimiter) -> None:
    fast, slow = Bucket("fast", 10), Bucket("slow", 0.5)
    drain(limiter, [fast], T0)
    drain(limiter, [slow], T0)
    assert limiter.acquire([fast, slow], now=T0).retry_after == pytest.approx(2.0)
    assert limiter.acquire([slow, fast], now=T0 + 1.95).retry_after == pytest.approx(0.05)
    assert limiter.acquire([fast, slow], now=T0 + 2.0).granted


def test_granted_multi_bucket_acquire_takes_from_each(limiter: RateLimiter) -> None:
    a, b = Bucket("a", 3), Bucket("b", 5)
    assert drain(limiter, [a, b], T0) == 3
    assert drain(limiter, [b], T0) == 2


# -- priority lanes -----------------------------------------------------------------


def test_bulk_is_refused_while_interactive_still_granted(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 10)  # burst 10, bulk must leave 2
    assert drain(limiter, [bucket], T0, reserve=0.2) == 8
    assert not limiter.acquire([bucket], reserve=0.2, now=T0).granted
    assert drain(limiter, [bucket], T0) == 2


def test_bulk_retry_after_counts_the_reserve(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 4)
    drain(limiter, [bucket], T0)
    # Needs its own token plus 2 reserved: 3 tokens at 4/s.
    assert limiter.acquire([bucket], reserve=0.5, now=T0).retry_after == pytest.approx(0.75)


def test_bulk_alone_drains_at_the_refill_rate(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 10)
    assert drain(limiter, [bucket], T0, reserve=0.2) == 8
    steps = [T0 + k / 40 for k in range(1, 401)]  # 10 s, polled 4x per token interval
    grants = sum(limiter.acquire([bucket], reserve=0.2, now=now).granted for now in steps)
    assert grants == 100
    # ...and interactive still finds the reserve waiting.
    assert drain(limiter, [bucket], steps[-1]) == 2


def test_bulk_on_a_bucket_too_small_for_its_reserve_is_slowed_not_starved(
    limiter: RateLimiter,
) -> None:
    bucket = Bucket(f"oid:{PHONE}", 1)  # burst 1 cannot hold 1 + 0.2 tokens
    steps = [T0 + k / 100 for k in range(1190)]
    grants = [now for now in steps if limiter.acquire([bucket], reserve=0.2, now=now).granted]
    # One every 1.2 s: the bucket must have been full 0.2 s before bulk may take it.
    assert [round(g - T0, 2) for g in grants] == [round(1.2 * k, 2) for k in range(10)]


# -- adaptive slowdown --------------------------------------------------------------


def test_throttled_decreases_once_per_cooldown(client: redis.Redis) -> None:
    limiter = RateLimiter(client, cooldown=2.0, recovery=20.0, floor=0.1)
    bucket = Bucket("send", 10)
    assert limiter.throttled([bucket], now=T0) == pytest.approx(0.5)
    for _ in range(50):
        assert limiter.throttled([bucket], now=T0) == pytest.approx(0.5)
    regain = 0.9 / 20
    assert limiter.throttled([bucket], now=T0 + 1.0) == pytest.approx(0.5 + regain)
    assert limiter.throttled([bucket], now=T0 + 2.0) == pytest.approx((0.5 + 2 * regain) / 2)


def test_throttled_never_goes_below_the_floor(client: redis.Redis) -> None:
    limiter = RateLimiter(client, cooldown=1.0, recovery=1e6, floor=0.1)
    bucket = Bucket("send", 10)
    factors = [limiter.throttled([bucket], now=T0 + k) for k in range(10)]
    assert factors[:3] == pytest.approx([0.5, 0.25, 0.125], rel=1e-4)
    assert min(factors) == 0.1
    assert limiter.factor(bucket, now=T0 + 9) == 0.1


def test_factor_recovers_linearly_to_full(client: redis.Redis) -> None:
    limiter = RateLimiter(client, recovery=20.0, floor=0.1)
    bucket = Bucket("send", 10)
    assert limiter.factor(bucket, now=T0) == 1.0
    limiter.throttled([bucket], now=T0)
    assert limiter.factor(bucket, now=T0 + 5) == pytest.approx(0.5 + 5 * 0.045)
    assert limiter.factor(bucket, now=T0 + 11.2) == 1.0
    assert limiter.factor(bucket, now=T0 + 100) == 1.0


def test_throttled_bucket_grants_at_the_reduced_rate(client: redis.Redis) -> None:
    limiter = RateLimiter(client, recovery=1e6)
    bucket = Bucket("send", 10)
    limiter.throttled([bucket], now=T0)
    assert drain(limiter, [bucket], T0) == 5  # burst scaled too
    assert drain(limiter, [bucket], T0 + 1.0) == 5
    # 0.2 s at half rate, less the regain of a factor climbing 0.9e-6 per second.
    assert limiter.acquire([bucket], now=T0 + 1.0).retry_after == pytest.approx(0.2, abs=1e-5)


def test_throttled_only_slows_the_buckets_named(client: redis.Redis) -> None:
    limiter = RateLimiter(client)
    send, oid = Bucket("send", 10), Bucket(f"oid:{PHONE}", 3)
    limiter.throttled([oid], now=T0)
    assert limiter.factor(send, now=T0) == 1.0
    assert limiter.factor(oid, now=T0) == pytest.approx(0.5)


# -- keys ---------------------------------------------------------------------------


def test_keys_expire_shortly_after_the_bucket_is_full_again(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    bucket = Bucket("send", 1, burst=5)
    drain(limiter, [bucket], T0)
    # Full again 5 s after T0; kept one more interval plus a 1 s margin.
    assert 6_000 < client.pttl(limiter.key(bucket)) <= 7_000


def test_keys_of_a_throttled_bucket_live_until_the_rate_is_regained(
    client: redis.Redis,
) -> None:
    limiter = RateLimiter(client, recovery=20.0, floor=0.1)
    bucket = Bucket("send", 10)
    limiter.throttled([bucket], now=T0)
    regained_in = 0.5 / 0.045
    assert (
        (regained_in + 0.5) * 1000
        < client.pttl(limiter.key(bucket))
        <= (regained_in + 1.0) * 1000 + 1
    )


def test_key_names_hash_identities(limiter: RateLimiter, client: redis.Redis) -> None:
    buckets = [Bucket("send", 5), Bucket(f"oid:{PHONE}", 5), Bucket("12345", 5)]
    limiter.acquire(buckets, now=T0)
    keys = sorted(k.decode() for k in client.scan_iter("*"))
    assert keys == sorted(limiter.key(b) for b in buckets)
    assert limiter.key(buckets[0]) == "otpq:rl:send"
    assert limiter.key(buckets[1]).startswith("otpq:rl:oid:")
    for key in keys:
        assert "8005550100" not in key
        assert "12345" not in key
    assert "8005550100" not in buckets[1].label


def test_errors_about_a_bucket_do_not_print_its_identity() -> None:
    with pytest.raises(ValueError) as info:
        Bucket(f"oid:{PHONE}", -1)
    assert "8005550100" not in str(info.value)


def test_script_is_reloaded_after_script_flush(limiter: RateLimiter, client: redis.Redis) -> None:
    assert limiter.acquire([Bucket("send", 5)], now=T0).granted
    client.script_flush()
    assert limiter.acquire([Bucket("send", 5)], now=T0).granted


# -- unlimited, validation, failure -------------------------------------------------


def test_unlimited_buckets_do_not_touch_redis() -> None:
    limiter = RateLimiter(dead_client())
    assert limiter.acquire([Bucket("send", None), Bucket("verify", 0)]) == Decision(True, 0.0)
    assert limiter.throttled([Bucket("send", 0)]) == 1.0


def test_redis_down_raises_limiter_unavailable() -> None:
    limiter = RateLimiter(dead_client())
    for call in (
        lambda: limiter.acquire([Bucket("send", 5)]),
        lambda: limiter.wait([Bucket("send", 5)], deadline=None),
        lambda: limiter.throttled([Bucket("send", 5)]),
    ):
        with pytest.raises(LimiterUnavailable) as info:
            call()
        assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)


@pytest.mark.parametrize("reserve", [-0.1, 1.0, 2.0])
def test_reserve_out_of_range_is_refused(limiter: RateLimiter, reserve: float) -> None:
    with pytest.raises(ValueError, match="reserve"):
        limiter.acquire([Bucket("send", 5)], reserve=reserve, now=T0)


def test_same_bucket_twice_is_refused(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="twice"):
        limiter.acquire([Bucket("send", 5), Bucket("send", 5)], now=T0)


@pytest.mark.parametrize("kwargs", [{"rate": -1}, {"rate": math.inf}, {"rate": 5, "burst": 0.5}])
def test_bad_bucket_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Bucket("send", **kwargs)


# -- wait ---------------------------------------------------------------------------


def test_wait_sleeps_the_retry_after_then_is_granted(limiter: RateLimiter) -> None:
    bucket = Bucket("send", 20, burst=1)
    assert limiter.acquire([bucket]).granted
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    granted, waited = limiter.wait([bucket], deadline=time.time() + 30, sleep=sleep)
    assert granted
    assert slept
    assert all(0 < s <= 0.05 * 1.1 for s in slept)  # never more than one interval + jitter
    assert waited == pytest.approx(sum(slept))


def test_wait_gives_up_at_once_when_capacity_comes_after_the_deadline(
    limiter: RateLimiter,
) -> None:
    bucket = Bucket("send", 0.1)  # next token in 10 s
    assert limiter.acquire([bucket]).granted
    slept: list[float] = []
    assert limiter.wait([bucket], deadline=time.time() + 1, sleep=slept.append) == (False, 0.0)
    assert slept == []


def test_wait_granted_at_once_does_not_sleep(limiter: RateLimiter) -> None:
    slept: list[float] = []
    assert limiter.wait([Bucket("send", 5)], deadline=None, sleep=slept.append) == (True, 0.0)
    assert slept == []


# -- settings -----------------------------------------------------------------------


def test_parse_rate_map_accepts() -> None:
    assert parse_rate_map(f"{PHONE}=3, 12345=100") == {PHONE: 3.0, "12345": 100.0}
    assert parse_rate_map(" a = 0.5 ,, b=0,") == {"a": 0.5, "b": 0.0}
    assert parse_rate_map("") == {}


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        (f"{PHONE}=3, 12345", "12345"),
        ("a=3, b=fast", "b=fast"),
        ("a=-1", "a=-1"),
        ("=3", "=3"),
        ("a=nan", "a=nan"),
        ("a=inf", "a=inf"),
        ("a=1, a=2", "a=2"),
    ],
)
def test_parse_rate_map_rejects_naming_the_entry(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=f"'{bad}'"):
        parse_rate_map(text)


# --- the mark: a key set with the tokens (a send's claim) ---------------------------


def test_mark_is_set_with_the_token(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 4, burst=1)
    mark = Mark("otpq:claim:job", b"inflight", 60)
    assert limiter.acquire([bucket], now=T0, mark=mark) == Decision(True, 0.0, T0, marked=True)
    assert client.get("otpq:claim:job") == b"inflight"
    assert 0 < client.ttl("otpq:claim:job") <= 60


def test_a_held_mark_takes_no_token(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 4, burst=1)
    client.set("otpq:claim:job", b'{"result": {}}')
    held = limiter.acquire([bucket], now=T0, mark=Mark("otpq:claim:job", b"inflight", 60))
    assert (held.granted, held.marked) == (False, False)
    assert client.get("otpq:claim:job") == b'{"result": {}}'  # untouched
    assert limiter.acquire([bucket], now=T0).granted  # the token is still there
    with pytest.raises(MarkHeld):
        limiter.wait([bucket], deadline=None, mark=Mark("otpq:claim:job", b"x", 60))


def test_a_refused_token_sets_no_mark(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 4, burst=1)
    assert limiter.acquire([bucket], now=T0).granted
    refused = limiter.acquire([bucket], now=T0, mark=Mark("otpq:claim:job", b"inflight", 60))
    assert (refused.granted, refused.marked) == (False, None)
    assert refused.retry_after == pytest.approx(0.25)
    assert client.exists("otpq:claim:job") == 0
    # Waiting for the token is not mistaken for a held mark.
    assert limiter.wait([bucket], deadline=None, mark=Mark("otpq:claim:job", b"x", 60))[0]
    assert client.get("otpq:claim:job") == b"x"


# --- a guarded mark: a campaign row's claim, refused once its campaign is cancelled ---

CANCELLED = ("otpq:campaign:c", "cancelled")


def guarded(value: bytes = b"inflight") -> Mark:
    return Mark("otpq:claim:row", value, 60, stop=CANCELLED, register="otpq:campaign:c:inflight")


def test_a_guarded_mark_joins_the_register(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 4, burst=1)
    decision = limiter.acquire([bucket], now=T0, mark=guarded())
    assert (decision.granted, decision.marked, decision.stopped) == (True, True, False)
    assert client.zrange("otpq:campaign:c:inflight", 0, -1, withscores=True) == [
        (b"otpq:claim:row", T0)
    ]


def test_a_set_stop_takes_nothing(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 4, burst=1)
    client.hset(*CANCELLED, "1")
    decision = limiter.acquire([bucket], now=T0, mark=guarded())
    assert (decision.granted, decision.stopped) == (False, True)
    assert client.exists("otpq:claim:row", "otpq:campaign:c:inflight") == 0
    assert limiter.acquire([bucket], now=T0).granted  # the token is still there


def test_the_stop_is_checked_even_with_no_bucket_limited(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    assert limiter.acquire([], mark=guarded()).marked is True
    client.delete("otpq:claim:row")
    client.hset(*CANCELLED, "1")
    assert limiter.acquire([], mark=guarded()).stopped


def test_a_row_waiting_for_capacity_is_stopped_after_its_wait(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    bucket = Bucket("send", 4, burst=1)
    assert limiter.acquire([bucket]).granted  # the next token is a wait away
    naps: list[float] = []

    def cancel_meanwhile(seconds: float) -> None:
        naps.append(seconds)
        client.hset(*CANCELLED, "1")  # the cancel lands while the row sleeps

    with pytest.raises(Stopped):
        limiter.wait([bucket], deadline=None, mark=guarded(), sleep=cancel_meanwhile)
    assert len(naps) == 1 and client.exists("otpq:claim:row") == 0


#: A guard that lets the acquire go while KEYS[1] holds "open", and counts its calls.
GATE = r"""
local function guard(KEYS, ARGV)
  redis.call('INCR', KEYS[2])
  if redis.call('GET', KEYS[1]) == ARGV[1] then return {1} end
  return {0, 'closed'}
end
"""


def gate(open_value: str = "open") -> worker.ratelimit.Guard:
    return worker.ratelimit.Guard(GATE, ["gate", "gate:calls"], [open_value])


def test_a_refusing_guard_takes_nothing(limiter: RateLimiter, client: redis.Redis) -> None:
    bucket = Bucket("send", 10, burst=1)
    mark = Mark("claim:j", "inflight", 60)
    with pytest.raises(worker.ratelimit.GuardRefused) as refused:
        limiter.acquire([bucket], now=T0, mark=mark, guard=gate())
    assert refused.value.reply == [0, b"closed"]
    assert client.get("claim:j") is None
    assert limiter.acquire([bucket], now=T0).granted  # its one token is still there


def test_a_guard_that_lets_go_takes_the_token_and_the_mark_in_one_step(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    client.set("gate", "open")
    bucket = Bucket("send", 10, burst=1)
    decision = limiter.acquire([bucket], now=T0, mark=Mark("claim:j", "x", 60), guard=gate())
    assert decision.granted and decision.marked
    assert client.get("claim:j") == b"x"
    assert not limiter.acquire([bucket], now=T0).granted
    assert int(client.get("gate:calls") or 0) == 1


def test_a_guard_runs_even_when_no_bucket_is_limited(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    with pytest.raises(worker.ratelimit.GuardRefused):
        limiter.acquire([Bucket("send", None)], guard=gate())
    client.set("gate", "open")
    assert limiter.acquire([Bucket("send", None)], guard=gate()).granted


def test_wait_asks_the_guard_once_then_only_waits_for_tokens(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    client.set("gate", "open")
    bucket = Bucket("send", 10, burst=1)
    assert limiter.acquire([bucket]).granted  # empty: the next token is 0.1 s away
    granted, _ = limiter.wait([bucket], deadline=time.time() + 5, guard=gate())
    assert granted
    assert int(client.get("gate:calls") or 0) == 1


class CountingLimiter(RateLimiter):
    calls = 0

    def acquire(self, *args: object, **kwargs: object) -> Decision:  # type: ignore[override]
        self.calls += 1
        return super().acquire(*args, **kwargs)  # type: ignore[arg-type]


def test_a_waiter_whose_turn_is_taken_asks_redis_once_and_waits_blocked(
    client: redis.Redis,
) -> None:
    """Another waiter of the process holds the turn: this one asked once (its first
    acquire) and, its deadline coming before the turn, gives up without asking again."""
    limiter = CountingLimiter(client)
    bucket = Bucket("send", 10, burst=1)
    assert limiter.acquire([bucket]).granted  # empty: the next token is 0.1 s away
    limiter.calls = 0
    turn = threading.Lock()
    turn.acquire()
    granted, _ = limiter.wait([bucket], deadline=time.time() + 0.5, turn=turn)
    assert (granted, limiter.calls) == (False, 1)


def test_a_waiter_takes_the_turn_and_gives_it_back(client: redis.Redis) -> None:
    limiter = RateLimiter(client)
    bucket = Bucket("send", 10, burst=1)
    assert limiter.acquire([bucket]).granted
    turn = threading.Lock()
    granted, _ = limiter.wait([bucket], deadline=time.time() + 5, turn=turn)
    assert granted
    assert turn.acquire(blocking=False)  # released on the way out
