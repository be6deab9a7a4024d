"""Redis Sentinel: a primary, a replica and three sentinels, a real worker and the
sandbox, 50 sends in flight, then `SENTINEL FAILOVER` — every job ends, none is lost,
no number gets two texts (docs/redis.md)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer, find_redis_binary, free_port
from otpq_local.worker_process import WorkerProcess
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import wait_until
from tests.integration.conftest import worker_env
from tests.system.resilience import FAST_RECOVERY, JOB, Tally, destinations

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

MASTER = "otpq"
#: Longest the primary holds writes during a planned failover (it ends sooner).
PAUSE_MS = 20000
T = TypeVar("T")


def poll(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """The first truthy `check()`; Redis errors count as "not yet" (a failover is on)."""
    return wait_until(check, timeout, what, ignoring=(redis.RedisError, BrokerUnavailable))


class Sentinels:
    """A primary, one replica and three sentinels on free ports, files in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.primary = RedisServer(directory=directory / "primary")
        self.replica = RedisServer(directory=directory / "replica")
        self.ports = [free_port() for _ in range(3)]
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{port}" for port in self.ports) + "/0"

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.ports[index], socket_timeout=2)

    def master_port(self, index: int = 0) -> int:
        with self.sentinel(index) as s:
            return int(s.sentinel_get_master_addr_by_name(MASTER)[1])

    def start(self) -> Sentinels:
        self.primary.start()
        self.replica.start()
        with redis.Redis(port=self.replica.port) as replica:
            replica.replicaof("127.0.0.1", self.primary.port)
        for i, port in enumerate(self.ports):
            conf = self.directory / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 2000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            self.processes.append(
                subprocess.Popen(
                    [find_redis_binary(), str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for i in range(3):  # each knows the replica and the two other sentinels
            poll(lambda i=i: self._knows_all(i), f"sentinel {i} ready")
        return self

    def _knows_all(self, index: int) -> bool:
        with self.sentinel(index) as s:
            replicas = s.execute_command("SENTINEL", "REPLICAS", MASTER)
            others = s.execute_command("SENTINEL", "SENTINELS", MASTER)
        links = [dict(zip(r[::2], r[1::2], strict=True)) for r in replicas]
        up = [r for r in links if r.get(b"master-link-status") == b"ok"]
        return len(replicas) == 1 and len(others) == 2 and len(up) == 1

    def planned_failover(self) -> None:
        """docs/redis.md's runbook: hold writes on the primary, let the replica catch up,
        `SENTINEL FAILOVER`, then drop the old primary's clients. Without the hold, the
        old primary takes writes (pops, claims, acks) until Sentinel demotes it — up to
        its 10 s INFO period — and those are lost with its data: jobs run twice."""
        with redis.Redis(port=self.primary.port) as primary:
            primary.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
            offset = primary.info("replication")["master_repl_offset"]
            with redis.Redis(port=self.replica.port) as replica:
                poll(
                    lambda: replica.info("replication")["slave_repl_offset"] >= offset,
                    "the replica caught up",
                )
            with self.sentinel() as s:
                assert s.execute_command("SENTINEL", "FAILOVER", MASTER) == b"OK"
            for i in range(3):  # a client asks whichever sentinel answers first
                poll(lambda i=i: self.master_port(i) == self.replica.port, f"sentinel {i} switched")
            # Drop the clients still parked on the old primary: their held writes never
            # ran there, and they reconnect through the sentinels to the new one.
            primary.execute_command("CLIENT", "KILL", "TYPE", "normal")
            poll(lambda: primary.info("replication")["role"] == "slave", "old primary demoted")
            primary.execute_command("CLIENT", "UNPAUSE")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.replica.stop()
        self.primary.stop()


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[Sentinels]:
    group = Sentinels(tmp_path)
    try:
        yield group.start()
    finally:
        group.stop()


def status_or_none(client: OtpClient, job_id: str) -> JobStatus | None:
    status = client.status(job_id)
    return status if status.done else None


def wait_all(
    client: OtpClient, jobs: Iterable[str], worker: WorkerProcess, timeout: float
) -> dict[str, JobStatus]:
    """Every job's final status; fails naming the jobs that never ended, and what the
    worker logged about them."""
    pending, done = set(jobs), {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            try:
                status = client.status(job)
            except BrokerUnavailable:
                break
            if status.done:
                done[job] = status
                pending.discard(job)
        time.sleep(0.1)
    if pending:
        lines = [line for line in worker.log().splitlines() if any(j in line for j in pending)]
        pytest.fail(f"{len(pending)} jobs never ended: {pending}\n" + "\n".join(lines[-20:]))
    return done


def test_failover_loses_no_job_and_sends_no_sms_twice(
    sentinels: Sentinels, sandbox: PinpointSandbox, pinpoint: SandboxControl, tmp_path: Path
) -> None:
    env = worker_env(
        sentinels.primary,
        sandbox,
        REDIS_URL=sentinels.url,
        OTPQ_SENTINEL_MASTER=MASTER,
        # Calls held by the pause wait out the switch (docs/redis.md, runbook step 2).
        OTPQ_REDIS_TIMEOUT="15",
        **FAST_RECOVERY,
    )
    client = OtpClient(Settings.from_env(env))
    numbers = destinations(50, first=7000)
    try:
        with WorkerProcess(env, name="sentinel", log_path=tmp_path / "worker.log") as worker:
            jobs = {client.send(number, **JOB): number for number in numbers}
            poll(lambda: pinpoint.outbox(), "the first SMS")  # the load is in flight
            sentinels.planned_failover()
            statuses = wait_all(client, jobs, worker, timeout=90)
            assert worker.running(), worker.log()[-3000:]
            # The worker goes on serving through the new primary.
            after = client.send(destinations(1, first=7100)[0], **JOB)
            last = poll(lambda: status_or_none(client, after), "a send after the failover")
    finally:
        client.close()
    assert last.state == "succeeded"
    tally = Tally.of(jobs, statuses, pinpoint)
    tally.report("sentinel failover", statuses)
    # None lost (every job ended above), and no number texted twice. A job whose claim
    # or limiter call was cut by the switch ends `uncertain` or with the Redis error,
    # each having sent at most one SMS (docs/guarantees.md); the rest succeed with one.
    assert tally.duplicates == 0, tally.sms_per_job
    for job, status in statuses.items():
        if status.state == "succeeded":
            assert tally.sms_per_job[job] == 1, status
        else:
            assert status.reason in ("uncertain", "error"), status
    assert tally.outcomes["succeeded"] > 0
    with redis.Redis(port=sentinels.replica.port) as promoted:
        assert promoted.info("replication")["role"] == "master"
