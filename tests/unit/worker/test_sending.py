"""The send policy's claim, made in the rate limiter's round trip (fakeredis-backed)."""

from __future__ import annotations

import json
import time
from typing import Any

import fakeredis
import pytest

from otpq_core.outcomes import Uncertain
from otpq_core.settings import Settings
from worker import sending
from worker.claims import PREFIX, JobClaims
from worker.gateways import Delivery
from worker.runtime import Runtime

pytest.importorskip("lupa")

KWARGS = {"destination": "+14255550142", "brand_name": "B", "source": "S"}


class Gateway:
    backend = "pinpoint"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, request: Any) -> Delivery:
        self.sent.append(request.destination)
        return Delivery("m-1", "SUCCESSFUL", 200)


def runtime(**env: str) -> tuple[Runtime, Gateway, fakeredis.FakeRedis]:
    settings = Settings.from_env(
        {"OTPQ_SEND_RATE": "5", "OTPQ_RESEND_COOLDOWN": "0", "OTPQ_DESTINATION_SENDS": "0", **env}
    )
    rt, gateway, r = Runtime(settings), Gateway(), fakeredis.FakeRedis()
    rt.__dict__.update(redis=r, gateway=gateway)
    return rt, gateway, r


def attempt(job_id: str = "job") -> sending.Attempt:
    return sending.Attempt(job_id=job_id, deadline=time.time() + 60, bulk=False)


def tokens_taken(r: fakeredis.FakeRedis) -> bool:
    return r.exists("otpq:rl:send") == 1


def test_a_fresh_send_claims_with_its_token_and_records_the_outcome() -> None:
    rt, gateway, r = runtime()
    result = sending.send(rt, attempt(), (), KWARGS)
    assert gateway.sent == ["+14255550142"] and result["message_id"] == "m-1"
    assert json.loads(r.get(PREFIX + "job"))["result"]["message_id"] == "m-1"
    assert tokens_taken(r)


def test_a_finished_send_replays_without_a_token_or_a_call() -> None:
    rt, gateway, r = runtime()
    r.set(PREFIX + "job", json.dumps({"result": {"message_id": "first"}}))
    assert sending.send(rt, attempt(), (), KWARGS) == {"message_id": "first"}
    assert gateway.sent == [] and not tokens_taken(r)


def test_an_in_flight_claim_of_a_dead_holder_ends_uncertain() -> None:
    rt, gateway, r = runtime()
    rt.__dict__["claims"] = JobClaims(r, ttl=60, hold=0)
    r.set(PREFIX + "job", b"inflight", ex=60)
    with pytest.raises(Uncertain):
        sending.send(rt, attempt(), (), KWARGS)
    assert gateway.sent == [] and not tokens_taken(r)


def test_a_claim_let_go_between_the_two_looks_reschedules_without_sending() -> None:
    rt, gateway, r = runtime()
    r.set(PREFIX + "job", b"inflight", ex=60)
    real_claim = rt.claims.claim

    def let_go_first(job_id: str) -> Any:
        r.delete(PREFIX + job_id)  # the holder released it (a transient failure)
        return real_claim(job_id)

    rt.claims.claim = let_go_first  # type: ignore[method-assign]
    with pytest.raises(sending.Again):
        sending.send(rt, attempt(), (), KWARGS)
    assert gateway.sent == [] and r.exists(PREFIX + "job") == 0


def test_without_a_limited_bucket_the_claim_is_made_on_its_own() -> None:
    rt, gateway, r = runtime(OTPQ_SEND_RATE="0")
    sending.send(rt, attempt(), (), KWARGS)
    assert gateway.sent == ["+14255550142"] and not tokens_taken(r)
    assert json.loads(r.get(PREFIX + "job"))["result"]["message_id"] == "m-1"
