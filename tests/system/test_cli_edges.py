"""The `otpq` command's edges, run as a person would, against the session's Redis with
no worker: where it sends, unknown job ids, a repeat inside the cooldown, a pipe closed
early, a header-less CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system.conftest import otpq

pytestmark = pytest.mark.system

DEST = "+14255550199"
SEND = ("send", "--to", DEST, "--brand", "ExampleCorp", "--source", "Login")


def test_no_stack_and_no_redis_url_is_refused(clean_env: dict[str, str]) -> None:
    refused = otpq(*SEND, env=clean_env)
    assert refused.returncode == 2
    assert "otpq up" in refused.stderr and "REDIS_URL" in refused.stderr
    status = otpq("status", "8f0c6a0e-7f47-4c11-9d52-2b8e6d0f3a10", env=clean_env)
    assert status.returncode == 2 and "otpq up" in status.stderr


def test_it_says_where_it_sends_and_which_jobs_it_knows(
    clean_env: dict[str, str], redis_url: str
) -> None:
    env = {**clean_env, "REDIS_URL": redis_url, "OTPQ_HASH_KEY": "t" * 32}
    first = otpq(*SEND, env=env)
    assert first.returncode == 0, first.stderr
    assert f"otpq: using REDIS_URL={redis_url}" in first.stderr
    job = first.stdout.split()[-1]

    again = otpq(*SEND, env=env)
    assert again.returncode == 0 and again.stdout.split()[-1] == job
    assert "no new SMS: a code was sent to +1********99" in again.stderr
    assert "(cooldown 30 s); job " + job in again.stderr
    assert DEST not in again.stderr + again.stdout
    scripted = otpq(*SEND, "--json", env=env)
    assert json.loads(scripted.stdout) == {"job_id": job, "state": "queued", "deduplicated": True}

    queued = otpq("status", job, env=env)  # no worker: really queued
    assert queued.returncode == 0 and "queued" in queued.stdout
    unknown = otpq("status", "8f0c6a0e-7f47-4c11-9d52-2b8e6d0f3a10", env=env)
    assert unknown.returncode == 2 and "unknown job" in unknown.stderr
    scripted = otpq("status", "8f0c6a0e-7f47-4c11-9d52-2b8e6d0f3a10", "--json", env=env)
    assert scripted.returncode == 2 and json.loads(scripted.stdout)["state"] == "unknown"
    nonsense = otpq("status", "anything", env=env)
    assert nonsense.returncode == 2 and "not a job id" in nonsense.stderr


def test_export_into_a_closed_pipe_exits_quietly(
    clean_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    env = {**clean_env, "REDIS_URL": redis_url, "OTPQ_HASH_KEY": "t" * 32}
    rows = tmp_path / "rows.csv"
    rows.write_text("destination\n" + "".join(f"+1425555{n:04d}\n" for n in range(3000)))
    started = otpq("campaign", "start", str(rows), "--brand", "B", "--source", "S", env=env)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.split()[-1]

    export = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "campaign", "export", cid, "-"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(["head", "-n", "2"], stdin=export.stdout, capture_output=True)
    assert export.stdout is not None
    export.stdout.close()
    _, err = export.communicate(timeout=60)
    assert head.stdout.decode().startswith("line,destination")
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_a_headerless_csv_is_refused_before_redis(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("+14255550142\n+14255550143\n")
    env = {**clean_env, "REDIS_URL": "redis://127.0.0.1:1/0", "OTPQ_REDIS_TIMEOUT": "5"}
    refused = otpq("campaign", "start", str(rows), "--brand", "B", "--source", "S", env=env)
    assert refused.returncode == 2
    assert "line 1 has no header; expected a `destination` column" in refused.stderr
    assert "4255550142" not in refused.stderr and "could not" not in refused.stderr
