"""Send claims: the races of docs/guarantees.md, on fakeredis."""

from __future__ import annotations

import threading
from typing import Any

import fakeredis
import pytest
import redis

from otpq_core.settings import Settings
from worker.claims import PREFIX, Claim, JobClaims


@pytest.fixture
def r() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def test_first_claim_wins_and_a_finished_job_replays(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60)
    assert claims.claim("job") == Claim(won=True)
    claims.complete("job", {"result": {"message_id": "m"}})
    assert claims.claim("job") == Claim(won=False, outcome={"result": {"message_id": "m"}})


def test_claim_of_a_dead_holder_is_in_flight_without_outcome(r: fakeredis.FakeRedis) -> None:
    JobClaims(r, ttl=60).claim("job")
    assert JobClaims(r, ttl=60, hold=0).claim("job") == Claim(won=False)


def test_second_delivery_waits_for_a_live_holder(r: fakeredis.FakeRedis) -> None:
    holder = JobClaims(r, ttl=60, hold=5)
    assert holder.claim("job").won
    timer = threading.Timer(0.3, holder.complete, ("job", {"result": {"ok": True}}))
    timer.start()
    try:
        assert holder.claim("job") == Claim(won=False, outcome={"result": {"ok": True}})
    finally:
        timer.cancel()


def test_young_claim_that_never_finishes_ends_in_flight(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60, hold=0.3)
    assert claims.claim("job").won
    assert claims.claim("job") == Claim(won=False)


def test_released_claim_can_be_won_again(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60)
    claims.claim("job")
    claims.release("job")
    assert claims.claim("job").won


def test_claim_outlives_every_redelivery_even_with_a_short_result_ttl(
    r: fakeredis.FakeRedis,
) -> None:
    settings = Settings.from_env({"OTPQ_RESULT_TTL": "60"})
    claims = JobClaims.from_settings(r, settings)
    assert claims.ttl >= settings.bulk_deadline + settings.visibility_timeout
    assert claims.hold > settings.connect_timeout + settings.read_timeout
    claims.claim("job")
    assert r.ttl(PREFIX + "job") > settings.bulk_deadline


def failing_writes(r: fakeredis.FakeRedis, failures: int | None) -> list[int]:
    """Make the next `failures` outcome writes (all of them: None) fail as if Redis were
    down. The outcome goes out in a pipeline (worker/autopipe.py). Returns the count of
    writes that failed."""
    failed: list[int] = []
    real_pipeline = r.pipeline

    def pipeline(**kwargs: Any) -> Any:
        pipe = real_pipeline(**kwargs)
        real_execute = pipe.execute

        def execute(**kw: Any) -> Any:
            if failures is None or len(failed) < failures:
                failed.append(1)
                raise redis.ConnectionError("Connection refused")
            return real_execute(**kw)

        pipe.execute = execute
        return pipe

    r.pipeline = pipeline  # type: ignore[method-assign]
    return failed


def test_outcome_is_recorded_through_a_short_redis_outage(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60, hold=5)
    claims.claim("job")
    failed = failing_writes(r, 2)
    claims.complete("job", {"result": {"ok": True}})
    assert len(failed) == 2
    assert claims.claim("job").outcome == {"result": {"ok": True}}


def test_a_long_outage_still_raises(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60, hold=0)
    failing_writes(r, None)
    with pytest.raises(redis.ConnectionError):
        claims.complete("job", {"result": {}})


def test_completion_carries_bookkeeping_in_the_same_round_trip(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60)
    claims.claim("job")
    claims.complete("job", {"result": {"ok": True}}, also=lambda pipe: pipe.incr("sends"))
    assert claims.claim("job").outcome == {"result": {"ok": True}}
    assert r.get("sends") == b"1"


def test_failed_bookkeeping_is_logged_and_the_outcome_stands(
    r: fakeredis.FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    r.set("not-a-hash", "x")
    claims = JobClaims(r, ttl=60)
    claims.claim("job")
    claims.complete(
        "job", {"result": {"ok": True}}, also=lambda pipe: pipe.hincrby("not-a-hash", "n", 1)
    )
    assert claims.claim("job").outcome == {"result": {"ok": True}}
    assert "bookkeeping after job job failed" in caplog.text


def test_a_finished_outcome_is_read_without_claiming(r: fakeredis.FakeRedis) -> None:
    claims = JobClaims(r, ttl=60)
    assert claims.finished("job") is None
    claims.claim("job")
    assert claims.finished("job") is None  # in flight is not finished
    claims.complete("job", {"result": {"valid": True}})
    assert claims.finished("job") == {"result": {"valid": True}}


def test_a_verify_takes_over_a_dead_holders_claim_and_replays_a_finished_one(
    r: fakeredis.FakeRedis,
) -> None:
    JobClaims(r, ttl=60).claim("job")
    claims = JobClaims(r, ttl=60, hold=0)
    assert claims.claim_verify("job") == Claim(won=True)
    assert r.get(PREFIX + "job") == b"inflight"
    claims.complete("job", {"result": {"valid": True}})
    assert claims.claim_verify("job") == Claim(won=False, outcome={"result": {"valid": True}})
