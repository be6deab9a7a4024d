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

#: The key of `otp.send_batch`'s row list; each row's kwargs are redacted like a send's.
ROWS_KEY = "rows"
#: Rows of a batch shown in reprs (Flower, logs); the rest are counted.
ROWS_SHOWN = 3

_E164ISH = re.compile(r"\+\d{6,15}")
_MORE_ROWS = re.compile(r"<(\d{1,6}) more rows>")

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
        elif key == ROWS_KEY and isinstance(value, list | tuple):
            shown[key] = redact_rows(value)
        elif isinstance(value, str):
            shown[key] = redact_text(value[:200])
        elif isinstance(value, int | float | bool) or value is None:
            shown[key] = value
        else:
            shown[key] = f"<{type(value).__name__}>"
    return shown


def redact_rows(rows: list[Any] | tuple[Any, ...]) -> list[Any]:
    """A batch's rows as they may be shown: the first few, each row's job id and its
    kwargs redacted like a send's, then how many more. Idempotent, like redact_kwargs."""
    more = 0
    if rows and isinstance(rows[-1], str) and (counted := _MORE_ROWS.fullmatch(rows[-1])):
        more, rows = int(counted.group(1)), rows[:-1]  # already redacted once
    more += max(0, len(rows) - ROWS_SHOWN)
    shown: list[Any] = []
    for row in rows[:ROWS_SHOWN]:
        if isinstance(row, Mapping):
            kwargs = row.get("kwargs")
            shown.append(
                {
                    "job_id": redact_text(str(row.get("job_id"))[:64]),
                    "kwargs": redact_kwargs(kwargs) if isinstance(kwargs, Mapping) else "<?>",
                }
            )
        elif isinstance(row, str):
            shown.append(redact_text(row[:200]))
        else:
            shown.append(f"<{type(row).__name__}>")
    if more:
        shown.append(f"<{more} more rows>")
    return shown
