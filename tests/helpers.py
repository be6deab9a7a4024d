"""What tests share: the one way to wait for state, fakeredis' clock, starting workers.

Tests never sleep a guessed time for state to settle (a guess is either slow or flaky
under load); they name the condition and wait for it (`wait_until`), and a timeout fails
with what was awaited. Expiry in fakeredis follows `RedisClock`, not the wall clock.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers
import pytest

from otpq_local.worker_process import WorkerProcess

T = TypeVar("T")

#: The repository's root, wherever the test module that asks sits below tests/.
ROOT = Path(__file__).resolve().parents[1]
#: One valid mobile number of every region phonenumbers knows, in E.164.
EXAMPLE_NUMBERS = sorted(
    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    if (
        example := phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    )
)

#: Seconds between two looks: short enough not to slow a test, long enough to stay cheap.
POLL_INTERVAL = 0.05


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 30,
    what: str = "the condition",
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    interval: float = POLL_INTERVAL,
) -> T:
    """The first truthy value `predicate` returns; AssertionError naming `what` (and the
    last value seen) if none within `timeout` seconds. Exceptions of the `ignoring`
    types count as "not yet" (a server still starting, a failover under way); any other
    ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value: Any
        try:
            value = predicate()
        except ignoring as exc:
            value = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(interval)


class RedisClock:
    """fakeredis' clock, moved by the test: keys expire when it says, not in real time.
    Only fakeredis reads it; everything else still reads the real `time`."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class Workers:
    """Starts Celery workers as processes, each logging into a fresh temporary directory
    of the run (never a stray file in /tmp), and stops every one it started when its
    fixture's scope ends, however the test ended."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._tmp = tmp
        self._started: list[WorkerProcess] = []

    def __call__(self, env: Mapping[str, str], name: str = "it", **options: Any) -> WorkerProcess:
        """A worker on `env`, ready; `options` go to WorkerProcess (queues, concurrency)."""
        log = self._tmp.mktemp(f"worker-{name}") / "worker.log"
        process = WorkerProcess(env, name=name, log_path=log, **options)
        self._started.append(process)
        return process.start()

    @contextlib.contextmanager
    def running(
        self, env: Mapping[str, str], name: str = "it", **options: Any
    ) -> Iterator[WorkerProcess]:
        """A worker for the `with` block only (a fleet restarted mid-test)."""
        process = self(env, name, **options)
        try:
            yield process
        finally:
            process.stop()

    def stop_all(self) -> None:
        for process in reversed(self._started):
            process.stop()


def celery_call(env: Mapping[str, str], *args: str) -> str:
    """`celery ... call ...` as a subprocess; returns the task id it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]
