"""worker/results.py against the session's real Redis: a state that is not final never
lands on a finished result, even when Celery's own read-then-write guard is bypassed
(the race of a retry that finishes before its first run records RETRY)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery, states

from worker.results import KeepsFinishedRedisBackend, result_backend_url


@pytest.fixture
def backend(redis_url: str) -> Iterator[KeepsFinishedRedisBackend]:
    app = Celery("results-test", backend=result_backend_url(redis_url))
    app.conf.update(result_serializer="json", accept_content=["json"])
    try:
        assert isinstance(app.backend, KeepsFinishedRedisBackend)
        yield app.backend
    finally:
        app.close()


def write(backend: KeepsFinishedRedisBackend, job: str, state: str, result: object) -> None:
    """What `_store_result` writes once its SUCCESS check has passed (the race's window)."""
    meta = backend._get_result_meta(result=result, state=state, traceback=None, request=None)
    meta["task_id"] = job
    backend._set_with_state(backend.get_key_for_task(job), backend.encode(meta), state)


def state(backend: KeepsFinishedRedisBackend, job: str) -> str:
    return str(backend.get_task_meta(job, cache=False)["status"])


@pytest.mark.parametrize("final", [states.SUCCESS, states.FAILURE])
def test_a_late_retry_does_not_overwrite_a_final_state(
    backend: KeepsFinishedRedisBackend, final: str
) -> None:
    result = {"valid": True} if final == states.SUCCESS else {"exc_type": "E", "exc_message": []}
    write(backend, "job-1", final, result)
    write(backend, "job-1", states.RETRY, {"exc_type": "Retrying", "exc_message": ["later"]})
    assert state(backend, "job-1") == final


def test_states_that_are_not_final_still_move_and_expire(
    backend: KeepsFinishedRedisBackend,
) -> None:
    write(backend, "job-2", states.RETRY, {"exc_type": "Retrying", "exc_message": ["first"]})
    assert state(backend, "job-2") == states.RETRY
    assert 0 < backend.client.ttl(backend.get_key_for_task("job-2")) <= backend.expires
    backend.mark_as_done("job-2", {"valid": True})
    assert state(backend, "job-2") == states.SUCCESS


def test_a_result_stored_with_its_claim_is_not_written_again(
    backend: KeepsFinishedRedisBackend,
) -> None:
    """otpq writes a fresh send's SUCCESS with its claim; Celery's store of the same task
    id, on the same thread, then writes nothing (here: the RETRY left in place shows it)."""
    from worker.results import stored_with_claim

    write(backend, "job-3", states.RETRY, {"exc_type": "Retrying", "exc_message": ["x"]})
    stored_with_claim("job-3")
    backend.mark_as_done("job-3", {"message_id": "m"})
    assert state(backend, "job-3") == states.RETRY
    # Once only, and only for that task and that state.
    backend.mark_as_done("job-3", {"message_id": "m"})
    assert state(backend, "job-3") == states.SUCCESS
    stored_with_claim("job-4")
    backend.mark_as_done("job-5", {"message_id": "m"})
    assert state(backend, "job-5") == states.SUCCESS
    backend.mark_as_failure("job-4", RuntimeError("boom"))
    assert state(backend, "job-4") == states.FAILURE
