"""`PinpointGateway`: Amazon Pinpoint's SendOTPMessage / VerifyOTPMessage.

A 200 from SendOTPMessage is not success by itself: the per-destination
`DeliveryStatus` decides. Pinpoint sends SMS only (the request model refuses other
channels for this backend before anything is queued).
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
    Transient,
    boto_client,
    call,
    classify,
    origination_for,
)

SUCCESSFUL = "SUCCESSFUL"
#: DeliveryStatus values worth another attempt.
TRANSIENT_STATUSES = frozenset({"THROTTLED", "TEMPORARY_FAILURE", "UNKNOWN_FAILURE", "TIMEOUT"})
#: DeliveryStatus values that another attempt cannot change.
PERMANENT_STATUSES = frozenset({"PERMANENT_FAILURE", "OPT_OUT", "DUPLICATE"})
#: Modeled errors that another attempt can fix (besides any 429 or 5xx).
TRANSIENT_ERRORS = frozenset({"TooManyRequestsException"})
#: HTTP statuses of modeled errors that are the caller's fault.
PERMANENT_HTTP = frozenset({400, 403, 404, 405, 413})


class PinpointGateway:
    """Wraps one boto3 Pinpoint client."""

    backend = "pinpoint"

    def __init__(
        self, client: Any, application_id: str | None, origination_identity: str | None = None
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.origination_identity = origination_identity

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> PinpointGateway:
        client = boto_client("pinpoint", settings, pool_size)
        return cls(client, settings.application_id, settings.origination_identity)

    def send(self, request: SendRequest) -> Delivery:
        params: dict[str, Any] = {
            "Channel": "SMS",
            "BrandName": request.brand_name,
            "CodeLength": request.code_length,
            "ValidityPeriod": request.validity_period,
            "AllowedAttempts": request.allowed_attempts,
            "Language": request.language,
            "DestinationIdentity": request.destination,
            "ReferenceId": request.ref_id,
        }
        origination = origination_for(request, self.origination_identity)
        if origination:
            params["OriginationIdentity"] = origination
        if request.entity_id:
            params["EntityId"] = request.entity_id
        if request.template_id:
            params["TemplateId"] = request.template_id
        response = call(
            self.client.send_otp_message,
            classify_client_error,
            ApplicationId=self._application_id(),
            SendOTPMessageRequestParameters=params,
        )
        result = response.get("MessageResponse", {}).get("Result", {})
        entry = result.get(request.destination)
        if entry is None and len(result) == 1:
            entry = next(iter(result.values()))
        if entry is None:
            raise Transient("UNKNOWN_FAILURE", "no result for the destination in the response")
        status = entry.get("DeliveryStatus", "UNKNOWN_FAILURE")
        if status in TRANSIENT_STATUSES:
            raise Transient(status, entry.get("StatusMessage", ""))
        if status != SUCCESSFUL:
            # PERMANENT_FAILURE, OPT_OUT, DUPLICATE, and any value AWS adds later: an
            # unknown status is not retried, so a new meaning cannot cause a double send.
            raise Permanent(status, entry.get("StatusMessage", ""))
        return Delivery(
            message_id=entry.get("MessageId", ""),
            delivery_status=status,
            status_code=entry.get("StatusCode"),
            backend=self.backend,
        )

    def verify(self, request: VerifyRequest) -> bool:
        response = call(
            self.client.verify_otp_message,
            classify_client_error,
            ApplicationId=self._application_id(),
            VerifyOTPMessageRequestParameters={
                "DestinationIdentity": request.destination,
                "Otp": request.otp,
                "ReferenceId": request.ref_id,
            },
        )
        return bool(response.get("VerificationResponse", {}).get("Valid", False))

    def _application_id(self) -> str:
        if not self.application_id:
            raise Permanent("Misconfigured", "PINPOINT_APPLICATION_ID is not set on the worker")
        return self.application_id


def classify_client_error(exc: ClientError) -> GatewayError:
    """429 and 5xx are transient; 400/403/404/405/413 and other 4xx are permanent."""
    return classify(exc, TRANSIENT_ERRORS)
