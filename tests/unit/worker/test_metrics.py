"""worker.metrics: the label sets, the endings (worker/ending.py), the botocore hook, the endpoint —
and that no phone number or OTP can become a label value."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import fakeredis
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from otpq_core.outcomes import (
    DestinationLimited,
    DestinationLocked,
    GaveUp,
    InvalidRequest,
    JobExpired,
    PinpointRejected,
    RetryCause,
    Retrying,
    Uncertain,
)
from otpq_core.settings import ConfigError, Settings
from otpq_local.redis_server import free_port
from producer.requests import VerifyRequest
from worker import ending, metrics, tasks
from worker.gateways import PinpointGateway, Transient

DEST = "+14255550142"
OTP = "493817"


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def all_label_values() -> set[str]:
    return {
        v
        for family in metrics.REGISTRY.collect()
        for s in family.samples
        for v in s.labels.values()
    }


#: The runtime an ending gets: these endings touch neither Redis nor a gateway, and
#: which endings refund is tests/unit/worker/test_refunds.py's.
RT: Any = SimpleNamespace(abuse=SimpleNamespace(refund=lambda *args, **kwargs: None))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (InvalidRequest("destination", "not E.164"), "invalid"),
        (JobExpired("deadline passed"), "expired"),
        (DestinationLimited("too many"), "limited"),
        (PinpointRejected("OPT_OUT: opted out"), "rejected"),
        (GaveUp("after 5 attempts: THROTTLED"), "gave_up"),
        (Uncertain("in flight"), "uncertain"),
        (TypeError("send() got an unexpected keyword argument"), "error"),
        (RuntimeError(f"{DEST} broke"), "error"),
    ],
)
def test_failure_reason_is_the_outcome_table_word(error: Exception, reason: str) -> None:
    assert metrics.failure_reason(error) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (Retrying("TooManyRequestsException: Rate exceeded"), "TooManyRequestsException"),
        (Retrying("THROTTLED: carrier"), "THROTTLED"),
        (Retrying("ConnectTimeoutError: Connect timeout on endpoint URL"), "ConnectTimeoutError"),
        # The policies' own causes are labels as they are, whatever the text says.
        (Retrying.because(RetryCause.CAPACITY), "capacity"),
        (Retrying.because(RetryCause.LIMITER_UNAVAILABLE), "limiter_unavailable"),
        (Retrying.because(RetryCause.ABUSE_UNAVAILABLE), "abuse_unavailable"),
        (Retrying.because(RetryCause.CODE_ORIGIN_UNAVAILABLE), "code_origin_unavailable"),
        (Retrying.because(RetryCause.HANDED_OFF), "handed_off"),
        (Retrying.because(RetryCause.CLAIM_CHANGED), "claim_changed"),
        # A backend cause is labelled by the backend's code, if it is a code word.
        (
            Retrying.because(RetryCause.THROTTLED, "THROTTLED: x", code="THROTTLED"),
            "THROTTLED",
        ),
        (
            Retrying.because(RetryCause.BACKEND_TRANSIENT, f"{DEST}: x", code=DEST),
            "backend_transient",
        ),
        (Retrying(f"{DEST}: something"), "other"),
        (Retrying(f"{OTP}: something"), "other"),
        (Retrying("Bad-Code!: x"), "other"),
        (None, "other"),
    ],
)
def test_retry_reason_is_a_code_word_or_other(text: Any, reason: str) -> None:
    assert metrics.retry_reason(text) == reason


def test_labels_outside_their_sets_are_not_passed_through() -> None:
    assert metrics.lane_label("otp.bulk") == "otp.bulk"
    assert metrics.lane_label("celery") == metrics.OTHER
    assert metrics.lane_label(DEST) == metrics.OTHER
    assert metrics.operation_label("ListApps") == metrics.OTHER
    assert metrics.task_label("otp.send") == "otp.send"
    assert metrics.task_label("proj.tasks.add") is None
    assert [metrics.call_result(s) for s in (200, 429, 400, 404, 503, None)] == [
        "ok", "throttled", "client_error", "client_error", "server_error", "connection_error",
    ]  # fmt: skip


def job(task: str, lane: str = "otp.interactive") -> ending.Job:
    return ending.Job(task, "t", lane)


def test_endings_record_jobs_with_task_lane_outcome_reason() -> None:
    labels = {"task": "otp.send", "lane": "otp.bulk"}
    ok = value("otpq_jobs_total", **labels, outcome="succeeded", reason="none")
    rejected = value("otpq_jobs_total", **labels, outcome="failed", reason="rejected")
    retried = value("otpq_retries_total", task="otp.send", reason="TooManyRequestsException")

    send = job("otp.send", "otp.bulk")
    ending.succeeded(RT, send, {"message_id": "m-1"})
    ending.failed(RT, send, PinpointRejected("OPT_OUT: x"))
    why = Retrying.because(
        RetryCause.THROTTLED, "TooManyRequestsException: slow", code="TooManyRequestsException"
    )
    ending.retried(send, why)

    assert value("otpq_jobs_total", **labels, outcome="succeeded", reason="none") == ok + 1
    assert value("otpq_jobs_total", **labels, outcome="failed", reason="rejected") == rejected + 1
    assert (
        value("otpq_retries_total", task="otp.send", reason="TooManyRequestsException")
        == retried + 1
    )


def test_a_task_ending_reaches_the_metrics_through_its_hooks() -> None:
    """Celery calls OtpTask's hooks with the request current: the lane is its routing key."""
    labels = {"task": "otp.verify", "lane": "otp.interactive"}
    before = value("otpq_jobs_total", **labels, outcome="failed", reason="locked")
    tasks.verify.push_request(id="t", delivery_info={"routing_key": "otp.interactive"})
    try:
        tasks.verify.on_failure(DestinationLocked("x"), "t", (), {}, None)
    finally:
        tasks.verify.pop_request()
    assert value("otpq_jobs_total", **labels, outcome="failed", reason="locked") == before + 1


