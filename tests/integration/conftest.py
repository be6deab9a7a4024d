"""Real parts: the session's redis-server, the Pinpoint sandbox on a free port, and
Celery workers as separate processes pointed at both."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from otpq_core.sealing import generate_key
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.campaign import Campaigns, CampaignStatus
from producer.client import OtpClient
from sandbox import PinpointSandbox
from tests.conftest import APP_ID
from tests.helpers import Workers, wait_until

ORIGINATION = "+18005550100"
#: The Notify code configuration every test sandbox knows (sandbox's default).
NOTIFY_CONFIGURATION = "otpq-sandbox"
#: Every test stack seals OTPs and hashes key names with this session's own secrets.
OTP_KEY = generate_key()
HASH_KEY = "test-hash-key-" + generate_key()[:16]
#: Abuse limits off unless a test turns one on: tests text the same number many times.
NO_LIMITS = {
    "OTPQ_DESTINATION_SENDS": "off",
    "OTPQ_VERIFY_FAILURES": "off",
    "OTPQ_RESEND_COOLDOWN": "0",
}


def worker_env(redis: RedisServer, sandbox: PinpointSandbox, **overrides: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis.url,
        "PINPOINT_APPLICATION_ID": APP_ID,
        "PINPOINT_ORIGINATION_IDENTITY": ORIGINATION,
        "AWS_ENDPOINT_URL_PINPOINT": sandbox.url,
        # One sandbox serves both backends; OTPQ_BACKEND picks which the worker uses.
        "AWS_ENDPOINT_URL_ENDUSERMESSAGING": sandbox.url,
        "OTPQ_NOTIFY_CONFIGURATION": NOTIFY_CONFIGURATION,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_REGION": "us-east-1",
        # Quick retries keep the suite fast; the policy is the same.
        "OTPQ_RETRY_BASE": "0.05",
        "OTPQ_RETRY_CAP": "0.5",
        "OTPQ_OTP_KEYS": OTP_KEY,
        "OTPQ_HASH_KEY": HASH_KEY,
        **NO_LIMITS,
        **overrides,
    }


@pytest.fixture(scope="module")
def worker(
    redis_server: RedisServer, sandbox: PinpointSandbox, start_module_worker: Workers
) -> WorkerProcess:
    return start_module_worker(worker_env(redis_server, sandbox), "it")


@pytest.fixture
def client(redis_server: RedisServer, sandbox: PinpointSandbox) -> Iterator[OtpClient]:
    otp = OtpClient(Settings.from_env(worker_env(redis_server, sandbox)))
    yield otp
    otp.close()


def wait_campaign_done(campaigns: Campaigns, cid: str, timeout: float = 60) -> CampaignStatus:
    """The campaign's status once every row has ended, or its last status at `timeout`."""
    last: list[CampaignStatus] = []

    def done() -> bool:
        last[:] = [campaigns.status(cid)]
        return last[0].done

    # Callers assert on the counts, which say more than a timeout would.
    with contextlib.suppress(AssertionError):
        wait_until(done, timeout, "every row ended")
    return last[0]
