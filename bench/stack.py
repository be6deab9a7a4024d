"""A throwaway otpq stack for benchmarks: redis-server, the sandbox, N worker processes.

The sandbox runs in a process of its own, as AWS would: in the benchmark's process it
would share an interpreter lock with the client being timed (a login's send waited
behind the sandbox answering a campaign's rows).
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otpq_core.settings import Settings
from otpq_core.wire import QUEUES
from otpq_local.redis_server import RedisServer, free_port
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import SandboxControl

APP_ID = "otpq-bench"


class SandboxProcess:
    """`python -m sandbox` on a free port (its delivery lines discarded)."""

    def __init__(self, app_id: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.control = SandboxControl(self.url)
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", port, "--app-id", app_id],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 30) -> SandboxProcess:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class BenchStack:
    redis: RedisServer
    sandbox: SandboxProcess
    env: dict[str, str]
    workdir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def client(self) -> OtpClient:
        return OtpClient(Settings.from_env(self.env))

    def start_workers(
        self,
        count: int,
        *,
        queues: Sequence[str] = QUEUES,
        concurrency: int = 16,
        pool: str = "threads",
        name: str = "bench",
    ) -> list[WorkerProcess]:
        started = [
            WorkerProcess(
                self.env,
                queues=queues,
                concurrency=concurrency,
                pool=pool,
                name=f"{name}{i}",
                loglevel="warning",
                log_path=self.workdir / f"{name}{i}.log",
            ).start()
            for i in range(count)
        ]
        self.workers += started
        return started

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.workers.clear()


@contextlib.contextmanager
def bench_stack(**env: str) -> Iterator[BenchStack]:
    with tempfile.TemporaryDirectory(prefix="otpq-bench-") as tmp:
        redis = RedisServer(directory=Path(tmp) / "redis").start()
        sandbox = SandboxProcess(APP_ID).start()
        stack = BenchStack(
            redis=redis,
            sandbox=sandbox,
            workdir=Path(tmp),
            env={
                "REDIS_URL": redis.url,
                "PINPOINT_APPLICATION_ID": APP_ID,
                "PINPOINT_ORIGINATION_IDENTITY": "+18005550100",
                "AWS_ENDPOINT_URL_PINPOINT": sandbox.url,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_REGION": "us-east-1",
                **env,
            },
        )
        try:
            yield stack
        finally:
            stack.stop_workers()
            sandbox.stop()
            redis.stop()


def send_otp_parameters(destination: str, reference_id: str) -> dict[str, object]:
    """SendOTPMessageRequestParameters for the bare boto3 baselines (no otpq code)."""
    return {
        "Channel": "SMS",
        "BrandName": "Bench",
        "CodeLength": 6,
        "ValidityPeriod": 15,
        "AllowedAttempts": 3,
        "DestinationIdentity": destination,
        "OriginationIdentity": "+18005550100",
        "ReferenceId": reference_id,
    }


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid US numbers."""
    return [f"+1425{2000000 + start + i:07d}" for i in range(count)]


def percentile(values: Sequence[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
