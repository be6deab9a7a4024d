"""The limiter's one Lua script: every decision is a single atomic EVALSHA.

Layout (all numbers travel as decimal strings; Lua numbers returned to Redis would be
truncated to integers, and `tostring` keeps only 14 digits, so the script formats
with ``%.17g`` both what it stores and what it returns):

    KEYS[i]          bucket i's hash: tat (GCRA theoretical arrival time, s),
                     f (adaptive factor set at the last decrease), fat (time of it)
    ARGV[1]          mode: "acquire" | "throttle" | "factor"
    ARGV[2]          now in seconds, or "" to use the server's TIME
    ARGV[3]          reserve: fraction of burst a bulk acquire must leave (acquire)
    ARGV[4..7]       decrease multiplier, floor, cooldown (s), regain (factor per s)
    ARGV[6+2i]       bucket i's configured rate (requests per second)
    ARGV[7+2i]       bucket i's configured burst (tokens)

Mode "mark" is "acquire" plus a mark: the last KEY is a key that must not exist, and
the last two ARGV its value and lifetime (s). It is checked before any token is taken
and set in the same step as the tokens (a send's claim, worker/claims.py: one round
trip for both).

Mode "guarded" is "mark" plus a stop and a register (a campaign row's send): KEYS end
with mark, stop hash, register zset; ARGV end with the mark's value, lifetime and the
stop hash's field. If that field is set (the campaign was cancelled) nothing is taken;
when granted, the mark's key joins the register scored with the server's time. The
check, the token and the claim are one step, so a cancel that set the field sees every
claim made before it in the register, and none is made after it.

A guard (`guarded`) runs another script's function first, in the same atomic step: an
acquire goes ahead only if the guard lets it, so a check that must pass before a token
is taken (a send's abuse limits) costs no round trip of its own.

Returns: acquire -> {granted 0|1, retry_after, now}; mark -> the same, or
{2, "0", now} when the mark's key exists (nothing taken); guarded -> as mark, or
{3, "0", now} when the stop field is set (nothing taken); throttle, factor ->
{factor_i...}.
"""

from __future__ import annotations

