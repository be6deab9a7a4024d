"""`otpq up` end to end: start the stack, send and verify with the CLI from another
process that finds the stack by itself, then Ctrl-C and check nothing is left behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import SandboxControl
from tests.system.conftest import alive, descendants, otpq

pytestmark = pytest.mark.system

DEST = "+14255550199"


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 90) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not seen; output so far:\n" + "\n".join(lines))


def test_up_send_verify_and_clean_stop(clean_env: dict[str, str], tmp_path: Path) -> None:
    up = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "up", "--no-flower"],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    try:
        lines = read_until(up, "Ctrl-C stops everything.")
        text = "\n".join(lines)
        assert "SANDBOX" in text and "redis-server" in text
        sandbox_url = re.search(r"SANDBOX (\S+)", text).group(1)  # type: ignore[union-attr]
        workdir = Path(re.search(r"log (\S+)/worker.log", text).group(1))  # type: ignore[union-attr]
        assert workdir.exists() and Path(clean_env["OTPQ_UP_FILE"]).exists()
        children = descendants(up.pid)
        assert len(children) >= 3  # redis-server, sandbox, worker (and its pool)

        sent = otpq(
            "send", "--to", DEST, "--brand", "ExampleCorp", "--source", "Login",
            "--wait", "--json", env=clean_env,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        result = json.loads(sent.stdout)
        assert result["state"] == "succeeded"
        assert result["result"]["destination"] == "+1********99"

        code = SandboxControl(sandbox_url).outbox(destination=DEST)[-1]["code"]
        checked = otpq(
            "verify", code, "--to", DEST, "--brand", "ExampleCorp", "--source", "Login",
            "--wait", "--json", env=clean_env,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["result"]["valid"] is True

        status = otpq("status", result["job_id"], env=clean_env)
        assert status.returncode == 0
        assert "succeeded" in status.stdout and "+1********99" in status.stdout
        assert DEST not in status.stdout
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)

    assert up.returncode == 0, rest
    assert "sms  +1********99: This is your One Time Password:" in rest + text
    assert "stopped." in rest
    assert not [pid for pid in children if alive(pid)], "children left running"
    assert not workdir.exists()
    assert not Path(clean_env["OTPQ_UP_FILE"]).exists()


def test_up_uses_a_reachable_redis_url(clean_env: dict[str, str], redis_url: str) -> None:
    env = {**clean_env, "REDIS_URL": redis_url}
    up = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "up", "--no-flower"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    try:
        text = "\n".join(read_until(up, "Ctrl-C stops everything."))
        assert f"redis      {redis_url}  (from REDIS_URL)" in text
    finally:
        up.send_signal(signal.SIGTERM)
        up.communicate(timeout=60)
    assert up.returncode == 0


def test_up_says_when_it_uses_real_aws(clean_env: dict[str, str], redis_url: str) -> None:
    """With real AWS settings it does not start the sandbox, and says so."""
    from otpq_local.up import uses_real_aws

    assert uses_real_aws({"PINPOINT_APPLICATION_ID": "abc"})
    assert not uses_real_aws({"PINPOINT_APPLICATION_ID": "abc", "AWS_ENDPOINT_URL_PINPOINT": "x"})
    assert not uses_real_aws({})


def test_sandbox_command_runs_alone(clean_env: dict[str, str]) -> None:
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "sandbox", "--port", "0"],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        banner = sandbox.stdout.readline()
        assert "SANDBOX" in banner and "NOT PRODUCTION" in banner and "127.0.0.1" in banner
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.communicate(timeout=30)
    assert sandbox.returncode == 0


@pytest.mark.parametrize("command", ["send", "verify", "status", "up", "sandbox"])
def test_every_command_has_help(command: str, clean_env: dict[str, str]) -> None:
    shown = otpq(command, "--help", env=clean_env)
    assert shown.returncode == 0
    assert "usage" in shown.stdout.lower()


def test_bad_input_is_refused_before_queueing(clean_env: dict[str, str]) -> None:
    refused = otpq("send", "--to", "4255550199", "--brand", "B", "--source", "S", env=clean_env)
    assert refused.returncode == 2
    assert "destination" in refused.stderr and "--to" in refused.stderr
    assert "4255550199" not in refused.stderr


def test_unreachable_redis_is_a_clear_error(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "REDIS_URL": "redis://127.0.0.1:1/0", "OTPQ_REDIS_TIMEOUT": "1"}
    refused = otpq("send", "--to", DEST, "--brand", "B", "--source", "S", env=env, timeout=30)
    assert refused.returncode == 2
    assert "could not queue" in refused.stderr
    assert DEST not in refused.stderr
