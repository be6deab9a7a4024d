"""What every gateway shares: the verdicts, the delivery record, the boto3 client setup.

botocore's own retries are off (`total_max_attempts=1`): the task retries with backoff
outside the worker slot, and two retry layers would multiply. Connect and read
timeouts are always set: a call without them can hold a slot forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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

from otpq_core.aws import aws_region
from otpq_core.redaction import redact_text
from otpq_core.settings import BACKENDS, Settings
from worker import metrics

if TYPE_CHECKING:
    from producer.requests import SendRequest, VerifyRequest

#: Error codes and delivery statuses that mean "too fast": they slow the fleet down
#: and cost no attempt.
THROTTLED_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "THROTTLED"})


def origination_for(request: SendRequest, default: str | None) -> str | None:
    """The number or sender id a send goes out from: the request's own, else the
    configured one (OTPQ_ORIGINATION_IDENTITY). The one place this default is resolved:
    the gateways send from it, and the throttle's per-origination bucket is keyed by it."""
    return request.origination_identity or default


class GatewayError(Exception):
    """Base of the gateway's verdicts; `code` is the backend's error or status name."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = redact_text(message)[:300]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class Transient(GatewayError):
    """Retry later. `throttled` marks the backend saying "too fast" (429, THROTTLED)."""

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLED_CODES


class Permanent(GatewayError):
    """Do not retry: the request, the account or the destination is refused."""


@dataclass(frozen=True)
class Delivery:
    """What the backend said about one accepted send."""

    message_id: str
    delivery_status: str
    status_code: int | None
    #: Which backend sent it ("pinpoint" | "notify"): a verify must go to the same one.
    backend: str = "pinpoint"


class Gateway(Protocol):
    """One backend's OTP operations. Make one per worker process and reuse it."""

    #: The OTPQ_BACKEND value this gateway serves.
    backend: str

    def send(self, request: SendRequest) -> Delivery:
        """Send a code, or raise `Transient` / `Permanent`."""
        ...

    def verify(self, request: VerifyRequest) -> bool:
        """Whether the code is right, or raise `Transient` / `Permanent`."""
        ...


def client_config(settings: Settings, pool_size: int) -> Config:
    return Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=pool_size,
        tcp_keepalive=True,
        # Every field was already checked by SendRequest / VerifyRequest; botocore's
        # validator would walk the shapes again on every call (a tenth of a call's
        # CPU, bench/throughput.py).
        parameter_validation=False,
    )


def boto_client(service: str, settings: Settings, pool_size: int) -> Any:
    """A boto3 client for `service`, timed by otpq's metrics. botocore reads
    AWS_ENDPOINT_URL_<SERVICE> and the credential chain itself."""
    region = aws_region(settings.region)
    client = boto3.session.Session().client(
        service, region_name=region, config=client_config(settings, pool_size)
    )
    metrics.instrument(client)
    return client


def call(method: Any, classify: Callable[[ClientError], GatewayError], **kwargs: Any) -> Any:
    """Call a boto3 operation; every failure leaves as `Transient` or `Permanent`."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        raise classify(exc) from None
    except (BotoConnectionError, HTTPClientError) as exc:
        # Connect/read timeouts, refused or reset connections: the request may or may
        # not have reached the backend; retrying is what the outcome table asks.
        raise Transient(type(exc).__name__, str(exc)) from None
    except (NoCredentialsError, NoRegionError) as exc:
        raise Permanent("Misconfigured", str(exc)) from None
    except BotoCoreError as exc:
        raise Permanent(type(exc).__name__, str(exc)) from None


def classify(exc: ClientError, transient_codes: frozenset[str]) -> GatewayError:
    """429, 5xx and the backend's own transient error codes are `Transient`; every other
    error (the caller's, the account's, the destination's) is `Permanent`."""
    code, message, status = error_parts(exc)
    if code in transient_codes or status == 429 or status >= 500:
        return Transient(code, message)
    return Permanent(code, message)


def error_parts(exc: ClientError) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a modeled or unmodeled error response."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or "ClientError"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code, error.get("Message", ""), status


def build_gateway(settings: Settings, backend: str, *, pool_size: int) -> Gateway:
    """The gateway for one backend name (OTPQ_BACKEND's values)."""
    from worker.gateways.notify import NotifyGateway
    from worker.gateways.pinpoint import PinpointGateway

    if backend == "pinpoint":
        return PinpointGateway.from_settings(settings, pool_size=pool_size)
    if backend == "notify":
        return NotifyGateway.from_settings(settings, pool_size=pool_size)
    raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
