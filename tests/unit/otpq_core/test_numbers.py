"""One canonical form per number: property tests over many spellings of real numbers.

A spelling is what phonenumbers reads as the same number: separators, non-ASCII
digits, a trunk prefix after the country code. The doors (request models) refuse every
spelling but the canonical one, naming it masked; campaign rows canonicalise; and every
per-number key is over the canonical form, so all spellings share one budget.
"""

from __future__ import annotations

import string
import sys
import unicodedata
from dataclasses import replace

import fakeredis
import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from otpq_core.keys import KeyHasher
from otpq_core.numbers import E164_EXAMPLE, canonical_number
from otpq_core.outcomes import DestinationLimited, DestinationLocked, InvalidRequest
from otpq_core.redaction import mask_number
from otpq_core.settings import Settings
from producer.campaign.rows import InvalidRow, parse_row
from producer.requests import SendRequest, VerifyRequest
from tests.helpers import EXAMPLE_NUMBERS as NUMBERS
from worker.abuse import Abuse

pytest.importorskip(
    "lupa", reason="fakeredis runs Lua scripts only with lupa", exc_type=ImportError
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = Settings.from_env({"OTPQ_HASH_KEY": "unit-test-hash-key-0123456789"})
JOB = {"brand_name": "ExampleCorp", "source": "Login"}

#: The first code point of every run of ten Unicode decimal digits 0-9 but ASCII's.
DIGIT_ZEROS = [
    code
    for code in range(0x80, sys.maxunicode - 9)
    if unicodedata.decimal(chr(code), None) == 0
    and all(unicodedata.decimal(chr(code + i), None) == i for i in range(10))
]
SEPARATORS = [" ", "-", ".", "(", ")", "\u00a0", "\u2010", "/", "\uff0d"]


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(canonical, another string phonenumbers reads as that same number)."""
    canonical = draw(st.sampled_from(NUMBERS))
    number = phonenumbers.parse(canonical, None)
    cc = str(number.country_code)
    national = canonical[1 + len(cc) :]
    region = phonenumbers.region_code_for_number(number)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region or "", None)
    prefix = (meta.national_prefix or "") if meta else ""
    if prefix and draw(st.booleans()):
        national = prefix + national  # a trunk prefix after the country code
    out = ["+"]
    zero = draw(st.sampled_from([ord("0"), *DIGIT_ZEROS]))
    for char in cc + " " + national:
        if char == " ":
            out.append(draw(st.sampled_from(["", *SEPARATORS])))
            continue
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
        out.append(chr(zero + int(char)) if draw(st.booleans()) else char)
    spelled = "".join(out)
    try:
        assume(phonenumbers.parse(spelled, None) == number)
    except phonenumbers.NumberParseException:
        assume(False)
    return canonical, spelled


def abuse(client: fakeredis.FakeRedis, **changes: object) -> Abuse:
    return Abuse(client, replace(BASE, **changes))  # type: ignore[arg-type]


@SETTINGS
@given(spellings())
def test_every_spelling_has_one_canonical_form(pair: tuple[str, str]) -> None:
    canonical, spelled = pair
    assert canonical_number(spelled) == canonical
    assert canonical_number(canonical) == canonical


@SETTINGS
@given(spellings())
def test_the_doors_refuse_any_spelling_but_the_canonical_and_name_it_masked(
    pair: tuple[str, str],
) -> None:
    canonical, spelled = pair
    assert SendRequest(canonical, **JOB).destination == canonical
    if spelled == canonical:
        return
    for build in (
        lambda: SendRequest(spelled, **JOB),
        lambda: VerifyRequest(spelled, "123456", **JOB),
        lambda: SendRequest.from_kwargs({"destination": spelled, **JOB}),
    ):
        with pytest.raises(InvalidRequest) as info:
            build()
        assert info.value.field == "destination"
        assert str(info.value).endswith(f"write it as {mask_number(canonical)}")
        assert canonical not in str(info.value) and spelled not in str(info.value)


@SETTINGS
@given(
    st.sampled_from(NUMBERS),
    st.integers(1, 14),
    st.sampled_from(DIGIT_ZEROS),
    st.booleans(),
)
def test_no_non_ascii_digit_is_accepted(
    canonical: str, position: int, zero: int, verify: bool
) -> None:
    """Any destination with a non-ASCII digit in it is refused, whatever it spells."""
    index = min(position, len(canonical) - 1)
    spelled = canonical[:index] + chr(zero + int(canonical[index])) + canonical[index + 1 :]
    with pytest.raises(InvalidRequest) as info:
        if verify:
            VerifyRequest(spelled, "123456", **JOB)
        else:
            SendRequest(spelled, **JOB)
    assert info.value.field == "destination"
    assert "use ASCII digits only" in str(info.value)


@SETTINGS
@given(st.text(alphabet=string.digits + "+ -()", max_size=20), st.sampled_from(DIGIT_ZEROS))
def test_no_string_with_a_non_ascii_digit_is_accepted(text: str, zero: int) -> None:
    spelled = text + chr(zero + 4)
    with pytest.raises(InvalidRequest):
        SendRequest(spelled, **JOB)


@SETTINGS
@given(spellings())
def test_a_campaign_row_is_keyed_by_its_canonical_number(pair: tuple[str, str]) -> None:
    canonical, spelled = pair
    row = parse_row(2, {"destination": spelled}, **JOB)
    assert not isinstance(row, InvalidRow), row
    assert row.destination == canonical
    assert row.ref_id == SendRequest(canonical, **JOB).ref_id


@SETTINGS
@given(spellings(), spellings())
def test_any_spelling_shares_one_send_budget(pair: tuple[str, str], other: tuple[str, str]) -> None:
    """Two sends to a number, through any spellings, use up its budget of two; a third
    spelling is refused; another number is not affected."""
    canonical, spelled = pair
    assume(other[0] != canonical)
    client = fakeredis.FakeRedis()
    guard = abuse(client, destination_sends=((2, 900.0),), resend_cooldown=0)
    # The campaign door canonicalises; the guard keys on the canonical form even for a
    # spelling that reached it some other way.
    via_row = parse_row(2, {"destination": spelled}, **JOB)
    assert isinstance(via_row, SendRequest)
    guard.admit_send(via_row, "job-1")
    guard.admit_send(SendRequest(canonical, **JOB), "job-2")
    assert guard.sends_key(spelled) == guard.sends_key(canonical)
    assert guard.windows.used(guard.sends_key(spelled), 900.0) == 2
    third = parse_row(3, {"destination": spelled}, **JOB)
    assert isinstance(third, SendRequest)
    with pytest.raises(DestinationLimited):
        guard.admit_send(third, "job-3")
    guard.admit_send(SendRequest(other[0], **JOB), "job-4")
    # A refund through another spelling gives the canonical number's slot back.
    guard.refund_send(spelled, "job-1")
    assert guard.windows.used(guard.sends_key(canonical), 900.0) == 1
    client.close()


@SETTINGS
@given(spellings())
def test_any_spelling_shares_one_lockout(pair: tuple[str, str]) -> None:
    canonical, spelled = pair
    client = fakeredis.FakeRedis()
    guard = abuse(client, verify_failures=((1, 900.0),))
    first = VerifyRequest(canonical, "123456", **JOB)
    guard.admit_verify(first, "v-1")
    assert guard.failures_key(spelled, first.ref_id) == guard.failures_key(canonical, first.ref_id)
    with pytest.raises(DestinationLocked):
        guard.admit_verify(VerifyRequest(canonical, "654321", **JOB), "v-2")
    client.close()


def test_the_cooldown_key_is_over_the_canonical_number() -> None:
    hasher = KeyHasher(b"secret")
    assert hasher.number_key("cooldown", "+1 (425) 555-0142", "ref") == hasher.number_key(
        "cooldown", "+14255550142", "ref"
    )
    assert hasher.number_key("cooldown", "+14255550142", "ref") == hasher.key(
        "cooldown", "+14255550142", "ref"
    )


@pytest.mark.parametrize(
    ("spelled", "problem"),
    [
        ("+1 (425) 555-0142", "drop the formatting: write it as +1********42"),
        ("+1 1 425 555 0142", "drop the formatting: write it as +1********42"),
        (
            "+\uff11\uff14\uff12\uff15\uff15\uff15\uff15\uff10\uff11\uff14\uff12",
            "use ASCII digits only: write it as +1********42",
        ),
        ("+1-425-555-0142 ext. 5", "must not carry an extension: an SMS cannot dial one"),
        ("+1425", "is not a valid phone number for its country"),
        ("14255550142", E164_EXAMPLE),
        ("+1 425 555 0142" + " " * 60, "must be at most 64 characters"),
    ],
)
def test_refusals_name_the_fix(spelled: str, problem: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        SendRequest(spelled, **JOB)
    assert str(info.value) == f"invalid: destination: {problem}"


def test_the_e164_refusal_holds_no_phone_number() -> None:
    """Refusals are stored and logged: an example number there trips any secret scan, and
    shown masked it would say nothing."""
    assert not any(ch.isdigit() for ch in E164_EXAMPLE.replace("E.164", ""))
