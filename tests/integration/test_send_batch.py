"""`otp.send_batch` through a real worker, Redis and the sandbox: one stored result per
row id with its own outcome, transient rows retried alone, campaign counts with
batches, a redelivered batch texting nobody twice, and clean reprs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.result import AsyncResult

from otpq_core.settings import Settings
from otpq_core.wire import BULK, DEADLINE_HEADER, SEND_BATCH_TASK
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.campaign import Campaigns
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import wait_campaign_done, worker_env

pytestmark = pytest.mark.integration

BRAND, SOURCE = "ExampleCorp", "BatchIT"


def number(i: int) -> str:
    return f"+1425557{i:04d}"


def row(job: str, i: int, **extra: object) -> dict[str, object]:
    return {"job_id": job, "kwargs": {"destination": number(i), "brand_name": BRAND,
                                      "source": SOURCE, **extra}}  # fmt: skip


@pytest.fixture(scope="module")
def env(redis_server: RedisServer, sandbox: PinpointSandbox) -> dict[str, str]:
    return worker_env(redis_server, sandbox, OTPQ_SEND_RATE="0")


@pytest.fixture(scope="module")
def batch_worker(env: dict[str, str], start_module_worker: Workers) -> WorkerProcess:
    return start_module_worker(env, "batch-it")


@pytest.fixture
def otp(env: dict[str, str]) -> Iterator[OtpClient]:
    client = OtpClient(Settings.from_env(env))
    yield client
    client.close()


def enqueue(otp: OtpClient, rows: list[dict[str, object]], **headers: object) -> str:
    result = otp.app.send_task(
        SEND_BATCH_TASK,
        kwargs={"rows": rows},
        queue=BULK,
        headers={DEADLINE_HEADER: time.time() + 600, **headers},
    )
    return result.id


def test_each_row_gets_its_own_result_and_outcome(
    otp: OtpClient, batch_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(
        delivery_status={number(3): "OPT_OUT"},
        errors={number(4): "InternalServerErrorException"},
    )
    rows = [row("b1-ok-1", 1), row("b1-ok-2", 2), row("b1-optout", 3), row("b1-transient", 4),
            row("b1-invalid", 5, code_length=99)]  # fmt: skip
    batch = enqueue(otp, rows)
    summary = AsyncResult(batch, app=otp.app).get(timeout=30)
    assert summary["rows"] == 5 and summary["sent"] == 2 and summary["again"] == 1
    for job in ("b1-ok-1", "b1-ok-2"):
        result = otp.wait(job, timeout=30)
        assert result.state == "succeeded" and result.result["job_id"] == job
    assert otp.wait("b1-optout", timeout=30).reason == "rejected"
    invalid = otp.wait("b1-invalid", timeout=30)
    assert invalid.reason == "invalid" and "code_length" in (invalid.error or "")
    # The transient row was re-enqueued alone as otp.send; once Pinpoint recovers it is sent.
    pinpoint.set_faults(errors={})
    transient = otp.wait("b1-transient", timeout=60)
    assert transient.state == "succeeded", transient
    assert transient.result["attempts"] >= 2
    assert sorted(m["destination"] for m in pinpoint.outbox()) == [number(1), number(2), number(4)]
    log = batch_worker.log()
    assert not any(number(i) in log for i in range(1, 6))


def test_redelivered_batch_sends_no_row_twice(
    otp: OtpClient, batch_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    rows = [row(f"b2-{i}", 10 + i) for i in range(6)]
    first, second = enqueue(otp, rows), enqueue(otp, rows)
    for batch in (first, second):
        AsyncResult(batch, app=otp.app).get(timeout=30)
    for i in range(6):
        assert otp.wait(f"b2-{i}", timeout=30).state == "succeeded"
    sent = [m["destination"] for m in pinpoint.outbox()]
    assert sorted(sent) == [number(10 + i) for i in range(6)]


def test_batch_kwargsrepr_is_masked(otp: OtpClient, batch_worker: WorkerProcess) -> None:
    rows = [row(f"b3-{i}", 20 + i) for i in range(5)]
    batch = enqueue(otp, rows)
    AsyncResult(batch, app=otp.app).get(timeout=30)
    log = batch_worker.log()
    assert f"otp.send_batch[{batch}]" in log
    assert not any(number(20 + i) in log for i in range(5))


def test_campaign_with_batches_counts_rows(
    env: dict[str, str], batch_worker: WorkerProcess, pinpoint: SandboxControl, otp: OtpClient
) -> None:
    pinpoint.set_faults(
        fail_next={"count": 2, "error": "InternalServerErrorException"},
        delivery_status={number(102): "OPT_OUT"},
    )
    campaigns = Campaigns(Settings.from_env(env))
    data = [{"destination": number(100 + i)} for i in range(25)]
    report = campaigns.start(data + data[:3], brand_name=BRAND, source=SOURCE, batch_size=10)
    assert (report.enqueued, report.skipped_duplicate) == (25, 3)
    status = wait_campaign_done(campaigns, report.campaign_id)
    assert (status.sent, status.failed, status.queued, status.total) == (24, {"rejected": 1}, 0, 25)
    assert status.retries >= 1
    assert len(pinpoint.outbox()) == 24
    job = campaigns.row_job_id(report.campaign_id, number(100))
    assert otp.status(job).result["job_id"] == job
    again = campaigns.start(data, brand_name=BRAND, source=SOURCE, batch_size=10)
    assert (again.enqueued, again.skipped_existing) == (0, 25)
    campaigns.close()
