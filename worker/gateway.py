"""`PinpointGateway`: the only code that knows Pinpoint's request and response shapes.

It turns a request model into SendOTPMessage / VerifyOTPMessage calls and every
answer into one of three things: a result, `Transient` (worth another attempt) or
`Permanent` (asking again cannot help). A 200 from SendOTPMessage is not success by
itself: the per-destination `DeliveryStatus` decides.

botocore's own retries are off (`total_max_attempts=1`): the task retries with
backoff outside the worker slot, and two retry layers would multiply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from producer.redaction import redact_text
from producer.requests import SendRequest, VerifyRequest
from producer.settings import Settings
from worker import metrics

log = logging.getLogger(__name__)

#: Region used when neither AWS_REGION nor AWS_DEFAULT_REGION is set.
FALLBACK_REGION = "us-east-1"

SUCCESSFUL = "SUCCESSFUL"
#: DeliveryStatus values worth another attempt.
TRANSIENT_STATUSES = frozenset({"THROTTLED", "TEMPORARY_FAILURE", "UNKNOWN_FAILURE", "TIMEOUT"})
#: DeliveryStatus values that another attempt cannot change.
PERMANENT_STATUSES = frozenset({"PERMANENT_FAILURE", "OPT_OUT", "DUPLICATE"})
#: HTTP statuses of modeled errors that are the caller's fault.
PERMANENT_HTTP = frozenset({400, 403, 404, 405, 413})


class GatewayError(Exception):
    """Base of the gateway's verdicts; `code` is Pinpoint's error or status name."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = redact_text(message)[:300]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class Transient(GatewayError):
    """Retry later. `throttled` marks Pinpoint saying "too fast" (429, THROTTLED)."""

    @property
    def throttled(self) -> bool:
        return self.code in ("TooManyRequestsException", "THROTTLED")


class Permanent(GatewayError):
    """Do not retry: the request, the account or the destination is refused."""


@dataclass(frozen=True)
class Delivery:
    """What Pinpoint said about one accepted SendOTPMessage."""

    message_id: str
    delivery_status: str
    status_code: int | None


class PinpointGateway:
    """Wraps one boto3 Pinpoint client; make one per worker process and reuse it."""

    def __init__(
        self, client: Any, application_id: str | None, origination_identity: str | None = None
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.origination_identity = origination_identity

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> PinpointGateway:
        config = Config(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool_size,
            tcp_keepalive=True,
            # Every field was already checked against Pinpoint's documented limits by
            # SendRequest / VerifyRequest; botocore's validator would walk the shapes
            # again on every call (a tenth of a call's CPU, bench/throughput.py).
            parameter_validation=False,
        )
        region = settings.region or FALLBACK_REGION
        client = boto3.session.Session().client("pinpoint", region_name=region, config=config)
        metrics.instrument(client)
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
        origination = request.origination_identity or self.origination_identity
        if origination:
            params["OriginationIdentity"] = origination
        if request.entity_id:
            params["EntityId"] = request.entity_id
        if request.template_id:
            params["TemplateId"] = request.template_id
        response = self._call(
            self.client.send_otp_message,
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
        )

    def verify(self, request: VerifyRequest) -> bool:
        response = self._call(
            self.client.verify_otp_message,
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

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return method(**kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            raise classify_client_error(exc) from None
        except (BotoConnectionError, HTTPClientError) as exc:
            # Connect/read timeouts, refused or reset connections: the request may or
            # may not have reached Pinpoint; retrying is what the outcome table asks.
            raise Transient(type(exc).__name__, str(exc)) from None
        except (NoCredentialsError, NoRegionError) as exc:
            raise Permanent("Misconfigured", str(exc)) from None
        except BotoCoreError as exc:
            raise Permanent(type(exc).__name__, str(exc)) from None


def classify_client_error(exc: ClientError) -> GatewayError:
    """429 and 5xx are transient; 400/403/404/405/413 and other 4xx are permanent."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or "ClientError"
    message = error.get("Message", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if status == 429 or code == "TooManyRequestsException" or status >= 500:
        return Transient(code, message)
    return Permanent(code, message)
