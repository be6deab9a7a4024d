"""Flower and the worker's metrics, as an operator sees them.

Real processes: the session's redis-server, the sandbox, one worker with
OTPQ_METRICS_PORT set, and `celery -A worker flower` with basic auth. Jobs come from
the producer and from a plain Celery client that sends `task-sent` events carrying
the real arguments; everything is checked through Flower's REST API and the two
`/metrics` endpoints.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from celery import Celery

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer, free_port
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env
from tests.system.flower import Flower, poll, running_flower

pytestmark = [pytest.mark.system, pytest.mark.integration]

DEST = "+14255550142"
OPTED_OUT = "+14255550177"
MASKED = "+1********42"
JOB = {"brand_name": "ExampleCorp", "source": "FlowerTest"}
WORKER_NAME = "general"


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def env(redis_server: RedisServer, sandbox: PinpointSandbox, metrics_port: int) -> dict[str, str]:
    return worker_env(redis_server, sandbox, OTPQ_METRICS_PORT=str(metrics_port))


@pytest.fixture(scope="module")
def worker(env: dict[str, str], start_module_worker: Workers) -> WorkerProcess:
    return start_module_worker(env, WORKER_NAME)


@pytest.fixture(scope="module")
def flower(env: dict[str, str], worker: WorkerProcess) -> Iterator[Flower]:
    with running_flower(env, WORKER_NAME) as running:
        yield running


@pytest.fixture(scope="module")
def control(sandbox: PinpointSandbox) -> SandboxControl:
    sandbox.control.reset()
    return sandbox.control


def plain_client(redis_url: str) -> Celery:
    """Another codebase's Celery client: real args in the message and in task-sent."""
    app = Celery("elsewhere", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_send_sent_event=True,
    )
    return app


@dataclass
class Jobs:
    sent: str
    verified: str
    code: str
    retried: str
    failed: str
    by_name: str
    by_name_code: str
    unconsumed: str


@pytest.fixture(scope="module")
def jobs(
    env: dict[str, str], worker: WorkerProcess, flower: Flower, control: SandboxControl
) -> Iterator[Jobs]:
    client = OtpClient(Settings.from_env(env))
    other = plain_client(env["REDIS_URL"])
    try:
        sent = client.send(DEST, **JOB)
        assert client.wait(sent, timeout=30).state == "succeeded"
        code = control.outbox(destination=DEST)[-1]["code"]
        verified = client.verify(DEST, code, **JOB)
        assert client.wait(verified, timeout=30).state == "succeeded"

        control.set_faults(fail_next={"count": 1, "error": "TooManyRequestsException"})
        retried = client.send(DEST, **JOB)
        assert client.wait(retried, timeout=30).state == "succeeded"

        control.set_faults(delivery_status={OPTED_OUT: "OPT_OUT"})
        failed = client.send(OPTED_OUT, **JOB)
        assert client.wait(failed, timeout=30).state == "failed"
        control.clear_faults()

        wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
        by_name = other.send_task(
            "otp.verify", kwargs={"destination": DEST, "otp": wrong, **JOB}, queue="otp.interactive"
        )
        assert by_name.get(timeout=30)["valid"] is False
        # Nobody consumes this queue: Flower only ever gets the client's own task-sent
        # event, so only Flower's own filter stands between it and the secrets.
        unconsumed = other.send_task(
            "otp.verify", kwargs={"destination": DEST, "otp": wrong, **JOB}, queue="otp.nobody"
        )
        yield Jobs(sent, verified, code, retried, failed, by_name.id, wrong, unconsumed.id)
    finally:
        client.close()
        other.close()


def flower_tasks(flower: Flower, ids: set[str], final: bool = True) -> dict[str, Any]:
    """/api/tasks once every id is there (in a final state unless `final` is False)."""

    def ready() -> dict[str, Any] | None:
        listed = flower.json("/api/tasks")
        done = {"SUCCESS", "FAILURE"}
        if all(i in listed and (not final or listed[i]["state"] in done) for i in ids):
            return listed
        return None

    return poll(ready, f"Flower to list {sorted(ids)}")


def assert_no_secret(text: str, codes: list[str]) -> None:
    for number in (DEST, OPTED_OUT, DEST[1:], OPTED_OUT[1:]):
        assert number not in text
    for code in codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", text), f"OTP {code} visible"


def test_api_needs_auth_and_metrics_do_not(flower: Flower) -> None:
    assert flower.get("/api/tasks", auth=False)[0] == 401
    status, body = flower.get("/metrics", auth=False)
    assert status == 200 and b"flower_events_total" in body
    assert flower.get("/healthcheck", auth=False)[0] == 200


