"""Abuse limits through a real worker, Redis and the sandbox: each refuses what it
should, with its own reason and no Pinpoint call, and nothing more.

One worker for the module with every limit on and tight; each test texts numbers of
its own, so the per-destination state of one test never reaches another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from otpq_core.outcomes import DestinationBlocked
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Abuse"}
LIMITS = {
    "OTPQ_DESTINATION_SENDS": "2/900",
    "OTPQ_VERIFY_FAILURES": "2/900",
    "OTPQ_ALLOWED_COUNTRIES": "US,CA",
    "OTPQ_RESEND_COOLDOWN": "30",
}
FRANCE = "+33612345678"


@pytest.fixture(scope="module")
def limited_worker(
    redis_server: RedisServer, sandbox: PinpointSandbox, start_module_worker: Workers
) -> WorkerProcess:
    return start_module_worker(worker_env(redis_server, sandbox, **LIMITS), "abuse")


@pytest.fixture
def otp(redis_server: RedisServer, sandbox: PinpointSandbox) -> Iterator[OtpClient]:
    client = OtpClient(Settings.from_env(worker_env(redis_server, sandbox, **LIMITS)))
    yield client
    client.close()


@pytest.fixture
def by_name(redis_server: RedisServer) -> Iterator[Celery]:
    """A Celery client from another codebase: no otpq, no guards, no sealing."""
    app = Celery("elsewhere", broker=redis_server.url, backend=redis_server.url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    yield app
    app.close()


def sends(pinpoint: SandboxControl) -> int:
    return int(pinpoint.stats()["operations"].get("SendOTPMessage", {}).get("received", 0))


def verifies(pinpoint: SandboxControl) -> int:
    return int(pinpoint.stats()["operations"].get("VerifyOTPMessage", {}).get("received", 0))


def by_name_outcome(app: Celery, task: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    result = app.send_task(task, kwargs=kwargs, queue="otp.interactive")
    try:
        return "SUCCESS", str(result.get(timeout=30))
    except Exception as exc:
        return result.state, str(exc)


def test_send_budget_refuses_the_third_send_and_only_that(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest, other = "+14255550111", "+14255550112"
    outcomes = [
        otp.wait(otp.send(dest, **JOB, reference_id=f"ref-{i}"), timeout=30) for i in range(3)
    ]
    assert [s.state for s in outcomes] == ["succeeded", "succeeded", "failed"], outcomes
    assert outcomes[2].reason == "limited"
    assert outcomes[2].error is not None
    assert outcomes[2].error.startswith("limited: at most 2 sends per 900s to this destination")
    assert dest not in outcomes[2].error
    assert len(pinpoint.outbox(destination=dest)) == 2
    assert sends(pinpoint) == 2
    # Another destination has its own budget.
    assert otp.wait(otp.send(other, **JOB), timeout=30).state == "succeeded"
    assert len(pinpoint.outbox(destination=other)) == 1


def test_a_permanently_refused_send_gives_its_slot_back(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest = "+14255550113"
    pinpoint.set_faults(delivery_status={dest: "OPT_OUT"})
    refused = otp.wait(otp.send(dest, **JOB, reference_id="r0"), timeout=30)
    assert refused.reason == "rejected", refused
    pinpoint.clear_faults()
    states = [otp.wait(otp.send(dest, **JOB, reference_id=f"r{i}"), timeout=30) for i in (1, 2, 3)]
    assert [s.reason for s in states] == [None, None, "limited"], states
    assert len(pinpoint.outbox(destination=dest)) == 2


def test_failed_verifies_lock_the_destination_without_calling_pinpoint(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest, other = "+14255550114", "+14255550115"
    for number in (dest, other):
        assert otp.wait(otp.send(number, **JOB), timeout=30).state == "succeeded"
    code = pinpoint.outbox(destination=dest)[-1]["code"]
    wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
    pinpoint.reset_stats()
    for _ in range(2):
        status = otp.wait(otp.verify(dest, wrong, **JOB), timeout=30)
        assert status.result is not None and status.result["valid"] is False
    locked = otp.wait(otp.verify(dest, code, **JOB), timeout=30)  # even the right code
    assert locked.state == "failed" and locked.reason == "locked", locked
    assert locked.error is not None and dest not in locked.error
    assert verifies(pinpoint) == 2
    # The lock is per destination.
    other_code = pinpoint.outbox(destination=other)[-1]["code"]
    fine = otp.wait(otp.verify(other, other_code, **JOB), timeout=30)
    assert fine.result is not None and fine.result["valid"] is True


def test_a_valid_code_clears_the_failures(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest = "+14255550122"
    assert otp.wait(otp.send(dest, **JOB), timeout=30).state == "succeeded"
    code = pinpoint.outbox(destination=dest)[-1]["code"]
    wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
    answers = []
    for typed in (wrong, code, wrong, wrong, wrong):
        status = otp.wait(otp.verify(dest, typed, **JOB), timeout=30)
        answers.append(status.result["valid"] if status.result else status.reason)
    # The right code cleared the first failure: two more wrong ones are answered, the
    # next is locked (the limit is 2).
    assert answers == [False, True, False, False, "locked"]


def test_blocked_country_by_name_and_at_the_producer(
    otp: OtpClient, by_name: Celery, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    state, error = by_name_outcome(by_name, "otp.send", {"destination": FRANCE, **JOB})
    assert state == "FAILURE" and error.startswith("blocked: destination: country FR"), error
    assert FRANCE not in error
    assert sends(pinpoint) == 0
    queue = redis.Redis.from_url(otp.settings.redis_url)
    before = queue.llen("otp.interactive")
    with pytest.raises(DestinationBlocked) as info:
        otp.send(FRANCE, **JOB)
    assert info.value.field == "destination"
    assert queue.llen("otp.interactive") == before
    queue.close()
    # Canada is on the allow-list.
    assert otp.wait(otp.send("+16135550123", **JOB), timeout=30).state == "succeeded"


def test_producer_cooldown_returns_the_first_job(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest = "+14255550116"
    first = otp.send(dest, **JOB)
    assert otp.send(dest, **JOB) == first
    assert otp.wait(first, timeout=30).state == "succeeded"
    assert otp.send(dest, **JOB) == first  # still within 30 s
    assert len(pinpoint.outbox(destination=dest)) == 1
    another_ref = otp.send(dest, **JOB, reference_id="other")
    assert another_ref != first
    assert otp.wait(another_ref, timeout=30).state == "succeeded"
    assert len(pinpoint.outbox(destination=dest)) == 2


def test_worker_cooldown_for_sends_by_name(
    by_name: Celery, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest = "+14255550117"
    kwargs = {"destination": dest, **JOB}
    first = by_name.send_task("otp.send", kwargs=kwargs, queue="otp.interactive")
    assert first.get(timeout=30)["delivery_status"] == "SUCCESSFUL"
    state, error = by_name_outcome(by_name, "otp.send", kwargs)
    assert state == "FAILURE", error
    assert error.startswith(f"cooldown: job {first.id} sent a code"), error
    assert len(pinpoint.outbox(destination=dest)) == 1
    # The refused repeat took no budget slot: one more send (another reference) goes.
    state, _ = by_name_outcome(by_name, "otp.send", {**kwargs, "reference_id": "next"})
    assert state == "SUCCESS"
    assert len(pinpoint.outbox(destination=dest)) == 2


def test_idempotency_keys(
    otp: OtpClient, limited_worker: WorkerProcess, pinpoint: SandboxControl
) -> None:
    dest = "+14255550118"
    first = otp.send(dest, **JOB, reference_id="a", idempotency_key="signup-123")
    # Same key, even with other arguments: the first job, nothing new queued.
    assert otp.send(dest, **JOB, reference_id="b", idempotency_key="signup-123") == first
    assert otp.wait(first, timeout=30).state == "succeeded"
    assert otp.send(dest, **JOB, reference_id="c", idempotency_key="signup-123") == first
    assert len(pinpoint.outbox(destination=dest)) == 1
    code = pinpoint.outbox(destination=dest)[-1]["code"]
    check = otp.verify(dest, code, **JOB, reference_id="a", idempotency_key="signup-123-v")
    assert otp.verify(dest, code, **JOB, reference_id="a", idempotency_key="signup-123-v") == check
    status = otp.wait(check, timeout=30)
    assert status.result is not None and status.result["valid"] is True
    assert verifies(pinpoint) == 1
    keys = [k.decode() for k in redis.Redis.from_url(otp.settings.redis_url).scan_iter("otpq:*")]
    assert not any("signup" in k or dest[1:] in k for k in keys)
