"""`campaign cancel` against a running worker: once it returns, no row that had not
reached AWS is sent (docs/campaigns.md, "Cancelling").

The campaign is rate-limited (20/s) so that most rows wait for capacity in the
worker's slots when the cancel lands, and each AWS call takes a while (sandbox latency)
so that some rows are at AWS then. The bound is measured in messages: the sandbox's
outbox after the campaign ends holds at most the messages it held when cancel returned
plus the rows cancel reported still at AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.campaign import Campaigns
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import wait_campaign_done, worker_env

pytestmark = pytest.mark.integration

ROWS = 300


@pytest.fixture
def env(redis_server: RedisServer, sandbox: PinpointSandbox) -> dict[str, str]:
    return worker_env(redis_server, sandbox, OTPQ_SEND_RATE="20")


@pytest.fixture
def campaigns(env: dict[str, str]) -> Iterator[Campaigns]:
    c = Campaigns(Settings.from_env(env))
    yield c
    c.close()


@pytest.mark.parametrize("batch_size", [1, 50], ids=["sends", "batches"])
def test_no_row_is_sent_after_cancel_returns(
    env: dict[str, str],
    campaigns: Campaigns,
    pinpoint: SandboxControl,
    batch_size: int,
    start_worker: Workers,
) -> None:
    pinpoint.set_faults(latency_ms=300)
    rows = [{"destination": f"+1425557{i:04d}"} for i in range(ROWS)]
    with start_worker.running(env, f"cancel-{batch_size}"):
        report = campaigns.start(
            rows, brand_name="ExampleCorp", source="CancelIT", name=f"cancel-{batch_size}",
            batch_size=batch_size,
        )  # fmt: skip
        wait_until(lambda: len(pinpoint.outbox()) >= 10, what="the first 10 sends")
        cancelled = campaigns.cancel(report.campaign_id)
        at_return = len(pinpoint.outbox())
        status = wait_campaign_done(campaigns, report.campaign_id)
        after = len(pinpoint.outbox())
    print(f"cancel: {at_return} sent at return, {after} after, in flight {cancelled.in_flight}")
    assert status.done and cancelled.in_flight is not None
    assert after <= at_return + cancelled.in_flight
    assert status.sent == after  # every message counted once, nothing else went out
    assert status.cancelled_rows == ROWS - after > 0
