"""The fleet-wide limiter: acquire, wait, and adapt to the provider's 429s."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.exceptions

from worker.autopipe import AutoPipeline
from worker.ratelimit.buckets import Bucket
from worker.ratelimit.script import SOURCE, guarded

#: Key prefix; a bucket's key is this plus its label. In Redis Cluster use a hash tag
#: (``"{otpq:rl}:"``) so that the buckets of one acquire share a slot.
DEFAULT_PREFIX = "otpq:rl:"
#: Multiplier applied to a bucket's adaptive factor on a 429.
DEFAULT_DECREASE = 0.5
#: Lowest adaptive factor: the fleet never drops below this share of the configured rate.
DEFAULT_FLOOR = 0.1
#: Seconds after a decrease during which further 429s are not counted; longer than a
#: Pinpoint round trip, so requests already in flight at the old rate count once.
DEFAULT_COOLDOWN = 2.0
#: Seconds to regain the full rate from the floor (a halving is regained in ~11 s).
DEFAULT_RECOVERY = 20.0
#: Jitter added to a wait's sleep: this fraction of retry_after, at most MAX_WAIT_JITTER s.
WAIT_JITTER = 0.1
MAX_WAIT_JITTER = 0.05

# Errors meaning "Redis cannot answer" rather than "the script is wrong". ReadOnlyError
# is a primary that became a replica in a failover.
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)


class LimiterUnavailable(Exception):
    """Redis could not answer, so the limiter can say neither yes nor no.

    The redis error is chained as ``__cause__``. Policy is the caller's: sends fail
    closed (retry later) because an unlimited fleet is what gets an account throttled.
    """


@dataclass(frozen=True)
class Decision:
    """The answer to one acquire.

    `retry_after` is the seconds until every bucket could grant (0 when granted);
    `at` is the limiter's clock (Redis server time, or the `now` given) when it decided,
    None when no bucket was limited and Redis was not asked.
    """

    granted: bool
    retry_after: float
    at: float | None = None
    #: With a `Mark`: True when it was set with the tokens, False when its key was
    #: already there (nothing taken); None when not set for another reason (no mark,
    #: tokens refused, or no bucket limited so Redis was not asked).
    marked: bool | None = None
    #: With a `Mark` that has a `stop`: True when the stop was set (nothing taken).
    stopped: bool = False


@dataclass(frozen=True)
class Mark:
    """A key set in the same atomic step as the tokens, and only if it did not exist.

    What a send's claim needs (worker/claims.py): the claim is made exactly when the
    request may go, and a job whose claim is already held takes no token."""

    key: str
    value: bytes | str
    ttl: int
    #: (hash key, field): if that field is set, nothing is taken nor marked (a
    #: campaign's cancel). Checked in the same atomic step as the tokens.
    stop: tuple[str, str] | None = None
    #: A sorted set the mark's key joins when set, scored with the server's time (the
    #: campaign's sends in flight, which its cancel waits for). Only with `stop`.
    register: str | None = None


@dataclass(frozen=True)
class Guard:
    """A check run in the same atomic step as an acquire, before any token is taken:
    `function` is Lua defining `local function guard(KEYS, ARGV)`, whose reply lets the
    acquire go when its first element is 1. A send's abuse limits ride on its first
    acquire this way (worker/sliding_windows.py)."""

    function: str
    keys: list[str]
    args: list[Any]


class GuardRefused(Exception):
    """The guard did not let the acquire go: nothing was taken. `reply` is its reply."""

    def __init__(self, reply: Any) -> None:
        super().__init__("refused by the acquire's guard")
        self.reply = reply


class MarkHeld(Exception):
    """`wait` found the mark's key already set: nothing was taken."""


class Stopped(Exception):
    """`wait` found the mark's stop set: nothing was taken."""


def _limited(buckets: Sequence[Bucket]) -> list[Bucket]:
    limited = [b for b in buckets if b.limited]
    names = [b.name for b in limited]
    if len(set(names)) != len(names):
        raise ValueError("the same bucket appears twice in one acquire")
    return limited


