"""The pools a worker starts on (worker/pools.py): refused ones say which to use, and a
started worker sizes its connections from its real `-c`."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest

from otpq_local.redis_server import RedisServer, free_port
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import ROOT, Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Pools"}


def refused_start(env: dict[str, str], *options: str) -> str:
    """What `celery -A worker worker` prints when it stops before consuming."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", *options, "-l", "info"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "ready." not in output
    return output


@pytest.mark.parametrize("pool", ["prefork", "processes"])
def test_a_refused_pool_stops_the_worker_at_start_saying_which_to_use(
    redis_server: RedisServer, sandbox: PinpointSandbox, pool: str
) -> None:
    output = refused_start(worker_env(redis_server, sandbox), "-P", pool)
    assert "pool is not supported" in output, output
    assert "-P threads" in output and "-P gevent" in output, output


def test_a_worker_without_its_pinpoint_project_stops_at_start(
    redis_server: RedisServer, sandbox: PinpointSandbox
) -> None:
    """Not at its first send: such a worker used to consume and fail every send it took,
    beside workers that had the project (an extra worker started with REDIS_URL alone)."""
    env = worker_env(redis_server, sandbox)
    del env["PINPOINT_APPLICATION_ID"]
    output = refused_start(env)
    assert "needs PINPOINT_APPLICATION_ID" in output, output


def test_connections_follow_the_command_lines_concurrency(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
) -> None:
    """`-c 40` (not the app's default 16): 40 slots, a boto3 pool that holds 40 calls at
    once plus the batch rows' pool (so 40 slow calls in flight discard no connection), and
    broker connections for 40 acks or retries at once plus the consumer's own."""
    env = worker_env(redis_server, sandbox, OTPQ_SEND_RATE="0", OTPQ_BATCH_CONCURRENCY="8")
    worker = start_worker(env, "sized", concurrency=40)
    assert "threads pool, 40 slots (10 kept for logins" in worker.log()
    assert "48 AWS connections, 48 broker connections" in worker.log()
    pinpoint.set_faults(latency_ms=300)
    jobs = [client.send(f"+1425561{i:04d}", **JOB) for i in range(120)]
    wait_until(
        lambda: all(client.status(j).state == "succeeded" for j in jobs),
        what="every send",
        timeout=60,
    )
    pinpoint.set_faults()
    assert len(pinpoint.outbox()) == 120
    assert "Connection pool is full" not in worker.log()


@pytest.mark.parametrize("pool", ["threads", "gevent", "solo"])
def test_every_supported_pool_counts_its_jobs_on_the_metrics_endpoint(
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    client: OtpClient,
    start_worker: Workers,
    redis_url: str,
    pool: str,
) -> None:
    """The jobs run in the worker's one process on every supported pool, so its
    `/metrics` counts each of them (a prefork child's would be invisible)."""
    port = free_port()
    env = worker_env(redis_server, sandbox, OTPQ_METRICS_PORT=str(port))
    start_worker(env, f"metrics-{pool}", pool=pool, concurrency=8)
    jobs = [client.send(f"+1425562{i:04d}", **JOB) for i in range(5)]
    wait_until(lambda: all(client.status(j).state == "succeeded" for j in jobs), what="every send")

    def counted() -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        for line in text.decode().splitlines():
            if line.startswith("otpq_jobs_total{") and 'outcome="succeeded"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert wait_until(lambda: counted() >= 5, what="5 jobs counted", ignoring=(OSError,))
    assert counted() == 5
