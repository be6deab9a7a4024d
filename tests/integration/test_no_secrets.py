"""Secret scan: sends and verifies with distinctive numbers and codes, then a search
for every full number and every OTP in the worker's log, every Redis key and value,
Redis's persistence files (AOF and RDB, rewritten and saved uncompressed) and every
result a caller can read.

Two moments are scanned:

- *queued*: verify jobs wait in a queue no worker consumes. Message bodies are
  base64 in Redis; the scan decodes them. A job's number has to travel in its
  message body (the worker sends to it), so numbers are allowed there and only
  there. OTPs are sealed (OTPQ_OTP_KEYS, otpq_core.sealing) even there.
- *after*: the jobs ran, the AOF was rewritten and the RDB saved. Nothing anywhere.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
import redis
from celery import Celery
from celery.result import AsyncResult

from otpq_core.settings import Settings
from otpq_core.wire import INTERACTIVE
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from producer.refid import generate_ref_id
from sandbox import PinpointSandbox
from tests.helpers import celery_call, wait_until
from tests.integration.conftest import worker_env
from tests.secret_scan import Hit, Scan

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NUMBERS = ["+14255550187", "+14255550163", "+4915112345678", "+33612345678"]
#: Codes a user might type that are not the one sent: secrets all the same.
WRONG_CODES = ["58203917", "77314062"]
JOB = {"brand_name": "ScanCorp", "source": "SecretScan"}
#: The default reference ids of those sends: unkeyed digests of the numbers.
DIGESTS = [generate_ref_id(n, JOB["brand_name"], JOB["source"]) for n in NUMBERS]


def persist_now(client: redis.Redis) -> None:
    """Rewrite the AOF and save an RDB, uncompressed so the scan can read them."""
    client.config_set("rdbcompression", "no")
    client.bgrewriteaof()
    wait_until(
        lambda: not client.info("persistence")["aof_rewrite_in_progress"], what="AOF rewrite"
    )
    client.bgsave()

    def saved() -> bool:
        persistence = client.info("persistence")
        return not (persistence["rdb_bgsave_in_progress"] or persistence["aof_rewrite_scheduled"])

    wait_until(saved, what="RDB save")
    assert list(Path(client.config_get("dir")["dir"]).glob("*.rdb"))


@dataclass
class Scenario:
    queued: Scan
    after: Scan
    jobs: dict[str, str]


@pytest.fixture(scope="module")
def scenario(sandbox: PinpointSandbox, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in NUMBERS)
    log = tmp_path_factory.mktemp("secrets") / "worker.log"
    server = RedisServer(persist=True).start()
    env = worker_env(server, sandbox)
    client = OtpClient(Settings.from_env(env))
    direct = redis.Redis.from_url(server.url)
    other = Celery("elsewhere", broker=server.url, backend=server.url)
    other.conf.update(task_serializer="json", accept_content=["json"])
    jobs: dict[str, str] = {}
    try:
        with WorkerProcess(env, name="secrets", log_path=log):
            for number in NUMBERS:
                job = client.send(number, **JOB, code_length=8)
                jobs[job] = "send"
                assert client.wait(job, timeout=30).state == "succeeded"
            codes = [sandbox.control.outbox(destination=n)[-1]["code"] for n in NUMBERS]
            # by name, with secrets where they do not belong
            jobs[
                other.send_task("otp.send", kwargs={**JOB, NUMBERS[0]: 1}, queue=INTERACTIVE).id
            ] = "bad"
            jobs[
                other.send_task("otp.verify", args=[NUMBERS[1], codes[1]], queue=INTERACTIVE).id
            ] = "bad"
            for job in list(jobs):
                client.wait(job, timeout=30)
        # No worker now: verify jobs wait in the queue.
        for number, code in zip(NUMBERS, codes, strict=True):
            jobs[client.verify(number, code, **JOB)] = "verify"
        for code in WRONG_CODES:
            jobs[client.verify(NUMBERS[0], code, **JOB)] = "verify"
        assert direct.llen(INTERACTIVE) == len(NUMBERS) + len(WRONG_CODES)
        queued = Scan(NUMBERS, [*codes, *WRONG_CODES], DIGESTS)
        persist_now(direct)
        queued.redis(direct, "redis")
        queued.files(server.dir, "redis")
        queued.blob("worker log", log.read_bytes())

        with WorkerProcess(env, name="secrets", log_path=log):
            statuses = {job: client.wait(job, timeout=30) for job in jobs}
        assert [s.result and s.result["valid"] for j, s in statuses.items() if jobs[j] == "verify"]
        after = Scan(NUMBERS, [*codes, *WRONG_CODES], DIGESTS)
        persist_now(direct)
        after.redis(direct, "redis")
        after.files(server.dir, "redis")
        after.blob("worker log", log.read_bytes())
        for job, status in statuses.items():
            result = AsyncResult(job, app=client.app)
            shown = f"{status.to_dict()!r} {result.result!r} {result.traceback!r} {result.info!r}"
            after.blob(f"result of {jobs[job]} job", shown.encode())
        return Scenario(queued, after, jobs)
    finally:
        other.close()
        client.close()
        direct.close()
        server.stop()


def _show(hits: list[Hit]) -> str:
    return "\n".join(f"{h.kind} in {h.where}: ...{h.context!r}..." for h in hits[:10])


def test_scan_covers_log_redis_files_and_results(scenario: Scenario) -> None:
    places = {h.where.split(" ")[0] for h in scenario.queued.hits}
    assert "redis" in places, "queued message bodies must be found and decoded"
    assert scenario.after.places > 50
    assert {"send", "verify", "bad"} <= set(scenario.jobs.values())


def test_no_number_or_otp_outside_message_bodies_while_queued(scenario: Scenario) -> None:
    leaks = scenario.queued.of(kind="number", in_body=False)
    leaks += scenario.queued.of(kind="otp", in_body=False)
    assert not leaks, _show(leaks)


def test_numbers_in_queued_message_bodies_only_and_otps_only_in_verify_jobs(
    scenario: Scenario,
) -> None:
    in_bodies = scenario.queued.of(kind="number", in_body=True)
    assert in_bodies, "the worker needs the number: it travels in the message body"
    assert all(b'"otp"' in h.context or b"destination" in h.context for h in in_bodies)


def test_queued_verify_messages_hold_no_otp(scenario: Scenario) -> None:
    leaks = scenario.queued.of(kind="otp", in_body=True)
    assert not leaks, _show(leaks)


def test_nothing_anywhere_after_the_jobs_ran(scenario: Scenario) -> None:
    assert not scenario.after.hits, _show(scenario.after.hits)


def test_a_job_published_by_the_worker_app_sends_a_task_sent_event_without_secrets(
    sandbox: PinpointSandbox,
) -> None:
    """`celery -A worker call` publishes through otpq's own app, which sends `task-sent`
    events: Celery fills them from the message's argsrepr/kwargsrepr, the real number
    and code unless the app writes masked ones. The event goes out on Redis pub/sub.
    A Redis of its own: no worker runs the job, and no other test sees it queued."""
    server = RedisServer().start()
    env = worker_env(server, sandbox)
    client = redis.Redis.from_url(env["REDIS_URL"])
    events = client.pubsub()
    events.psubscribe("*celeryev*")
    assert events.get_message(timeout=5)["type"] == "psubscribe"  # type: ignore[index]
    number, code = NUMBERS[0], WRONG_CODES[0]
    kwargs = {"destination": number, "otp": code, **JOB}
    try:
        job = celery_call(
            env, "-A", "worker", "call", "otp.verify", "--kwargs", json.dumps(kwargs),
            "--queue", INTERACTIVE,
        )  # fmt: skip
        sent: list[bytes] = []

        def task_sent_seen() -> bool:
            message = events.get_message(timeout=0.5)
            if message and message["type"] == "pmessage" and b"task.sent" in message["channel"]:
                sent.append(message["data"])
            return any(job.encode() in base64_body(data) for data in sent)

        wait_until(task_sent_seen, what="the task-sent event")
        scan = Scan([number], [code], [generate_ref_id(number, JOB["brand_name"], JOB["source"])])
        for data in sent:
            scan.blob("task-sent event", data)
        assert scan.places > len(sent), "the event's base64 body must be decoded"
        assert not scan.hits, _show(scan.hits)
        assert any(b"+1********87" in base64_body(data) for data in sent)
    finally:
        events.close()
        client.close()
        server.stop()


def base64_body(envelope: bytes) -> bytes:
    """A kombu envelope's body, decoded (events travel base64-encoded)."""
    return base64.b64decode(json.loads(envelope)["body"])
