"""System tests run otpq's commands as separate processes, as a person would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc (no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; fields resume after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def otpq(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh shell: no REDIS_URL, a private discovery file."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("AWS_")}
    env.pop("PINPOINT_APPLICATION_ID", None)
    env["OTPQ_UP_FILE"] = str(tmp_path / "otpq-up.json")
    return env
