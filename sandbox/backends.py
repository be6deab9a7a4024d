"""The two APIs the sandbox serves, their operations, and which errors each may raise.

Faults are stated once and apply to both backends, so an error named in one backend's
vocabulary is translated to its twin in the other (Pinpoint's TooManyRequestsException is
Notify's ThrottlingException). An error with no twin, or one an operation does not
declare, is never injected into that operation: botocore would not raise it as modeled.
"""

from __future__ import annotations

from sandbox.errors import MODELED_ERRORS
from sandbox.notify_errors import NOTIFY_ERRORS

PINPOINT = "pinpoint"
NOTIFY = "notify"

PINPOINT_SEND = "SendOTPMessage"
PINPOINT_VERIFY = "VerifyOTPMessage"
NOTIFY_SEND = "SendNotifyCodeVerification"
NOTIFY_VALIDATE = "ValidateNotifyCodeVerification"

OPERATIONS: dict[str, tuple[str, str]] = {
    PINPOINT: (PINPOINT_SEND, PINPOINT_VERIFY),
    NOTIFY: (NOTIFY_SEND, NOTIFY_VALIDATE),
}
BACKEND_OF = {op: backend for backend, ops in OPERATIONS.items() for op in ops}

#: The error shapes each operation declares in its botocore model.
OPERATION_ERRORS: dict[str, frozenset[str]] = {
    PINPOINT_SEND: frozenset(MODELED_ERRORS),
    PINPOINT_VERIFY: frozenset(MODELED_ERRORS),
    NOTIFY_SEND: frozenset(NOTIFY_ERRORS),
    NOTIFY_VALIDATE: frozenset(
        {
            "ValidationException",
            "ThrottlingException",
            "AccessDeniedException",
            "InternalServerException",
        }
    ),
}

_TWINS = {
    "BadRequestException": "ValidationException",
    "ForbiddenException": "AccessDeniedException",
    "NotFoundException": "ResourceNotFoundException",
    "TooManyRequestsException": "ThrottlingException",
    "InternalServerErrorException": "InternalServerException",
}
TWINS = _TWINS | {notify: pinpoint for pinpoint, notify in _TWINS.items()}

ALL_ERRORS = frozenset(MODELED_ERRORS) | frozenset(NOTIFY_ERRORS)


def resolve(name: str, operation: str) -> str | None:
    """``name`` as ``operation`` would raise it, or None if it cannot raise it at all."""
    declared = OPERATION_ERRORS[operation]
    if name in declared:
        return name
    twin = TWINS.get(name)
    return twin if twin in declared else None
