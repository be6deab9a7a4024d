"""Gateway classification through botocore's Stubber: the request shape is asserted,
and every DeliveryStatus and modeled exception lands on the side the outcome table says."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from botocore.validate import ParamValidationDecorator

from otpq_core.settings import Settings
from producer.requests import SendRequest, VerifyRequest
from worker.gateways import Permanent, PinpointGateway, Transient

APP = "app-1"
DEST = "+14255550142"
SEND = SendRequest.from_kwargs(
    {"destination": DEST, "brand_name": "ExampleCorp", "source": "Login"}
)


@pytest.fixture
def client() -> Iterator[object]:
    yield boto3.client(
        "pinpoint",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )


def message_response(status: str, code: int = 200) -> dict[str, object]:
    return {
        "MessageResponse": {
            "ApplicationId": APP,
            "Result": {DEST: {"DeliveryStatus": status, "MessageId": "m-1", "StatusCode": code}},
        }
    }


def test_send_maps_every_parameter(client: object) -> None:
    request = SendRequest.from_kwargs(
        {
            "destination": DEST,
            "brand_name": "ExampleCorp",
            "source": "Login",
            "code_length": 8,
            "validity_period": 30,
            "language": "fr-FR",
            "allowed_attempts": 5,
            "reference_id": "ref-9",
            "origination_identity": "+18005550100",
            "entity_id": "E-1",
            "template_id": "T-1",
        }
    )
    gateway = PinpointGateway(client, APP, origination_identity="+18005550199")
    with Stubber(client) as stub:
        stub.add_response(
            "send_otp_message",
            message_response("SUCCESSFUL"),
            {
                "ApplicationId": APP,
                "SendOTPMessageRequestParameters": {
                    "Channel": "SMS",
                    "BrandName": "ExampleCorp",
                    "CodeLength": 8,
                    "ValidityPeriod": 30,
                    "AllowedAttempts": 5,
                    "Language": "fr-FR",
                    "DestinationIdentity": DEST,
                    "ReferenceId": "ref-9",
                    "OriginationIdentity": "+18005550100",
                    "EntityId": "E-1",
                    "TemplateId": "T-1",
                },
            },
        )
        delivery = gateway.send(request)
        stub.assert_no_pending_responses()
    assert (delivery.message_id, delivery.delivery_status) == ("m-1", "SUCCESSFUL")


def test_send_uses_configured_origination_and_default_reference(client: object) -> None:
    gateway = PinpointGateway(client, APP, origination_identity="+18005550199")
    with Stubber(client) as stub:
        stub.add_response(
            "send_otp_message",
            message_response("SUCCESSFUL"),
            {
                "ApplicationId": APP,
                "SendOTPMessageRequestParameters": {
                    "Channel": "SMS",
                    "BrandName": "ExampleCorp",
                    "CodeLength": 6,
                    "ValidityPeriod": 15,
                    "AllowedAttempts": 3,
                    "Language": "en-US",
                    "DestinationIdentity": DEST,
                    "ReferenceId": SEND.ref_id,
                    "OriginationIdentity": "+18005550199",
                },
            },
        )
        gateway.send(SEND)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("THROTTLED", Transient),
        ("TEMPORARY_FAILURE", Transient),
        ("UNKNOWN_FAILURE", Transient),
        ("TIMEOUT", Transient),
        ("PERMANENT_FAILURE", Permanent),
        ("OPT_OUT", Permanent),
        ("DUPLICATE", Permanent),
        ("SOMETHING_NEW", Permanent),
    ],
)
def test_delivery_status_in_a_200(client: object, status: str, verdict: type) -> None:
    gateway = PinpointGateway(client, APP, "+18005550199")
    with Stubber(client) as stub:
        stub.add_response("send_otp_message", message_response(status, 400))
        with pytest.raises(verdict) as info:
            gateway.send(SEND)
    assert info.value.code == status
    assert info.value.throttled == (status == "THROTTLED") if verdict is Transient else True


@pytest.mark.parametrize(
    ("code", "http", "verdict"),
    [
        ("BadRequestException", 400, Permanent),
        ("ForbiddenException", 403, Permanent),
        ("NotFoundException", 404, Permanent),
        ("MethodNotAllowedException", 405, Permanent),
        ("PayloadTooLargeException", 413, Permanent),
        ("TooManyRequestsException", 429, Transient),
        ("InternalServerErrorException", 500, Transient),
        ("ServiceUnavailable", 503, Transient),
    ],
)
@pytest.mark.parametrize("operation", ["send", "verify"])
def test_modeled_errors(
    client: object, code: str, http: int, verdict: type, operation: str
) -> None:
    gateway = PinpointGateway(client, APP, "+18005550199")
    with Stubber(client) as stub:
        stub.add_client_error(
            f"{operation}_otp_message",
            service_error_code=code,
            service_message=f"nope for {DEST}",
            http_status_code=http,
        )
        with pytest.raises(verdict) as info:
            if operation == "send":
                gateway.send(SEND)
            else:
                gateway.verify(VerifyRequest.from_kwargs({**SEND.to_kwargs(), "otp": "123456"}))
    assert info.value.code == code
    assert DEST not in str(info.value)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://x"),
        ConnectTimeoutError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
    ],
)
def test_connection_errors_are_transient(error: Exception) -> None:
    class Broken:
        def send_otp_message(self, **_: object) -> None:
            raise error

    with pytest.raises(Transient):
        PinpointGateway(Broken(), APP, "+18005550199").send(SEND)


@pytest.mark.parametrize("valid", [True, False])
def test_verify_reads_valid(client: object, valid: bool) -> None:
    gateway = PinpointGateway(client, APP)
    request = VerifyRequest.from_kwargs({**SEND.to_kwargs(), "otp": "123456"})
    with Stubber(client) as stub:
        stub.add_response(
            "verify_otp_message",
            {"VerificationResponse": {"Valid": valid}},
            {
                "ApplicationId": APP,
                "VerifyOTPMessageRequestParameters": {
                    "DestinationIdentity": DEST,
                    "Otp": "123456",
                    "ReferenceId": SEND.ref_id,
                },
            },
        )
        assert gateway.verify(request) is valid


def test_missing_application_id_is_permanent(client: object) -> None:
    with pytest.raises(Permanent, match="PINPOINT_APPLICATION_ID"):
        PinpointGateway(client, None).send(SEND)


def test_client_from_settings_makes_one_attempt_and_trusts_our_validation() -> None:
    client = PinpointGateway.from_settings(Settings()).client
    assert client.meta.config.retries["total_max_attempts"] == 1
    # SendRequest/VerifyRequest checked every field: botocore's validating serializer
    # (meta.config does not show the setting, the serializer does) is not in the path.
    assert not isinstance(client._serializer, ParamValidationDecorator)
