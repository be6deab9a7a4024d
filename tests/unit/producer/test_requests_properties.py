"""Property-based tests of the request models: untrusted kwargs of any shape end in
InvalidRequest or a valid request, never anything else; valid requests round-trip."""

from __future__ import annotations

import dataclasses
import json
import string
from typing import Any

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otpq_core.outcomes import InvalidRequest
from otpq_core.sealing import PREFIX, Sealer, generate_key
from producer.requests import SendRequest, VerifyRequest
from worker.unsealing import Unsealer

FIELDS = sorted(
    {f.name for f in dataclasses.fields(SendRequest)}
    | {f.name for f in dataclasses.fields(VerifyRequest)}
)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Real, valid numbers of many countries (phonenumbers' own examples).
NUMBERS = sorted(
    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    if (
        example := phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    )
)

huge = st.builds(lambda c, n: c * n, st.characters(), st.integers(1_000, 100_000))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=string.digits + "+ -", max_size=20),
    st.sampled_from(NUMBERS),
    st.binary(max_size=20),
    huge,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=30), st.integers(), st.none())

printable = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1).filter(
    lambda s: s.strip() != ""
)


def is_invalid_or_valid(model: type, kwargs: Any) -> None:
    try:
        request = model.from_kwargs(kwargs)
    except InvalidRequest as exc:
        assert isinstance(exc.field, str) and len(exc.field) <= 40
        text = str(exc)
        assert text.startswith("invalid: ")
        # The refusal never echoes a code or a full number back.
        if isinstance(kwargs, dict):
            for secret in (kwargs.get("otp"), kwargs.get("destination")):
                if isinstance(secret, str) and len(secret) >= 5:
                    assert secret not in text
        return
    assert isinstance(request, model)


@SETTINGS
@given(st.dictionaries(keys, values, max_size=8))
def test_any_kwargs_end_in_invalid_request_or_a_request(kwargs: dict[Any, Any]) -> None:
    is_invalid_or_valid(SendRequest, kwargs)
    is_invalid_or_valid(VerifyRequest, kwargs)


@SETTINGS
@given(st.one_of(values, st.lists(values), st.tuples(values)))
def test_non_mappings_are_invalid_request(kwargs: Any) -> None:
    if isinstance(kwargs, dict):
        return
    is_invalid_or_valid(SendRequest, kwargs)
    is_invalid_or_valid(VerifyRequest, kwargs)


def valid_send() -> st.SearchStrategy[dict[str, Any]]:
    optional = st.fixed_dictionaries(
        {},
        optional={
            "code_length": st.integers(5, 8),
            "validity_period": st.integers(5, 60),
            "language": st.sampled_from(["en-US", "fr-FR", "de-DE", "pt-BR", "yue-HK"]),
            "allowed_attempts": st.integers(1, 5),
            "reference_id": printable.filter(lambda s: len(s) <= 128),
            "origination_identity": st.one_of(st.none(), st.sampled_from(NUMBERS)),
            "entity_id": st.one_of(st.none(), printable.filter(lambda s: len(s) <= 128)),
            "template_id": st.one_of(st.none(), printable.filter(lambda s: len(s) <= 128)),
        },
    )
    required = st.fixed_dictionaries(
        {
            "destination": st.sampled_from(NUMBERS),
            "brand_name": printable.filter(lambda s: len(s) <= 20),
            "source": printable.filter(lambda s: len(s) <= 128),
        }
    )
    return st.builds(lambda r, o: {**r, **o}, required, optional)


def valid_verify() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "destination": st.sampled_from(NUMBERS),
            "otp": st.text(alphabet=string.digits, min_size=5, max_size=8),
            "brand_name": printable.filter(lambda s: len(s) <= 20),
            "source": printable.filter(lambda s: len(s) <= 128),
        },
        optional={"reference_id": st.one_of(st.none(), printable.filter(lambda s: len(s) <= 128))},
    )


@SETTINGS
@given(valid_send())
def test_valid_sends_round_trip_through_json(kwargs: dict[str, Any]) -> None:
    request = SendRequest.from_kwargs(kwargs)
    wire = json.loads(json.dumps(request.to_kwargs()))
    assert SendRequest.from_kwargs(wire) == request
    assert request.destination not in repr(request)


KEY = generate_key()
SEALER, UNSEALER = Sealer([KEY]), Unsealer([KEY])


@SETTINGS
@given(valid_verify())
def test_valid_verifies_round_trip_sealed(kwargs: dict[str, Any]) -> None:
    request = VerifyRequest.from_kwargs(kwargs)
    wire = json.loads(json.dumps(SEALER.seal_kwargs(request.to_kwargs())))
    assert wire["otp"].startswith(PREFIX) and wire["otp"] != request.otp
    assert VerifyRequest.from_kwargs(UNSEALER.open_kwargs(wire)) == request
    assert "otp='<redacted>'" in repr(request)


@SETTINGS
@given(valid_send(), st.sampled_from(FIELDS), values)
def test_one_bad_field_is_named(kwargs: dict[str, Any], field: str, value: Any) -> None:
    """Spoil one field of a valid request: it is either still valid or refused by name."""
    spoiled = {**kwargs, field: value}
    try:
        SendRequest.from_kwargs(spoiled)
    except InvalidRequest as exc:
        assert exc.field == field
