"""worker/ending.py: every ending, task or batch row, does its bookkeeping once.

The result backend and the campaign ledger are recording fakes (unit test); the
integration tests (test_send_batch, test_campaign_worker) run the real ones."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from otpq_core.campaign_keys import state_for
from otpq_core.outcomes import Cancelled, PinpointRejected, RetryCause, Retrying
from otpq_core.wire import BULK, SEND_TASK, VERIFY_TASK
from worker import campaign_hooks, ending

DEST = "+14255550142"
KWARGS = {"destination": DEST, "brand_name": "B", "source": "S"}


class Backend:
    def __init__(self) -> None:
        self.stored: list[tuple[str, Any, str]] = []

    def store_result(self, job_id: str, result: Any, state: str) -> None:
        self.stored.append((job_id, result, state))

    def mark_as_failure(self, job_id: str, exc: BaseException) -> None:
        self.stored.append((job_id, exc, "FAILURE"))


class Ledger:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def settle(self, campaign: str, job_id: str, state: str) -> bool:
        self.calls.append(("settle", campaign, job_id, state))
        return True

    def count_send(self) -> None:
        self.calls.append(("count_send",))

    def retried(self, campaign: str) -> None:
        self.calls.append(("retried", campaign))

    def answer(self, reference_id: str, destination: str, valid: bool) -> None:
        self.calls.append(("answer", valid))


class Abuse:
    def __init__(self) -> None:
        self.refunded: list[str] = []

    def refund(
        self, task: str, kwargs: Any, job_id: str, exc: BaseException, *, calls_before: int
    ) -> None:
        """Which endings give a slot back is worker/abuse.py's (tests/unit/worker/test_refunds.py):
        here, that every failure asks exactly once."""
        self.refunded.append(job_id)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> tuple[Backend, Ledger, Any]:
    backend, ledger = Backend(), Ledger()
    monkeypatch.setattr(ending, "result_backend", lambda: backend)
    monkeypatch.setattr(campaign_hooks, "ledger", lambda: ledger)
    return backend, ledger, SimpleNamespace(abuse=Abuse())


def row(**fields: Any) -> ending.Job:
    return ending.Job(SEND_TASK, "job-1", BULK, KWARGS, "camp", row=True, **fields)


def test_a_replayed_row_is_stored_and_settled_a_fresh_one_is_not(fakes: Any) -> None:
    backend, ledger, rt = fakes
    ending.succeeded(rt, row(), {"message_id": "m"}, fresh=True)
    assert backend.stored == [] and ledger.calls == []  # it went with its claim's pipeline
    ending.succeeded(rt, row(), {"message_id": "m"}, fresh=False)
    assert backend.stored == [("job-1", {"message_id": "m"}, "SUCCESS")]
    assert ledger.calls == [("settle", "camp", "job-1", "sent")]


def test_a_task_result_is_left_to_celery(fakes: Any) -> None:
    backend, ledger, rt = fakes
    task = ending.Job(SEND_TASK, "job-1", BULK, KWARGS, "camp")
    ending.succeeded(rt, task, {"message_id": "m"})
    ending.failed(rt, task, Cancelled("x"))
    assert backend.stored == []
    assert ledger.calls == [("settle", "camp", "job-1", state_for("cancelled"))]
    assert rt.abuse.refunded == ["job-1"]


def test_a_failed_row_is_stored_settled_and_refunded_once(fakes: Any) -> None:
    backend, ledger, rt = fakes
    ending.failed(rt, row(), PinpointRejected("OPT_OUT"))
    assert [(j, type(e).__name__, s) for j, e, s in backend.stored] == [
        ("job-1", "PinpointRejected", "FAILURE")
    ]
    assert ledger.calls == [("settle", "camp", "job-1", state_for("rejected"))]
    assert rt.abuse.refunded == ["job-1"]


def test_an_unexpected_row_failure_is_stored_as_masked_text(fakes: Any) -> None:
    backend, ledger, rt = fakes
    ending.failed(rt, row(), ValueError(f"{DEST} broke"))
    (_, stored, _), = backend.stored  # fmt: skip
    assert type(stored) is RuntimeError and DEST not in str(stored)
    assert ledger.calls == [("settle", "camp", "job-1", state_for("error"))]


def test_a_retry_counts_for_its_campaign(fakes: Any) -> None:
    _, ledger, _ = fakes
    ending.retried(row(), Retrying.because(RetryCause.HANDED_OFF))
    assert ledger.calls == [("retried", "camp")]


def test_a_verify_answer_reaches_the_campaign(fakes: Any) -> None:
    _, ledger, rt = fakes
    verify = ending.Job(VERIFY_TASK, "v-1", BULK, {**KWARGS, "otp": "123456"})
    ending.succeeded(rt, verify, {"valid": True})
    assert ledger.calls == [("answer", True)]
