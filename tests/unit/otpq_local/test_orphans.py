"""`otpq up`'s discovery file: a live stack is refused, a killed one's children are
stopped, and a recycled pid (another start time) is never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otpq_local.orphans import (
    StackRunning,
    child_record,
    live_stack,
    orphans,
    reap_orphans,
    start_time,
)
from otpq_local.up import Stack, discovery_record


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "celery-like"],
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_live_stack_is_refused_with_its_pid(tmp_path: Path) -> None:
    path = tmp_path / "up.json"
    live_stack(path)  # no file: nothing to refuse
    parent = os.getppid()
    path.write_text(json.dumps({"pid": parent, "env": {}}))
    with pytest.raises(StackRunning) as refused:
        live_stack(path)
    assert f"pid {parent}" in str(refused.value) and f"kill -INT {parent}" in str(refused.value)
    path.write_text(json.dumps({"pid": dead_pid(), "env": {}}))
    live_stack(path)


def test_a_killed_stacks_children_are_stopped_and_its_files_removed(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    path, workdir = tmp_path / "up.json", tmp_path / "otpq-up-x"
    workdir.mkdir()
    record = child_record("worker", sleeper.pid)
    assert record and record["started"] == start_time(sleeper.pid)
    path.write_text(json.dumps({"pid": dead_pid(), "children": [record], "workdir": str(workdir)}))
    said: list[str] = []
    assert reap_orphans(path, said.append) == 1
    assert sleeper.wait(timeout=30) is not None
    assert any(f"stopping worker (pid {sleeper.pid})" in line for line in said)
    assert not path.exists() and not workdir.exists()


def test_a_recycled_pid_is_left_alone(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    started = start_time(sleeper.pid)
    assert started is not None
    stranger = {"name": "redis-server", "pid": sleeper.pid, "started": started - 1}
    assert orphans({"children": [stranger]}) == []
    path = tmp_path / "up.json"
    path.write_text(json.dumps({"pid": dead_pid(), "children": [stranger]}))
    assert reap_orphans(path, lambda _: None) == 0
    assert sleeper.poll() is None and not path.exists()


def test_the_record_has_env_only_once_ready(tmp_path: Path) -> None:
    stack = Stack(env={"REDIS_URL": "redis://x"}, workdir=tmp_path)
    assert "env" not in discovery_record(stack, ready=False)
    full = discovery_record(stack)
    assert full["env"] == {"REDIS_URL": "redis://x"} and full["pid"] == os.getpid()
    assert full["workdir"] == str(tmp_path) and full["children"] == []


def test_a_file_others_may_write_stops_nothing(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = child_record("worker", sleeper.pid)
    path = tmp_path / "up.json"
    path.write_text(json.dumps({"pid": dead_pid(), "children": [record]}))
    path.chmod(0o666)
    said: list[str] = []
    assert reap_orphans(path, said.append) == 0
    assert sleeper.poll() is None and "others may write to it" in said[0]
    path.chmod(0o600)
    assert orphans({"children": [{**record, "name": "redis-server"}]}) == []  # not redis


def test_a_workers_own_temporary_log_is_removed_when_its_owner_exits() -> None:
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from otpq_local.worker_process import WorkerProcess\n"
            "w = WorkerProcess({})\nw.ready_file.write_text('')\nprint(w.log_path)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    log = Path(shown.stdout.strip())
    assert log.name.startswith("otpq-otpq-") and not log.exists()
    assert not log.with_suffix(".ready").exists()
