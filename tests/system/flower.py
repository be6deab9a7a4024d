"""`celery -A worker flower` as a subprocess for system tests, and a poll helper."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from otpq_local.redis_server import free_port
from tests.helpers import wait_until

AUTH = "ops:not-a-real-password"
#: Longest any poll waits; a bound, not an expectation.
PATIENCE = 45.0

T = TypeVar("T")


def poll(check: Callable[[], T | None], what: str, timeout: float = PATIENCE) -> T:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout`."""
    return wait_until(check, timeout, what, ignoring=(OSError, urllib.error.URLError), interval=0.2)


@dataclass
class Flower:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, *, auth: bool = True) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)
        if auth:
            token = base64.b64encode(AUTH.encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_flower(env: Mapping[str, str], worker_name: str) -> Iterator[Flower]:
    """Flower with basic auth on a free port, yielded once it has seen `worker_name`
    online (jobs enqueued before that would be missing: it does not replay history)."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix="otpq-flower-", suffix=".log")
    os.close(fd)
    log_path = Path(name)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "flower",
             f"--port={port}", "--address=127.0.0.1", f"--basic-auth={AUTH}"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Flower(f"http://127.0.0.1:{port}", process, log_path)
    try:
        online = f'flower_worker_online{{worker="{worker_name}@{socket.gethostname()}"}} 1.0'

        def seen() -> bool:
            assert process.poll() is None, running.log()
            return online in running.get("/metrics", auth=False)[1].decode()

        poll(seen, "Flower to see the worker online")
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_path.unlink(missing_ok=True)
