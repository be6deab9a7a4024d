"""Switching OTPQ_BACKEND on a running fleet breaks no login: codes Pinpoint sent verify
through Pinpoint after the workers restart on Notify, while new sends go to Notify."""

from __future__ import annotations

import pytest

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Login"}
OLD, NEW, NEVER = "+14255550142", "+14255550143", "+14255550144"


def received(control: SandboxControl, operation: str) -> int:
    return int(control.stats()["operations"][operation]["received"])


def verified(client: OtpClient, destination: str, code: str) -> bool:
    status = client.wait(client.verify(destination, code, **JOB), timeout=30)
    assert status.state == "succeeded" and status.result is not None, status
    return bool(status.result["valid"])


def test_codes_sent_before_the_switch_verify_through_their_backend(
    redis_url: str,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    before = worker_env(redis_server, sandbox, OTPQ_BACKEND="pinpoint")
    after = worker_env(redis_server, sandbox, OTPQ_BACKEND="notify")
    client = OtpClient(Settings.from_env(before))
    try:
        with start_worker.running(before, "fleet-pinpoint"):
            assert client.wait(client.send(OLD, **JOB), timeout=30).state == "succeeded"
        old_code = pinpoint.wait_for_message(OLD, backend="pinpoint")["code"]

        # The fleet restarts with the new value; the producer's setting moves too.
        client.close()
        client = OtpClient(Settings.from_env(after))
        with start_worker.running(after, "fleet-notify"):
            assert verified(client, OLD, old_code) is True
            assert received(pinpoint, "VerifyOTPMessage") == 1
            assert received(pinpoint, "ValidateNotifyCodeVerification") == 0

            assert client.wait(client.send(NEW, **JOB), timeout=30).state == "succeeded"
            assert pinpoint.outbox(NEW, backend="pinpoint") == []
            new_code = pinpoint.wait_for_message(NEW, backend="notify")["code"]
            assert verified(client, NEW, new_code) is True
            assert received(pinpoint, "ValidateNotifyCodeVerification") == 1

            # A code otpq never sent is checked by the current backend.
            assert verified(client, NEVER, "123456") is False
            assert received(pinpoint, "ValidateNotifyCodeVerification") == 2
            assert received(pinpoint, "VerifyOTPMessage") == 1
    finally:
        client.close()


def test_no_number_and_no_reference_digest_in_the_origin_keys(
    redis_url: str,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    import redis

    from producer.refid import generate_ref_id

    env = worker_env(redis_server, sandbox, OTPQ_BACKEND="notify")
    client = OtpClient(Settings.from_env(env))
    try:
        with start_worker.running(env, "origins"):
            assert client.wait(client.send(OLD, **JOB), timeout=30).state == "succeeded"
    finally:
        client.close()
    r = redis.Redis.from_url(redis_url)
    try:
        origins = [k for k in r.keys("otpq:code-origin:*")]
        assert len(origins) == 1
        assert r.get(origins[0]) == b"notify"
        assert 0 < r.ttl(origins[0]) <= 15 * 60 + 300
        secret = generate_ref_id(OLD, JOB["brand_name"], JOB["source"]).encode()
        assert OLD[1:].encode() not in origins[0] and secret not in origins[0]
    finally:
        r.close()
