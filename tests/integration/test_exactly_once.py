"""Every job runs once, however it was published: through a lane's exchange with either
routing key (`celery call` and a plain client), onto Celery's default queue (a by-name
client that names no queue), or delivered twice; and a campaign file with spellings of
one number texts it once. Real worker, Redis and sandbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.transport.virtual.base import UndeliverableWarning

from otpq_core.celery_config import celery_config
from otpq_core.settings import Settings
from otpq_core.wire import BULK, INTERACTIVE, SERVED_QUEUES, UNROUTED
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.campaign import Campaigns
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, celery_call, wait_until
from tests.integration.conftest import wait_campaign_done, worker_env
from worker.routing import declare_lane_bindings

pytestmark = pytest.mark.integration

DEST = "+14255550142"
JOB = {"brand_name": "ExampleCorp", "source": "CreateAccount"}
SEP = "\x06\x16"
#: The double binding an older otpq left: both lanes on exchange/key otp.interactive.
OLD_BINDINGS = {f"{INTERACTIVE}{SEP}{SEP}{INTERACTIVE}", f"{INTERACTIVE}{SEP}{SEP}{BULK}"}


def plain_client(url: str) -> Celery:
    """A Celery app from another codebase: no otpq config, JSON, no result backend."""
    return Celery("elsewhere", broker=url, set_as_current=False)


def declare_lanes(url: str) -> None:
    """Declare the queues and bindings as a worker does at start (the test's Redis is
    emptied before each test, bindings with it)."""
    app = Celery("declare", set_as_current=False)
    app.conf.update(celery_config(Settings.from_env({"REDIS_URL": url})))
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():
            queue(conn.default_channel).declare()
        declare_lane_bindings(conn.default_channel)


def wait_drained(url: str, timeout: float = 30) -> None:
    """Until no queue holds a message and no delivery is unacked: every copy of every
    published job has finished (results are stored before the late ack)."""
    client = redis.Redis.from_url(url)
    try:
        wait_until(
            lambda: not client.hlen("unacked") and not any(client.llen(q) for q in SERVED_QUEUES),
            timeout,
            "no job queued or unacked",
        )
    finally:
        client.close()


def verify_calls(pinpoint: SandboxControl) -> int:
    return int(pinpoint.stats()["operations"].get("VerifyOTPMessage", {}).get("received", 0))


def code_for(client: OtpClient, pinpoint: SandboxControl) -> str:
    assert client.wait(client.send(DEST, **JOB), timeout=30).state == "succeeded"
    return str(pinpoint.outbox(destination=DEST)[-1]["code"])


def runs_of(task_id: str, *workers: WorkerProcess) -> int:
    return sum(w.log().count(f"[{task_id}] received") for w in workers)


@pytest.fixture
def env(redis_server: RedisServer, sandbox: PinpointSandbox) -> dict[str, str]:
    return worker_env(redis_server, sandbox)


def verify_kwargs(code: str) -> dict[str, str]:
    return {"destination": DEST, "otp": code, **JOB}


@pytest.mark.parametrize("routing_key", [INTERACTIVE, BULK])
def test_celery_call_through_the_lane_exchange_runs_once_and_verifies(
    routing_key: str,
    env: dict[str, str],
    client: OtpClient,
    worker: WorkerProcess,
    pinpoint: SandboxControl,
    redis_url: str,
) -> None:
    declare_lanes(redis_url)
    code = code_for(client, pinpoint)
    pinpoint.reset_stats()
    kwargs = json.dumps(verify_kwargs(code))
    task_id = celery_call(
        env, "-A", "worker", "call", "otp.verify",
        "--exchange", INTERACTIVE, "--routing-key", routing_key, "-k", kwargs,
    )  # fmt: skip
    status = client.wait(task_id, timeout=30)
    assert status.state == "succeeded" and status.result is not None, status
    assert status.result["valid"] is True
    wait_drained(redis_url)
    assert verify_calls(pinpoint) == 1
    assert runs_of(task_id, worker) == 1
    assert client.status(task_id).result == status.result  # no second run overwrote it


@pytest.mark.parametrize(
    ("exchange", "routing_key"),
    [
        (INTERACTIVE, INTERACTIVE),
        (INTERACTIVE, BULK),
        (BULK, BULK),
        (BULK, INTERACTIVE),
        (UNROUTED, INTERACTIVE),
        (UNROUTED, BULK),
    ],
)
def test_a_plain_client_through_either_exchange_and_key_runs_once_and_verifies(
    exchange: str,
    routing_key: str,
    client: OtpClient,
    worker: WorkerProcess,
    pinpoint: SandboxControl,
    redis_url: str,
) -> None:
    declare_lanes(redis_url)
    code = code_for(client, pinpoint)
    pinpoint.reset_stats()
    plain = plain_client(redis_url)
    job = plain.send_task(
        "otp.verify", kwargs=verify_kwargs(code), exchange=exchange, routing_key=routing_key
    )
    plain.close()
    status = client.wait(job.id, timeout=30)
    assert status.state == "succeeded" and status.result is not None, status
    assert status.result["valid"] is True
    wait_drained(redis_url)
    assert (verify_calls(pinpoint), runs_of(job.id, worker)) == (1, 1)


def test_a_job_through_an_exchange_reaches_exactly_one_queue(redis_server: RedisServer) -> None:
    """Routing alone, with no worker to consume: a database no worker serves."""
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    try:
        declare_lanes(url)
        plain = plain_client(url)
        for exchange in (INTERACTIVE, BULK, UNROUTED):
            for key in (INTERACTIVE, BULK):
                plain.send_task("otp.verify", kwargs={}, exchange=exchange, routing_key=key)
                assert {q: broker.llen(q) for q in SERVED_QUEUES} == {
                    q: int(q == key) for q in SERVED_QUEUES
                }, (exchange, key)
                broker.delete(key)
        plain.close()
        # An otpq app's job through an exchange with a key nothing is bound by goes to
        # the default queue (served), not nowhere.
        ours = Celery("ours", set_as_current=False)
        ours.conf.update(celery_config(Settings.from_env({"REDIS_URL": url})))
        with pytest.warns(UndeliverableWarning):
            ours.send_task("otp.verify", kwargs={}, exchange=INTERACTIVE, routing_key="nonsense")
        assert {q: broker.llen(q) for q in SERVED_QUEUES} == {
            q: int(q == UNROUTED) for q in SERVED_QUEUES
        }
        ours.close()
    finally:
        broker.flushdb()
        broker.close()


def test_a_by_name_job_without_a_queue_runs_as_interactive(
    env: dict[str, str],
    client: OtpClient,
    worker: WorkerProcess,
    pinpoint: SandboxControl,
    redis_url: str,
) -> None:
    """celery-node's default and `send_task` without `queue=` publish to `celery`; the
    public `-Q otp.interactive,otp.bulk` worker serves it."""
    plain = plain_client(redis_url)
    sent = plain.send_task("otp.send", kwargs={"destination": DEST, **JOB})
    plain.close()
    assert client.wait(sent.id, timeout=30).state == "succeeded"
    (sms,) = pinpoint.outbox(destination=DEST)
    # `celery call` from a default app (no -A): the same queue.
    task_id = celery_call(
        {**env, "CELERY_BROKER_URL": redis_url},
        "call", "otp.verify", "-k", json.dumps(verify_kwargs(str(sms["code"]))),
    )  # fmt: skip
    status = client.wait(task_id, timeout=30)
    assert status.result is not None and status.result["valid"] is True, status
    wait_drained(redis_url)
    assert (verify_calls(pinpoint), runs_of(task_id, worker)) == (1, 1)
    assert "celery" in worker.log()  # the worker says it consumes the default queue


def test_a_verify_delivered_twice_keeps_its_first_answer(
    client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl, redis_url: str
) -> None:
    code = code_for(client, pinpoint)
    pinpoint.reset_stats()
    plain = plain_client(redis_url)
    job_id = str(uuid.uuid4())
    for _ in range(2):  # one job id, two messages: a redelivery
        plain.send_task("otp.verify", kwargs=verify_kwargs(code), task_id=job_id, queue=INTERACTIVE)
    plain.close()
    wait_drained(redis_url)
    assert runs_of(job_id, worker) == 2
    assert verify_calls(pinpoint) == 1
    status = client.status(job_id)
    assert status.result is not None and status.result["valid"] is True, status


@pytest.fixture
def stale_redis(redis_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_url)
    client.sadd(f"_kombu.binding.{INTERACTIVE}", *OLD_BINDINGS)
    client.close()
    yield redis_url


def test_a_worker_removes_the_old_double_binding(
    stale_redis: str,
    redis_server: RedisServer,
    sandbox: PinpointSandbox,
    client: OtpClient,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    broker = redis.Redis.from_url(stale_redis)
    key = f"_kombu.binding.{INTERACTIVE}"
    env = worker_env(redis_server, sandbox)
    with start_worker.running(env, "stale") as fresh:
        wait_until(
            lambda: f"{INTERACTIVE}{SEP}{SEP}{BULK}".encode() not in broker.smembers(key),
            what="the stale binding removed",
        )
        assert broker.smembers(key) == {
            f"{INTERACTIVE}{SEP}{SEP}{INTERACTIVE}".encode(),
            f"{BULK}{SEP}{SEP}{BULK}".encode(),
        }
        assert broker.smembers(f"_kombu.binding.{BULK}") == broker.smembers(key)
        assert "removed a stale binding" in fresh.log()
        code = code_for(client, pinpoint)
        plain = plain_client(stale_redis)
        job = plain.send_task(
            "otp.verify", kwargs=verify_kwargs(code), exchange=INTERACTIVE,
            routing_key=INTERACTIVE,
        )  # fmt: skip
        plain.close()
        status = client.wait(job.id, timeout=30)
        wait_drained(stale_redis)
    broker.close()
    assert status.result is not None and status.result["valid"] is True
    assert runs_of(job.id, fresh) == 1


def test_a_campaign_file_with_spellings_of_one_number_texts_it_once(
    env: dict[str, str], worker: WorkerProcess, pinpoint: SandboxControl, tmp_path: Path
) -> None:
    spellings = [
        DEST,
        "+1 (425) 555-0142",
        "+1 1 425 555 0142",
        "+\uff11\uff14\uff12\uff15\uff15\uff15\uff15\uff10\uff11\uff14\uff12",
        "+1.425.555.01\u0664\u0662",
    ]
    path = tmp_path / "spellings.csv"
    path.write_text("destination\n" + "".join(f'"{s}"\n' for s in spellings), encoding="utf-8")
    campaigns = Campaigns(Settings.from_env(env))
    try:
        report = campaigns.start_csv(path, brand_name="ExampleCorp", source="Spellings")
        assert (report.valid, report.new, report.skipped_duplicate) == (5, 1, 4), report
        status = wait_campaign_done(campaigns, report.campaign_id)
    finally:
        campaigns.close()
    assert status.sent == 1, status
    assert len(pinpoint.outbox()) == 1 and pinpoint.outbox(destination=DEST)


@pytest.mark.parametrize("how", ["default queue", "exchange"])
def test_a_retried_verify_published_another_way_still_runs_once(
    how: str, client: OtpClient, worker: WorkerProcess, pinpoint: SandboxControl, redis_url: str
) -> None:
    """A retry re-publishes where the job came from (its delivery info): back to
    `celery`, or through the exchange by its key, and still to one queue."""
    declare_lanes(redis_url)
    code = code_for(client, pinpoint)
    pinpoint.reset_stats()
    pinpoint.set_faults(fail_next={"count": 1, "error": "InternalServerErrorException"})
    plain = plain_client(redis_url)
    route = {} if how == "default queue" else {"exchange": BULK, "routing_key": INTERACTIVE}
    job = plain.send_task("otp.verify", kwargs=verify_kwargs(code), **route)
    plain.close()
    status = client.wait(job.id, timeout=30)
    assert status.result is not None and status.result["valid"] is True, status
    assert status.result["attempts"] == 2
    wait_drained(redis_url)
    assert verify_calls(pinpoint) == 2  # the failed call and the one that verified
    assert runs_of(job.id, worker) == 2  # the first delivery and its one retry