def test_every_job_listed_with_name_lane_state_and_masked_args(flower: Flower, jobs: Jobs) -> None:
    final = {jobs.sent, jobs.verified, jobs.retried, jobs.failed, jobs.by_name}
    listed = flower_tasks(flower, final)
    expected = {
        jobs.sent: ("otp.send", "SUCCESS"),
        jobs.verified: ("otp.verify", "SUCCESS"),
        jobs.retried: ("otp.send", "SUCCESS"),
        jobs.failed: ("otp.send", "FAILURE"),
        jobs.by_name: ("otp.verify", "SUCCESS"),
    }
    for job_id, (name, state) in expected.items():
        task = listed[job_id]
        assert (task["name"], task["state"]) == (name, state), task
        assert task["routing_key"] == "otp.interactive", task
        assert task["worker"].startswith(f"{WORKER_NAME}@"), task
        assert task["runtime"] is not None and task["runtime"] >= 0, task
        assert task["args"] == "()", task
        assert "+1********" in task["kwargs"], task
    assert MASKED in listed[jobs.sent]["kwargs"]
    assert "'otp': '<redacted>'" in listed[jobs.by_name]["kwargs"]
    assert "'otp': '<redacted>'" in listed[jobs.verified]["kwargs"]
    assert "PinpointRejected" in listed[jobs.failed]["exception"]
    assert "OPT_OUT" in listed[jobs.failed]["exception"]
    assert "'valid': False" in listed[jobs.by_name]["result"]
    assert_no_secret(json.dumps(listed), [jobs.code, jobs.by_name_code])


def test_retry_is_visible_with_its_reason(flower: Flower, jobs: Jobs) -> None:
    flower_tasks(flower, {jobs.retried})
    info = flower.json(f"/api/task/info/{jobs.retried}")
    assert info["state"] == "SUCCESS"
    assert info["retries"] == 1
    assert info["retried"] is not None  # the task-retried event's timestamp
    assert "TooManyRequestsException" in info["exception"]  # the reason it was retried
    body = flower.get("/metrics", auth=False)[1]
    assert re.search(r'flower_events_total\{[^}]*type="task-retried"[^}]*\} 1\.0', body.decode())


def test_plain_client_task_sent_event_is_scrubbed_by_flower(flower: Flower, jobs: Jobs) -> None:
    listed = flower_tasks(flower, {jobs.unconsumed}, final=False)
    task = listed[jobs.unconsumed]
    assert task["name"] == "otp.verify" and task["state"] == "PENDING"
    assert task["routing_key"] == "otp.nobody"
    assert MASKED in task["kwargs"] and "'otp': '<redacted>'" in task["kwargs"]
    info = flower.json(f"/api/task/info/{jobs.unconsumed}")
    for found in (listed, info, flower.json(f"/api/tasks?search={jobs.by_name_code}")):
        assert_no_secret(json.dumps(found), [jobs.by_name_code])
    assert "Registered tasks" in flower.log()  # Flower loaded the `worker` app itself


def test_flower_metrics_count_otpq_tasks(flower: Flower, jobs: Jobs) -> None:
    flower_tasks(flower, {jobs.failed})
    text = flower.get("/metrics", auth=False)[1].decode()
    assert re.search(r'flower_events_total\{[^}]*task="otp.send"[^}]*type="task-failed"', text)
    assert 'flower_task_runtime_seconds_bucket{le="+Inf",task="otp.verify"' in text or re.search(
        r'flower_task_runtime_seconds_bucket\{[^}]*task="otp.verify"', text
    )
    assert "otpq_" not in text  # the worker's own series live on the worker's endpoint


def worker_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series `name` whose labels include `labels`."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:]+)\{(.*)\} (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def test_worker_exports_otpq_metrics(jobs: Jobs, metrics_port: int) -> None:
    text = worker_metrics(metrics_port)
    lane = {"lane": "otp.interactive"}
    assert (
        sample(text, "otpq_jobs_total", task="otp.send", outcome="succeeded", reason="none", **lane)
        == 2
    )
    assert (
        sample(
            text, "otpq_jobs_total", task="otp.send", outcome="failed", reason="rejected", **lane
        )
        == 1
    )
    assert (
        sample(
            text, "otpq_jobs_total", task="otp.verify", outcome="succeeded", reason="none", **lane
        )
        == 2
    )
    assert sample(text, "otpq_retries_total", task="otp.send", reason="TooManyRequestsException")
    assert sample(text, "otpq_throttled_total", operation="SendOTPMessage") == 1
    assert sample(text, "otpq_verifications_total", valid="true") == 1
    assert sample(text, "otpq_verifications_total", valid="false") == 1
    calls = sample(
        text,
        "otpq_pinpoint_request_duration_seconds_count",
        operation="SendOTPMessage",
        result="ok",
    )
    assert calls == 3  # sent, retried's second try, opted-out (a 200 with OPT_OUT)
    assert sample(
        text, "otpq_pinpoint_request_duration_seconds_bucket",
        operation="SendOTPMessage", result="throttled", le="+Inf",
    ) == 1  # fmt: skip
    # One per capacity check: 4 sends (one of them twice: it was retried) and 2 verifies;
    # more if the 429 made the fleet limiter reschedule a job.
    waits = sample(text, "otpq_ratelimit_wait_seconds_bucket", le="+Inf", **lane)
    assert waits is not None and waits >= 6
    assert sample(text, "otpq_queue_length", lane="otp.interactive") == 0
    assert sample(text, "otpq_queue_length", lane="celery") == 0
    assert_no_secret(text, [jobs.code, jobs.by_name_code])


