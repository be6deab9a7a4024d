"""One `otpq up` per discovery file, no orphans after a SIGKILL, and a bounded stop.

A live stack is refused rather than overwritten (the second would take over its
discovery file and delete it on exit). A stack whose pid is dead but whose children
live on was SIGKILLed: its file lists every child with its start time (field 22 of
/proc/PID/stat), so a successor stops exactly those processes and never a stranger
that was given a recycled pid.

Kept apart from the discovery file's ownership check (another concern) so both evolve
independently.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otpq_local.worker_process import WorkerProcess
from producer.known_jobs import UNACKED

Say = Callable[[str], None]

#: Seconds of warm shutdown the worker gets before it is killed (OTPQ_UP_STOP_GRACE).
STOP_GRACE = 2.0
#: Seconds the worker's cold shutdown gets (requeueing its unfinished jobs) before SIGKILL.
COLD_GRACE = 3.0
#: Seconds an orphan gets after SIGTERM before SIGKILL.
ORPHAN_GRACE = 5.0


class StackRunning(RuntimeError):
    """A live `otpq up` already owns the discovery file."""


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def child_record(name: str, pid: int) -> dict[str, Any] | None:
    started = start_time(pid)
    return None if started is None else {"name": name, "pid": pid, "started": started}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start_time(pid) is not None


def live_stack(path: Path) -> None:
    """Raise `StackRunning` if the discovery file names a live `otpq up`."""
    data = _read(path)
    if not data:
        return
    try:
        pid = int(data["pid"])
    except (KeyError, TypeError, ValueError):
        return
    if pid != os.getpid() and _pid_alive(pid):
        raise StackRunning(
            f"a stack is already running (pid {pid}, discovery file {path}); stop it with "
            f"Ctrl-C in its shell or `kill -INT {pid}`, or run a second one under its own "
            "file: OTPQ_UP_FILE=/tmp/otpq-up-2.json otpq up"
        )


def orphans(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded children that are still the very processes that were recorded."""
    found = []
    for child in data.get("children") or []:
        try:
            pid, started = int(child["pid"]), int(child["started"])
        except (KeyError, TypeError, ValueError):
            continue
        if start_time(pid) == started and _looks_like(pid, str(child.get("name"))):
            found.append(child)
    return found


#: What each part's command line holds, checked before a recorded pid is stopped.
MARKERS = {"redis-server": "redis", "sandbox": "sandbox", "worker": "celery", "flower": "celery"}


def _looks_like(pid: int, name: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    marker = MARKERS.get(name)
    return marker is not None and marker.encode() in cmdline


def trusted(path: Path) -> str | None:
    """Why a discovery file may not direct which processes to stop, or None. Only a
    regular file of this user that no one else may write: anyone can create one in
    /tmp, listing any of this user's processes."""
    try:
        info = os.lstat(path)
    except OSError:
        return "it cannot be read"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.getuid():
        return "it belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "others may write to it"
    return None


def reap_orphans(path: Path, say: Say) -> int:
    """After a SIGKILLed predecessor: stop its children, remove its files. Returns how
    many processes were stopped."""
    data = _read(path)
    if not data:
        return 0
    problem = trusted(path)
    if problem:
        say(f"cleanup    not using {path} to stop anything: {problem}")
        return 0
    left = orphans(data)
    for child in left:
        say(
            f"cleanup    stopping {child['name']} (pid {child['pid']}) left running by a "
            f"killed otpq up (pid {data.get('pid')})"
        )
        _terminate(int(child["pid"]), int(child["started"]))
    workdir = data.get("workdir")
    if isinstance(workdir, str) and Path(workdir).name.startswith("otpq-up-"):
        shutil.rmtree(workdir, ignore_errors=True)
    path.unlink(missing_ok=True)
    if left or workdir:
        say(f"cleanup    removed the stale discovery file {path}")
    return len(left)


def _terminate(pid: int, started: int) -> None:
    """SIGTERM (to its process group when it leads one), then SIGKILL after a grace."""
    group = os.getpgid(pid) == pid if start_time(pid) == started else False

    def send(sig: int) -> None:
        if start_time(pid) != started:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if group else os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + ORPHAN_GRACE
    while time.monotonic() < deadline and start_time(pid) == started:
        time.sleep(0.05)
    send(signal.SIGKILL)
    while start_time(pid) == started:  # gone, or a zombie its new parent will reap
        time.sleep(0.02)


def in_flight(redis_url: str | None) -> int | None:
    """Messages delivered to a worker and not yet acknowledged (kombu's `unacked` hash)."""
    if not redis_url:
        return None
    try:
        from otpq_core.redis_factory import redis_client
        from otpq_core.settings import Settings

        client = redis_client(Settings(redis_url=redis_url), timeout=1)
        try:
            return int(client.hlen(UNACKED))
        finally:
            client.close()
    except Exception:  # only a figure for the message
        return None


def stop_worker(worker: WorkerProcess, redis_url: str | None, say: Say) -> None:
    """Warm shutdown for `STOP_GRACE` seconds, saying what it waits for; then a cold one;
    then SIGKILL.

    A threads worker's warm shutdown waits for every running task, and a bulk job may
    sleep for a token. Celery's cold shutdown (SIGQUIT) cancels the unfinished late-ack
    jobs and kombu puts them back in their queue as the worker closes its channel (the
    send claim keeps a job caught mid-call from texting twice). A killed worker's jobs
    stay unacked in Redis and are delivered again after the visibility timeout: either
    way nothing is lost."""
    process = worker.process
    if process is None or process.poll() is not None:
        return
    grace = float(os.environ.get("OTPQ_UP_STOP_GRACE") or STOP_GRACE)
    held = in_flight(redis_url)
    jobs = f"finishing {held} jobs in flight" if held is not None else "finishing its jobs"
    say(f"stopping worker ({jobs}, up to {grace:g} s)…")
    process.send_signal(signal.SIGTERM)
    if _exited(process, grace):
        return
    held = in_flight(redis_url)
    unfinished = f"{held} jobs" if held is not None else "jobs"
    say(
        f"worker still busy after {grace:g} s ({unfinished} unfinished): cold shutdown, "
        "putting them back in their queue…"
    )
    process.send_signal(signal.SIGQUIT)
    if _exited(process, COLD_GRACE):
        return
    say(
        f"worker did not stop in {COLD_GRACE:g} s: killing it; its unfinished jobs stay in "
        "Redis and are delivered again after the visibility timeout"
    )
    worker.kill()


def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
