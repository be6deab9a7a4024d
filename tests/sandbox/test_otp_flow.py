"""Send, read the outbox, verify: Pinpoint's OTP semantics through a stock boto3 client."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import SandboxControl
from tests.sandbox.calls import APP_ID, OTHER_APP_ID, OTHER_PHONE, PHONE, send, verify, wrong


def test_send_delivers_to_outbox_and_verifies_exactly_once(
    pinpoint: Any, control: SandboxControl
) -> None:
    result = send(pinpoint, Language="en-GB")

    assert result["DeliveryStatus"] == "SUCCESSFUL"
    assert result["StatusCode"] == 200
    message = control.wait_for_message(PHONE, timeout=2)
    assert message["message_id"] == result["MessageId"]
    code = message["code"]
    assert len(code) == 6 and code.isdigit()
    assert message["body"] == f"This is your One Time Password: {code} from ExampleCorp"
    assert message | {"code": None, "body": None, "message_id": None, "time": None} == {
        "destination": PHONE,
        "code": None,
        "brand_name": "ExampleCorp",
        "reference_id": "ref-1",
        "origination_identity": "+15550000000",
        "message_id": None,
        "body": None,
        "language": "en-GB",
        "application_id": APP_ID,
        "time": None,
    }
    assert verify(pinpoint, code) is True
    assert verify(pinpoint, code) is False


def test_send_response_is_a_message_response(pinpoint: Any) -> None:
    response = pinpoint.send_otp_message(
        ApplicationId=APP_ID,
        SendOTPMessageRequestParameters={
            "BrandName": "ExampleCorp",
            "Channel": "SMS",
            "DestinationIdentity": PHONE,
            "OriginationIdentity": "+15550000000",
            "ReferenceId": "ref-1",
        },
    )
    body = response["MessageResponse"]
    assert body["ApplicationId"] == APP_ID
    assert body["RequestId"] == response["ResponseMetadata"]["RequestId"]
    assert list(body["Result"]) == [PHONE]


@pytest.mark.parametrize("length", [5, 8])
def test_code_has_the_requested_length(pinpoint: Any, control: SandboxControl, length: int) -> None:
    send(pinpoint, CodeLength=length)

    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert len(code) == length and code.isdigit()


def test_wrong_codes_spend_attempts_but_the_right_one_still_works(
    pinpoint: Any, control: SandboxControl
) -> None:
    send(pinpoint, AllowedAttempts=3)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert verify(pinpoint, wrong(code)) is False
    assert verify(pinpoint, wrong(code)) is False
    assert verify(pinpoint, code) is True


def test_exhausted_attempts_kill_the_code(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint, AllowedAttempts=2)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert verify(pinpoint, wrong(code)) is False
    assert verify(pinpoint, wrong(code)) is False
    assert verify(pinpoint, code) is False


def test_code_expires_after_its_validity_period(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint, reference_id="early", ValidityPeriod=5)
    send(pinpoint, reference_id="late", ValidityPeriod=5)
    codes = {m["reference_id"]: m["code"] for m in control.outbox(PHONE)}

    control.advance_clock(5 * 60 - 1)
    assert verify(pinpoint, codes["early"], reference_id="early") is True
    control.advance_clock(2)
    assert verify(pinpoint, codes["late"], reference_id="late") is False


def test_resend_replaces_the_code(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint, CodeLength=8)
    first = control.wait_for_message(PHONE, timeout=2)["code"]
    send(pinpoint, CodeLength=8)
    second = control.wait_for_message(PHONE, timeout=2, seen=1)["code"]

    assert first != second
    assert verify(pinpoint, first) is False
    assert verify(pinpoint, second) is True


def test_codes_are_scoped_by_application_destination_and_reference(
    pinpoint: Any, control: SandboxControl
) -> None:
    send(pinpoint)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert verify(pinpoint, code, reference_id="ref-2") is False
    assert verify(pinpoint, code, destination=OTHER_PHONE) is False
    assert verify(pinpoint, code, app_id=OTHER_APP_ID) is False
    assert verify(pinpoint, code) is True


def test_unknown_key_is_simply_invalid(pinpoint: Any) -> None:
    assert verify(pinpoint, "123456") is False


def test_outbox_filters_by_destination_and_clears(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint, PHONE)
    send(pinpoint, OTHER_PHONE)

    assert [m["destination"] for m in control.outbox()] == [PHONE, OTHER_PHONE]
    assert [m["destination"] for m in control.outbox(OTHER_PHONE)] == [OTHER_PHONE]
    control.clear_outbox()
    assert control.outbox() == []


def test_wait_for_message_times_out_without_a_new_message(
    pinpoint: Any, control: SandboxControl
) -> None:
    send(pinpoint)

    with pytest.raises(TimeoutError):
        control.wait_for_message(PHONE, timeout=0.05, seen=1)


def test_reset_forgets_everything(pinpoint: Any, control: SandboxControl) -> None:
    send(pinpoint)
    code = control.wait_for_message(PHONE, timeout=2)["code"]
    control.set_faults(latency_ms=5)
    control.advance_clock(30)

    control.reset()

    assert control.outbox() == []
    assert control.faults()["latency_ms"] == 0
    assert control.stats()["all"]["received"] == 0
    assert control.advance_clock(0)["offset"] == 0
    assert verify(pinpoint, code) is False
