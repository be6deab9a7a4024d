"""Masking for the two secrets otpq handles: phone numbers and OTP codes.

A number is shown as its country code and last two digits (`+1********42`); an OTP
is never shown at all. Everything that leaves a process for humans (logs, results,
Flower, exception text) goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Keys whose values are phone numbers wherever they appear in task kwargs.
NUMBER_KEYS = frozenset({"destination", "origination_identity"})
#: Keys whose values are never shown in any form.
SECRET_KEYS = frozenset({"otp"})

_E164ISH = re.compile(r"\+\d{6,15}")

# Country calling codes are 1–3 digits; phonenumbers knows which, and is already a
# dependency of the request model.
_MASK = "*"


def mask_number(number: object) -> str:
    """`+14255550142` → `+1********42`. Anything unparseable is fully masked."""
    if not isinstance(number, str) or not number.startswith("+") or len(number) < 5:
        return "<redacted>"
    cc = _country_code(number)
    hidden = len(number) - 1 - len(cc) - 2
    if hidden < 1:
        return "<redacted>"
    return f"+{cc}{_MASK * hidden}{number[-2:]}"


def _country_code(number: str) -> str:
    import phonenumbers

    digits = number[1:]
    for size in (1, 2, 3):
        if int(digits[:size] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:size]
    return digits[:1]


def redact_text(text: str) -> str:
    """Mask every E.164-looking number inside free text (log lines, exception text)."""
    return _E164ISH.sub(lambda m: mask_number(m.group(0)), text)


def redact_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Task kwargs as they may be shown: numbers masked, OTPs replaced, text scrubbed."""
    shown: dict[str, Any] = {}
    for key, value in (kwargs or {}).items():
        if key in SECRET_KEYS:
            shown[key] = "<redacted>"
        elif key in NUMBER_KEYS and value is not None:
            shown[key] = mask_number(value)
        elif isinstance(value, str):
            shown[key] = redact_text(value[:200])
        elif isinstance(value, int | float | bool) or value is None:
            shown[key] = value
        else:
            shown[key] = f"<{type(value).__name__}>"
    return shown
