"""A campaign's record in Redis: one state per row, counters, and the reference-id map.

Shared by the producer (which records rows as it enqueues them) and the worker (which
settles each row as its send ends, and moves the answer counts as verifies arrive).
Every change that must not be half done is one Lua script, so counts stay equal to the
rows they count whatever crashes in between.

Keys (no key name ever holds a phone number or a digest anyone can recompute from one:
rows are keyed by job id, itself a keyed digest (ids.py), the reference map by an HMAC
of the reference id under OTPQ_HASH_KEY)::

    otpq:campaign:<id>            hash   brand_name, source, name, created, started, cancelled
    otpq:campaign:<id>:rows       hash   job id -> queued | sent | expired | limited |
                                         cancelled | failed:<reason>
    otpq:campaign:<id>:numbers    hash   job id -> ["+1425...", reference id as shown, line]
    otpq:campaign:<id>:answers    hash   job id -> verified | rejected
    otpq:campaign:<id>:counts     hash   total, queued, sent, ..., verified, rejected, retries
    otpq:campaign:<id>:plan:<n>   set    job ids seen by one start (deleted when it ends)
    otpq:campaign:<id>:inflight   zset   claim key of each row between claim and outcome
                                         -> server time of the claim (its cancel waits)
    otpq:campaign-ref:<hmac>      string campaign id, for verifies that carry the refid
    otpq:sends:<YYYY-MM-DD>       int    sends counted or reserved that UTC day
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import redis

from otpq_core.campaign_ids import row_job_id
from otpq_core.keys import KeyHasher

PREFIX = "otpq:campaign:"
REF_PREFIX = "otpq:campaign-ref:"
DAILY_PREFIX = "otpq:sends:"
#: A day's counter outlives its day, so a campaign started just before midnight still
#: finds yesterday's figure in its report.
DAILY_TTL = 2 * 24 * 3600
#: A start's plan set is deleted when the start ends; this only bounds a crashed one's.
PLAN_TTL = 3600

QUEUED = "queued"
SENT = "sent"
VERIFIED = "verified"
REJECTED = "rejected"
#: Final states that are not failures in their own right (the brief's own columns).
OWN_STATES = {"expired": "expired", "limited": "limited", "cancelled": "cancelled"}


def state_for(reason: str) -> str:
    """A failed send's row state: its own column, or failed:<reason>."""
    return OWN_STATES.get(reason, f"failed:{reason}")


def meta_key(campaign: str) -> str:
    return PREFIX + campaign


def rows_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:rows"


def numbers_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:numbers"


def answers_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:answers"


def counts_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:counts"


def inflight_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:inflight"


#: The meta hash field whose presence stops the campaign's sends (checked by the
#: limiter's script in the step that claims a row, worker/ratelimit/script.py).
CANCELLED_FIELD = "cancelled"


def plan_key(campaign: str, nonce: str) -> str:
    return f"{PREFIX}{campaign}:plan:{nonce}"


def ref_key(reference_id: str, hasher: KeyHasher) -> str:
    """`otpq:campaign-ref:<hmac>`: the default md5 reference id is a digest of the
    number, and a caller's own id might hold one; neither may be a key name."""
    return hasher.key("campaign-ref", reference_id)


def daily_key(now: float | None = None) -> str:
    day = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
    return DAILY_PREFIX + day.isoformat()


# Each job id seen for the first time in this start: new (not yet a row of the campaign)
# or existing; seen before in this start: a duplicate line.
_PLAN = """
local new, existing, dup = 0, 0, 0
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 0 then
    dup = dup + 1
  elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    existing = existing + 1
  else
    new = new + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV_TTL)
return {new, existing, dup}
""".replace("ARGV_TTL", str(PLAN_TTL))

# Rows are recorded and their messages pushed in one step: a row is never marked queued
# without its message, nor pushed twice. ARGV: campaign id, ttl, then per row
# job id, numbers entry, reference key, message.
_ENQUEUE = """
local cid, ttl = ARGV[1], tonumber(ARGV[2])
local msgs = {}
for i = 3, #ARGV, 4 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], 'queued') == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call('SET', ARGV[i + 2], cid, 'EX', ttl)
    msgs[#msgs + 1] = ARGV[i + 3]
  end
end
if #msgs > 0 then
  redis.call('LPUSH', KEYS[4], unpack(msgs))
  redis.call('HINCRBY', KEYS[3], 'queued', #msgs)
  redis.call('HINCRBY', KEYS[3], 'total', #msgs)
end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
return #msgs
"""

