"""Every modeled error reaches boto3 as its own exception class, injected or for real."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from sandbox import PinpointSandbox, SandboxControl
from sandbox.errors import MODELED_ERRORS
from tests.sandbox.calls import APP_ID, PHONE, make_client, send, verify

_SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/mobiletargeting/...",
    "Content-Type": "application/json",
}


def _raw(sandbox: PinpointSandbox, method: str, path: str, body: bytes = b"") -> tuple[Any, Any]:
    """A hand-made request, for what botocore would never send."""
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=_SIGNED)
        response = connection.getresponse()
        return response, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("name", sorted(MODELED_ERRORS))
def test_injected_error_raises_its_modeled_class_on_both_operations(
    pinpoint: Any, control: SandboxControl, name: str
) -> None:
    control.set_faults(errors={PHONE: name})
    exception = getattr(pinpoint.exceptions, name)

    with pytest.raises(exception) as sent:
        send(pinpoint)
    with pytest.raises(exception) as verified:
        verify(pinpoint, "123456")

    for raised in (sent.value, verified.value):
        assert raised.response["Error"]["Code"] == name
        assert raised.response["ResponseMetadata"]["HTTPStatusCode"] == MODELED_ERRORS[name]
        assert raised.response["RequestID"] == raised.response["ResponseMetadata"]["RequestId"]


def test_injected_error_is_only_for_its_destination(pinpoint: Any, control: SandboxControl) -> None:
    control.set_faults(errors={"+15559999999": "ForbiddenException"})

    assert send(pinpoint)["DeliveryStatus"] == "SUCCESSFUL"


def test_unknown_application_is_not_found(pinpoint: Any) -> None:
    with pytest.raises(pinpoint.exceptions.NotFoundException, match="no-such-app"):
        send(pinpoint, app_id="no-such-app")


def test_unsigned_request_is_forbidden(sandbox: PinpointSandbox) -> None:
    client = make_client(sandbox.url, signature_version=UNSIGNED)

    with pytest.raises(client.exceptions.ForbiddenException):
        send(client)
    assert sandbox.control.outbox() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CodeLength", 4),
        ("CodeLength", 9),
        ("ValidityPeriod", 61),
        ("ValidityPeriod", 4),
        ("AllowedAttempts", 0),
        ("AllowedAttempts", 6),
        ("BrandName", "B" * 21),
        ("Channel", "EMAIL"),
        ("DestinationIdentity", "5550123442"),
        ("DestinationIdentity", "+1555"),
    ],
)
def test_invalid_send_is_a_bad_request_naming_the_field(
    pinpoint: Any, field: str, value: object
) -> None:
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=field):
        send(pinpoint, **{field: value})


def test_non_digit_otp_is_a_bad_request(pinpoint: Any) -> None:
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="Otp"):
        verify(pinpoint, "12a456")


def test_missing_required_field_is_a_bad_request(sandbox: PinpointSandbox) -> None:
    body = json.dumps({"Channel": "SMS", "DestinationIdentity": PHONE}).encode()

    response, error = _raw(sandbox, "POST", f"/v1/apps/{APP_ID}/otp", body)

    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "BadRequestException"
    assert "BrandName" in error["Message"]


def test_non_json_body_is_a_bad_request(sandbox: PinpointSandbox) -> None:
    response, error = _raw(sandbox, "POST", f"/v1/apps/{APP_ID}/verify-otp", b"not json")

    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "BadRequestException"
    assert "JSON" in error["Message"]


def test_wrong_method_is_method_not_allowed(sandbox: PinpointSandbox) -> None:
    response, error = _raw(sandbox, "GET", f"/v1/apps/{APP_ID}/otp")

    assert response.status == 405
    assert response.getheader("x-amzn-ErrorType") == "MethodNotAllowedException"
    assert error["RequestID"] == response.getheader("x-amzn-RequestId")


def test_unknown_path_is_not_found(sandbox: PinpointSandbox) -> None:
    response, _ = _raw(sandbox, "POST", "/v1/apps/otpq-sandbox/messages", b"{}")

    assert response.status == 404
    assert response.getheader("x-amzn-ErrorType") == "NotFoundException"


def test_oversized_body_is_payload_too_large_and_the_connection_survives(
    pinpoint: Any, sandbox: PinpointSandbox
) -> None:
    with pytest.raises(pinpoint.exceptions.PayloadTooLargeException):
        send(pinpoint, reference_id="r" * 200_000)

    assert verify(pinpoint, "123456") is False
    assert sandbox.state.stats.to_json()["connections"] == 1


def test_errors_are_client_errors_with_the_message(pinpoint: Any) -> None:
    with pytest.raises(ClientError) as raised:
        send(pinpoint, CodeLength=9)

    assert "CodeLength must be between 5 and 8" in str(raised.value)
