"""The worker's half of a campaign's record (otpq_core/campaign_keys.py has the
layout): settle a row once as its send ends, count retries and the day's sends outside
campaigns, and move the answer counts as verifies arrive."""

from __future__ import annotations

import redis

from otpq_core.campaign_keys import (
    DAILY_TTL,
    CampaignRecord,
    answers_key,
    counts_key,
    daily_key,
    rows_key,
)

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


class CampaignLedger(CampaignRecord):
    """The worker's campaign bookkeeping over one Redis client (thread-safe)."""

    def __init__(self, client: redis.Redis, hash_key: str | None = None) -> None:
        super().__init__(client, hash_key)
        self._settle = client.register_script(_SETTLE)
        self._answer = client.register_script(_ANSWER)

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
