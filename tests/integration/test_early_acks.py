"""A fresh send's message is acked in the round trip that records its outcome
(worker/early_acks.py): no second MULTI/EXEC per job for Celery's ack, and nothing left
in kombu's unacked set."""

from __future__ import annotations

import pytest
import redis

from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import SandboxControl
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

SENDS = 40


def transactions(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))


def test_a_finished_send_is_acked_with_its_outcome(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl, redis_url: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    assert client.wait(client.send("+14255550100", "Acks", "Warm"), timeout=30).state == "succeeded"
    before = transactions(r)
    jobs = [client.send(f"+1425556{i:04d}", "Acks", "Early") for i in range(SENDS)]
    wait_until(lambda: all(client.status(j).state == "succeeded" for j in jobs), what="sends")
    used = transactions(r) - before
    # One transaction per delivery (kombu records it as unacked); Celery's ack would add
    # a second per job. A few more may come from the worker's periodic sweeps.
    assert used < SENDS * 1.5, used
    wait_until(lambda: r.hlen("unacked") == 0, what="an empty unacked set")
    r.close()
