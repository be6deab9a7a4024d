"""Masking for the two secrets otpq handles: phone numbers and OTP codes.

A number is shown as its country code and last two digits (`+1********42`); an OTP
is never shown at all. Everything that leaves a process for humans (logs, results,
Flower, exception text) goes through here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

#: Keys whose values are phone numbers wherever they appear in task kwargs.
NUMBER_KEYS = frozenset({"destination", "origination_identity"})
#: Keys whose values are never shown in any form.
SECRET_KEYS = frozenset({"otp"})

#: Keys whose values are shown (text scrubbed); any other key's value is not shown at
#: all: a code or a number under a misspelt name (`opt`, `code`, `phone`) stays hidden.
SHOWN_KEYS = frozenset(
    {"brand_name", "source", "language", "reference_id", "entity_id", "template_id",
     "channel", "code_length", "validity_period", "allowed_attempts"}
)  # fmt: skip
#: Longest unknown kwarg name shown.
KEY_MAX = 40
#: The key of `otp.send_batch`'s row list; each row's kwargs are redacted like a send's.
ROWS_KEY = "rows"
#: Rows of a batch shown in reprs (Flower, logs); the rest are counted.
ROWS_SHOWN = 3

#: Separators people and phone libraries put between digits (ASCII and Unicode dashes,
#: spaces, dots, slashes, brackets).
_SEP = r"[ \t.\-()/\u00a0\u2009\u2010-\u2015\u2212\u3000\uff0d]"
#: Text that is not a number even where it holds digit runs: job ids (UUIDs) and
#: timestamps. Matched first, and kept as it is.
_KEEP = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[+-]\d{2}:\d{2}|Z)?)?"
)
#: A number in any spelling: an optional (fullwidth) plus, then 7 or more digits of any
#: script (Python's `\d` matches every Unicode decimal digit) with separators between
#: them; or a plus and 6 or more digits, as before.
_NUMBERISH = rf"[+\uff0b]?\(?\d(?:{_SEP}{{0,3}}\d){{6,}}|[+\uff0b]\d{{6,}}"
#: A hex digest of 128 bits or more (md5 reference ids, sha256 payload hashes).
_DIGEST = r"[0-9a-fA-F]{32,}"
#: The leading lookahead names every alternative's first character: positions that
#: cannot start a match are skipped before the lookbehind runs (half the cost per line).
_TEXT = re.compile(
    r"(?=[\d+\uff0b(a-fA-F])(?<![\w+\uff0b])"
    rf"(?:(?P<keep>{_KEEP})|(?P<digest>{_DIGEST})|(?P<number>{_NUMBERISH}))(?!\w)"
)
#: A second pass for what hides against other text ("XXXX+12065550172", an md5 with
#: junk glued on): a plus and its digits, and any 32-hex run, wherever they stand.
_GLUED = re.compile(rf"(?P<number>[+\uff0b]\d(?:{_SEP}{{0,3}}\d){{5,}})|(?P<digest>{_DIGEST})")
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
    """Mask every number-looking digit run inside free text (log lines, exception
    text, error texts from AWS): `+14255550142`, `+1 (425) 555-0142`, `14255550142`,
    the same in fullwidth or Arabic-Indic digits; and every hex digest of 32+ digits
    (an md5 reference id is a digest of the number). Job ids and dates are kept."""
    return _GLUED.sub(_masked, _TEXT.sub(_masked, text))


def _masked(match: re.Match[str]) -> str:
    if match.groupdict().get("keep"):
        return match.group(0)
    if match.group("digest"):
        return mask_digest(match.group(0))
    found = match.group(0)
    digits = "".join(str(unicodedata.digit(c)) for c in found if c.isdigit())
    if found[0] in "+\uff0b":
        return mask_number("+" + digits)
    return _MASK * len(digits)


def mask_digest(digest: str) -> str:
    """`46bb87b047dd9f34b9cbe4011325b15b` → `46bb…`: 16 bits, which no search over the
    number space can turn back into one number."""
    return f"{digest[:4]}\u2026"


def redact_args(args: Any) -> str:
    """Positional task arguments as they may be shown: otpq's tasks take none, so any
    that came are only counted."""
    return "()" if not args else f"<{len(args)} args redacted>"


def redact_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Task kwargs as they may be shown: numbers masked, OTPs replaced, text scrubbed.
    Key names are caller-chosen too: an unknown one is bounded and scrubbed."""
    shown: dict[str, Any] = {}
    for key, value in (kwargs or {}).items():
        if key in SECRET_KEYS:
            shown[key] = "<redacted>"
        elif key in NUMBER_KEYS:
            shown[key] = None if value is None else mask_number(value)
        elif key == ROWS_KEY and isinstance(value, list | tuple):
            shown[key] = redact_rows(value)
        elif key not in SHOWN_KEYS:
            shown[redact_text(str(key)[:KEY_MAX])] = "<redacted>"
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
