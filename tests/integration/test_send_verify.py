"""Send and verify through the producer, a real worker, Redis and the sandbox, on every
pool the worker runs on (worker/pools.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from otpq_core.campaign_keys import daily_key
from otpq_core.outcomes import InvalidRequest
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from producer.refid import generate_ref_id
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

DEST = "+14255550142"
JOB = {"brand_name": "ExampleCorp", "source": "CreateAccount"}
#: Every pool worker/pools.py supports runs this whole module.
POOLS = ["threads", "gevent", "solo"]


@pytest.fixture(scope="module", params=POOLS)
def worker(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    start_module_worker: Workers,
) -> Iterator[WorkerProcess]:
    """This module's worker, once per pool (each stopped before the next starts)."""
    pool = request.param
    env = worker_env(redis_server, sandbox)
    with start_module_worker.running(env, f"it-{pool}", pool=pool) as running:
        assert f"{pool} pool" in running.log()
        yield running


def test_send_then_verify_valid_once(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    sent = client.wait(client.send(DEST, **JOB), timeout=30)
    assert sent.state == "succeeded", sent
    assert sent.result is not None
    assert sent.result["message_id"]
    assert sent.result["delivery_status"] == "SUCCESSFUL"
    # The backend gets AWS's md5 reference id (sms["reference_id"]); the result only
    # a masked form of it.
    md5 = generate_ref_id(DEST, JOB["brand_name"], JOB["source"])
    assert sent.result["reference_id"] == md5[:4] + "\u2026"
    assert sent.result["destination"] == "+1********42"

    (sms,) = pinpoint.outbox(destination=DEST)
    assert sms["brand_name"] == "ExampleCorp" and sms["origination_identity"] == "+18005550100"
    assert sms["reference_id"] == md5

    first = client.wait(client.verify(DEST, sms["code"], **JOB), timeout=30)
    assert first.state == "succeeded" and first.result is not None
    assert first.result["valid"] is True
    again = client.wait(client.verify(DEST, sms["code"], **JOB), timeout=30)
    assert again.result is not None and again.result["valid"] is False


def test_a_send_counts_against_the_day_once_and_a_refused_one_not(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl, redis_url: str
) -> None:
    """The daily count moves in the round trip that records the send's claim."""
    counter = redis.Redis.from_url(redis_url)
    assert client.wait(client.send(DEST, **JOB), timeout=30).state == "succeeded"
    assert int(counter.get(daily_key()) or 0) == 1
    pinpoint.set_faults(delivery_status={"+14255550143": "OPT_OUT"})
    refused = client.wait(client.send("+14255550143", **JOB), timeout=30)
    assert refused.state == "failed"
    assert int(counter.get(daily_key()) or 0) == 1
    counter.close()


def test_status_says_running_while_the_pinpoint_call_is_in_flight(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(latency_ms=1500)
    job = client.send(DEST, **JOB)
    seen = set()

    def succeeded() -> bool:
        state = client.status(job).state
        seen.add(state)
        return state == "succeeded"

    wait_until(succeeded, what="the job succeeded")
    assert "running" in seen, seen


def test_wrong_code_is_valid_false(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    assert client.wait(client.send(DEST, **JOB), timeout=30).state == "succeeded"
    code = pinpoint.outbox(destination=DEST)[-1]["code"]
    wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
    status = client.wait(client.verify(DEST, wrong, **JOB), timeout=30)
    assert status.state == "succeeded"
    assert status.result is not None and status.result["valid"] is False


def test_producer_refuses_bad_input_before_queueing(
    client: OtpClient, worker: WorkerProcess
) -> None:
    queued_before = client.app.connection_for_write().default_channel.client.llen("otp.interactive")
    with pytest.raises(InvalidRequest) as info:
        client.send("+1425", **JOB)
    assert info.value.field == "destination"
    with pytest.raises(InvalidRequest) as info:
        client.send(DEST, brand_name="B" * 21, source="S")
    assert info.value.field == "brand_name"
    queued_after = client.app.connection_for_write().default_channel.client.llen("otp.interactive")
    assert queued_after == queued_before


def plain_celery(client: OtpClient) -> Celery:
    """A Celery client from another codebase: only the broker and backend URLs."""
    app = Celery("elsewhere", broker=client.settings.redis_url, backend=client.settings.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    return app


def test_by_name_success_and_invalid_fails_in_task_without_pinpoint(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    other = plain_celery(client)
    good = other.send_task("otp.send", kwargs={"destination": DEST, **JOB}, queue="otp.interactive")
    result = good.get(timeout=30)
    assert result["message_id"] and result["delivery_status"] == "SUCCESSFUL"

    pinpoint.reset_stats()
    bad = other.send_task(
        "otp.send",
        kwargs={"destination": DEST, **JOB, "code_length": 12},
        queue="otp.interactive",
    )
    with pytest.raises(Exception) as info:
        bad.get(timeout=30)
    assert bad.state == "FAILURE"
    assert "code_length" in str(info.value)
    unknown = other.send_task(
        "otp.send", kwargs={"destination": DEST, **JOB, "colour": "red"}, queue="otp.interactive"
    )
    with pytest.raises(Exception, match="colour"):
        unknown.get(timeout=30)
    assert pinpoint.stats()["operations"]["SendOTPMessage"]["received"] == 0
    other.close()


def test_transient_errors_then_success(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(fail_next={"count": 2, "error": "InternalServerErrorException"})
    status = client.wait(client.send(DEST, **JOB), timeout=30)
    assert status.state == "succeeded", status
    assert status.result is not None and status.result["attempts"] == 3
    assert len(pinpoint.outbox(destination=DEST)) == 1


def test_permanent_failure_after_exactly_one_call(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(delivery_status={DEST: "OPT_OUT"})
    status = client.wait(client.send(DEST, **JOB), timeout=30)
    assert status.state == "failed" and status.reason == "rejected", status
    assert "OPT_OUT" in (status.error or "")
    assert pinpoint.stats()["operations"]["SendOTPMessage"]["received"] == 1


def test_gives_up_after_max_attempts(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(errors={DEST: "InternalServerErrorException"})
    status = client.wait(client.send(DEST, **JOB), timeout=60)
    assert status.state == "failed" and status.reason == "gave_up", status
    assert status.error is not None and status.error.startswith("gave up after 5 attempts")
    assert pinpoint.stats()["operations"]["SendOTPMessage"]["received"] == 5
