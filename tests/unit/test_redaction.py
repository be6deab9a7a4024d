import logging

import pytest

from producer.redaction import mask_number, redact_kwargs, redact_text
from worker.logs import RedactingFilter


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14255550142", "+1********42"),
        ("+447911123456", "+44********56"),
        ("+353861234567", "+353*******67"),
        ("nonsense", "<redacted>"),
        (None, "<redacted>"),
    ],
)
def test_mask_keeps_country_code_and_last_two(number: object, masked: str) -> None:
    assert mask_number(number) == masked


def test_text_and_kwargs_redaction() -> None:
    assert redact_text("sent to +14255550142 ok") == "sent to +1********42 ok"
    shown = redact_kwargs({"destination": "+14255550142", "otp": "123456", "brand_name": "B"})
    assert shown == {"destination": "+1********42", "otp": "<redacted>", "brand_name": "B"}


def test_log_filter_scrubs_formatted_message_and_exception() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("+14255550142",), None)
    try:
        raise ValueError("bad +14255550142")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "5550142" not in text
    assert "+1********42" in text
