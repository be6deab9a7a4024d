"""Faults and quotas on Notify, and scoping them to one backend or operation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox import PinpointSandbox, SandboxControl, SandboxControlError
from tests.sandbox.calls import OTHER_PHONE, PHONE, send, verify
from tests.sandbox.notify_calls import make_notify_client, notify_send, notify_validate


def _outcomes(client: Any, count: int, call: Any = None) -> list[str]:
    """The error code (or "ok") of ``count`` calls in a row (default: a Notify validate)."""
    outcomes = []
    for _ in range(count):
        try:
            (call or (lambda: notify_validate(client, "123456")))()
            outcomes.append("ok")
        except client.exceptions.ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    return outcomes


def test_quota_throttles_with_throttling_exception(notify: Any, control: SandboxControl) -> None:
    control.set_faults(quota_rps=5, quota_burst=5)

    outcomes = _outcomes(notify, 25)

    assert outcomes[:5] == ["ok"] * 5
    assert set(outcomes) == {"ok", "ThrottlingException"}
    stats = control.stats()["operations"]["ValidateNotifyCodeVerification"]
    assert stats["by_status"]["429"] == outcomes.count("ThrottlingException")
    assert stats["max_per_second"] <= 5 + 5


def test_quota_is_shared_by_both_notify_operations(notify: Any, control: SandboxControl) -> None:
    control.set_faults(quota_rps=0.001, quota_burst=2)

    notify_send(notify)
    notify_validate(notify, "123456")

    with pytest.raises(notify.exceptions.ThrottlingException):
        notify_send(notify)
    with pytest.raises(notify.exceptions.ThrottlingException):
        notify_validate(notify, "123456")


def test_each_backend_has_its_own_quota(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(quota_rps=0.001, quota_burst=1)

    send(pinpoint)
    notify_send(notify)  # Pinpoint's spent token is not Notify's

    with pytest.raises(notify.exceptions.ThrottlingException):
        notify_send(notify)
    with pytest.raises(pinpoint.exceptions.TooManyRequestsException):
        send(pinpoint)


def test_fail_next_names_either_backends_error(notify: Any, control: SandboxControl) -> None:
    control.set_faults(fail_next={"count": 2, "error": "InternalServerErrorException"})

    assert _outcomes(notify, 3) == ["InternalServerException"] * 2 + ["ok"]
    control.set_faults(fail_next={"count": 1, "error": "ThrottlingException"})
    with pytest.raises(notify.exceptions.ThrottlingException):
        notify_send(notify)
    assert control.faults()["fail_next"]["count"] == 0


def test_fail_next_with_an_error_validate_cannot_raise_waits_for_a_send(
    notify: Any, control: SandboxControl
) -> None:
    control.set_faults(fail_next={"count": 1, "error": "ServiceQuotaExceededException"})

    assert notify_validate(notify, "123456") == "INVALID"
    with pytest.raises(notify.exceptions.ServiceQuotaExceededException):
        notify_send(notify)
    assert notify_send(notify)["messageId"]


def test_error_rate_is_reproducible_with_a_seed(notify: Any, control: SandboxControl) -> None:
    control.set_faults(error_rate=0.5, seed=7)
    first = _outcomes(notify, 20)
    control.set_faults(error_rate=0.5, seed=7)
    second = _outcomes(notify, 20)

    assert first == second
    assert set(first) == {"ok", "InternalServerException"}


def test_injected_error_is_only_for_its_destination(notify: Any, control: SandboxControl) -> None:
    control.set_faults(errors={OTHER_PHONE: "AccessDeniedException"})

    assert notify_send(notify)["verificationId"]
    with pytest.raises(notify.exceptions.AccessDeniedException):
        notify_send(notify, destination=OTHER_PHONE)


def test_pinpoint_error_names_are_translated_for_notify(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(errors={PHONE: "TooManyRequestsException"})

    with pytest.raises(pinpoint.exceptions.TooManyRequestsException):
        send(pinpoint)
    with pytest.raises(notify.exceptions.ThrottlingException):
        notify_send(notify)


def test_a_pinpoint_only_error_leaves_notify_alone(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(errors={PHONE: "PayloadTooLargeException"})

    with pytest.raises(pinpoint.exceptions.PayloadTooLargeException):
        send(pinpoint)
    assert notify_send(notify)["messageId"]


def test_faults_scoped_to_notify_leave_pinpoint_alone(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(backend="notify", error_rate=1)

    assert _outcomes(notify, 2) == ["InternalServerException"] * 2
    assert send(pinpoint)["DeliveryStatus"] == "SUCCESSFUL"
    assert control.faults()["backend"] == "notify"


def test_faults_scoped_to_pinpoint_leave_notify_alone(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(backend="pinpoint", fail_next={"count": 5})

    assert notify_send(notify)["messageId"]
    with pytest.raises(pinpoint.exceptions.InternalServerErrorException):
        verify(pinpoint, "123456")
    assert control.faults()["fail_next"]["count"] == 4


def test_faults_scoped_to_one_operation(notify: Any, control: SandboxControl) -> None:
    control.set_faults(operations=["SendNotifyCodeVerification"], error_rate=1)

    with pytest.raises(notify.exceptions.InternalServerException):
        notify_send(notify)
    assert notify_validate(notify, "123456") == "INVALID"


def test_delivery_fault_is_accepted_but_nothing_arrives(
    notify: Any, control: SandboxControl
) -> None:
    """Notify reports delivery only in events: the send succeeds, the phone stays silent."""
    control.set_faults(delivery_status={PHONE: "OPT_OUT"})

    assert notify_send(notify)["messageId"]
    notify_send(notify, destination=OTHER_PHONE)

    assert [m["destination"] for m in control.outbox()] == [OTHER_PHONE]


def test_latency_does_not_serialize_concurrent_clients(
    sandbox: PinpointSandbox, control: SandboxControl
) -> None:
    clients = [make_notify_client(sandbox.url) for _ in range(4)]
    control.set_faults(latency_ms=300, backend="notify")
    start = threading.Barrier(len(clients))
    answers: list[str] = []

    def call(client: Any) -> None:
        start.wait()
        answers.append(notify_validate(client, "123456"))

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()

    assert answers == ["INVALID"] * len(clients)
    stats = control.stats()["operations"]["ValidateNotifyCodeVerification"]
    assert stats["max_in_flight"] == len(clients)


def test_stats_count_notify_operations(notify: Any, control: SandboxControl) -> None:
    notify_send(notify)
    with pytest.raises(notify.exceptions.ResourceNotFoundException):
        notify_send(notify, configuration="missing")
    notify_validate(notify, "123456")

    operations = control.stats()["operations"]
    assert operations["SendNotifyCodeVerification"]["by_status"] == {"200": 1, "404": 1}
    assert operations["ValidateNotifyCodeVerification"]["received"] == 1
    assert operations["SendOTPMessage"]["received"] == 0


@pytest.mark.parametrize(
    ("faults", "named"),
    [
        ({"backend": "sms"}, "backend"),
        ({"operations": "SendOTPMessage"}, "operations"),
        ({"operations": ["Nope"]}, "operations"),
        ({"backend": "notify", "operations": ["SendOTPMessage"]}, "operations"),
        ({"backend": "notify", "errors": {PHONE: "PayloadTooLargeException"}}, "errors"),
        ({"backend": "pinpoint", "fail_next": {"count": 1, "error": "ConflictException"}},
         "fail_next"),
        ({"operations": ["ValidateNotifyCodeVerification"],
          "errors": {PHONE: "ConflictException"}}, "errors"),
    ],
)  # fmt: skip
def test_invalid_scope_is_refused_naming_the_key(
    control: SandboxControl, faults: dict[str, Any], named: str
) -> None:
    with pytest.raises(SandboxControlError, match=named):
        control.set_faults(**faults)
    assert control.faults()["backend"] is None


def test_send_quota_runs_out_as_service_quota_exceeded(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    control.set_faults(send_quota=2)

    notify_send(notify)
    notify_send(notify)
    with pytest.raises(notify.exceptions.ServiceQuotaExceededException):
        notify_send(notify)

    assert notify_validate(notify, "123456") == "INVALID"  # validate has no such quota
    assert send(pinpoint)["DeliveryStatus"] == "SUCCESSFUL"  # nor does Pinpoint
    assert control.faults()["send_quota"] == 0
    assert len(control.outbox()) == 3


@pytest.mark.parametrize(
    ("faults", "named"),
    [({"send_quota": -1}, "send_quota"), ({"send_quota": 1, "backend": "pinpoint"}, "send_quota")],
)
def test_invalid_send_quota_is_refused(
    control: SandboxControl, faults: dict[str, Any], named: str
) -> None:
    with pytest.raises(SandboxControlError, match=named):
        control.set_faults(**faults)
