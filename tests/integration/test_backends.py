"""One suite, both backends: the same tasks, kwargs, results and outcomes whether the
worker sends through Pinpoint or Notify (OTPQ_BACKEND), against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from otpq_core.outcomes import InvalidRequest
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

DEST = "+14255550142"
JOB = {"brand_name": "ExampleCorp", "source": "Login"}
#: Each backend's send and verify operation, as the sandbox counts them.
OPERATIONS = {
    "pinpoint": ("SendOTPMessage", "VerifyOTPMessage"),
    "notify": ("SendNotifyCodeVerification", "ValidateNotifyCodeVerification"),
}


@pytest.fixture(scope="module", params=sorted(OPERATIONS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def backend_worker(
    backend: str,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    start_module_worker: Workers,
) -> Iterator[WorkerProcess]:
    env = worker_env(redis_server, sandbox, OTPQ_BACKEND=backend)
    # Stopped when `backend` changes, not at the module's end: one backend at a time.
    with start_module_worker.running(env, f"it-{backend}") as process:
        yield process


@pytest.fixture
def otp(
    backend: str, backend_worker: WorkerProcess, redis_server: RedisServer, sandbox: PinpointSandbox
) -> Iterator[OtpClient]:
    client = OtpClient(Settings.from_env(worker_env(redis_server, sandbox, OTPQ_BACKEND=backend)))
    yield client
    client.close()


def received(control: SandboxControl, operation: str) -> int:
    return int(control.stats()["operations"][operation]["received"])


def send_and_read_code(
    otp: OtpClient, control: SandboxControl, backend: str, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    sent = otp.wait(otp.send(DEST, **JOB, **options), timeout=30)
    assert sent.state == "succeeded", sent
    assert sent.result is not None
    return sent.result, control.wait_for_message(DEST, backend=backend)


def test_send_then_verify_right_wrong_and_consumed(
    otp: OtpClient, pinpoint: SandboxControl, backend: str
) -> None:
    result, message = send_and_read_code(otp, pinpoint, backend)
    assert result["message_id"] and result["delivery_status"] == "SUCCESSFUL"
    assert result["destination"] == "+1********42"
    code = message["code"]
    wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
    miss = otp.wait(otp.verify(DEST, wrong, **JOB), timeout=30)
    assert miss.result is not None and miss.result["valid"] is False
    right = otp.wait(otp.verify(DEST, code, **JOB), timeout=30)
    assert right.result is not None and right.result["valid"] is True
    again = otp.wait(otp.verify(DEST, code, **JOB), timeout=30)
    assert again.result is not None and again.result["valid"] is False
    send_op, verify_op = OPERATIONS[backend]
    assert (received(pinpoint, send_op), received(pinpoint, verify_op)) == (1, 3)


def test_transient_faults_are_retried_and_reach_aws_per_attempt(
    otp: OtpClient, pinpoint: SandboxControl, backend: str
) -> None:
    send_op, _ = OPERATIONS[backend]
    pinpoint.set_faults(fail_next={"count": 2, "error": "InternalServerErrorException"})
    result, _ = send_and_read_code(otp, pinpoint, backend)
    assert result["attempts"] == 3
    assert received(pinpoint, send_op) == 3


def test_throttling_is_retried(otp: OtpClient, pinpoint: SandboxControl, backend: str) -> None:
    send_op, _ = OPERATIONS[backend]
    pinpoint.set_faults(fail_next={"count": 1, "error": "TooManyRequestsException"})
    send_and_read_code(otp, pinpoint, backend)
    assert received(pinpoint, send_op) == 2


def test_a_permanent_refusal_is_called_once(
    otp: OtpClient, pinpoint: SandboxControl, backend: str
) -> None:
    send_op, _ = OPERATIONS[backend]
    pinpoint.set_faults(fail_next={"count": 1, "error": "BadRequestException"})
    status = otp.wait(otp.send(DEST, **JOB), timeout=30)
    assert status.state == "failed" and status.reason == "rejected", status
    assert received(pinpoint, send_op) == 1
    assert pinpoint.outbox(DEST, backend=backend) == []


def test_a_by_name_client_gets_the_same_result(
    redis_url: str, backend_worker: WorkerProcess, pinpoint: SandboxControl, backend: str
) -> None:
    plain = Celery(broker=redis_url, backend=redis_url)
    try:
        job = plain.send_task(
            "otp.send", kwargs={"destination": DEST, **JOB}, queue="otp.interactive"
        )
        result = job.get(timeout=30)
        assert result["delivery_status"] == "SUCCESSFUL"
        code = pinpoint.wait_for_message(DEST, backend=backend)["code"]
        check = plain.send_task(
            "otp.verify", kwargs={"destination": DEST, "otp": code, **JOB}, queue="otp.interactive"
        )
        assert check.get(timeout=30)["valid"] is True
    finally:
        plain.close()


@pytest.mark.parametrize(("channel", "kind"), [("VOICE", "call"), ("WHATSAPP", "whatsapp")])
def test_voice_and_whatsapp(
    otp: OtpClient, pinpoint: SandboxControl, backend: str, channel: str, kind: str
) -> None:
    if backend == "pinpoint":
        # Refused before anything is queued, naming the field.
        with pytest.raises(InvalidRequest) as info:
            otp.send(DEST, **JOB, channel=channel)
        assert info.value.field == "channel"
        return
    _, message = send_and_read_code(otp, pinpoint, backend, channel=channel)
    assert message["kind"] == kind
    check = otp.wait(otp.verify(DEST, message["code"], **JOB), timeout=30)
    assert check.result is not None and check.result["valid"] is True


def test_a_by_name_voice_send_to_pinpoint_fails_naming_the_channel(
    redis_url: str, backend_worker: WorkerProcess, pinpoint: SandboxControl, backend: str
) -> None:
    if backend != "pinpoint":
        pytest.skip("Notify sends VOICE")
    plain = Celery(broker=redis_url, backend=redis_url)
    try:
        job = plain.send_task(
            "otp.send",
            kwargs={"destination": DEST, **JOB, "channel": "VOICE"},
            queue="otp.interactive",
        )
        with pytest.raises(Exception, match="channel") as info:
            job.get(timeout=30)
        assert "invalid" in str(info.value)
    finally:
        plain.close()
    assert received(pinpoint, "SendOTPMessage") == 0
