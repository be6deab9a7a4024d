"""Hostile input at both doors: the producer API and `send_task` by name, down to raw
bytes pushed into the queue. Each ends in a clear error, never a crash or a wedged
worker: after the garbage, a normal send still succeeds on the same worker."""

from __future__ import annotations

import base64
import json
import os
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from otpq_core.outcomes import InvalidRequest
from otpq_core.wire import INTERACTIVE
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import SandboxControl
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

DEST = "+14255550177"
JOB = {"brand_name": "ExampleCorp", "source": "Hostile"}
MEGABYTES = "9" * (5 * 1024 * 1024)


@pytest.fixture
def other(client: OtpClient) -> Iterator[Celery]:
    """A Celery client from another codebase: only the broker and backend URLs."""
    app = Celery("elsewhere", broker=client.settings.redis_url, backend=client.settings.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    yield app
    app.close()


@pytest.fixture
def broker(client: OtpClient) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(client.settings.redis_url)
    yield connection
    connection.close()


def assert_still_serves(client: OtpClient, worker: WorkerProcess, pid: int | None) -> None:
    """The same worker process, alive and taking new work."""
    assert worker.running() and worker.pid == pid, worker.log()[-3000:]
    status = client.wait(client.send(DEST, **JOB), timeout=30)
    assert status.state == "succeeded", status


def failed_invalid(client: OtpClient, job_id: str) -> str:
    status = client.wait(job_id, timeout=30)
    assert status.state == "failed" and status.reason == "invalid", status
    assert status.error is not None
    return status.error


# -- the producer door ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": 14255550177}, "destination"),
        ({"destination": ["+14255550177"]}, "destination"),
        ({"destination": {"number": "+14255550177"}}, "destination"),
        ({"destination": "+1" + MEGABYTES}, "destination"),
        ({"brand_name": MEGABYTES}, "brand_name"),
        ({"brand_name": {"nested": {"deeper": [1, 2, 3]}}}, "brand_name"),
        ({"source": None}, "source"),
        ({"source": ""}, "source"),
        ({"source": "a\x00b"}, "source"),
        ({"code_length": "6"}, "code_length"),
        ({"code_length": True}, "code_length"),
        ({"code_length": 6.0}, "code_length"),
        ({"validity_period": 10**100}, "validity_period"),
        ({"language": MEGABYTES}, "language"),
        ({"reference_id": ["x"]}, "reference_id"),
        ({"colour": "red"}, "colour"),
        ({"x" * 100_000: 1}, "x" * 40),
    ],
)
def test_producer_refuses_hostile_send_naming_the_field(
    client: OtpClient, broker: redis.Redis, kwargs: dict[str, Any], field: str
) -> None:
    queued = broker.llen(INTERACTIVE)
    call = {"destination": DEST, **JOB, **kwargs}
    with pytest.raises(InvalidRequest) as info:
        client.send(**call)
    assert info.value.field == field
    assert len(str(info.value)) < 300 and "14255550177" not in str(info.value)
    assert broker.llen(INTERACTIVE) == queued


def test_producer_refuses_hostile_verify_and_job_options(client: OtpClient) -> None:
    for otp, field in ((123456, "otp"), ("12 34", "otp"), (MEGABYTES, "otp"), ({}, "otp")):
        with pytest.raises(InvalidRequest) as info:
            client.verify(DEST, otp, **JOB)  # type: ignore[arg-type]
        assert info.value.field == field and MEGABYTES[:20] not in str(info.value)
    for options, field in (({"lane": "celery"}, "lane"), ({"deadline": "soon"}, "deadline")):
        with pytest.raises(InvalidRequest) as info:
            client.send(DEST, **JOB, **options)
        assert info.value.field == field
    with pytest.raises(TypeError):
        client.send(DEST, brand_name="ExampleCorp")  # type: ignore[call-arg]


