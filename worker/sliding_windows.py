"""Per-destination budgets: a sliding-window log in one sorted set, one Lua script.

Each admitted job is a member (its job id) scored by its admission time. A job is
admitted only if, in every window, fewer members than the limit are younger than the
window; check and add are one atomic script, so a burst of concurrent jobs cannot
overshoot. Keyed by job id, admission is idempotent (a retried or redelivered job
keeps its one slot) and a slot is refunded exactly (ZREM of that job).

A dozen members per destination at most: exact counts cost less than approximations.

The resend cooldown (the first job to send a destination a code for a reference wins:
otpq_core/cooldown.py, the rule the producer applies too) is checked first in the same
script. A send runs it as the guard of its first rate-limit acquire (FUNCTION, through
worker/ratelimit's `Guard`): from abuse limits to token and claim, one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from otpq_core.cooldown import FIRST_WINS_LUA, ttl_ms
from worker.autopipe import AutoPipeline

#: KEYS[1] the set, KEYS[2] a resend-cooldown key; ARGV: job id, now, the cooldown in
#: ms (0: none), the backoff's first wait in s (0: none), the members it lets through
#: without a wait, its longest wait in s, then LIMIT, WINDOW pairs, longest window last.
#: Returns {1} when admitted, {2, holder} when another job holds the cooldown,
#: {3, retry_after} when the backoff says not yet, else {0, limit, window, retry_after}
#: as strings (a Lua number returned to Redis would be truncated to an integer).
SOURCE = (
    FIRST_WINS_LUA
    + r"""
local key, member, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
if cooldown > 0 then
  -- first wins (otpq_core/cooldown.py, the producer's rule, in the same round trip)
  local holder = first_wins(KEYS[2], member, cooldown)
  if holder then return {2, holder} end
end
if #ARGV < 8 then return {1} end
local longest = tonumber(ARGV[#ARGV])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - longest))
if redis.call('ZSCORE', key, member) then return {1} end
local base, free, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if base > 0 then
  -- Exponential backoff: past `free` members, each waits base * 2^(n - free) after the
  -- newest one, at most `cap`.
  local used = redis.call('ZCARD', key)
  if used >= free then
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local retry = tonumber(newest[2]) + math.min(cap, base * 2 ^ (used - free)) - now
    if retry > 0 then return {3, string.format('%.17g', retry)} end
  end
end
for i = 7, #ARGV, 2 do
  local limit, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  -- A member counts while it is younger than the window: score > now - window.
  local since = '(' .. string.format('%.17g', now - window)
  local used = redis.call('ZCOUNT', key, since, '+inf')
  if used >= limit then
    -- Room comes back when the (used - limit + 1)-th oldest member leaves the window.
    local oldest = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES',
                              'LIMIT', used - limit, 1)
    local retry = tonumber(oldest[2]) + window - now
    return {0, ARGV[i], ARGV[i + 1], string.format('%.17g', retry)}
  end
end
redis.call('ZADD', key, now, member)
redis.call('EXPIRE', key, math.ceil(longest) + 1)
return {1}
"""
)


#: The same script as a Lua function `guard(KEYS, ARGV)`: a rate-limit acquire's guard
#: (worker/ratelimit/script.py `guarded`), whose reply {1} lets the acquire go.
FUNCTION = "local function guard(KEYS, ARGV)\n" + SOURCE + "\nend\n"


@dataclass(frozen=True)
class Admission:
    """One admission as the script takes it: its keys and arguments."""

    keys: list[str]
    args: list[str | float]


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    #: When refused: the budget that refused (LIMIT per WINDOW s) and when room returns.
    limit: int = 0
    window: float = 0.0
    retry_after: float = 0.0
    #: When refused by a resend cooldown: the job that holds it.
    cooldown_holder: str | None = None
    #: When refused by the backoff (retry_after says when it lets the next one in).
    backoff: bool = False


@dataclass(frozen=True)
class Backoff:
    """Past `free` members in the window, each waits `first * 2^(n - free)` seconds (at
    most `cap`) after the newest: guesses slow down exponentially, nobody is shut out."""

    first: float
    free: int = 2
    cap: float = 300.0


class SlidingWindows:
    def __init__(self, client: redis.Redis, autopipe: AutoPipeline | None = None) -> None:
        self.redis = client
        self._script = client.register_script(SOURCE)
        self._autopipe = autopipe or AutoPipeline(client)

    def admit(
        self,
        key: str,
        member: str,
        budgets: Sequence[tuple[int, float]],
        now: float | None = None,
        *,
        cooldown: tuple[str, float] | None = None,
        backoff: Backoff | None = None,
    ) -> Verdict:
        """Admit `member` unless a budget is used up. `budgets` is ((limit, seconds), ...).

        `cooldown` (key, seconds): first refuse it if another job sent to the same
        destination and reference within that time (producer/guards.py `first_wins`),
        in the same round trip. `backoff`: also refuse until the newest member is old
        enough (needs a budget: the window bounds what is counted)."""
        admission = self.admission(key, member, budgets, now, cooldown=cooldown, backoff=backoff)
        if admission is None:
            return Verdict(True)
        return verdict(self._autopipe.script(self._script, admission.keys, admission.args))

    @staticmethod
    def admission(
        key: str,
        member: str,
        budgets: Sequence[tuple[int, float]],
        now: float | None = None,
        *,
        cooldown: tuple[str, float] | None = None,
        backoff: Backoff | None = None,
    ) -> Admission | None:
        """`admit`'s script keys and arguments, to run alone or as a guard; None when
        there is nothing to check (no budget, no cooldown)."""
        # Without a cooldown the script never reads KEYS[2]; it is named all the same.
        cooldown_key, cooldown_ms = key + ":no-cooldown", 0
        if cooldown is not None:
            cooldown_key, cooldown_ms = cooldown[0], ttl_ms(cooldown[1])
        if not budgets and not cooldown_ms:
            return None
        ordered = sorted(budgets, key=lambda b: b[1])
        args: list[str | float] = [member, repr(time.time() if now is None else now), cooldown_ms]
        if backoff is not None and backoff.first > 0:
            args += [repr(float(backoff.first)), str(backoff.free), repr(float(backoff.cap))]
        else:
            args += ["0", "0", "0"]
        for limit, window in ordered:
            args += [str(limit), repr(float(window))]
        return Admission([key, cooldown_key], args)

    def run(self, admission: Admission | Any) -> list[Any]:
        """The script's raw reply for a prepared admission (its `keys` and `args`)."""
        return self._autopipe.script(self._script, admission.keys, admission.args)  # type: ignore[no-any-return]

    def refund(self, key: str, member: str) -> None:
        self.redis.zrem(key, member)

    def used(self, key: str, window: float, now: float | None = None) -> int:
        """Members younger than `window` (for tests and operators)."""
        now = time.time() if now is None else now
        return int(self.redis.zcount(key, f"({now - window!r}", "+inf"))


def verdict(reply: list[Any]) -> Verdict:
    """The script's reply as a `Verdict`."""
    if int(reply[0]) == 1:
        return Verdict(True)
    if int(reply[0]) == 2:
        holder = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        return Verdict(False, cooldown_holder=holder)
    if int(reply[0]) == 3:
        return Verdict(False, retry_after=float(reply[1]), backoff=True)
    return Verdict(False, limit=int(reply[1]), window=float(reply[2]), retry_after=float(reply[3]))
