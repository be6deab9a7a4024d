"""The one push pass of a campaign start (producer/campaign/start.py), for single-row
`otp.send` messages and `otp.send_batch` messages alike: chunk boundaries, and rows a
concurrent start of the same campaign queued between the two passes. A real
redis-server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from otpq_core.settings import Settings
from otpq_core.wire import BULK, SEND_BATCH_TASK, SEND_TASK
from producer.campaign import Campaigns
from producer.campaign import start as starting

BRAND, SOURCE = "ExampleCorp", "PushPass"


def rows(n: int, first: int = 0) -> list[dict[str, str]]:
    return [{"destination": f"+1425555{first + i:04d}"} for i in range(n)]


@pytest.fixture
def campaigns(redis_url: str) -> Iterator[Campaigns]:
    c = Campaigns(Settings.from_env({"REDIS_URL": redis_url}))
    yield c
    c.close()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def queued_jobs(r: redis.Redis) -> tuple[list[str], list[str]]:
    """(task name of each message, job id of each row), from the bulk list."""
    tasks, jobs = [], []
    for raw in r.lrange(BULK, 0, -1):
        message = json.loads(raw)
        tasks.append(message["headers"]["task"])
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        if message["headers"]["task"] == SEND_BATCH_TASK:
            jobs += [row["job_id"] for row in kwargs["rows"]]
        else:
            jobs.append(message["headers"]["id"])
    return tasks, jobs


@pytest.mark.parametrize(
    ("batch_size", "messages"), [(1, 25), (3, 9), (7, 4)], ids=["sends", "by3", "by7"]
)
def test_chunks_hold_whole_batches_and_every_row_is_pushed_once(
    campaigns: Campaigns,
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
    messages: int,
) -> None:
    monkeypatch.setattr(starting, "CHUNK_ROWS", 10)  # 10 is no multiple of 3 or 7
    ticks: list[tuple[str, int, int | None]] = []
    report = campaigns.start(
        rows(25), brand_name=BRAND, source=SOURCE, name=f"chunks-{batch_size}",
        batch_size=batch_size, progress=lambda *tick: ticks.append(tick),
    )  # fmt: skip
    tasks, jobs = queued_jobs(r)
    assert report.enqueued == 25 and len(tasks) == messages
    assert set(tasks) == {SEND_TASK if batch_size == 1 else SEND_BATCH_TASK}
    expected = {campaigns.row_job_id(report.campaign_id, row["destination"]) for row in rows(25)}
    assert sorted(jobs) == sorted(expected)
    queueing = [done for phase, done, _ in ticks if phase == "queueing"]
    assert queueing == sorted(queueing) and queueing[-1] == 25
    assert campaigns.status(report.campaign_id).queued == 25


@pytest.mark.parametrize("batch_size", [1, 4], ids=["sends", "batches"])
def test_rows_a_concurrent_start_queued_first_are_skipped_not_sent_twice(
    campaigns: Campaigns, r: redis.Redis, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    name = f"race-{batch_size}"
    original = starting.push

    def racing(*args: Any, **kwargs: Any) -> None:
        # Between this start's two passes, another start of the campaign queues 5 rows.
        monkeypatch.setattr(starting, "push", original)
        other = campaigns.start(rows(5, 3), brand_name=BRAND, source=SOURCE, name=name,
                                batch_size=batch_size)  # fmt: skip
        assert other.enqueued == 5
        original(*args, **kwargs)

    monkeypatch.setattr(starting, "push", racing)
    report = campaigns.start(rows(12), brand_name=BRAND, source=SOURCE, name=name,
                             batch_size=batch_size)  # fmt: skip
    assert (report.new, report.enqueued, report.skipped_existing) == (12, 7, 5)
    _, jobs = queued_jobs(r)
    assert len(jobs) == len(set(jobs)) == 12
    status = campaigns.status(report.campaign_id)
    assert (status.total, status.queued) == (12, 12)