SOURCE = r"""
local mode = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local reserve = tonumber(ARGV[3])
local decrease = tonumber(ARGV[4])
local floor = tonumber(ARGV[5])
local cooldown = tonumber(ARGV[6])
local regain = tonumber(ARGV[7])

-- Seconds of float rounding forgiven, so that exactly t*rate refills conform.
local EPSILON = 1e-6
-- Seconds a key outlives the moment it becomes equivalent to an absent one.
local MARGIN = 1.0

local function fmt(x)
  return string.format('%.17g', x)
end

-- Additive increase: the factor set at the last decrease, regained linearly since.
local function current_factor(f0, fat)
  if not f0 then return 1.0 end
  return math.min(1.0, f0 + math.max(0.0, now - fat) * regain)
end

-- Keep the key while its tat still matters (until `idle_at`) and while a decrease
-- still counts (cooldown) or is being regained; afterwards absent means the same.
local function expire(key, idle_at, f0, fat)
  local keep_until = idle_at
  if fat then
    keep_until = math.max(keep_until, fat + cooldown, fat + (1.0 - f0) / regain)
  end
  redis.call('PEXPIRE', key, math.ceil((keep_until - now + MARGIN) * 1000))
end

-- Buckets are KEYS[1..nb]; in mode "mark" the last KEY is the mark's; in mode
-- "guarded" the mark's, then the stop hash's and the register's.
local nb = #KEYS
local mark, stop, register
if mode == 'guarded' then
  stop, register = KEYS[nb - 1], KEYS[nb]
  nb = nb - 2
  mode = 'mark'
end
if mode == 'mark' then
  mark = KEYS[nb]
  nb = nb - 1
  if redis.call('EXISTS', mark) == 1 then
    return {2, '0', fmt(now)}
  end
  if stop and redis.call('HEXISTS', stop, ARGV[10 + 2 * nb]) == 1 then
    return {3, '0', fmt(now)}
  end
  mode = 'acquire'
end

local function load(i)
  local h = redis.call('HMGET', KEYS[i], 'tat', 'f', 'fat')
  return tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
end

if mode == 'acquire' then
  local wait = 0.0
  local new_tat, interval, f0s, fats = {}, {}, {}, {}
  for i = 1, nb do
    local rate, burst = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
    local tat, f0, fat = load(i)
    local f = current_factor(f0, fat)
    local t = 1.0 / (rate * f)                -- emission interval
    local cap = math.max(1.0, burst * f)      -- burst in tokens
    -- An absent key is a bucket that has been full for longer than anyone asks.
    tat = tat or (now - (cap + 1.0) * t)
    -- GCRA: conform if the tokens left after this one, counted from the stored tat
    -- (not clamped to now), are at least reserve*cap. Unclamped, a bulk acquire on a
    -- bucket too small to hold its reserve waits for the bucket to have been full a
    -- little longer instead of starving.
    local allow_at = tat + t - cap * (1.0 - reserve) * t
    if allow_at - now > EPSILON then
      wait = math.max(wait, allow_at - now)
    end
    new_tat[i] = math.max(tat, now) + t
    interval[i], f0s[i], fats[i] = t, f0, fat
  end
  if wait > 0 then
    return {0, fmt(wait), fmt(now)}
  end
  for i = 1, nb do
    redis.call('HSET', KEYS[i], 'tat', fmt(new_tat[i]))
    expire(KEYS[i], new_tat[i] + interval[i], f0s[i], fats[i])
  end
  if mark then
    local ttl = ARGV[9 + 2 * nb]
    redis.call('SET', mark, ARGV[8 + 2 * nb], 'EX', ttl)
    if register then
      redis.call('ZADD', register, fmt(now), mark)
      redis.call('EXPIRE', register, ttl)
    end
  end
  return {1, '0', fmt(now)}
elseif mode == 'throttle' then
  local out = {}
  for i = 1, #KEYS do
    local rate = tonumber(ARGV[6 + 2 * i])
    local tat, f0, fat = load(i)
    local f = current_factor(f0, fat)
    -- Multiplicative decrease, once per cooldown: a fleet's simultaneous 429s are one.
    if not fat or now - fat >= cooldown then
      f = math.max(floor, f * decrease)
      f0, fat = f, now
      redis.call('HSET', KEYS[i], 'f', fmt(f0), 'fat', fmt(fat))
    end
    expire(KEYS[i], math.max(tat or now, now) + 1.0 / (rate * f), f0, fat)
    out[i] = fmt(f)
  end
  return out
elseif mode == 'factor' then
  local out = {}
  for i = 1, #KEYS do
    local _, f0, fat = load(i)
    out[i] = fmt(current_factor(f0, fat))
  end
  return out
end
return redis.error_reply('otpq ratelimit: unknown mode ' .. tostring(mode))
"""


#: Splits a guarded call's KEYS and ARGV (ARGV[1], ARGV[2]: the guard's key and argument
#: counts; the guard's keys and arguments first), runs `guard`, and acquires only if the
#: guard's reply starts with 1. Returns {0, guard's reply} or {1, the acquire's reply}.
_GUARDED = r"""
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local gk, ga, lk, la = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then gk[#gk + 1] = KEYS[i] else lk[#lk + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i <= 2 + na then ga[#ga + 1] = ARGV[i] else la[#la + 1] = ARGV[i] end
end
local verdict = guard(gk, ga)
if tonumber(verdict[1]) ~= 1 then return {0, verdict} end
return {1, acquire(lk, la)}
"""


def guarded(guard_function: str) -> str:
    """The limiter's script behind a guard: `guard_function` is Lua defining
    `local function guard(KEYS, ARGV)` (worker/sliding_windows.py FUNCTION)."""
    return guard_function + "local function acquire(KEYS, ARGV)\n" + SOURCE + "\nend\n" + _GUARDED
