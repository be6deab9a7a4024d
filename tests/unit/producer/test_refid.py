import hashlib

import pytest

from producer.refid import generate_ref_id
from producer.requests import SendRequest, VerifyRequest


def aws_example(destination: str, brand_name: str, source: str) -> str:
    """Verbatim from AWS's Boto3 example (pinpoint_send_and_verify_otp)."""
    refId = brand_name + source + destination
    return hashlib.md5(refId.encode()).hexdigest()


@pytest.mark.parametrize(
    ("destination", "brand", "source"),
    [
        ("+14255550142", "ExampleCorp", "CreateAccount"),
        ("+447911123456", "Brand Ü", "Login"),
        ("+33612345678", "x", "y" * 100),
    ],
)
def test_reference_id_equals_the_aws_example(destination: str, brand: str, source: str) -> None:
    assert generate_ref_id(destination, brand, source) == aws_example(destination, brand, source)


def test_known_value() -> None:
    assert generate_ref_id("+14255550142", "ExampleCorp", "CreateAccount") == (
        "46bb87b047dd9f34b9cbe4011325b15b"
    )


def test_send_and_verify_share_the_default_reference() -> None:
    common = {"destination": "+14255550142", "brand_name": "B", "source": "S"}
    assert (
        SendRequest.from_kwargs(common).ref_id
        == VerifyRequest.from_kwargs({**common, "otp": "123456"}).ref_id
    )
    assert SendRequest.from_kwargs({**common, "reference_id": "mine"}).ref_id == "mine"


def test_results_show_the_default_masked_and_a_callers_own_as_given() -> None:
    from producer.refid import shown_ref_id

    md5 = generate_ref_id("+14255550142", "ExampleCorp", "CreateAccount")
    assert shown_ref_id(None, md5) == "46bb\u2026"
    assert shown_ref_id("order-17", "order-17") == "order-17"


def test_a_callers_reference_id_that_is_the_examples_md5_is_masked_too() -> None:
    from producer.refid import shown_ref_id

    md5 = generate_ref_id("+14255550142", "ExampleCorp", "Login")
    assert shown_ref_id(md5, md5) == md5[:4] + "\u2026"
    assert shown_ref_id("order-17", "order-17") == "order-17"
