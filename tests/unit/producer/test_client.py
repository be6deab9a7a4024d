"""`OtpClient` against the session's Redis with no worker: what each call queues (or
refuses to), how a Celery state reads to a caller, and a dead Redis failing fast."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from otpq_core.outcomes import InvalidRequest
from otpq_core.sealing import PREFIX, generate_key
from otpq_core.settings import Settings
from otpq_core.wire import BULK, INTERACTIVE, SEND_TASK, VERIFY_TASK
from producer.client import BrokerUnavailable, JobStatus, OtpClient, job_status

DEST = "+14255550142"
JOB = {"brand_name": "ExampleCorp", "source": "Login"}
NO_LIMITS = {"OTPQ_RESEND_COOLDOWN": "0", "OTPQ_OTP_KEYS": generate_key()}


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[OtpClient]:
    otp = OtpClient(Settings.from_env({"REDIS_URL": redis_url, **NO_LIMITS}))
    yield otp
    otp.close()


def queued(broker: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """Each message on `queue`: its headers and its decoded kwargs."""
    out = []
    for raw in broker.lrange(queue, 0, -1):
        message = json.loads(raw)
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        out.append({"headers": message["headers"], "kwargs": kwargs})
    return out


def test_send_queues_one_job_on_the_interactive_lane(
    client: OtpClient, broker: redis.Redis
) -> None:
    job_id = client.send(DEST, **JOB)
    (message,) = queued(broker, INTERACTIVE)
    assert message["headers"]["id"] == job_id and message["headers"]["task"] == SEND_TASK
    assert message["kwargs"]["destination"] == DEST
    assert DEST not in message["headers"]["kwargsrepr"]  # what Flower and inspect show
    assert broker.llen(BULK) == 0


def test_a_bulk_send_goes_to_the_bulk_lane(client: OtpClient, broker: redis.Redis) -> None:
    client.send(DEST, **JOB, lane="bulk")
    assert (broker.llen(BULK), broker.llen(INTERACTIVE)) == (1, 0)


def test_bad_input_is_refused_before_anything_is_queued(
    client: OtpClient, broker: redis.Redis
) -> None:
    with pytest.raises(InvalidRequest) as info:
        client.send("+1206", **JOB)
    assert info.value.field == "destination"
    with pytest.raises(InvalidRequest):
        client.verify(DEST, "12ab", **JOB)
    assert broker.llen(INTERACTIVE) == 0 and broker.llen(BULK) == 0


def test_a_repeated_idempotency_key_returns_the_first_job(
    client: OtpClient, broker: redis.Redis
) -> None:
    first = client.send(DEST, **JOB, idempotency_key="signup-42")
    assert client.send(DEST, **JOB, idempotency_key="signup-42") == first
    assert client.send(DEST, **JOB, idempotency_key="signup-43") != first
    assert broker.llen(INTERACTIVE) == 2


def test_verify_queues_the_code_sealed(client: OtpClient, broker: redis.Redis) -> None:
    job_id = client.verify(DEST, "123456", **JOB)
    (message,) = queued(broker, INTERACTIVE)
    assert message["headers"]["id"] == job_id and message["headers"]["task"] == VERIFY_TASK
    assert message["kwargs"]["otp"].startswith(PREFIX)
    assert "123456" not in json.dumps(message)


def test_an_unconsumed_job_reads_queued_and_wait_names_it_on_timeout(
    client: OtpClient,
) -> None:
    job_id = client.send(DEST, **JOB)
    assert client.status(job_id) == JobStatus(job_id, "queued")
    with pytest.raises(TimeoutError, match=f"job {job_id} still queued"):
        client.wait(job_id, timeout=0.2)


def test_an_unreachable_redis_fails_fast_with_broker_unavailable() -> None:
    dead = OtpClient(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", **NO_LIMITS}))
    try:
        with pytest.raises(BrokerUnavailable) as info:
            dead.send(DEST, **JOB)
        assert DEST not in str(info.value) and info.value.reason == "unavailable"
    finally:
        dead.close()


def never(_: object = None) -> bool:
    raise AssertionError("in_flight asked for a job that is not PENDING")


@pytest.mark.parametrize(
    ("state", "value", "expected"),
    [
        ("SUCCESS", {"valid": True}, JobStatus("j", "succeeded", result={"valid": True})),
        ("SUCCESS", None, JobStatus("j", "succeeded", result={})),
        ("STARTED", None, JobStatus("j", "running")),
        ("RECEIVED", None, JobStatus("j", "queued")),
    ],
)
def test_celery_states_read_as_a_caller_wants(
    state: str, value: object, expected: JobStatus
) -> None:
    assert job_status("j", state, value, never) == expected


def test_a_pending_job_whose_call_is_in_flight_reads_running() -> None:
    assert job_status("j", "PENDING", None, lambda: True).state == "running"
    assert job_status("j", "PENDING", None, lambda: False).state == "queued"


def test_a_failure_reads_its_reason_and_never_the_number() -> None:
    failed = job_status("j", "FAILURE", Exception(f"rejected: {DEST} opted out"), never)
    assert (failed.state, failed.reason) == ("failed", "rejected")
    assert failed.error is not None and DEST not in failed.error
    assert job_status("j", "RETRY", None, never).state == "retrying"
    assert failed.to_dict() == {
        "job_id": "j",
        "state": "failed",
        "reason": "rejected",
        "error": failed.error,
    }
