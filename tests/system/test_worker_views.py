"""Every view Celery gives of a worker's requests, for jobs from a plain Celery client,
and the worker's whole DEBUG log: no code, no full number, no md5 reference id.

One worker at `--loglevel=DEBUG`, two slots and a prefetch of eight, against a
sandbox that answers after a delay (so jobs are *active* while others wait *reserved*)
and fails every call for two numbers (so a send and a verify wait for their retry:
*scheduled*). `celery -A worker inspect` (every verb) and Flower (worker page,
`/api/workers?refresh=1`, `/api/tasks`) are asked while each state holds. Then the
faults are lifted, real codes are sent and verified, and the worker is fed messages it
must refuse (unknown task name, pickle and yaml content types, an undecodable body).
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery import Celery
from kombu import Connection, Producer

from otpq_core.wire import INTERACTIVE
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.refid import generate_ref_id
from sandbox import PinpointSandbox
from tests.integration.conftest import worker_env
from tests.secret_scan import Scan
from tests.system.flower import Flower, poll, running_flower

pytestmark = [pytest.mark.system, pytest.mark.integration, pytest.mark.timeout(300)]

WORKER_NAME = "views"
JOB = {"brand_name": "ViewCorp", "source": "Views"}
RETRY_SEND, RETRY_VERIFY = "+14255550191", "+14255550192"
SLOW = ["+14255550193", "+14255550194", "+14255550195", "+14255550196"]
#: Numbers of the real send-and-verify rounds: none of the slow jobs (still in flight at
#: 6 s latency) can replace their code in the sandbox.
REAL = ["+14255550198", "+14255550199"]
REFUSED = "+14255550197"
#: Codes a plain client types (none was sent to these numbers: secrets all the same).
TYPED = ["804137", "529164", "730918"]
NUMBERS = [RETRY_SEND, RETRY_VERIFY, *SLOW, *REAL, REFUSED]
VERBS = ("active", "reserved", "scheduled")


@dataclass
class Views:
    #: (where, text) of every view asked.
    shown: list[tuple[str, str]] = field(default_factory=list)
    codes: list[str] = field(default_factory=lambda: list(TYPED))
    ids: dict[str, str] = field(default_factory=dict)
    log: str = ""
    found: dict[str, set[str]] = field(default_factory=dict)

    def add(self, where: str, text: str) -> str:
        self.shown.append((where, text))
        return text


def inspect(env: dict[str, str], verb: str, *args: str) -> Any:
    """`celery -A worker inspect VERB --json`, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker", "inspect", verb, *args,
         "--json", "--timeout", "5", "-d", f"{WORKER_NAME}@{socket.gethostname()}"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def ids_in(text: str, ids: dict[str, str]) -> set[str]:
    return {name for name, job in ids.items() if job in text}


def publish_raw(url: str, body: Any, *, headers: dict[str, Any], **options: Any) -> None:
    """A message as another program might put it on the lane, bypassing Celery."""
    with Connection(url) as conn:
        Producer(conn).publish(
            body, exchange="", routing_key=INTERACTIVE, headers=headers, **options
        )


def task_headers(task: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "lang": "py", "task": task, "id": str(uuid.uuid4()),
        "argsrepr": "()", "kwargsrepr": repr(kwargs),  # a careless client's real ones
    }  # fmt: skip


