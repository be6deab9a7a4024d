"""What Redis can tell about a job besides its stored result: the producer's one view
into the worker's claim keys, so neither side reads the other's private layout.

A worker holds a job's claim (worker/claims.py) while it makes the backend call; without
Celery's STARTED state (two round trips a job), that is how a client knows `running`.
"""

from __future__ import annotations

from typing import Any

import redis

from otpq_core.keys import CLAIM_PREFIX, INFLIGHT


def claim_key(job_id: str) -> str:
    """The key to read (in a pipeline of the caller's, say) for `shows_in_flight`."""
    return CLAIM_PREFIX + job_id


def shows_in_flight(value: Any) -> bool:
    """Whether a value read from `claim_key` means the backend call is in flight."""
    return bool(value == INFLIGHT)


def in_flight(client: redis.Redis, job_id: str) -> bool:
    """A worker is making this job's backend call right now."""
    return shows_in_flight(client.get(claim_key(job_id)))
