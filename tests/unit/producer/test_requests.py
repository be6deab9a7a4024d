"""The request model: every rule accepts what it should and refuses the rest by name."""

from __future__ import annotations

from typing import Any

import pytest

from otpq_core.outcomes import InvalidRequest
from producer.requests import SendRequest, VerifyRequest

GOOD = {"destination": "+14255550142", "brand_name": "ExampleCorp", "source": "CreateAccount"}


def refused(model: type, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        model.from_kwargs(kwargs)
    return info.value


def test_defaults_match_the_contract() -> None:
    request = SendRequest.from_kwargs(GOOD)
    assert (request.code_length, request.validity_period, request.allowed_attempts) == (6, 15, 3)
    assert request.language == "en-US"
    assert request.reference_id is None and request.origination_identity is None


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("brand_name", ["A", "x" * 20], ["", "x" * 21, 7, "bad\nname"]),
        ("code_length", [5, 8], [4, 9, "6", True, 6.0]),
        ("validity_period", [5, 60], [4, 61, None]),
        ("allowed_attempts", [1, 5], [0, 6]),
        ("language", ["en-US", "fr-FR"], ["english", "en_us", ""]),
        (
            "destination",
            ["+14255550142", "+33612345678"],
            [
                "14255550142",
                "+1425555014",
                "+999123",
                "+1 425 555 0142",
                "",
                14255550142,
                "+" + "1" * 5000,
            ],
        ),
        ("source", ["x", "s" * 128], ["", "s" * 129, ["list"]]),
        ("reference_id", [None, "ref-1"], ["", "r" * 129]),
        ("origination_identity", [None, "+18005550100"], ["", "o" * 65]),
        ("entity_id", [None, "1101"], [""]),
        ("template_id", [None, "T1"], [5]),
    ],
)
def test_each_send_rule(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert getattr(SendRequest.from_kwargs({**GOOD, field: value}), field) == value
    for value in bad:
        error = refused(SendRequest, **{**GOOD, field: value})
        assert error.field == field, (field, value)
        assert str(error).startswith(f"invalid: {field}")


@pytest.mark.parametrize("missing", ["destination", "brand_name", "source"])
def test_required_send_fields(missing: str) -> None:
    kwargs = {k: v for k, v in GOOD.items() if k != missing}
    assert refused(SendRequest, **kwargs).field == missing


def test_unknown_field_is_named() -> None:
    assert refused(SendRequest, **GOOD, medium="SMS").field == "medium"


def test_non_mapping_kwargs_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        SendRequest.from_kwargs(["not", "a", "dict"])
    assert info.value.field == "kwargs"


@pytest.mark.parametrize("otp", ["12345", "12345678", "000000"])
def test_otp_accepted(otp: str) -> None:
    assert VerifyRequest.from_kwargs({**GOOD, "otp": otp}).otp == otp


@pytest.mark.parametrize("otp", ["1234", "123456789", "12a456", "", 123456, "１２３４５６", None])
def test_otp_refused(otp: Any) -> None:
    assert refused(VerifyRequest, **GOOD, otp=otp).field == "otp"


def test_errors_and_reprs_hold_no_secret() -> None:
    error = refused(SendRequest, **{**GOOD, "destination": "+1425555014"})
    assert "555014" not in str(error) and "555014" not in repr(error.args)
    verify = VerifyRequest.from_kwargs({**GOOD, "otp": "918273"})
    assert "918273" not in repr(verify) and "5550142" not in repr(verify)
    assert "+1********42" in repr(verify)


def test_to_kwargs_round_trips() -> None:
    request = SendRequest.from_kwargs({**GOOD, "code_length": 8, "entity_id": "E1"})
    assert request.to_kwargs() == {**GOOD, "code_length": 8, "entity_id": "E1"}
    assert SendRequest.from_kwargs(request.to_kwargs()) == request


def test_fast_validity_check_agrees_with_phonenumbers() -> None:
    """is_valid_number tries the country code's main region first; it must answer
    exactly as phonenumbers.is_valid_number does, for shared codes (+1, +7, +44...) too."""
    import random

    import phonenumbers

    from otpq_core.numbers import is_valid_number

    rng = random.Random(7)
    codes = [1, 1, 1, 7, 44, 44, 33, 49, 61, 91, 86, 234, 262, 590, 599, 672, 800, 882, 979]
    checked = 0
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12)))
        try:
            number = phonenumbers.parse(f"+{rng.choice(codes)}{digits}", None)
        except phonenumbers.NumberParseException:
            continue
        assert is_valid_number(number) == phonenumbers.is_valid_number(number), digits
        checked += 1
    assert checked > 15_000