# -- send_task by name --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": DEST, "brand_name": "ExampleCorp"}, "source"),
        ({"brand_name": "ExampleCorp", "source": "S"}, "destination"),
        ({"destination": 14255550177, **JOB}, "destination"),
        ({"destination": DEST, **JOB, "brand_name": MEGABYTES}, "brand_name"),
        ({"destination": DEST, **JOB, "source": {"a": {"b": {"c": []}}}}, "source"),
        ({"destination": DEST, **JOB, "code_length": [6]}, "code_length"),
        ({"destination": DEST, **JOB, "allowed_attempts": 1e308}, "allowed_attempts"),
        ({"destination": DEST, **JOB, "+14255550199": "x"}, "+14255550199"),
    ],
)
def test_by_name_hostile_kwargs_fail_invalid_naming_the_field(
    client: OtpClient,
    worker: WorkerProcess,
    other: Celery,
    pinpoint: SandboxControl,
    kwargs: dict[str, Any],
    field: str,
) -> None:
    job = other.send_task("otp.send", kwargs=kwargs, queue=INTERACTIVE)
    error = failed_invalid(client, job.id)
    assert error.startswith(f"invalid: {field[:40] if field[0] != '+' else '+1'}"), error
    assert "14255550177" not in error and "14255550199" not in error
    assert pinpoint.stats()["operations"]["SendOTPMessage"]["received"] == 0


def test_by_name_positional_args_and_unknown_tasks(
    client: OtpClient, worker: WorkerProcess, other: Celery
) -> None:
    pid = worker.pid
    positional = other.send_task("otp.send", args=[DEST, "ExampleCorp", "S"], queue=INTERACTIVE)
    assert failed_invalid(client, positional.id).startswith("invalid: args")
    verify = other.send_task("otp.verify", args=[DEST, "123456"], kwargs=JOB, queue=INTERACTIVE)
    assert failed_invalid(client, verify.id).startswith("invalid: args")
    other.send_task("otp.nope", kwargs={"x": 1}, queue=INTERACTIVE)
    assert_still_serves(client, worker, pid)


# -- raw bytes in the queue ---------------------------------------------------------


def envelope(body: bytes, content_type: str, task: str = "otp.send") -> tuple[str, bytes]:
    """A kombu message as the Redis transport stores it, with any body."""
    job_id = str(uuid.uuid4())
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "binary" if "json" not in content_type else "utf-8",
        "content-type": content_type,
        "headers": {"lang": "py", "task": task, "id": job_id, "root_id": job_id, "retries": 0},
        "properties": {
            "correlation_id": job_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": INTERACTIVE},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return job_id, json.dumps(message).encode()


class _Touch:
    """Unpickling this creates a file: proof the worker ran pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def test_raw_garbage_and_pickle_never_run_and_never_wedge_the_worker(
    client: OtpClient, worker: WorkerProcess, broker: redis.Redis, tmp_path: Path
) -> None:
    pid = worker.pid
    marker = tmp_path / "unpickled"
    pickled = pickle.dumps(((), {"destination": _Touch(marker)}, {}))
    # Refused before any task code runs (no result: the job stays "queued"), or run
    # as an invalid job that fails naming what is wrong.
    refused, invalid = "queued", "failed"
    expected: dict[str, str] = {}
    for body, content_type, outcome in (
        (pickled, "application/x-python-serialize", refused),
        (pickled, "application/json", refused),
        (b"\xff\xfe not json", "application/json", refused),
        (json.dumps([[], {"destination": DEST, **JOB}, {}]).encode(), "application/yaml", refused),
        (b'"just a string"', "application/json", invalid),
        (b"[1, 2]", "application/json", invalid),
        (json.dumps([[], [], {}]).encode(), "application/json", invalid),
        # Celery reads a dict body as protocol 1: a job without its fields.
        (json.dumps({"args": [], "kwargs": {}}).encode(), "application/json", invalid),
    ):
        job_id, raw = envelope(body, content_type)
        expected[job_id] = outcome
        broker.lpush(INTERACTIVE, raw)
    for raw in (b"not even json", b"{}", b"[]", b'{"body": 1}', b"\x00" * 1024 * 1024):
        broker.lpush(INTERACTIVE, raw)

    assert_still_serves(client, worker, pid)
    wait_until(
        lambda: not (broker.llen(INTERACTIVE) or broker.hlen("unacked")),
        what="the queue and unacked emptied (garbage left in the queue or held forever?)",
    )
    assert not marker.exists(), "the worker unpickled a message"
    for job_id, outcome in expected.items():
        status = client.wait(job_id, timeout=10) if outcome == invalid else client.status(job_id)
        assert status.state == outcome, status
        if outcome == invalid:
            assert status.reason == "invalid", status
            assert (status.error or "").split(":")[1].strip() in ("args", "destination"), status
    assert "untrusted content" in worker.log() or "ContentDisallowed" in worker.log()
