"""NotifyGateway through botocore's Stubber on the `endusermessaging` model: every
parameter's mapping asserted with `expected_params`, every modeled error classified on
the side the outcome table says, and the channel and reference-id refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from botocore.stub import Stubber

from otpq_core.outcomes import InvalidRequest
from otpq_core.settings import Settings
from producer.requests import SendRequest, VerifyRequest
from worker.gateways import NotifyGateway, Permanent, Transient, build_gateway

CONFIG = "ncc-0123456789abcdef"
ORIGIN = "+18005550199"
DEST = "+14255550142"
BASE = {"destination": DEST, "brand_name": "ExampleCorp", "source": "Login"}
SEND = SendRequest.from_kwargs(BASE)
VERIFY = VerifyRequest.from_kwargs({**BASE, "otp": "123456"})
SENT = {"verificationId": "v-1", "messageId": "m-1"}


@pytest.fixture
def client() -> Iterator[Any]:
    yield boto3.client(
        "endusermessaging",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )


def expected(request: SendRequest, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "TEXT",
        "destinationIdentity": DEST,
        "originationIdentity": ORIGIN,
        "referenceId": request.ref_id,
        "notifyCodeConfiguration": CONFIG,
        "overrideCodeConfigurationParameters": {
            "codeType": "NUMERIC",
            "codeLength": request.code_length,
            "validityPeriodMinutes": request.validity_period,
            "maxAttempts": request.allowed_attempts,
        },
        **extra,
    }


def test_sms_send_maps_to_text_with_the_default_reference_id(client: Any) -> None:
    gateway = NotifyGateway(client, CONFIG, ORIGIN)
    with Stubber(client) as stub:
        stub.add_response("send_notify_code_verification", SENT, expected(SEND))
        delivery = gateway.send(SEND)
        stub.assert_no_pending_responses()
    # The same reference id Pinpoint would get: the AWS example's md5 scheme.
    assert SEND.ref_id == VERIFY.ref_id
    assert (delivery.message_id, delivery.delivery_status, delivery.backend) == (
        "m-1",
        "SUCCESSFUL",
        "notify",
    )


def test_every_parameter(client: Any) -> None:
    request = SendRequest.from_kwargs(
        {
            **BASE,
            "code_length": 8,
            "validity_period": 30,
            "allowed_attempts": 5,
            "reference_id": "ref_9-x",
            "origination_identity": "+18005550100",
            "entity_id": "E-1",
            "template_id": "T-1",
        }
    )
    gateway = NotifyGateway(client, CONFIG, ORIGIN)
    params = {
        **expected(request),
        "originationIdentity": "+18005550100",
        "overrideChannelParameters": {
            "text": {
                "destinationCountryParameters": {"IN_ENTITY_ID": "E-1", "IN_TEMPLATE_ID": "T-1"}
            }
        },
    }
    with Stubber(client) as stub:
        stub.add_response("send_notify_code_verification", SENT, params)
        gateway.send(request)


@pytest.mark.parametrize(
    ("channel", "wire", "overrides"),
    [
        ("VOICE", "VOICE", {"voice": {"languageCode": "fr-FR"}}),
        ("WHATSAPP", "WHATSAPP", {"whatsApp": {"languageCode": "fr-FR"}}),
    ],
)
def test_voice_and_whatsapp_carry_the_language(
    client: Any, channel: str, wire: str, overrides: dict[str, Any]
) -> None:
    request = SendRequest.from_kwargs({**BASE, "channel": channel, "language": "fr-FR"})
    params = {**expected(request), "channel": wire, "overrideChannelParameters": overrides}
    with Stubber(client) as stub:
        stub.add_response("send_notify_code_verification", SENT, params)
        NotifyGateway(client, CONFIG, ORIGIN).send(request)


def test_without_a_configuration_none_is_sent(client: Any) -> None:
    params = expected(SEND)
    del params["notifyCodeConfiguration"]
    with Stubber(client) as stub:
        stub.add_response("send_notify_code_verification", SENT, params)
        NotifyGateway(client, None, ORIGIN).send(SEND)


def test_without_an_origination_identity_nothing_is_called(client: Any) -> None:
    with Stubber(client), pytest.raises(Permanent, match="PINPOINT_ORIGINATION_IDENTITY"):
        NotifyGateway(client, CONFIG, None).send(SEND)


@pytest.mark.parametrize(("status", "valid"), [("VALID", True), ("INVALID", False)])
def test_verify_reads_status(client: Any, status: str, valid: bool) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "validate_notify_code_verification",
            {"status": status},
            {"destinationIdentity": DEST, "code": "123456", "referenceId": VERIFY.ref_id},
        )
        assert NotifyGateway(client, CONFIG, ORIGIN).verify(VERIFY) is valid


SEND_ERRORS = [
    ("ValidationException", 400, Permanent),
    ("AccessDeniedException", 403, Permanent),
    ("ResourceNotFoundException", 404, Permanent),
    ("ConflictException", 409, Permanent),
    ("ServiceQuotaExceededException", 400, Permanent),
    ("ThrottlingException", 429, Transient),
    ("InternalServerException", 500, Transient),
    ("ServiceUnavailable", 503, Transient),
]


def test_every_modeled_error_is_classified(client: Any) -> None:
    """The table covers every error shape the model declares for both operations."""
    model = client.meta.service_model
    declared = {
        shape.name
        for op in ("SendNotifyCodeVerification", "ValidateNotifyCodeVerification")
        for shape in model.operation_model(op).error_shapes
    }
    assert declared <= {code for code, _, _ in SEND_ERRORS}


@pytest.mark.parametrize(("code", "http", "verdict"), SEND_ERRORS)
@pytest.mark.parametrize("operation", ["send", "verify"])
def test_errors(client: Any, code: str, http: int, verdict: type, operation: str) -> None:
    gateway = NotifyGateway(client, CONFIG, ORIGIN)
    method = (
        "send_notify_code_verification"
        if operation == "send"
        else "validate_notify_code_verification"
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            method,
            service_error_code=code,
            service_message=f"refused for {DEST}",
            http_status_code=http,
        )
        with pytest.raises(verdict) as info:
            gateway.send(SEND) if operation == "send" else gateway.verify(VERIFY)
    assert info.value.code == code
    assert DEST not in str(info.value)
    if verdict is Transient:
        assert info.value.throttled == (code == "ThrottlingException")


@pytest.mark.parametrize(
    "error",
    [EndpointConnectionError(endpoint_url="http://x"), ConnectTimeoutError(endpoint_url="x")],
)
def test_connection_errors_are_transient(error: Exception) -> None:
    class Broken:
        def send_notify_code_verification(self, **_: object) -> None:
            raise error

    with pytest.raises(Transient):
        NotifyGateway(Broken(), CONFIG, ORIGIN).send(SEND)


def test_built_from_settings_with_one_attempt_and_the_endpoint_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ENDUSERMESSAGING", "http://127.0.0.1:9")
    settings = Settings.from_env(
        {
            "OTPQ_BACKEND": "notify",
            "OTPQ_NOTIFY_CONFIGURATION": CONFIG,
            "OTPQ_ORIGINATION_IDENTITY": ORIGIN,
        }
    )
    gateway = build_gateway(settings, settings.backend, pool_size=7)
    assert isinstance(gateway, NotifyGateway)
    assert (gateway.configuration, gateway.origination_identity) == (CONFIG, ORIGIN)
    client = gateway.client  # type: ignore[attr-defined]
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.max_pool_connections == 7


def test_pinpoint_takes_sms_only_naming_channel() -> None:
    request = SendRequest.from_kwargs({**BASE, "channel": "VOICE"})
    with pytest.raises(InvalidRequest) as info:
        request.check_backend("pinpoint")
    assert info.value.field == "channel"
    request.check_backend("notify")
    SEND.check_backend("pinpoint")


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        SendRequest.from_kwargs({**BASE, "channel": "TEXT"})
    assert info.value.field == "channel"


@pytest.mark.parametrize("reference_id", ["has space", "dot.ted", "x" * 129])
def test_notify_refuses_a_reference_id_outside_its_pattern(reference_id: str) -> None:
    try:
        request = SendRequest.from_kwargs({**BASE, "reference_id": reference_id})
    except InvalidRequest as exc:  # already too long for the request model
        assert exc.field == "reference_id"
        return
    request.check_backend("pinpoint")
    with pytest.raises(InvalidRequest) as info:
        request.check_backend("notify")
    assert info.value.field == "reference_id"


def test_dlt_ids_apply_to_sms_only_on_notify() -> None:
    request = SendRequest.from_kwargs({**BASE, "channel": "VOICE", "entity_id": "E-1"})
    with pytest.raises(InvalidRequest) as info:
        request.check_backend("notify")
    assert info.value.field == "entity_id"


def test_backend_setting() -> None:
    from otpq_core.settings import ConfigError

    assert Settings.from_env({}).backend == "pinpoint"
    assert Settings.from_env({"OTPQ_BACKEND": "Notify"}).backend == "notify"
    with pytest.raises(ConfigError, match="OTPQ_BACKEND"):
        Settings.from_env({"OTPQ_BACKEND": "sns"})
    both = {"PINPOINT_ORIGINATION_IDENTITY": "+1800", "OTPQ_ORIGINATION_IDENTITY": "+1900"}
    assert Settings.from_env(both).origination_identity == "+1800"
