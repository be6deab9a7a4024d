"""Run `celery -A worker worker` as a child process: for `otpq up`, tests and benchmarks.

A subprocess, never an import: the producer side must not import the worker (or
boto3). Readiness is the worker's OTPQ_READY_FILE appearing (whatever the log level), not a sleep.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from otpq_core.wire import QUEUES

#: How long a worker may take to connect and say "ready.".
DEFAULT_START_TIMEOUT = 30.0


def _temporary_log(name: str) -> str:
    fd, path = tempfile.mkstemp(prefix=f"otpq-{name}-", suffix=".log")
    os.close(fd)
    return path


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class WorkerProcess:
    """One Celery worker process with its log in a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        queues: Sequence[str] = QUEUES,
        pool: str = "threads",
        concurrency: int = 8,
        name: str = "otpq",
        loglevel: str = "info",
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        app: str = "worker",
    ) -> None:
        self.env = {**os.environ, **env}
        self.name = name
        self.args = [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "-Q", ",".join(queues),
            "-P", pool,
            "-c", str(concurrency),
            "-n", f"{name}@%h",
            "-l", loglevel,
            "--without-mingle", "--without-gossip",
            *extra_args,
        ]  # fmt: skip
        self.log_path = Path(log_path or _temporary_log(name))
        self.ready_file = self.log_path.with_suffix(".ready")
        if log_path is None:  # our own temp file: gone when this process exits
            atexit.register(_remove, self.log_path, self.ready_file)
        self.env["OTPQ_READY_FILE"] = str(self.ready_file)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> WorkerProcess:
        self.ready_file.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if self.ready_file.exists():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """Warm shutdown (SIGTERM): finish what is running, then exit."""
        if not self.process:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode if self.process else None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
