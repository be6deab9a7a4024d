"""The Celery glue of the three tasks: the public names, and the options that make a
job survive a worker's death without running twice (late ack, rejected on loss, retries
bounded by otpq's own policy rather than Celery's count)."""

from __future__ import annotations

import pytest

from otpq_core.wire import SEND_BATCH_TASK, SEND_TASK, VERIFY_TASK
from worker.app import app
from worker.tasks import OtpTask

NAMES = (SEND_TASK, VERIFY_TASK, SEND_BATCH_TASK)


def test_the_public_task_names() -> None:
    assert NAMES == ("otp.send", "otp.verify", "otp.send_batch")
    assert {name for name in app.tasks if name.startswith("otp.")} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_task_acks_late_and_is_requeued_if_its_worker_dies(name: str) -> None:
    task = app.tasks[name]
    assert isinstance(task, OtpTask)
    assert task.acks_late is True and task.reject_on_worker_lost is True
    assert task.max_retries is None  # OTPQ_MAX_ATTEMPTS and the deadline bound retries
    assert task.typing is False  # a bad kwarg is an InvalidRequest naming it, not a TypeError


@pytest.mark.parametrize("name", NAMES)
def test_otpq_errors_are_expected_failures(name: str) -> None:
    """`throws`: Celery logs them as one line, not a traceback holding the kwargs."""
    from otpq_core.outcomes import OtpqError

    assert OtpqError in app.tasks[name].throws
