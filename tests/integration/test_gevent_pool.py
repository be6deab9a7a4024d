"""Workers on Celery's gevent pool (`-P gevent`), which has no event loop: kombu's Redis
transport is driven by `drain_events`, and acks come from every task greenlet at once.

What the threads pool got from the event loop, a gevent worker must get from
worker.broker: a job whose delivery was cut short comes back, and no ack is lost.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Login"}
#: kombu's Redis transport: delivered, unacked messages and when each was delivered.
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"


def _numbers(count: int) -> list[str]:
    return [f"+1425555{i:04d}" for i in range(count)]


def _strand(r: redis.Redis, queue: str, delivered_at: float) -> str:
    """Take the next message off `queue` and leave it as a worker that died holding it
    would: in the unacked set, delivered at `delivered_at`. Returns its job id."""
    raw = r.rpop(queue)
    assert raw is not None, f"nothing queued on {queue}"
    message = json.loads(raw)
    tag = message["properties"]["delivery_tag"]
    r.hset(UNACKED, tag, json.dumps([message, queue, queue]))
    r.zadd(UNACKED_INDEX, {tag: delivered_at})
    return str(message["headers"]["id"])


@pytest.mark.parametrize("pool", ["threads", "gevent"])
def test_a_job_whose_delivery_was_cut_short_runs_once_its_visibility_timeout_passes(
    pool: str,
    redis_server: RedisServer,
    redis_url: str,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    """kombu sweeps the unacked set only from the event loop's timer: a gevent worker
    never delivered such a job again, so a job held by a killed worker (or whose ack or
    restore a lost connection cut short) never finished. Both are swept now: one long
    past its visibility timeout when the worker starts, one that passes it later."""
    env = worker_env(redis_server, sandbox)
    visibility = Settings.from_env(env).visibility_timeout
    r = redis.Redis.from_url(redis_url)
    client = OtpClient(Settings.from_env(env))
    first, later = (client.send(n, **JOB) for n in _numbers(2))
    queue = "otp.interactive"
    stranded = {
        _strand(r, queue, delivered_at=time.time() - 2 * visibility),
        # Visible to a sweep two seconds from now, while the worker runs.
        _strand(r, queue, delivered_at=time.time() - visibility + 2),
    }
    assert stranded == {first, later} and not r.llen(queue)
    start_worker(env, f"cut-short-{pool}", pool=pool, concurrency=4)
    for job in (first, later):
        status = wait_until(
            lambda job=job: (s := client.status(job)).state == "succeeded" and s,
            timeout=60,
            what=f"stranded job {job} to run again",
        )
        assert status.result is not None and status.result["attempts"] == 1
    wait_until(lambda: not r.hlen(UNACKED), what="both acked")
    assert len(pinpoint.outbox()) == 2
    client.close()
    r.close()


def test_a_gevent_worker_acks_every_job_when_many_finish_at_once(
    redis_server: RedisServer,
    redis_url: str,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    """Two hundred greenlets whose Pinpoint calls return together ack together, through a
    broker pool of ten connections. Each ack lands: none is refused ("Too many
    connections") and left unacked to be run again, none drops the consumer's
    connection."""
    jobs = 800
    # A rate that never binds: the sends start, and so end, together.
    env = worker_env(redis_server, sandbox, OTPQ_SEND_RATE="100000")
    pinpoint.set_faults(latency_ms=500)
    r = redis.Redis.from_url(redis_url)
    client = OtpClient(Settings.from_env(env))
    ids = [client.send(n, **JOB) for n in _numbers(jobs)]
    worker = start_worker(env, "many-acks", pool="gevent", concurrency=200, loglevel="warning")

    def finished() -> bool:
        return all(client.status(job).state == "succeeded" for job in ids)

    wait_until(finished, timeout=90, interval=0.5, what=f"all {jobs} sends to succeed")
    wait_until(lambda: not r.hlen(UNACKED), what="every job acked")
    client.close()
    log = worker.log()
    assert "Couldn't ack" not in log
    assert "Connection to broker lost" not in log
    assert len(pinpoint.outbox()) == jobs
    r.close()