def test_verify_results_count_valid_and_invalid() -> None:
    valid, invalid = (
        value("otpq_verifications_total", valid="true"),
        value("otpq_verifications_total", valid="false"),
    )
    verify = job("otp.verify")
    ending.succeeded(RT, verify, {"valid": True})
    ending.succeeded(RT, verify, {"valid": False})
    assert value("otpq_verifications_total", valid="true") == valid + 1
    assert value("otpq_verifications_total", valid="false") == invalid + 1


def test_foreign_tasks_are_not_recorded() -> None:
    before = {f.name: len(f.samples) for f in metrics.REGISTRY.collect()}
    ending.succeeded(RT, job("proj.add"), 3)
    ending.failed(RT, job("proj.add"), ValueError())
    assert {f.name: len(f.samples) for f in metrics.REGISTRY.collect()} == before
    assert "proj.add" not in all_label_values()


def test_capacity_wait_histogram_by_lane() -> None:
    before = value("otpq_ratelimit_wait_seconds_bucket", lane="otp.interactive", le="0.001")
    count = value("otpq_ratelimit_wait_seconds_count", lane="otp.interactive")
    metrics.observe_capacity_wait("otp.interactive", 0.0)
    metrics.observe_capacity_wait("otp.interactive", 0.3)
    after = value("otpq_ratelimit_wait_seconds_bucket", lane="otp.interactive", le="0.001")
    assert after == before + 1
    assert value("otpq_ratelimit_wait_seconds_count", lane="otp.interactive") == count + 2


@given(
    number=st.from_regex(r"\+[1-9]\d{9,13}", fullmatch=True),
    otp=st.from_regex(r"\d{5,8}", fullmatch=True),
    lane=st.text(max_size=30),
)
def test_no_secret_reaches_a_label(number: str, otp: str, lane: str) -> None:
    text = f"{number} {otp}"
    metrics.job_failed("otp.verify", number, RuntimeError(text))
    metrics.job_failed("otp.verify", lane, PinpointRejected(text))
    metrics.job_retried("otp.verify", Retrying(f"{otp}: {number}"))
    metrics.job_retried("otp.verify", Retrying(f"Code: {number}"))
    metrics.observe_capacity_wait(number, 0.1)
    metrics.observe_pinpoint(number, 200, 0.1)
    values = all_label_values()
    assert not any(number in v or number[1:] in v or otp in v for v in values)


# --- the botocore hook ------------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "pinpoint",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )
    metrics.instrument(client)
    metrics.instrument(client)  # idempotent: one observation per call, not two
    with Stubber(client) as stubber:
        yield client, stubber


