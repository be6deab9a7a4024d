"""First wins: the rule behind the resend cooldown and the idempotency keys, once.

A key names the first job that took it, for a while; a second job gets that first
job's id back instead of going ahead. The producer applies it before queueing
(producer/guards.py), the worker to jobs enqueued by name, inside its abuse admission
script (worker/sliding_windows.py) so that admitting a send stays one round trip. Both run the
Lua below: one definition of the rule.
"""

from __future__ import annotations

import redis

#: A Lua function: point `key` at `member` for `ttl_ms` unless it names another job;
#: returns that job's id, or false when `member` is (now) the holder.
FIRST_WINS_LUA = r"""
local function first_wins(key, member, ttl_ms)
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, member, 'PX', ttl_ms)
    return false
  end
  if holder ~= member then return holder end
  return false
end
"""

#: KEYS[1] the key; ARGV: job id, lifetime in ms. Returns the holder's id, or nil.
_SCRIPT = FIRST_WINS_LUA + "return first_wins(KEYS[1], ARGV[1], tonumber(ARGV[2]))\n"


def ttl_ms(seconds: float) -> int:
    """A lifetime as the script takes it: whole milliseconds, at least one."""
    return max(1, int(seconds * 1000))


def first_wins(client: redis.Redis, key: str, job_id: str, ttl: float) -> str | None:
    """Point `key` at `job_id` for `ttl` seconds unless it already names a job. Returns
    None when this job is the first (or already the holder), else the holder's id.
    Atomic: one script."""
    held = client.register_script(_SCRIPT)(keys=[key], args=[job_id, ttl_ms(ttl)])
    if held is None:
        return None
    return held.decode() if isinstance(held, bytes) else str(held)
