"""The request models: one validation for the producer and the task alike.

The producer builds these before anything is queued (a web view gets an
`InvalidRequest` at once); the task rebuilds them from the message kwargs, because a
caller may `send_task` by name from code that never imported otpq. Ranges are the
ones Pinpoint documents for SendOTPMessage.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from otpq_core.fields import check_text
from otpq_core.numbers import canonical_number
from otpq_core.outcomes import InvalidRequest
from otpq_core.redaction import mask_number, redact_text
from producer.refid import generate_ref_id

BRAND_NAME_MAX = 20
CODE_LENGTH = range(5, 9)
VALIDITY_MINUTES = range(5, 61)
ALLOWED_ATTEMPTS = range(1, 6)
OTP_LENGTH = range(5, 9)
#: `otp.send`'s channels. Pinpoint sends SMS only; Notify all three.
CHANNELS = ("SMS", "VOICE", "WHATSAPP")
#: What Notify accepts as a reference id (its model's pattern and length).
NOTIFY_REFERENCE_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")

_LANGUAGE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")
#: ASCII digits only: Python's `\d` also matches 660 other digits.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _integer(field: str, value: object, allowed: range, unit: str = "") -> None:
    # bool is an int in Python, never in a request.
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        suffix = f" {unit}" if unit else ""
        raise InvalidRequest(
            field, f"must be an integer from {allowed.start} to {allowed.stop - 1}{suffix}"
        )


def check_destination(field: str, value: object) -> None:
    """Canonical E.164 only (`+14255550142`), a number phonenumbers knows to be assignable.

    Another spelling of a valid number is refused, not rewritten: a request is an API
    call, and the caller should learn its key is not the one it stores. The error shows
    the canonical form, masked (campaign files, which are data to clean, are
    canonicalised instead: producer/campaign/rows.py)."""
    canonical = canonical_number(value, field)
    if value != canonical:
        assert isinstance(value, str)
        ascii_only = _E164.fullmatch(_ascii_digits(value))
        fix = "use ASCII digits only" if ascii_only else "drop the formatting"
        raise InvalidRequest(field, f"{fix}: write it as {mask_number(canonical)}")


def _ascii_digits(value: str) -> str:
    """Every Unicode decimal digit as its ASCII digit (to tell the caller which fix)."""
    return "".join(str(unicodedata.decimal(char, char)) for char in value)


class _Model:
    """Shared construction from untrusted kwargs."""

    REQUIRED: ClassVar[tuple[str, ...]]

    @classmethod
    def from_kwargs(cls, kwargs: object) -> Self:
        """Build from a task's kwargs, refusing unknown and missing fields by name."""
        if not isinstance(kwargs, Mapping):
            raise InvalidRequest("kwargs", "must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for key in kwargs:
            if key not in known:
                # A caller-chosen name: bounded, and masked if it is a number.
                shown = redact_text(str(key)[:40]) if isinstance(key, str) else type(key).__name__
                raise InvalidRequest(shown, "is not a known field")
        for name in cls.REQUIRED:
            if name not in kwargs or kwargs[name] is None:
                raise InvalidRequest(name, "is required")
        return cls(**kwargs)

    def to_kwargs(self) -> dict[str, Any]:
        """Task kwargs: every field whose value differs from its default."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.default is dataclasses.MISSING or value != f.default:
                out[f.name] = value
        return out


@dataclass(frozen=True, slots=True, repr=False)
class SendRequest(_Model):
    """One SendOTPMessage, every parameter Pinpoint takes for the SMS channel."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("destination", "brand_name", "source")

    destination: str
    brand_name: str
    source: str
    code_length: int = 6
    validity_period: int = 15
    language: str = "en-US"
    allowed_attempts: int = 3
    reference_id: str | None = None
    origination_identity: str | None = None
    entity_id: str | None = None
    template_id: str | None = None
    channel: str = "SMS"

    def __post_init__(self) -> None:
        check_destination("destination", self.destination)
        check_text("brand_name", self.brand_name, required=True, max_len=BRAND_NAME_MAX)
        check_text("source", self.source, required=True)
        _integer("code_length", self.code_length, CODE_LENGTH, "digits")
        _integer("validity_period", self.validity_period, VALIDITY_MINUTES, "minutes")
        check_text("language", self.language, required=True, max_len=16)
        if not _LANGUAGE.fullmatch(self.language):
            raise InvalidRequest("language", "must be a language tag like en-US")
        _integer("allowed_attempts", self.allowed_attempts, ALLOWED_ATTEMPTS)
        check_text("reference_id", self.reference_id, required=False)
        check_text("origination_identity", self.origination_identity, required=False, max_len=64)
        check_text("entity_id", self.entity_id, required=False)
        check_text("template_id", self.template_id, required=False)
        if self.channel not in CHANNELS:
            raise InvalidRequest("channel", f"must be one of {', '.join(CHANNELS)}")

    def check_backend(self, backend: str) -> None:
        """Refuse, naming the field, what the backend that will send this cannot take.
        Both doors call it: the producer with its OTPQ_BACKEND, the worker with its own."""
        if backend == "pinpoint" and self.channel != "SMS":
            raise InvalidRequest(
                "channel", "Pinpoint sends SMS only (OTPQ_BACKEND=notify sends VOICE and WHATSAPP)"
            )
        if backend == "notify":
            if self.reference_id is not None and not NOTIFY_REFERENCE_ID.fullmatch(
                self.reference_id
            ):
                raise InvalidRequest(
                    "reference_id", "must be letters, digits, '_' or '-' on Notify"
                )
            if self.channel != "SMS" and (self.entity_id or self.template_id):
                field = "entity_id" if self.entity_id else "template_id"
                raise InvalidRequest(field, "applies to the SMS channel only")

    @property
    def ref_id(self) -> str:
        """The explicit reference id, else the AWS example's md5 scheme."""
        return self.reference_id or generate_ref_id(self.destination, self.brand_name, self.source)

    def __repr__(self) -> str:
        return (
            f"SendRequest(destination={mask_number(self.destination)!r}, "
            f"brand_name={self.brand_name!r}, source={self.source!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class VerifyRequest(_Model):
    """One VerifyOTPMessage: the code a user typed, for a destination and reference."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("destination", "otp", "brand_name", "source")

    destination: str
    otp: str
    brand_name: str
    source: str
    reference_id: str | None = None

    def __post_init__(self) -> None:
        check_destination("destination", self.destination)
        if not isinstance(self.otp, str):
            kind = type(self.otp).__name__
            raise InvalidRequest("otp", f"must be a string of digits, not {kind}")
        if not self.otp.isascii() or not self.otp.isdigit() or len(self.otp) not in OTP_LENGTH:
            raise InvalidRequest(
                "otp", f"must be {OTP_LENGTH.start} to {OTP_LENGTH.stop - 1} digits"
            )
        check_text("brand_name", self.brand_name, required=True, max_len=BRAND_NAME_MAX)
        check_text("source", self.source, required=True)
        check_text("reference_id", self.reference_id, required=False)

    @property
    def ref_id(self) -> str:
        return self.reference_id or generate_ref_id(self.destination, self.brand_name, self.source)

    def __repr__(self) -> str:
        return (
            f"VerifyRequest(destination={mask_number(self.destination)!r}, otp='<redacted>', "
            f"brand_name={self.brand_name!r}, source={self.source!r})"
        )
