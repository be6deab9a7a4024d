"""Fault injection and stats, observed through a stock boto3 client."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox import PinpointSandbox, SandboxControl, SandboxControlError
from sandbox.faults import DELIVERY_STATUSES
from sandbox.stats import max_per_window
from tests.sandbox.calls import OTHER_PHONE, PHONE, make_client, send, verify


def _verify_outcomes(client: Any, count: int) -> list[str]:
    """The error code (or "ok") of ``count`` verify calls in a row."""
    outcomes = []
    for _ in range(count):
        try:
            verify(client, "123456")
            outcomes.append("ok")
        except client.exceptions.ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    return outcomes


def test_quota_throttles_and_bounds_accepted_rate(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(quota_rps=5, quota_burst=5)

    outcomes = _verify_outcomes(pinpoint, 25)

    assert outcomes[:5] == ["ok"] * 5  # the bucket starts full
    assert "TooManyRequestsException" in outcomes
    stats = control.stats()["operations"]["VerifyOTPMessage"]
    assert stats["by_status"]["429"] == outcomes.count("TooManyRequestsException")
    assert stats["accepted"] == outcomes.count("ok") == len(stats["accepted_times"])
    assert stats["max_per_second"] <= 5 + 5  # burst + one second of rate
    assert stats["max_per_second"] == max_per_window(stats["accepted_times"])


def test_quota_is_shared_by_both_operations(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(quota_rps=0.001, quota_burst=2)

    send(pinpoint)
    verify(pinpoint, "123456")

    with pytest.raises(pinpoint.exceptions.TooManyRequestsException):
        send(pinpoint)
    with pytest.raises(pinpoint.exceptions.TooManyRequestsException):
        verify(pinpoint, "123456")


def test_fail_next_fails_exactly_n_requests(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(fail_next={"count": 2, "error": "InternalServerErrorException"})

    outcomes = _verify_outcomes(pinpoint, 4)

    assert outcomes == ["InternalServerErrorException"] * 2 + ["ok"] * 2
    assert control.faults()["fail_next"]["count"] == 0


def test_fail_next_with_another_error(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(fail_next={"count": 1, "error": "TooManyRequestsException"})

    with pytest.raises(pinpoint.exceptions.TooManyRequestsException):
        send(pinpoint)
    assert send(pinpoint)["DeliveryStatus"] == "SUCCESSFUL"


def test_error_rate_is_reproducible_with_a_seed(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(error_rate=0.5, seed=7)
    first = _verify_outcomes(pinpoint, 20)
    control.set_faults(error_rate=0.5, seed=7)
    second = _verify_outcomes(pinpoint, 20)

    assert first == second
    assert set(first) == {"ok", "InternalServerErrorException"}


def test_error_rate_one_fails_everything(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(error_rate=1)

    assert _verify_outcomes(pinpoint, 3) == ["InternalServerErrorException"] * 3


@pytest.mark.parametrize("status", sorted(set(DELIVERY_STATUSES) - {"SUCCESSFUL"}))
def test_delivery_status_is_reported_and_nothing_is_delivered(
    pinpoint: Any, control: SandboxControl, status: str
) -> None:
    control.set_faults(delivery_status={PHONE: status})

    failed = send(pinpoint, PHONE)
    delivered = send(pinpoint, OTHER_PHONE)

    assert failed["DeliveryStatus"] == status
    assert failed["StatusCode"] == DELIVERY_STATUSES[status][0] != 200
    assert failed["StatusMessage"]
    assert delivered["DeliveryStatus"] == "SUCCESSFUL"
    assert [m["destination"] for m in control.outbox()] == [OTHER_PHONE]


def test_latency_does_not_serialize_concurrent_clients(
    sandbox: PinpointSandbox, control: SandboxControl
) -> None:
    clients = [make_client(sandbox.url) for _ in range(6)]
    control.set_faults(latency_ms=400)
    start = threading.Barrier(len(clients))
    answers: list[bool] = []

    def call(client: Any) -> None:
        start.wait()
        answers.append(verify(client, "123456"))

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [False] * len(clients)
    # Serialized handling would never have more than one request in flight.
    assert control.stats()["all"]["max_in_flight"] == len(clients)


def test_one_client_reuses_one_connection(sandbox: PinpointSandbox, pinpoint: Any) -> None:
    for _ in range(5):
        verify(pinpoint, "123456")

    stats = sandbox.state.stats.to_json()
    assert stats["all"]["received"] == 5
    assert stats["connections"] == 1


def test_stats_count_by_operation_and_status(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint)
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        send(pinpoint, CodeLength=9)
    verify(pinpoint, "123456")

    stats = control.stats()
    assert stats["operations"]["SendOTPMessage"]["by_status"] == {"200": 1, "400": 1}
    assert stats["operations"]["VerifyOTPMessage"]["received"] == 1
    assert stats["all"]["accepted"] == 3
    control.reset_stats()
    assert control.stats()["all"]["received"] == 0


def test_max_per_window_uses_sliding_half_open_windows() -> None:
    assert max_per_window([]) == 0
    assert max_per_window([0.0, 1.0, 2.0]) == 1
    assert max_per_window([0.0, 0.5, 0.99, 1.0, 1.49, 3.0]) == 4


def test_fault_config_replaces_and_clears(control: SandboxControl) -> None:
    control.set_faults(latency_ms=5, errors={PHONE: "ForbiddenException"})
    replaced = control.set_faults(error_rate=0.25)

    assert replaced["latency_ms"] == 0 and replaced["errors"] == {}
    assert replaced["error_rate"] == 0.25
    assert control.clear_faults()["error_rate"] == 0


@pytest.mark.parametrize(
    ("faults", "named"),
    [
        ({"bogus": 1}, "bogus"),
        ({"errors": {PHONE: "NoSuchException"}}, "errors"),
        ({"delivery_status": {PHONE: "LOST"}}, "delivery_status"),
        ({"error_rate": 2}, "error_rate"),
        ({"fail_next": {"count": 1, "error": "Nope"}}, "fail_next"),
        ({"quota_burst": 3}, "quota_burst"),
    ],
)
def test_invalid_fault_config_is_refused_naming_the_key(
    control: SandboxControl, faults: dict[str, Any], named: str
) -> None:
    with pytest.raises(SandboxControlError, match=named):
        control.set_faults(**faults)
    assert control.faults()["error_rate"] == 0
