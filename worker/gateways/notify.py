"""`NotifyGateway`: AWS End User Messaging Notify's code verification
(`SendNotifyCodeVerification` / `ValidateNotifyCodeVerification`, boto3 client
`endusermessaging`, API 2026-09-21).

AWS generates and checks the code; `referenceId` binds a send to its validation, so
otpq sends the same reference id it would send Pinpoint (the AWS example's md5 by
default), and a verify for a code sent here must come back here (worker/code_origins.py).

Parameter mapping (README, "Parameters on each backend"):

- channel SMS → TEXT; VOICE and WHATSAPP as they are.
- code_length, validity_period, allowed_attempts → overrideCodeConfigurationParameters,
  with codeType NUMERIC (otp.verify takes digits).
- language → the voice or WhatsApp channel's languageCode; a text message uses the
  code configuration's template, which has no per-message language.
- entity_id / template_id → the text channel's destinationCountryParameters
  IN_ENTITY_ID / IN_TEMPLATE_ID (India's DLT registration); refused on other channels.
- brand_name and source make the reference id; the brand shown to the user is the code
  configuration's template (OTPQ_NOTIFY_CONFIGURATION).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from otpq_core.settings import Settings
from producer.requests import SendRequest, VerifyRequest
from worker.gateways.base import (
    Delivery,
    GatewayError,
    Permanent,
    boto_client,
    call,
    classify,
    origination_for,
)

#: otpq's channel names → Notify's.
CHANNELS = {"SMS": "TEXT", "VOICE": "VOICE", "WHATSAPP": "WHATSAPP"}
#: Modeled errors that another attempt can fix.
TRANSIENT_ERRORS = frozenset({"ThrottlingException", "InternalServerException"})
#: destinationCountryParameters keys for India's DLT registration.
ENTITY_ID_KEY = "IN_ENTITY_ID"
TEMPLATE_ID_KEY = "IN_TEMPLATE_ID"


class NotifyGateway:
    """Wraps one boto3 `endusermessaging` client."""

    backend = "notify"

    def __init__(
        self,
        client: Any,
        configuration: str | None,
        origination_identity: str | None = None,
    ) -> None:
        self.client = client
        self.configuration = configuration
        self.origination_identity = origination_identity

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> NotifyGateway:
        client = boto_client("endusermessaging", settings, pool_size)
        return cls(client, settings.notify_configuration, settings.origination_identity)

    def send(self, request: SendRequest) -> Delivery:
        response = call(
            self.client.send_notify_code_verification,
            classify_client_error,
            **self.send_params(request),
        )
        return Delivery(
            message_id=str(response.get("messageId", "")),
            delivery_status="SUCCESSFUL",
            status_code=200,
            backend=self.backend,
        )

    def send_params(self, request: SendRequest) -> dict[str, Any]:
        origination = origination_for(request, self.origination_identity)
        if not origination:
            raise Permanent(
                "Misconfigured",
                "PINPOINT_ORIGINATION_IDENTITY (or OTPQ_ORIGINATION_IDENTITY) is not set on "
                "the worker: Notify needs a sending identity",
            )
        channel = CHANNELS[request.channel]
        params: dict[str, Any] = {
            "channel": channel,
            "destinationIdentity": request.destination,
            "originationIdentity": origination,
            "referenceId": request.ref_id,
            "overrideCodeConfigurationParameters": {
                "codeType": "NUMERIC",
                "codeLength": request.code_length,
                "validityPeriodMinutes": request.validity_period,
                "maxAttempts": request.allowed_attempts,
            },
        }
        if self.configuration:
            params["notifyCodeConfiguration"] = self.configuration
        overrides = channel_parameters(request, channel)
        if overrides:
            params["overrideChannelParameters"] = overrides
        return params

    def verify(self, request: VerifyRequest) -> bool:
        response = call(
            self.client.validate_notify_code_verification,
            classify_client_error,
            destinationIdentity=request.destination,
            code=request.otp,
            referenceId=request.ref_id,
        )
        return response.get("status") == "VALID"


def channel_parameters(request: SendRequest, channel: str) -> dict[str, Any]:
    """overrideChannelParameters for one send (empty when the configuration's suffice)."""
    if channel == "TEXT":
        country: dict[str, str] = {}
        if request.entity_id:
            country[ENTITY_ID_KEY] = request.entity_id
        if request.template_id:
            country[TEMPLATE_ID_KEY] = request.template_id
        return {"text": {"destinationCountryParameters": country}} if country else {}
    if channel == "VOICE":
        return {"voice": {"languageCode": request.language}}
    return {"whatsApp": {"languageCode": request.language}}


def classify_client_error(exc: ClientError) -> GatewayError:
    """Throttling and server errors are transient; validation, access, not found,
    conflict and quota errors are permanent (the README's outcome table)."""
    return classify(exc, TRANSIENT_ERRORS)
