"""``otpq sandbox`` serves Notify too: its help, its configurations, its call lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.cli import main as otpq_main
from sandbox import SandboxControl
from tests.sandbox.calls import PHONE
from tests.sandbox.notify_calls import make_notify_client, notify_send

_ROOT = Path(__file__).resolve().parents[2]


def test_otpq_sandbox_help_names_otpq_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        otpq_main(["sandbox", "--help"])

    shown = capsys.readouterr().out
    assert exited.value.code == 0
    assert shown.startswith("usage: otpq sandbox")
    assert "AWS_ENDPOINT_URL_ENDUSERMESSAGING" in shown and "--notify-configuration" in shown


def test_python_m_sandbox_help_names_itself() -> None:
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    shown = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=_ROOT,
        timeout=30,
    )
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m sandbox")


def test_empty_configuration_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        otpq_main(["sandbox", "--notify-configuration", "=Acme"])

    assert exited.value.code == 2
    assert "--notify-configuration" in capsys.readouterr().err


@pytest.fixture
def cli_process() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "sandbox", "--port", "0",
         "--notify-configuration", "demo-config=Acme"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=_ROOT,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()


def test_cli_serves_notify_and_prints_masked_calls(cli_process: subprocess.Popen[str]) -> None:
    assert cli_process.stdout is not None
    banner = cli_process.stdout.readline()
    assert "SANDBOX" in banner and "NOT PRODUCTION" in banner and "NOTIFY" in banner
    url = banner.split()[-1]

    client = make_notify_client(url)
    notify_send(client, channel="VOICE", configuration="demo-config")
    client.close()
    code = SandboxControl(url).wait_for_message(PHONE, timeout=5)["code"]
    line = cli_process.stdout.readline().rstrip("\n")
    spelled = ", ".join(code)
    assert line == (
        f"Call to +1********42: Your Acme verification code is {spelled}."
        f" Again, your code is {spelled}."
    )
    assert PHONE not in line

    cli_process.send_signal(signal.SIGTERM)
    assert cli_process.wait(timeout=10) == 0
