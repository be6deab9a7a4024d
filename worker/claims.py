"""Send claims: a job id is claimed in Redis, atomically, just before Pinpoint is called.

Redis delivers a message again after a lost connection, a restart or a visibility
timeout. Without a claim, the second delivery would text the user a second code and
void the first. With it, a redelivered job finds either its finished outcome (and
returns it) or an in-flight claim left by a worker that died mid-call (and is not
sent blindly again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

PREFIX = "otpq:claim:"
INFLIGHT = b"inflight"


@dataclass(frozen=True)
class Claim:
    """`won` → go ahead; `outcome` → already finished; neither → died in flight."""

    won: bool
    outcome: dict[str, Any] | None = None


class SendClaims:
    def __init__(self, client: redis.Redis, *, ttl: float) -> None:
        # One lifetime for both states: an in-flight claim must outlive any
        # redelivery of its message, and a finished one as long as the result.
        self.redis = client
        self.ttl = max(1, int(ttl))

    def claim(self, job_id: str) -> Claim:
        key = PREFIX + job_id
        if self.redis.set(key, INFLIGHT, nx=True, ex=self.ttl):
            return Claim(won=True)
        held = self.redis.get(key)
        if held is None:  # expired between the two calls
            return self.claim(job_id)
        if held == INFLIGHT:
            return Claim(won=False)
        return Claim(won=False, outcome=json.loads(held))

    def take_over(self, job_id: str) -> None:
        """Claim regardless (verify jobs: repeating one texts nobody)."""
        self.redis.set(PREFIX + job_id, INFLIGHT, ex=self.ttl)

    def release(self, job_id: str) -> None:
        """The attempt failed transiently and sent nothing that counts; allow the next."""
        self.redis.delete(PREFIX + job_id)

    def complete(self, job_id: str, outcome: dict[str, Any]) -> None:
        self.redis.set(PREFIX + job_id, json.dumps(outcome), ex=self.ttl)
