"""``python -m sandbox`` as another process would run it: banner, deliveries, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SandboxControl
from sandbox.cli import main
from tests.sandbox.calls import PHONE, make_client, send

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_process() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--app-id", "demo-app"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=_ROOT,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()


def test_cli_prints_banner_then_masked_deliveries_and_stops_on_sigterm(
    cli_process: subprocess.Popen[str],
) -> None:
    assert cli_process.stdout is not None
    banner = cli_process.stdout.readline()
    assert "SANDBOX" in banner and "NOT PRODUCTION" in banner
    url = banner.split()[-1]
    assert url.startswith("http://127.0.0.1:")

    client = make_client(url)
    send(client, app_id="demo-app")
    client.close()
    code = SandboxControl(url).wait_for_message(PHONE, timeout=5)["code"]
    line = cli_process.stdout.readline().rstrip("\n")
    assert line == f"SMS to +1********42: This is your One Time Password: {code} from ExampleCorp"
    assert PHONE not in line

    cli_process.send_signal(signal.SIGTERM)
    assert cli_process.wait(timeout=10) == 0


def test_cli_refuses_burst_without_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quota-burst", "3"]) == 2
    assert "quota_burst" in capsys.readouterr().err
