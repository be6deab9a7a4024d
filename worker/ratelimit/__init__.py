"""Fleet-wide rate limits, shared through Redis by every worker on every host.

Celery's own `rate_limit` is per process; Pinpoint's quotas are per account and per
origination identity, so the limit lives in Redis and every request that reaches
Pinpoint (retries included: acquire once per attempt) takes a token first::

    limiter = RateLimiter(redis_client)
    buckets = [Bucket("send", 20), Bucket(f"oid:{origination_identity}", 3)]
    granted, waited = limiter.wait(buckets, deadline=job_deadline)      # interactive
    decision = limiter.acquire(buckets, reserve=0.2)                    # bulk lane:
    if not decision.granted:                                            # reschedule,
        raise task.retry(countdown=decision.retry_after)                # don't sleep
    ...
    if pinpoint_answered_429:
        limiter.throttled(buckets)                                      # fleet slows

Algorithm: GCRA (a continuously refilling token bucket stored as one time per bucket),
all buckets of an acquire checked and taken atomically in one Lua script, in Redis
server time; burst defaults to one second of the rate. Priority lanes, AIMD slowdown
and key expiry are described on `RateLimiter`.

Failure: if Redis cannot answer (connection error, timeout, read-only replica) the
limiter raises `LimiterUnavailable`, chaining the redis error. It never guesses; the
task decides, and sends fail closed. How soon it is raised is the client's business:
redis-py 8 by default retries a refused connection 10 times with backoff (about 4 s),
so give the worker's client short timeouts and few retries. A bucket with rate None
or 0 is unlimited and never touches Redis.

Keys: ``otpq:rl:`` + the bucket's label, a hash holding ``tat``, ``f``, ``fat``;
identities (phone numbers) are hashed in labels; keys expire about a second after
they would be full again and any slowdown has been regained.
"""

from worker.ratelimit.buckets import Bucket
from worker.ratelimit.limiter import (
    Decision,
    Guard,
    GuardRefused,
    LimiterUnavailable,
    Mark,
    MarkHeld,
    RateLimiter,
    Stopped,
)

__all__ = [
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
