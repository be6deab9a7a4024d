"""Pinpoint's input rules for the two OTP operations, each failure naming its field.

The rules mirror Pinpoint's documented limits so that a request the sandbox accepts is
one AWS would accept too; defaults are Pinpoint's own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import bad_request

DEFAULT_CODE_LENGTH = 6
DEFAULT_VALIDITY_MINUTES = 15
DEFAULT_ALLOWED_ATTEMPTS = 3
DEFAULT_LANGUAGE = "en-US"

_E164 = re.compile(r"\+[0-9]{8,15}")


@dataclass(frozen=True)
class SendParams:
    brand_name: str
    channel: str
    destination: str
    origination_identity: str
    reference_id: str
    allowed_attempts: int
    code_length: int
    validity_period: int
    language: str
    entity_id: str | None
    template_id: str | None


@dataclass(frozen=True)
class VerifyParams:
    destination: str
    otp: str
    reference_id: str


def parse_json_object(body: bytes) -> dict[str, Any]:
    """botocore sends the operation's payload member as the whole body: a bare object."""
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("Request body must be a JSON object")
    return value


def _string(doc: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = doc.get(field)
    if value is None:
        if required:
            raise bad_request(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string")
    if required and not value:
        raise bad_request(f"{field} must not be empty")
    return value


def _required(doc: dict[str, Any], field: str) -> str:
    value = _string(doc, field, required=True)
    assert value is not None
    return value


def _integer(doc: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = doc.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{field} must be an integer")
    if not low <= value <= high:
        raise bad_request(f"{field} must be between {low} and {high}, got {value}")
    return value


def _destination(doc: dict[str, Any]) -> str:
    value = _required(doc, "DestinationIdentity")
    if not _E164.fullmatch(value):
        raise bad_request("DestinationIdentity must be an E.164 phone number (+ and 8-15 digits)")
    return value


def parse_send(doc: dict[str, Any]) -> SendParams:
    brand_name = _required(doc, "BrandName")
    if len(brand_name) > 20:
        raise bad_request("BrandName must be 1-20 characters")
    channel = _required(doc, "Channel")
    if channel != "SMS":
        raise bad_request(f"Channel must be SMS, got {channel!r}")
    return SendParams(
        brand_name=brand_name,
        channel=channel,
        destination=_destination(doc),
        origination_identity=_required(doc, "OriginationIdentity"),
        reference_id=_required(doc, "ReferenceId"),
        allowed_attempts=_integer(doc, "AllowedAttempts", DEFAULT_ALLOWED_ATTEMPTS, 1, 5),
        code_length=_integer(doc, "CodeLength", DEFAULT_CODE_LENGTH, 5, 8),
        validity_period=_integer(doc, "ValidityPeriod", DEFAULT_VALIDITY_MINUTES, 5, 60),
        language=_string(doc, "Language", required=False) or DEFAULT_LANGUAGE,
        entity_id=_string(doc, "EntityId", required=False),
        template_id=_string(doc, "TemplateId", required=False),
    )


def parse_verify(doc: dict[str, Any]) -> VerifyParams:
    destination = _destination(doc)
    otp = _required(doc, "Otp")
    if not (otp.isascii() and otp.isdigit()):
        raise bad_request("Otp must contain digits only")
    return VerifyParams(destination, otp, _required(doc, "ReferenceId"))