class RateLimiter:
    """Generic cell rate algorithm (GCRA) over Redis, several buckets at once.

    Each bucket stores one time, its theoretical arrival time (tat): a request conforms
    if ``tat + T - burst * T <= now`` with ``T = 1 / rate``; it then moves tat to
    ``max(tat, now) + T``. This is a token bucket that refills continuously, capped at
    `burst`, in one number. All buckets of an acquire are checked in the same script
    and updated only if all conform; otherwise nothing is taken and `retry_after` is
    the longest wait among them.

    Lanes: a bulk acquire passes ``reserve`` (a fraction of burst, 0 <= reserve < 1)
    and conforms only if at least ``reserve * burst`` tokens remain after its own, so
    interactive traffic always finds tokens waiting while bulk still drains at the
    full refill rate when alone. (On a bucket whose burst cannot hold one token plus
    the reserve, bulk waits until the bucket has been full that much longer: slower
    than the rate, but never starved.)

    Adaptive slowdown (AIMD): `throttled` multiplies a bucket's factor by `decrease`
    (not below `floor`), at most once per `cooldown`; the factor then climbs linearly
    back to 1 over `recovery` seconds from the floor. Rate and burst are both scaled
    by the factor (burst not below 1). All of it is computed in the script, in server
    time, so host clocks do not matter.
    """

    def __init__(
        self,
        redis: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        decrease: float = DEFAULT_DECREASE,
        floor: float = DEFAULT_FLOOR,
        cooldown: float = DEFAULT_COOLDOWN,
        recovery: float = DEFAULT_RECOVERY,
        autopipe: AutoPipeline | None = None,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
        if not 0 < floor < 1:
            raise ValueError(f"floor must be in (0, 1), got {floor!r}")
        if cooldown < 0 or recovery <= 0:
            raise ValueError("cooldown must be >= 0 and recovery > 0")
        self.redis = redis
        self.prefix = prefix
        self._tuning = [repr(float(x)) for x in (decrease, floor, cooldown)]
        self._tuning.append(repr((1.0 - floor) / recovery))
        # Registered once: EVALSHA, reloaded by redis-py on NOSCRIPT (e.g. after a restart).
        self._script = redis.register_script(SOURCE)
        self._guarded: dict[str, Any] = {}  # guard function -> its registered script
        #: Calls share round trips with other threads' (worker/autopipe.py); give the
        #: process's own so that they share with its claims and abuse limits too.
        self._autopipe = autopipe or AutoPipeline(redis)

    def key(self, bucket: Bucket) -> str:
        return self.prefix + bucket.label

    def acquire(
        self,
        buckets: Sequence[Bucket],
        *,
        reserve: float = 0.0,
        now: float | None = None,
        mark: Mark | None = None,
        guard: Guard | None = None,
    ) -> Decision:
        """Take one token from every bucket, or from none (and set `mark` with them, if
        its key is free). One Redis round trip, `guard` included: `GuardRefused` when it
        does not let the acquire go (nothing taken)."""
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve must be in [0, 1), got {reserve!r}")
        limited = _limited(buckets)
        if not limited and (mark is None or mark.stop is None) and guard is None:
            return Decision(True, 0.0)
        mode, extra = "acquire", ([], [])
        if mark is not None:
            ttl = str(max(1, int(mark.ttl)))
            mode, extra = "mark", ([mark.key], [mark.value, ttl])
            if mark.stop is not None:
                register = mark.register or mark.key + ":register"
                mode = "guarded"
                extra = ([mark.key, mark.stop[0], register], [mark.value, ttl, mark.stop[1]])
        outcome, retry_after, at = self._run(mode, limited, now, reserve, extra, guard)
        if int(outcome) == 2:  # the mark's key exists: nothing taken
            return Decision(False, 0.0, float(at), marked=False)
        if int(outcome) == 3:  # the stop is set: nothing taken
            return Decision(False, 0.0, float(at), stopped=True)
        granted = int(outcome) == 1
        marked = True if granted and mark is not None else None
        return Decision(granted, float(retry_after), float(at), marked=marked)

    def wait(
        self,
        buckets: Sequence[Bucket],
        *,
        deadline: float | None,
        reserve: float = 0.0,
        sleep: Callable[[float], object] = time.sleep,
        mark: Mark | None = None,
        guard: Guard | None = None,
        turn: threading.Lock | None = None,
    ) -> tuple[bool, float]:
        """Acquire, sleeping each refusal's retry_after (plus jitter) in between.

        Gives up without sleeping as soon as retry_after reaches past `deadline`
        (epoch seconds, this host's clock). Returns (granted, seconds slept). Raises
        `MarkHeld` as soon as `mark`'s key is found set, `Stopped` as soon as its stop
        is: each acquire after a sleep looks again. `guard` rides on the first acquire
        only (`GuardRefused` if it refuses); once passed, it is not asked again.

        `turn`: a lock shared by the waiters of one process. After its first refusal a
        waiter takes it before it sleeps and asks again, so one waiter at a time polls
        Redis; the others wait their turn blocked, instead of all waking for every token
        (a campaign's rows, dozens per process, woke together each token interval: a
        burst of Redis calls and CPU that a login on the same process waited behind).
        """
        waited, holding = 0.0, False
        try:
            while True:
                decision = self.acquire(buckets, reserve=reserve, mark=mark, guard=guard)
                guard = None
                if decision.marked is False:
                    raise MarkHeld(mark.key if mark else "")
                if decision.stopped:
                    raise Stopped(mark.key if mark else "")
                if decision.granted:
                    return True, waited
                remaining = None if deadline is None else deadline - time.time()
                if remaining is not None and decision.retry_after > remaining:
                    return False, waited
                if turn is not None and not holding:
                    started = time.monotonic()
                    holding = turn.acquire(timeout=-1 if remaining is None else remaining)
                    waited += time.monotonic() - started
                    if not holding:
                        return False, waited
                    continue  # time has passed: ask again before sleeping
                delay = decision.retry_after
                delay += random.uniform(0.0, min(MAX_WAIT_JITTER, WAIT_JITTER * delay))
                if remaining is not None:
                    delay = min(delay, remaining)
                sleep(delay)
                waited += delay
        finally:
            if holding and turn is not None:
                turn.release()

    def throttled(self, buckets: Sequence[Bucket], *, now: float | None = None) -> float:
        """Report a 429: slow these buckets fleet-wide. Returns the lowest factor now."""
        limited = _limited(buckets)
        if not limited:
            return 1.0
        return min(float(f) for f in self._run("throttle", limited, now))

    def factor(self, bucket: Bucket, *, now: float | None = None) -> float:
        """The bucket's current adaptive factor (1.0 = configured rate)."""
        if not bucket.limited:
            return 1.0
        return float(self._run("factor", [bucket], now)[0])

    def _run(
        self,
        mode: str,
        buckets: list[Bucket],
        now: float | None,
        reserve: float = 0.0,
        extra: tuple[list[str], list[bytes | str]] = ([], []),
        guard: Guard | None = None,
    ) -> list:
        args: list[bytes | str] = [mode, "" if now is None else repr(float(now))]
        args += [repr(float(reserve)), *self._tuning]
        for bucket in buckets:
            args += [repr(float(bucket.rate or 0.0)), repr(bucket.capacity)]
        keys = [self.key(b) for b in buckets] + extra[0]
        args += extra[1]
        script = self._script
        if guard is not None:
            script = self._guarded.get(guard.function)
            if script is None:
                script = self._guarded[guard.function] = self.redis.register_script(
                    guarded(guard.function)
                )
            keys = [*guard.keys, *keys]
            args = [str(len(guard.keys)), str(len(guard.args)), *guard.args, *args]
        try:
            reply = self._autopipe.script(script, keys, args)
        except _UNAVAILABLE as exc:
            raise LimiterUnavailable(f"rate limiter unavailable: {exc}") from exc
        if guard is None:
            return reply  # type: ignore[no-any-return]
        if int(reply[0]) != 1:
            raise GuardRefused(reply[1])
        return reply[1]  # type: ignore[no-any-return]
