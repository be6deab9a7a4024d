"""Pinpoint's modeled errors, as botocore recognises them on the wire.

botocore's rest-json parser takes the error code from the ``x-amzn-ErrorType`` header
(anything after ``:`` is dropped) and the text from the body's ``Message``; the code
must be one of the operation's modeled shapes for boto3 to raise ``client.exceptions.X``.
"""

from __future__ import annotations

#: Every exception SendOTPMessage and VerifyOTPMessage declare, with its HTTP status.
MODELED_ERRORS: dict[str, int] = {
    "BadRequestException": 400,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "MethodNotAllowedException": 405,
    "PayloadTooLargeException": 413,
    "TooManyRequestsException": 429,
    "InternalServerErrorException": 500,
}


class PinpointError(Exception):
    """A modeled Pinpoint error; raised anywhere in a request, answered by the server."""

    def __init__(self, name: str, message: str) -> None:
        if name not in MODELED_ERRORS:
            raise ValueError(f"not a modeled Pinpoint error: {name}")
        super().__init__(message)
        self.name = name
        self.message = message

    @property
    def status(self) -> int:
        return MODELED_ERRORS[self.name]


def bad_request(message: str) -> PinpointError:
    return PinpointError("BadRequestException", message)
