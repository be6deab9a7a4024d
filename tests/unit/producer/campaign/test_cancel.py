"""`Campaigns.cancel` without a worker: it waits for the rows in the campaign's in-flight
register, boundedly, and says how many it left behind. A real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from otpq_core.campaign_keys import inflight_key
from otpq_core.settings import Settings
from producer import cli
from producer.campaign import Campaigns
from producer.campaign.report import cancel_bound
from worker.claims import CALL_MARGIN, JobClaims

ENV = {"OTPQ_SEND_RATE": "0", "OTPQ_CONNECT_TIMEOUT": "1", "OTPQ_READ_TIMEOUT": "1"}


@pytest.fixture
def campaigns(redis_url: str) -> Iterator[Campaigns]:
    c = Campaigns(Settings.from_env({"REDIS_URL": redis_url, **ENV}))
    yield c
    c.close()


def server_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def start(campaigns: Campaigns, name: str) -> str:
    rows = [{"destination": "+14255550142"}]
    return campaigns.start(rows, brand_name="ExampleCorp", source="Cancel", name=name).campaign_id


def test_the_bound_is_how_long_a_live_worker_holds_a_claim(campaigns: Campaigns) -> None:
    settings = campaigns.settings
    assert cancel_bound(settings) == JobClaims.from_settings(campaigns.redis, settings).hold
    assert cancel_bound(Settings.from_env({})) == 2.0 + 5.0 + CALL_MARGIN


def test_cancel_reports_a_row_still_at_aws_when_its_wait_ends(
    campaigns: Campaigns, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = start(campaigns, "stuck")
    client = campaigns.redis
    client.zadd(inflight_key(cid), {"otpq:claim:held": server_now(client)})  # never ends
    status = campaigns.cancel(cid, wait=0.1)
    assert status.cancelled and status.in_flight == 1
    assert status.to_dict()["in_flight"] == 1
    monkeypatch.setenv("REDIS_URL", campaigns.settings.redis_url)
    # Older than the bound: its call is over or its worker died; not waited for, but
    # still reported (its outcome was never recorded).
    stale = server_now(client) - cancel_bound(campaigns.settings) - 1
    client.zadd(inflight_key(cid), {"otpq:claim:held": stale})
    assert cli.main(["campaign", "cancel", cid]) == 0  # the default bound is 9 s: not hit
    err = capsys.readouterr().err
    assert "1 rows reached AWS but their outcome was not recorded" in err


def test_cancel_returns_at_once_when_nothing_is_in_flight(campaigns: Campaigns) -> None:
    cid = start(campaigns, "drained")
    status = campaigns.cancel(cid)  # no row in flight: no wait
    assert status.in_flight == 0 and status.cancelled
