"""Gateways: the only code that knows a backend's request and response shapes.

One interface (`Gateway`: `send`, `verify`, and the verdicts `Transient` / `Permanent`),
one implementation per backend: `PinpointGateway` (Amazon Pinpoint's SendOTPMessage /
VerifyOTPMessage) and `NotifyGateway` (AWS End User Messaging Notify's
SendNotifyCodeVerification / ValidateNotifyCodeVerification). Tasks and policies never
see a boto3 shape; they see a `Delivery`, a bool, or one of the two verdicts.
"""

from __future__ import annotations

from worker.gateways.base import (
    BACKENDS,
    Delivery,
    Gateway,
    GatewayError,
    Permanent,
    Transient,
    build_gateway,
)
from worker.gateways.notify import NotifyGateway
from worker.gateways.pinpoint import PinpointGateway

__all__ = [
    "BACKENDS",
    "Delivery",
    "Gateway",
    "GatewayError",
    "NotifyGateway",
    "Permanent",
    "PinpointGateway",
    "Transient",
    "build_gateway",
]
