"""The producer's half of a campaign's record (otpq_core/campaign_keys.py has the
layout): plan a start, record and push its rows, reserve the day's sends, mark a
cancel, and read the record back for status and export."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from otpq_core.campaign_keys import (
    CANCELLED_FIELD,
    DAILY_TTL,
    PLAN_TTL,
    QUEUED,
    CampaignRecord,
    answers_key,
    counts_key,
    daily_key,
    inflight_key,
    meta_key,
    numbers_key,
    rows_key,
)

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

# Reserve n of the day's cap, or say how much is used. cap < 0: no cap, just count.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
if cap >= 0 and used + n > cap then return {0, used} end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used}
"""


class Ledger(CampaignRecord):
    """The producer's campaign bookkeeping over one Redis client (thread-safe)."""

    def __init__(self, client: redis.Redis, hash_key: str | None = None) -> None:
        super().__init__(client, hash_key)
        self._plan = client.register_script(_PLAN)
        self._enqueue = client.register_script(_ENQUEUE)
        self._enqueue_batch = client.register_script(_ENQUEUE_BATCH)
        self._reserve = client.register_script(_RESERVE)

    # -- starting ---------------------------------------------------------------

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

    # -- cancelling -------------------------------------------------------------

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

    # -- reading ----------------------------------------------------------------

    def meta_and_counts(self, campaign: str) -> tuple[dict[str, str], dict[str, int]]:
        """The meta hash and the counts, in one round trip (empty meta: no campaign)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(meta_key(campaign))
        pipe.hgetall(counts_key(campaign))
        meta_raw, counts_raw = pipe.execute()
        meta = {k.decode(): v.decode() for k, v in meta_raw.items()}
        return meta, {k.decode(): int(v) for k, v in counts_raw.items()}

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
