"""Phone numbers: the one canonical spelling every per-number key is made over.

Python's `\\d` matches 660 non-ASCII digits, and phonenumbers reads `+1 1 425…` as
`+1 425…`: one phone, many strings. Every budget, cooldown, lockout, campaign row and
key name is over `canonical_number`'s answer, so one phone gets one budget.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from otpq_core.fields import check_text
from otpq_core.outcomes import InvalidRequest

#: Longest spelling of a phone number read at all (a canonical one is at most 16
#: characters): long enough to name the canonical form of a formatted one.
NUMBER_INPUT_MAX = 64

#: Says the form without a number in it: refusals are stored and logged, and a masked
#: example (`+1********42`) would show nothing.
E164_EXAMPLE = "must be an E.164 number: a plus, the country code and the number, digits only"


def canonical_number(value: object, field: str = "destination") -> str:
    """The one spelling of a phone number that every per-number key uses: E.164 with
    ASCII digits, as phonenumbers formats it.

    Reads any spelling phonenumbers takes for an international number (spaces,
    punctuation, non-ASCII digits, a trunk prefix after the country code), because each
    spelling of one phone would otherwise get a budget, cooldown and lockout of its own.
    Raises `InvalidRequest` naming `field` for anything that is not a valid number."""
    check_text(field, value, required=True, max_len=NUMBER_INPUT_MAX)
    assert isinstance(value, str)
    canonical = _canonical(value)
    if canonical.startswith("+"):
        return canonical
    raise InvalidRequest(field, canonical)


@lru_cache(maxsize=256)
def _canonical(value: str) -> str:
    """The canonical form, or the problem. Cached for the few keys one job makes over
    one number; small, so a million-row campaign does not fill memory with numbers."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return E164_EXAMPLE
    if parsed.extension:
        return "must not carry an extension: an SMS cannot dial one"
    if not is_valid_number(parsed):
        return "is not a valid phone number for its country"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, about twice as fast for most numbers.

    That function first finds the number's region (testing the number's type against
    each region sharing its country code, the main region first), then tests the type
    again for that region. A number valid for its code's main region is the common case
    (+1: US, +44: GB) and the answer is yes either way, so that one test is tried first
    (tests/unit/producer/test_requests.py checks the two agree)."""
    main = phonenumbers.region_code_for_country_code(number.country_code)
    return phonenumbers.is_valid_number_for_region(number, main) or (
        phonenumbers.is_valid_number(number)
    )
