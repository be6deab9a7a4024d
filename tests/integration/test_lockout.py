"""Wrong-code limits through a real worker, from both sides: an attacker's guesses are
bounded per code and never reach AWS past the bound; the real user who asks for a
fresh code verifies with it at once (docs/security.md, "Lockout and plaintext codes")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Lockout"}
# No backoff here (it is a wait; tests/unit/worker/test_budgets.py measures it with a clock)
# and no resend cooldown (the user's fresh code must not wait 30 s in a test).
LIMITS = {
    "OTPQ_VERIFY_FAILURES": "3/3600",
    "OTPQ_VERIFY_BACKOFF": "0",
    "OTPQ_RESEND_COOLDOWN": "0",
    "OTPQ_DESTINATION_SENDS": "5/900",
}
GUESSES = 12


@pytest.fixture(scope="module")
def env(
    redis_server: RedisServer, sandbox: PinpointSandbox, start_module_worker: Workers
) -> dict[str, str]:
    env = worker_env(redis_server, sandbox, **LIMITS)
    start_module_worker(env, "lockout")
    return env


@pytest.fixture
def otp(env: dict[str, str]) -> Iterator[OtpClient]:
    client = OtpClient(Settings.from_env(env))
    yield client
    client.close()


def verifies(pinpoint: SandboxControl) -> int:
    return int(pinpoint.stats()["operations"].get("VerifyOTPMessage", {}).get("received", 0))


def answer(otp: OtpClient, dest: str, code: str) -> bool | str | None:
    status = otp.wait(otp.verify(dest, code, **JOB), timeout=30)
    return status.result["valid"] if status.result else status.reason


def test_guesses_are_bounded_and_a_fresh_code_verifies_at_once(
    otp: OtpClient, pinpoint: SandboxControl
) -> None:
    dest = "+14255550177"
    assert otp.wait(otp.send(dest, **JOB), timeout=30).state == "succeeded"
    code = pinpoint.outbox(destination=dest)[-1]["code"]
    pinpoint.reset_stats()
    # The attacker knows the number, not the code: every guess is wrong.
    wrong = [str((int(code) + i) % 10 ** len(code)).zfill(len(code)) for i in range(1, 13)]
    answers = [answer(otp, dest, guess) for guess in wrong[:GUESSES]]
    assert answers == [False] * 3 + ["locked"] * (GUESSES - 3)
    assert verifies(pinpoint) == 3  # the locked guesses never reached AWS
    locked = otp.wait(otp.verify(dest, code, **JOB), timeout=30)
    assert locked.reason == "locked" and locked.error is not None
    assert "a new code unlocks it" in locked.error and dest not in locked.error
    # The user asks for a fresh code and verifies with it right away.
    assert otp.wait(otp.send(dest, **JOB), timeout=30).state == "succeeded"
    fresh = pinpoint.outbox(destination=dest)[-1]["code"]
    assert answer(otp, dest, fresh) is True


def test_guesses_under_another_reference_do_not_touch_the_users_code(
    otp: OtpClient, pinpoint: SandboxControl
) -> None:
    dest = "+14255550178"
    assert otp.wait(otp.send(dest, **JOB), timeout=30).state == "succeeded"
    code = pinpoint.outbox(destination=dest)[-1]["code"]
    for i in range(5):
        status = otp.wait(otp.verify(dest, "000000", **JOB, reference_id="elsewhere"), timeout=30)
        assert status.result is not None or status.reason == "locked", status
        assert i < 3 or status.reason == "locked"
    assert answer(otp, dest, code) is True