def test_flower_shows_the_worker_serves_the_default_queue(flower: Flower, jobs: Jobs) -> None:
    """By-name jobs without a lane wait in `celery`: the worker started with the public
    `-Q otp.interactive,otp.bulk` consumes it too, and Flower's worker view says so."""

    def queues() -> set[str] | None:
        info = flower.json("/api/workers").get(f"{WORKER_NAME}@{socket.gethostname()}", {})
        names = {q["name"] for q in info.get("active_queues") or []}
        return names or None

    served = poll(queues, "the worker's active queues in Flower")
    assert served == {"otp.interactive", "otp.bulk", "celery"}


def test_the_broker_tab_shows_every_lane_and_the_default_queue(flower: Flower, jobs: Jobs) -> None:
    """Flower picks its broker view by the URL scheme: otpq's transport keeps `redis`, so
    queue lengths (the Broker tab, `/api/queues/length`) are there, `celery` included."""
    lengths = flower.json("/api/queues/length")
    names = {queue["name"] for queue in lengths["active_queues"]}
    assert {"otp.interactive", "otp.bulk", "celery"} <= names
    assert all(isinstance(queue["messages"], int) for queue in lengths["active_queues"])
    status, body = flower.get("/broker")
    assert status == 200 and b"otp.interactive" in body


def test_a_campaign_batch_is_listed_with_masked_rows(
    env: dict[str, str], flower: Flower, jobs: Jobs, control: SandboxControl
) -> None:
    """An `otp.send_batch` message shows under its own name on the bulk lane, its rows
    masked, and each row's job id is pollable on its own."""
    from producer.campaign import Campaigns

    numbers = [f"+1425555{i:04d}" for i in range(300, 305)]
    campaigns = Campaigns(Settings.from_env(env))
    try:
        report = campaigns.start(
            [{"destination": n} for n in numbers], brand_name="ExampleCorp", source="FlowerBatch"
        )
    finally:
        campaigns.close()
    row_ids = [campaigns.row_job_id(report.campaign_id, n) for n in numbers]
    client = OtpClient(Settings.from_env(env))
    try:
        for job_id in row_ids:
            assert client.wait(job_id, timeout=30).state == "succeeded"
    finally:
        client.close()

    def batch_listed() -> dict[str, Any] | None:
        listed = flower.json("/api/tasks?taskname=otp.send_batch")
        done = [t for t in listed.values() if t["state"] == "SUCCESS"]
        return done[0] if done else None

    batch = poll(batch_listed, "Flower to list the campaign's otp.send_batch")
    assert batch["routing_key"] == "otp.bulk" and batch["args"] == "()"
    assert "+1********" in batch["kwargs"] and "more rows" in batch["kwargs"]
    assert "'sent': 5" in batch["result"]
    text = json.dumps(batch)
    for number in numbers:
        assert number not in text and number[1:] not in text


def test_policy_refusals_show_as_one_line_without_a_traceback(
    env: dict[str, str], flower: Flower, jobs: Jobs
) -> None:
    """An expected refusal (invalid, expired, ...) is no crash: Flower shows its outcome
    line and no traceback; a backend rejection keeps its traceback; both stay FAILURE."""
    other = plain_client(env["REDIS_URL"])
    try:
        expired = other.send_task(
            "otp.send", kwargs={"destination": DEST, **JOB}, queue="otp.interactive",
            headers={"otpq_deadline": 1.0},
        )  # fmt: skip
        invalid = other.send_task(
            "otp.send", kwargs={"destination": "not a number", **JOB}, queue="otp.interactive"
        )
        ids = {expired.id, invalid.id}
        listed = flower_tasks(flower, ids | {jobs.failed})
    finally:
        other.close()
    for job_id, reason in ((expired.id, "expired: "), (invalid.id, "invalid: ")):
        info = flower.json(f"/api/task/info/{job_id}")
        assert info["state"] == "FAILURE", info
        assert info["exception"].startswith(reason), info
        assert not info["traceback"], info
        assert listed[job_id]["exception"] == info["exception"]
    rejected = flower.json(f"/api/task/info/{jobs.failed}")
    assert rejected["state"] == "FAILURE" and "Traceback" in (rejected["traceback"] or "")
