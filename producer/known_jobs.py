"""Whether Redis knows a job id at all, so `otpq status` can tell "queued" from "never
heard of it" (Celery reports any unknown id as PENDING forever).

A job is known while it has a result, a worker's claim on it, or a message holding its
id: in a lane's list (kombu's Redis layout: one list per queue, plus one per priority
step, named ``<queue>\\x06\\x16<step>``), or in the ``unacked`` hash (delivered to a
worker, not yet acknowledged: prefetched, running, or waiting out a retry countdown).
A campaign row is known by its campaign's row record. Checked in the order a message
moves (list, unacked, result), so a job moving along is not missed.
"""

from __future__ import annotations

import re
import uuid

import redis
from kombu.transport import redis as kombu_redis

from otpq_core.keys import CLAIM_PREFIX
from otpq_core.wire import QUEUES

#: kombu's own layout (otpq sets none of the transport options that change it).
PRIORITY_STEPS = tuple(kombu_redis.PRIORITY_STEPS)
PRIORITY_SEP: str = kombu_redis.Channel.sep
UNACKED: str = kombu_redis.Channel.unacked_key
RESULT_PREFIX = "celery-task-meta-"
CAMPAIGN_ROWS = "otpq:campaign:*:rows"
#: Messages read per LRANGE while scanning a lane.
CHUNK = 1000

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def looks_like_job_id(text: str) -> bool:
    """Every otpq job id is a UUID (uuid4 for sends and verifies, uuid5 for campaign rows)."""
    return bool(_UUID.fullmatch(text))


def lane_keys(queues: tuple[str, ...] = (*QUEUES, "celery")) -> list[str]:
    """Every Redis list kombu may keep a queue's messages in."""
    return [f"{q}{PRIORITY_SEP}{step}" if step else q for q in queues for step in PRIORITY_STEPS]


def is_known(client: redis.Redis, job_id: str) -> bool:
    """True when Redis holds anything about `job_id` (see the module docstring)."""
    needle = job_id.encode()
    for key in lane_keys():
        length = int(client.llen(key))
        for start in range(0, length, CHUNK):
            if any(needle in m for m in client.lrange(key, start, start + CHUNK - 1)):
                return True
    if any(needle in m for m in client.hvals(UNACKED)):
        return True
    if client.exists(RESULT_PREFIX + job_id, CLAIM_PREFIX + job_id):
        return True
    if uuid.UUID(job_id).version == 5:
        for rows in client.scan_iter(match=CAMPAIGN_ROWS, count=1000):
            if client.hexists(rows, job_id):
                return True
    return False