@pytest.fixture(scope="module")
def views(
    redis_server: RedisServer, sandbox: PinpointSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Views]:
    env = worker_env(
        redis_server, sandbox,
        OTPQ_RETRY_BASE="15", OTPQ_RETRY_CAP="15", OTPQ_MAX_ATTEMPTS="100",
        OTPQ_INTERACTIVE_DEADLINE="600",
    )  # fmt: skip
    log = tmp_path_factory.mktemp("views") / "worker.log"
    control = sandbox.control
    control.reset()
    control.set_faults(
        latency_ms=6000,
        errors={RETRY_SEND: "InternalServerErrorException",
                RETRY_VERIFY: "InternalServerErrorException"},
    )  # fmt: skip
    plain = Celery("elsewhere", broker=redis_server.url, backend=redis_server.url,
                   set_as_current=False)  # fmt: skip
    plain.conf.update(task_serializer="json", accept_content=["json"], task_send_sent_event=True)
    seen = Views()
    worker = WorkerProcess(
        env, name=WORKER_NAME, concurrency=2, loglevel="debug", log_path=log,
        extra_args=["--prefetch-multiplier=4"],
    )  # fmt: skip
    try:
        with worker, running_flower(env, WORKER_NAME) as flower:
            send = {**JOB, "destination": RETRY_SEND}
            seen.ids["retry send"] = plain.send_task("otp.send", kwargs=send, queue=INTERACTIVE).id
            verify = {**JOB, "destination": RETRY_VERIFY, "otp": TYPED[0]}
            seen.ids["retry verify"] = plain.send_task(
                "otp.verify", kwargs=verify, queue=INTERACTIVE
            ).id
            for i, number in enumerate(SLOW):
                kwargs: dict[str, Any] = {**JOB, "destination": number}
                task = "otp.send"
                if i % 2:
                    task, kwargs["otp"] = "otp.verify", TYPED[1 + i // 2]
                seen.ids[f"slow {i}"] = plain.send_task(task, kwargs=kwargs, queue=INTERACTIVE).id
            ask_every_view(env, flower, seen)
            control.clear_faults()
            verify_real_codes(plain, control, seen)
            refuse(redis_server.url, worker, seen)
            for job in seen.ids.values():
                result = plain.AsyncResult(job)
                result.get(timeout=120, propagate=False)
                seen.add(f"result {job}", f"{result.result!r} {result.traceback!r}")
            seen.add("flower /api/tasks", flower.get("/api/tasks")[1].decode())
            for name in ("retry send", "retry verify"):
                status, page = flower.get(f"/task/{seen.ids[name]}")
                assert status == 200
                seen.add(f"flower /task {name}", page.decode())
        seen.log = worker.log()
        yield seen
    finally:
        plain.close()
        control.reset()
        log.unlink(missing_ok=True)


def ask_every_view(env: dict[str, str], flower: Flower, seen: Views) -> None:
    """Each inspect verb until it lists one of our jobs, then Flower's worker views."""
    for verb in VERBS:
        # Scheduled: until both retrying jobs were listed (each waits there in turn).
        wanted = {"retry send", "retry verify"} if verb == "scheduled" else set()
        found = seen.found.setdefault(verb, set())

        def listed(verb: str = verb, wanted: set[str] = wanted, found: set[str] = found) -> bool:
            found |= ids_in(seen.add(f"inspect {verb}", inspect(env, verb)), seen.ids)
            return bool(found) and wanted <= found

        poll(listed, f"inspect {verb} to list {wanted or 'a job'}", timeout=120)

    def queried() -> set[str]:
        text = inspect(env, "query_task", *seen.ids.values())
        return ids_in(seen.add("inspect query_task", text), seen.ids)

    seen.found["query_task"] = poll(queried, "inspect query_task to find a job", timeout=90)
    worker = f"{WORKER_NAME}@{socket.gethostname()}"

    # Flower asks the worker itself (inspect active/scheduled/reserved/revoked).
    def flower_lists() -> set[str]:
        api = seen.add("flower /api/workers", flower.get("/api/workers?refresh=1")[1].decode())
        page = seen.add("flower worker page", flower.get(f"/worker/{worker}")[1].decode())
        return ids_in(api, seen.ids) & ids_in(page, seen.ids)

    seen.found["flower"] = poll(flower_lists, "Flower's worker views to list a job", timeout=90)


def verify_real_codes(plain: Celery, control: Any, seen: Views) -> None:
    """Sends that reach the sandbox, and verifies with the right code (valid: true)."""
    for number in REAL:
        seen.ids[f"send {number}"] = job = plain.send_task(
            "otp.send", kwargs={**JOB, "destination": number}, queue=INTERACTIVE
        ).id
        plain.AsyncResult(job).get(timeout=120)
        code = control.wait_for_message(number, timeout=30)["code"]
        seen.codes.append(code)
        job = plain.send_task(
            "otp.verify", kwargs={**JOB, "destination": number, "otp": code}, queue=INTERACTIVE
        ).id
        seen.ids[f"verify {number}"] = job
        assert plain.AsyncResult(job).get(timeout=120)["valid"] is True


REFUSED_LINES = {
    "unknown task": "Received unregistered task of type 'otp.verfy'",
    "content type": "Refusing to deserialize",
    "undecodable": "Can't decode message body",
}


def refuse(url: str, worker: WorkerProcess, seen: Views) -> None:
    kwargs = {**JOB, "destination": REFUSED, "otp": TYPED[0]}
    body = [[], kwargs, {}]
    Celery("typo", broker=url, set_as_current=False).send_task(
        "otp.verfy", kwargs=kwargs, queue=INTERACTIVE
    )
    publish_raw(
        url,
        pickle.dumps(body),
        headers=task_headers("otp.verify", kwargs),
        content_type="application/x-python-serialize",
        content_encoding="binary",
    )
    publish_raw(
        url,
        f"- []\n- {json.dumps(kwargs)}\n- {{}}\n",
        headers=task_headers("otp.verify", kwargs),
        content_type="application/x-yaml",
        content_encoding="utf-8",
    )
    publish_raw(url, b"\xff\xfe" + json.dumps(body).encode(),
                headers=task_headers("otp.verify", kwargs),
                content_type="application/json", content_encoding="binary")  # fmt: skip

    def all_refused() -> bool:
        log = worker.log()
        return (
            all(line in log for line in REFUSED_LINES.values())
            and log.count("Refusing to deserialize") >= 2
        )

    poll(all_refused, "the worker to log every refused message", timeout=60)


def scan(views: Views, text: str, where: str) -> Scan:
    digests = [generate_ref_id(n, JOB["brand_name"], JOB["source"]) for n in NUMBERS]
    found = Scan(NUMBERS, views.codes, digests)
    found.blob(where, text.encode())
    return found


def show(found: Scan) -> str:
    return "\n".join(f"{h.kind} in {h.where}: ...{h.context!r}..." for h in found.hits[:10])


@pytest.mark.parametrize("verb", [*VERBS, "query_task"])
def test_inspect_lists_jobs_without_secrets(views: Views, verb: str) -> None:
    assert views.found[verb], f"inspect {verb} never listed a job"
    if verb == "scheduled":
        assert views.found[verb] & {"retry send", "retry verify"}
    for where, text in views.shown:
        if where == f"inspect {verb}":
            found = scan(views, text, where)
            assert not found.hits, show(found)


def test_scheduled_includes_a_retrying_send_and_a_retrying_verify(views: Views) -> None:
    scheduled = "\n".join(t for w, t in views.shown if w == "inspect scheduled")
    assert views.ids["retry send"] in scheduled and views.ids["retry verify"] in scheduled
    assert "+1********91" in scheduled and "<redacted>" in scheduled


def test_flower_worker_views_and_task_list_without_secrets(views: Views) -> None:
    assert views.found["flower"]
    for where, text in views.shown:
        if where.startswith("flower"):
            found = scan(views, text, where)
            assert not found.hits, show(found)


def test_results_hold_no_secret(views: Views) -> None:
    results = [(w, t) for w, t in views.shown if w.startswith("result")]
    assert len(results) == len(views.ids)
    for where, text in results:
        found = scan(views, text, where)
        assert not found.hits, show(found)


def test_debug_log_holds_no_code_number_or_reference_id(views: Views) -> None:
    log = views.log
    # It is a DEBUG log of the paths that used to leak, and they ran.
    assert "TaskPool: Apply" in log and "Making request for" in log and "Response body" in log
    assert "succeeded in" in log
    for line in REFUSED_LINES.values():
        assert line in log
    found = scan(views, log, "worker log")
    assert not found.hits, show(found)


def test_scan_would_see_a_leak(views: Views) -> None:
    leaked = scan(views, f"x {RETRY_SEND[1:]} {views.codes[-1]} y", "probe")
    assert {h.kind for h in leaked.hits} == {"number", "otp"}
