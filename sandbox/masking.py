"""Phone numbers as otpq shows them anywhere a human reads: ``+1********42``.

Even the sandbox prints masked numbers, so demo logs never teach the habit of printing
real ones. Standard library only, hence the small table of ITU country codes.
"""

from __future__ import annotations

# ITU-T E.164 country codes of one and two digits; all others have three.
_ONE_DIGIT = {"1", "7"}
_TWO_DIGIT = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
    "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
    "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
    "95", "98",
}  # fmt: skip


def country_code(e164: str) -> str:
    digits = e164.removeprefix("+")
    if digits[:1] in _ONE_DIGIT:
        return digits[:1]
    if digits[:2] in _TWO_DIGIT:
        return digits[:2]
    return digits[:3]


def mask_destination(e164: str) -> str:
    """Keep the country code and the last two digits; star the rest."""
    if not e164.startswith("+") or not e164[1:].isdigit() or len(e164) < 6:
        return "+" + "*" * max(len(e164) - 1, 0)
    cc = country_code(e164)
    hidden = len(e164) - 1 - len(cc) - 2
    return f"+{cc}{'*' * hidden}{e164[-2:]}"
