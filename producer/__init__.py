"""otpq's producer side: what a web backend imports. Never imports boto3 or the worker."""

from producer.aio import AsyncOtpClient
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from producer.outcomes import (
    Cancelled,
    DestinationBlocked,
    DestinationLimited,
    DestinationLocked,
    GaveUp,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    ResendCooldown,
    Uncertain,
)
from producer.refid import generate_ref_id
from producer.requests import SendRequest, VerifyRequest
from producer.settings import ConfigError, Settings

__all__ = [
    "AsyncOtpClient",
    "BrokerUnavailable",
    "Cancelled",
    "ConfigError",
    "DestinationBlocked",
    "DestinationLimited",
    "DestinationLocked",
    "GaveUp",
    "InvalidRequest",
    "JobExpired",
    "JobStatus",
    "OtpClient",
    "OtpqError",
    "PinpointRejected",
    "ResendCooldown",
    "SendRequest",
    "Settings",
    "Uncertain",
    "VerifyRequest",
    "generate_ref_id",
]
