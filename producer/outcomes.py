"""The outcome exceptions, under the producer's name: the path web backends import them
by, and the module that results stored by workers before otpq_core existed name (Celery
rebuilds a stored exception from its module and class). They live in otpq_core.outcomes."""

from __future__ import annotations

from otpq_core.outcomes import (
    REASONS,
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
    Retrying,
    Uncertain,
    reason_of,
)

__all__ = [
    "REASONS",
    "Cancelled",
    "DestinationBlocked",
    "DestinationLimited",
    "DestinationLocked",
    "GaveUp",
    "InvalidRequest",
    "JobExpired",
    "OtpqError",
    "PinpointRejected",
    "ResendCooldown",
    "Retrying",
    "Uncertain",
    "reason_of",
]
