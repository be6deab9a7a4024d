"""Notify's modeled errors, as botocore's rest-json parser recognises them.

The code goes in ``x-amzn-ErrorType``; the body is the error shape itself: ``message``
plus the shape's own members (``fieldList`` for ValidationException, ``resourceId`` and
``resourceType`` for ResourceNotFound and Conflict). botocore fills those members into
``exc.response`` only when the code names a shape the operation declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Every error shape the two Notify operations declare, with its HTTP status.
NOTIFY_ERRORS: dict[str, int] = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}

#: Not modeled: what the front door answers for a route or method botocore never sends.
UNKNOWN_OPERATION = ("UnknownOperationException", 404)

CONFIGURATION_RESOURCE = "NotifyCodeConfiguration"


@dataclass(frozen=True)
class FieldError:
    """One ``ValidationExceptionField``: a JSON pointer and what is wrong there."""

    path: str
    message: str


class NotifyError(Exception):
    """A Notify error raised anywhere in a request; the handler answers it."""

    def __init__(self, name: str, message: str, **members: Any) -> None:
        if name not in NOTIFY_ERRORS and name != UNKNOWN_OPERATION[0]:
            raise ValueError(f"not a modeled Notify error: {name}")
        super().__init__(message)
        self.name = name
        self.message = message
        self.members = members

    @property
    def status(self) -> int:
        return NOTIFY_ERRORS.get(self.name, UNKNOWN_OPERATION[1])

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.members}


def invalid(fields: list[FieldError]) -> NotifyError:
    """A ValidationException listing every failed field, AWS's summary sentence first."""
    count = len(fields)
    detail = "; ".join(f"{f.path}: {f.message}" for f in fields)
    plural = "s" if count != 1 else ""
    return NotifyError(
        "ValidationException",
        f"{count} validation error{plural} detected: {detail}",
        fieldList=[{"path": f.path, "message": f.message} for f in fields],
    )


def invalid_field(path: str, message: str) -> NotifyError:
    return invalid([FieldError(path, message)])