# A batch message is pushed only if every row in it is new to the campaign (and not
# repeated within it): then all its rows are recorded with it, atomically. Otherwise
# nothing is written and the script returns {0, indices of the new rows} so the
# producer rebuilds the batch from those. ARGV: campaign id, ttl, message, then per row
# job id, numbers entry, reference key.
_ENQUEUE_BATCH = """
local cid, ttl, msg = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local seen, fresh, all = {}, {}, true
for i = 4, #ARGV, 3 do
  if seen[ARGV[i]] or redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    all = false
  else
    seen[ARGV[i]] = true
    fresh[#fresh + 1] = (i - 4) / 3
  end
end
if not all then return {0, fresh} end
for i = 4, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], 'queued')
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('SET', ARGV[i + 2], cid, 'EX', ttl)
end
redis.call('LPUSH', KEYS[4], msg)
redis.call('HINCRBY', KEYS[3], 'queued', #fresh)
redis.call('HINCRBY', KEYS[3], 'total', #fresh)
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
return {1, #fresh}
"""

# queued -> a final state, once: a redelivered or replayed job changes nothing.
_SETTLE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'queued', -1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""

# Per destination: its first valid answer counts as verified (once); a destination whose
# answers so far were all wrong counts as rejected until it verifies.
_ANSWER = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev == 'verified' then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], 'verified')
  redis.call('HINCRBY', KEYS[3], 'verified', 1)
  if prev == 'rejected' then redis.call('HINCRBY', KEYS[3], 'rejected', -1) end
  return 1
end
if prev then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'rejected')
redis.call('HINCRBY', KEYS[3], 'rejected', 1)
return 1
"""

# Reserve n of the day's cap, or say how much is used. cap < 0: no cap, just count.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
if cap >= 0 and used + n > cap then return {0, used} end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used}
"""


