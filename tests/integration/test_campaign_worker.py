"""Hand-built campaign messages through a real worker, Redis and the sandbox: results
stored the normal way, rows settled by reason, the campaign header kept across retries,
cancelled rows never sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery.result import AsyncResult

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.campaign import Campaigns
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import wait_campaign_done, worker_env

pytestmark = pytest.mark.integration

BRAND, SOURCE = "ExampleCorp", "ReverifyIT"


def number(i: int) -> str:
    return f"+1425556{i:04d}"


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"destination": number(i)} for i in range(start, start + n)]


@pytest.fixture(scope="module")
def env(redis_server: RedisServer, sandbox: PinpointSandbox) -> dict[str, str]:
    return worker_env(redis_server, sandbox, OTPQ_SEND_RATE="0")


@pytest.fixture
def campaigns(env: dict[str, str]) -> Iterator[Campaigns]:
    c = Campaigns(Settings.from_env(env))
    yield c
    c.close()


def test_cancelled_before_any_worker_runs_sends_nothing(
    env: dict[str, str], campaigns: Campaigns, pinpoint: SandboxControl, start_worker: Workers
) -> None:
    # First in this module: no worker consumes the bulk lane yet.
    report = campaigns.start(rows(12, 900), brand_name=BRAND, source=SOURCE, name="cancel")
    campaigns.cancel(report.campaign_id)
    with start_worker.running(env, "campaign-cancel"):
        status = wait_campaign_done(campaigns, report.campaign_id)
    assert (status.cancelled_rows, status.sent, status.queued) == (12, 0, 0)
    assert pinpoint.outbox() == []
    client = OtpClient(Settings.from_env(env))
    job = client.status(campaigns.row_job_id(report.campaign_id, number(900)))
    assert (job.state, job.reason) == ("failed", "cancelled")
    client.close()


@pytest.fixture(scope="module")
def campaign_worker(env: dict[str, str], start_module_worker: Workers) -> WorkerProcess:
    return start_module_worker(env, "campaign-it")


def test_worker_consumes_hand_built_messages_and_stores_results(
    env: dict[str, str],
    campaigns: Campaigns,
    campaign_worker: WorkerProcess,
    pinpoint: SandboxControl,
) -> None:
    report = campaigns.start(
        rows(20), brand_name=BRAND, source=SOURCE, name="results", batch_size=1
    )
    assert report.enqueued == 20
    client = OtpClient(Settings.from_env(env))
    for i in range(20):
        job_id = campaigns.row_job_id(report.campaign_id, number(i))
        result = AsyncResult(job_id, app=client.app).get(timeout=30)
        assert result["job_id"] == job_id and result["delivery_status"] == "SUCCESSFUL"
        assert result["destination"] == f"+1********{i % 100:02d}"
    client.close()
    status = wait_campaign_done(campaigns, report.campaign_id)
    assert (status.sent, status.queued, status.total) == (20, 0, 20)
    assert len(pinpoint.outbox()) == 20
    log = campaign_worker.log()
    assert campaigns.row_job_id(report.campaign_id, number(0)) in log
    assert not any(number(i) in log for i in range(20))


def test_rows_are_settled_by_reason_and_keep_their_campaign_across_retries(
    campaigns: Campaigns, campaign_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    pinpoint.set_faults(
        fail_next={"count": 3, "error": "InternalServerErrorException"},
        errors={number(101): "BadRequestException"},
        delivery_status={number(102): "OPT_OUT"},
    )
    report = campaigns.start(rows(6, 100), brand_name=BRAND, source=SOURCE, name="reasons")
    status = wait_campaign_done(campaigns, report.campaign_id)
    assert (status.sent, status.failed, status.queued) == (4, {"rejected": 2}, 0)
    assert status.retries >= 1  # the retried rows were still settled: header carried
    assert {m["destination"] for m in pinpoint.outbox()} == {
        number(i) for i in (100, 103, 104, 105)
    }
