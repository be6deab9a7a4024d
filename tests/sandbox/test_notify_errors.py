"""Every Notify error reaches a stock boto3 client as its modeled exception class."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from botocore import UNSIGNED

from sandbox import PinpointSandbox, SandboxControl
from sandbox.backends import NOTIFY_SEND, NOTIFY_VALIDATE, OPERATION_ERRORS
from sandbox.notify_errors import NOTIFY_ERRORS
from tests.sandbox.calls import PHONE, send
from tests.sandbox.notify_calls import make_notify_client, notify_send, notify_validate

_SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/end-user-messaging/x",
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


def _call(client: Any, operation: str) -> None:
    if operation == NOTIFY_SEND:
        notify_send(client)
    else:
        notify_validate(client, "123456")


_DECLARED = [(op, name) for op in (NOTIFY_SEND, NOTIFY_VALIDATE) for name in OPERATION_ERRORS[op]]


@pytest.mark.parametrize(("operation", "name"), sorted(_DECLARED))
def test_injected_error_raises_its_modeled_class(
    notify: Any, control: SandboxControl, operation: str, name: str
) -> None:
    control.set_faults(errors={PHONE: name}, backend="notify")

    with pytest.raises(getattr(notify.exceptions, name)) as raised:
        _call(notify, operation)

    response = raised.value.response
    assert response["Error"]["Code"] == name
    assert response["ResponseMetadata"]["HTTPStatusCode"] == NOTIFY_ERRORS[name]
    assert response["message"] == response["Error"]["Message"]


def test_every_error_notify_declares_is_covered() -> None:
    declared = {name for _, name in _DECLARED}
    assert declared == set(NOTIFY_ERRORS)
    assert {NOTIFY_ERRORS[n] for n in declared} == {400, 403, 404, 409, 429, 500}


def test_validate_is_never_given_an_error_it_does_not_declare(
    notify: Any, control: SandboxControl
) -> None:
    control.set_faults(errors={PHONE: "ConflictException"}, backend="notify")

    with pytest.raises(notify.exceptions.ConflictException):
        notify_send(notify)
    assert notify_validate(notify, "123456") == "INVALID"


def test_unknown_configuration_is_resource_not_found(notify: Any) -> None:
    with pytest.raises(notify.exceptions.ResourceNotFoundException) as raised:
        notify_send(notify, configuration="no-such-config")

    response = raised.value.response
    assert response["resourceId"] == "no-such-config"
    assert response["resourceType"] == "NotifyCodeConfiguration"


def test_arn_of_another_resource_is_resource_not_found(notify: Any) -> None:
    arn = "arn:aws:end-user-messaging:us-east-1:000000000000:brand-profile/otpq-test"
    with pytest.raises(notify.exceptions.ResourceNotFoundException):
        notify_send(notify, configuration=arn)


def test_unsigned_request_is_access_denied(sandbox: PinpointSandbox) -> None:
    client = make_notify_client(sandbox.url, signature_version=UNSIGNED)

    with pytest.raises(client.exceptions.AccessDeniedException):
        notify_send(client)
    with pytest.raises(client.exceptions.AccessDeniedException):
        notify_validate(client, "123456")
    client.close()
    assert sandbox.control.outbox() == []


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"channel": "EMAIL"}, "/channel"),
        ({"destination": "5550123442"}, "/destinationIdentity"),
        ({"destination": "+1555"}, "/destinationIdentity"),
        ({"configuration": "bad config"}, "/notifyCodeConfiguration"),
        ({"reference_id": "has space"}, "/referenceId"),
        ({"configurationSetName": "a.b"}, "/configurationSetName"),
        ({"context": {f"k{n}": "v" for n in range(6)}}, "/context"),
        ({"overrideCodeConfigurationParameters": {"codeLength": 3}}, "/codeLength"),
        ({"overrideCodeConfigurationParameters": {"codeLength": 9}}, "/codeLength"),
        ({"overrideCodeConfigurationParameters": {"codeType": "HEX"}}, "/codeType"),
        ({"overrideCodeConfigurationParameters": {"validityPeriodMinutes": 0}}, "/validityPeriod"),
        ({"overrideCodeConfigurationParameters": {"validityPeriodMinutes": 61}}, "/validity"),
        ({"overrideCodeConfigurationParameters": {"maxAttempts": 0}}, "/maxAttempts"),
        ({"overrideCodeConfigurationParameters": {"maxAttempts": 6}}, "/maxAttempts"),
        (
            {"overrideChannelParameters": {"text": {"inlineTemplateBody": "no placeholder"}}},
            "/overrideChannelParameters/text/inlineTemplateBody",
        ),
        ({"configuration": None}, "/overrideChannelParameters/text"),
        ({"configuration": None, "channel": "WHATSAPP"}, "/overrideChannelParameters/whatsApp"),
    ],
)
def test_invalid_send_is_a_validation_error_listing_the_field(
    notify_unchecked: Any, control: SandboxControl, params: dict[str, Any], path: str
) -> None:
    with pytest.raises(notify_unchecked.exceptions.ValidationException) as raised:
        notify_send(notify_unchecked, **params)

    fields = raised.value.response["fieldList"]
    assert [f for f in fields if path in f["path"] and f["message"]], fields
    assert control.outbox() == []


def test_every_failed_field_is_listed(notify_unchecked: Any) -> None:
    with pytest.raises(notify_unchecked.exceptions.ValidationException) as raised:
        notify_send(
            notify_unchecked,
            channel="FAX",
            destination="555",
            overrideCodeConfigurationParameters={"codeLength": 9, "maxAttempts": 9},
        )

    paths = [f["path"] for f in raised.value.response["fieldList"]]
    assert paths == [
        "/channel",
        "/destinationIdentity",
        "/overrideCodeConfigurationParameters/codeLength",
        "/overrideCodeConfigurationParameters/maxAttempts",
    ]
    assert raised.value.response["message"].startswith("4 validation errors detected")


@pytest.mark.parametrize(
    ("code", "destination"),
    [("123", PHONE), ("123456789", PHONE), ("12-456", PHONE), ("123456", "not-a-number")],
)
def test_invalid_validate_is_a_validation_error(
    notify_unchecked: Any, code: str, destination: str
) -> None:
    with pytest.raises(notify_unchecked.exceptions.ValidationException) as raised:
        notify_validate(notify_unchecked, code, destination=destination)

    assert raised.value.response["fieldList"]


def test_validation_errors_never_repeat_the_code_or_the_number(notify_unchecked: Any) -> None:
    with pytest.raises(notify_unchecked.exceptions.ValidationException) as raised:
        notify_validate(notify_unchecked, "12-45", destination="+15550123442x")

    text = json.dumps(raised.value.response["fieldList"]) + raised.value.response["message"]
    assert "12-45" not in text and "5550123442" not in text


def test_missing_required_member_is_a_validation_error(sandbox: PinpointSandbox) -> None:
    body = json.dumps({"channel": "TEXT", "destinationIdentity": PHONE}).encode()

    response, error = _raw(sandbox, "POST", "/v1/notify-code-verifications/send", body)

    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "ValidationException"
    assert error["fieldList"] == [
        {"path": "/originationIdentity", "message": "Member must not be null"}
    ]


def test_non_json_body_is_a_validation_error(sandbox: PinpointSandbox) -> None:
    response, error = _raw(sandbox, "POST", "/v1/notify-code-verifications/validate", b"{no")

    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "ValidationException"
    assert "JSON" in error["message"]


def test_oversized_body_is_a_validation_error_and_the_connection_survives(
    notify_unchecked: Any, sandbox: PinpointSandbox
) -> None:
    with pytest.raises(notify_unchecked.exceptions.ValidationException, match="too large"):
        notify_send(notify_unchecked, context={"k": "v" * 200_000})

    assert notify_validate(notify_unchecked, "123456") == "INVALID"
    assert sandbox.state.stats.to_json()["connections"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/notify-code-verifications/send"), ("POST", "/v1/notify-code-configurations")],
)
def test_unknown_notify_route_answers_in_notify_form(
    sandbox: PinpointSandbox, method: str, path: str
) -> None:
    response, error = _raw(sandbox, method, path, b"{}")

    assert response.status == 404
    assert response.getheader("x-amzn-ErrorType") == "UnknownOperationException"
    assert "message" in error and "Message" not in error


def test_pinpoint_errors_are_unchanged_beside_notify(pinpoint: Any) -> None:
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="CodeLength"):
        send(pinpoint, CodeLength=4)