class Ledger:
    """Campaign bookkeeping over one Redis client (thread-safe, like the client)."""

    def __init__(self, client: redis.Redis, hash_key: str | None = None) -> None:
        self.redis = client
        self._hash_key = hash_key
        self._plan = client.register_script(_PLAN)
        self._enqueue = client.register_script(_ENQUEUE)
        self._enqueue_batch = client.register_script(_ENQUEUE_BATCH)
        self._settle = client.register_script(_SETTLE)
        self._answer = client.register_script(_ANSWER)
        self._reserve = client.register_script(_RESERVE)

    @cached_property
    def hasher(self) -> KeyHasher:
        """OTPQ_HASH_KEY, else the deployment's secret kept in Redis (otpq_core/keys.py)."""
        return KeyHasher.resolve(self.redis, self._hash_key)

    def row_job_id(self, campaign: str, destination: str) -> str:
        return row_job_id(campaign, destination, self.hasher)

    def ref_key(self, reference_id: str) -> str:
        return ref_key(reference_id, self.hasher)

    # -- producer ---------------------------------------------------------------

    def plan(self, campaign: str, plan: str, job_ids: Sequence[str]) -> tuple[int, int, int]:
        """(new, already in the campaign, duplicate in this start) for a chunk of ids."""
        new, existing, dup = self._plan(keys=[plan, rows_key(campaign)], args=list(job_ids))
        return int(new), int(existing), int(dup)

    def drop_plan(self, plan: str) -> None:
        self.redis.unlink(plan)

    def enqueue(
        self, campaign: str, queue: str, rows: Sequence[tuple[str, str, str, str]], ttl: float
    ) -> int:
        """Record and push rows of (job id, numbers entry, reference key, message) that
        the campaign does not have yet; returns how many were pushed."""
        args: list[str] = [campaign, str(int(ttl))]
        for row in rows:
            args.extend(row)
        keys = [rows_key(campaign), numbers_key(campaign), counts_key(campaign), queue]
        return int(self._enqueue(keys=keys, args=args))

    def enqueue_batches(
        self,
        campaign: str,
        queue: str,
        batches: Sequence[tuple[Sequence[tuple[str, str, str]], str]],
        ttl: float,
    ) -> list[int | list[int]]:
        """Per batch of ((job id, numbers entry, reference key), ...) and its message,
        in one round trip: the rows pushed (all of them), or, when some rows are not new,
        the indices of those that are (nothing was pushed; rebuild and call again)."""
        keys = [rows_key(campaign), numbers_key(campaign), counts_key(campaign), queue]
        pipe = self.redis.pipeline(transaction=False)
        for rows, message in batches:
            args: list[str] = [campaign, str(int(ttl)), message]
            for row in rows:
                args.extend(row)
            self._enqueue_batch(keys=keys, args=args, client=pipe)
        answers: list[int | list[int]] = []
        for pushed, detail in pipe.execute():
            answers.append(int(detail) if pushed else [int(i) for i in detail])
        return answers

    def record_start(self, campaign: str, fields: dict[str, str], ttl: float) -> None:
        now = f"{time.time():.3f}"
        pipe = self.redis.pipeline()
        pipe.hsetnx(meta_key(campaign), "created", now)
        pipe.hset(meta_key(campaign), mapping={**fields, "started": now})
        for key in (meta_key(campaign), answers_key(campaign), counts_key(campaign)):
            pipe.expire(key, int(ttl))
        pipe.execute()

    def reserve(self, rows: int, cap: int | None, now: float | None = None) -> tuple[bool, int]:
        """Add `rows` to today's sends unless that passes `cap`; (granted, used before)."""
        granted, used = self._reserve(
            keys=[daily_key(now)], args=[rows, -1 if cap is None else cap, DAILY_TTL]
        )
        return bool(granted), int(used)

    def release(self, rows: int, now: float | None = None) -> None:
        if rows > 0:
            self.redis.decrby(daily_key(now), rows)

    def cancel(self, campaign: str) -> None:
        self.redis.hsetnx(meta_key(campaign), CANCELLED_FIELD, f"{time.time():.3f}")

    def in_flight(self, campaign: str, younger_than: float | None = None) -> int:
        """Rows claimed (so possibly at AWS) whose outcome is not recorded yet; with
        `younger_than`, only those claimed less than that many seconds ago by the
        server's clock (an older claim's holder is past its call's timeouts, or died)."""
        if younger_than is None:
            return int(self.redis.zcard(inflight_key(campaign)))
        seconds, micros = self.redis.time()
        since = seconds + micros / 1e6 - younger_than
        return int(self.redis.zcount(inflight_key(campaign), since, "+inf"))

    # -- worker -----------------------------------------------------------------

    def is_cancelled(self, campaign: str) -> bool:
        return bool(self.redis.hexists(meta_key(campaign), CANCELLED_FIELD))

    def settle(self, campaign: str, job_id: str, state: str) -> bool:
        return bool(
            self._settle(keys=[rows_key(campaign), counts_key(campaign)], args=[job_id, state])
        )

    def settle_into(
        self, pipe: redis.client.Pipeline, campaign: str, job_id: str, state: str
    ) -> None:
        """`settle`, queued on a pipeline that records the send's outcome (one round trip).
        EVAL, not the registered script: redis-py checks SCRIPT EXISTS before every
        pipeline holding a registered script, which would cost the round trip saved."""
        pipe.eval(_SETTLE, 2, rows_key(campaign), counts_key(campaign), job_id, state)

    def retried(self, campaign: str) -> None:
        self.redis.hincrby(counts_key(campaign), "retries", 1)

    def count_send(self, now: float | None = None) -> None:
        """One send outside any campaign (campaign rows were reserved when it started)."""
        pipe = self.redis.pipeline(transaction=False)
        self.count_send_into(pipe, now)
        pipe.execute()

    @staticmethod
    def count_send_into(pipe: redis.client.Pipeline, now: float | None = None) -> None:
        pipe.incr(daily_key(now))
        pipe.expire(daily_key(now), DAILY_TTL)

    def answer(self, reference_id: str, destination: str, valid: bool) -> str | None:
        """A verify finished: move its campaign's answer counts. Returns the campaign id
        if the reference id belongs to one."""
        raw = self.redis.get(self.ref_key(reference_id))
        if raw is None:
            return None
        campaign = raw.decode()
        keys = [rows_key(campaign), answers_key(campaign), counts_key(campaign)]
        job = self.row_job_id(campaign, destination)
        self._answer(keys=keys, args=[job, "1" if valid else "0"])
        return campaign

    # -- reading ----------------------------------------------------------------

    def meta(self, campaign: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(meta_key(campaign)).items()}

    def counts(self, campaign: str) -> dict[str, int]:
        raw = self.redis.hgetall(counts_key(campaign))
        return {k.decode(): int(v) for k, v in raw.items()}

    def rows(self, campaign: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row: destination, reference id, line, job id, state, answer."""
        cursor = 0
        while True:
            cursor, found = self.redis.hscan(numbers_key(campaign), cursor, count=batch)
            if found:
                jobs = list(found)
                pipe = self.redis.pipeline(transaction=False)
                pipe.hmget(rows_key(campaign), jobs)
                pipe.hmget(answers_key(campaign), jobs)
                states, answers = pipe.execute()
                for job, state, answer in zip(jobs, states, answers, strict=True):
                    destination, reference_id, line = json.loads(found[job])
                    yield {
                        "line": line,
                        "destination": destination,
                        "reference_id": reference_id,
                        "job_id": job.decode(),
                        "state": state.decode() if state else QUEUED,
                        "answer": answer.decode() if answer else "",
                    }
            if cursor == 0:
                return
