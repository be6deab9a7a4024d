"""The free-text field check every request field and number spelling goes through."""

from __future__ import annotations

import re

from otpq_core.outcomes import InvalidRequest

#: Longest free-text field we accept; keeps hostile input from growing messages.
TEXT_MAX = 128

_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


def check_text(field: str, value: object, *, required: bool, max_len: int = TEXT_MAX) -> None:
    if value is None:
        if required:
            raise InvalidRequest(field, "is required")
        return
    if not isinstance(value, str):
        raise InvalidRequest(field, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidRequest(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidRequest(field, f"must be at most {max_len} characters")
    if not _PRINTABLE.fullmatch(value):
        raise InvalidRequest(field, "must not contain control characters")
