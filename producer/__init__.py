"""otpq's producer side: what a web backend imports. Never imports boto3 or the worker."""

from otpq_core.outcomes import (
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
from otpq_core.settings import ConfigError, Settings
from producer.aio import AsyncOtpClient
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from producer.refid import generate_ref_id
from producer.requests import SendRequest, VerifyRequest

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