def test_pinpoint_calls_are_timed_and_429s_counted(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    ok = value(
        "otpq_pinpoint_request_duration_seconds_count", operation="VerifyOTPMessage", result="ok"
    )
    throttled = value("otpq_throttled_total", operation="VerifyOTPMessage")
    stubber.add_response("verify_otp_message", {"VerificationResponse": {"Valid": True}})
    stubber.add_client_error("verify_otp_message", "TooManyRequestsException", "Rate exceeded", 429)
    gateway = PinpointGateway(client, "app-1")
    request = VerifyRequest.from_kwargs(
        {"destination": DEST, "otp": OTP, "brand_name": "B", "source": "S"}
    )
    assert gateway.verify(request) is True
    with pytest.raises(Transient):
        gateway.verify(request)
    assert (
        value(
            "otpq_pinpoint_request_duration_seconds_count",
            operation="VerifyOTPMessage",
            result="ok",
        )
        == ok + 1
    )
    assert value("otpq_throttled_total", operation="VerifyOTPMessage") == throttled + 1


def test_connection_errors_are_timed_from_after_call_error() -> None:
    before = value(
        "otpq_pinpoint_request_duration_seconds_count",
        operation="SendOTPMessage",
        result="connection_error",
    )
    context: dict[str, Any] = {}
    metrics._before_call(model=SimpleNamespace(name="SendOTPMessage"), context=context)
    metrics._after_call_error(exception=OSError("reset"), context=context)
    metrics._after_call_error(exception=OSError("reset"), context=context)  # no start: ignored
    after = value(
        "otpq_pinpoint_request_duration_seconds_count",
        operation="SendOTPMessage",
        result="connection_error",
    )
    assert after == before + 1


def test_gateway_from_settings_is_instrumented(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(metrics, "instrument", seen.append)
    gateway = PinpointGateway.from_settings(Settings())
    assert seen == [gateway.client]


# --- settings, queue length, the endpoint ------------------------------------------


def test_metrics_port_setting() -> None:
    assert Settings.from_env({}).metrics_port is None
    assert Settings.from_env({"OTPQ_METRICS_PORT": ""}).metrics_port is None
    assert Settings.from_env({"OTPQ_METRICS_PORT": "9808"}).metrics_port == 9808
    for bad in ("0", "70000", "x", "-1", "9808.5"):
        with pytest.raises(ConfigError, match="OTPQ_METRICS_PORT"):
            Settings.from_env({"OTPQ_METRICS_PORT": bad})


def test_queue_length_sums_priority_lists_per_lane() -> None:
    collector = metrics.QueueLength(Settings())
    fake = fakeredis.FakeRedis()
    collector._client = fake
    fake.rpush("otp.interactive", "a", "b")
    fake.rpush("otp.interactive\x06\x163", "c")
    fake.rpush("otp.bulk", "d")
    fake.rpush("celery", "e", "f")  # Celery's default queue: by-name jobs without a lane
    (family,) = collector.collect()
    assert {s.labels["lane"]: s.value for s in family.samples} == {
        "otp.interactive": 3.0,
        "otp.bulk": 1.0,
        "celery": 2.0,
    }


def test_queue_length_omitted_when_redis_is_down() -> None:
    collector = metrics.QueueLength(Settings(redis_url="redis://127.0.0.1:1/0", redis_timeout=0.2))
    assert list(collector.collect()) == []


def test_endpoint_serves_otpq_series_and_flower_registry_stays_clean() -> None:
    import prometheus_client

    port = free_port()
    server = metrics.serve(port, Settings(redis_url="redis://127.0.0.1:1/0"), addr="127.0.0.1")
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert "# TYPE otpq_jobs_total counter" in text
        assert "# TYPE otpq_pinpoint_request_duration_seconds histogram" in text
        assert "# TYPE otpq_ratelimit_wait_seconds histogram" in text
        # Flower serves the default registry: otpq's series must not show up there.
        assert b"otpq_" not in prometheus_client.generate_latest()
        assert metrics.serve(port, Settings(), addr="127.0.0.1") is None  # port taken: logged
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_listens_on_this_host_only_by_default() -> None:
    assert Settings.from_env({}).metrics_addr == "127.0.0.1"
    port = free_port()
    server = metrics.serve(port, Settings(redis_url="redis://127.0.0.1:1/0"))
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_address_is_chosen_by_otpq_metrics_addr() -> None:
    chosen = Settings.from_env({"OTPQ_METRICS_ADDR": " 0.0.0.0 ", "REDIS_URL": "redis://x:1"})
    assert chosen.metrics_addr == "0.0.0.0"
    port = free_port()
    server = metrics.serve(port, chosen)
    assert server is not None
    try:
        assert server.server_address[0] == "0.0.0.0"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ConfigError, match="OTPQ_METRICS_ADDR must be an IP address"):
        Settings.from_env({"OTPQ_METRICS_ADDR": "everywhere"})
