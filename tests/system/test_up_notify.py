"""`otpq up --backend notify`: the demo's code goes out through Notify (the sandbox's
`endusermessaging` side) and verifies; with a real Notify configuration it says REAL AWS,
and a worker without a sending identity stops the stack at start, not at the first login."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from otpq_local.up import DEMO_NUMBER, default_backend, uses_real_aws
from sandbox import SandboxControl
from tests.system.conftest import alive, descendants, otpq
from tests.system.test_up import read_until

pytestmark = pytest.mark.system

#: One number per channel: a repeat to one number would meet the resend cooldown.
CALLED = "+14255550177"
MESSAGED = "+14255550188"


def up(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "up", "--no-flower", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )


def test_up_notify_demo_sends_and_verifies_through_notify(clean_env: dict[str, str]) -> None:
    stack = up(clean_env, "--backend", "notify", "--demo")
    try:
        lines = read_until(stack, "demo: verify")
        text = "\n".join(lines)
        assert re.search(r"^notify +SANDBOX ", text, re.M), text
        sandbox_url = re.search(r"SANDBOX (\S+)", text).group(1)  # type: ignore[union-attr]
        workdir = Path(re.search(r"log (\S+)/worker.log", text).group(1))  # type: ignore[union-attr]
        children = descendants(stack.pid)
        assert "via notify -> succeeded" in text, text
        assert "-> succeeded, valid=True" in lines[-1], text

        sent = SandboxControl(sandbox_url).outbox(destination=DEMO_NUMBER)
        assert [(m["backend"], m["channel"]) for m in sent] == [("notify", "TEXT")]

        # Another shell finds the stack, and its sends go out as a call and a WhatsApp.
        for channel, number, kind in (
            ("VOICE", CALLED, "call"),
            ("WHATSAPP", MESSAGED, "whatsapp"),
        ):
            queued = otpq(
                "send", "--to", number, "--brand", "ExampleCorp", "--source", "Login",
                "--channel", channel, "--wait", "--json", env=clean_env,
            )  # fmt: skip
            assert queued.returncode == 0, queued.stderr
            relayed = read_until(stack, f"  {kind}  +1********{number[-2:]}: ")
            lines += relayed
            assert number not in relayed[-1]
    finally:
        stack.send_signal(signal.SIGINT)
        rest, _ = stack.communicate(timeout=60)

    assert stack.returncode == 0, rest
    output = "\n".join(lines) + "\n" + rest
    assert re.search(r"  sms  \+1\*{8}42: \S+ is your otpq verification code\.", output), output
    shown = [line for line in output.splitlines() if line.startswith(("demo:", "  sms"))]
    assert len(shown) == 3 and not [line for line in shown if DEMO_NUMBER in line], shown
    assert re.search(r"  call  \+1\*{8}77: Your otpq verification code is [0-9, ]+\.", output)
    assert "  whatsapp  +1********88: " in output
    assert not [pid for pid in children if alive(pid)], "children left running"
    assert not workdir.exists()
    assert not Path(clean_env["OTPQ_UP_FILE"]).exists()


def test_up_notify_on_real_aws_says_so_and_needs_a_sending_identity(
    clean_env: dict[str, str],
) -> None:
    """No sandbox for a real configuration; the worker refuses to start without an
    origination identity, so nothing reaches AWS and `otpq up` exits with the reason."""
    env = {**clean_env, "OTPQ_NOTIFY_CONFIGURATION": "otpq-prod", "AWS_REGION": "eu-west-1"}
    env.pop("PINPOINT_ORIGINATION_IDENTITY", None)
    env.pop("OTPQ_ORIGINATION_IDENTITY", None)
    stack = up(env, "--backend", "notify")
    output, _ = stack.communicate(timeout=90)

    assert stack.returncode == 1, output
    assert "notify     REAL AWS (eu-west-1), code configuration otpq-prod" in output
    assert "SANDBOX" not in output
    assert "OTPQ_BACKEND=notify needs a sending identity" in output
    assert "PINPOINT_ORIGINATION_IDENTITY" in output
    assert not Path(clean_env["OTPQ_UP_FILE"]).exists()


def test_backend_choice_and_real_aws_decision() -> None:
    assert default_backend({}) == "pinpoint"
    assert default_backend({"OTPQ_BACKEND": " Notify "}) == "notify"
    assert uses_real_aws({"OTPQ_NOTIFY_CONFIGURATION": "c"}, "notify")
    assert not uses_real_aws(
        {"OTPQ_NOTIFY_CONFIGURATION": "c", "AWS_ENDPOINT_URL_ENDUSERMESSAGING": "x"}, "notify"
    )
    assert not uses_real_aws({"PINPOINT_APPLICATION_ID": "abc"}, "notify")
    assert not uses_real_aws({"OTPQ_NOTIFY_CONFIGURATION": "c"}, "pinpoint")
