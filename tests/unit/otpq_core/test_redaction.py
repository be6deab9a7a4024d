import logging
from pathlib import Path

import pytest

from otpq_core.redaction import mask_number, redact_kwargs, redact_text
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


NUMBER_SPELLINGS = [
    "+14255550142",
    "14255550142",
    "+1 (425) 555-0142",
    "\uff0b\uff11\uff14\uff12\uff15\uff15\uff15\uff15\uff10\uff11\uff14\uff12",
    "+\u0661\u0664\u0662\u0665\u0665\u0665\u0665\u0660\u0661\u0664\u0662",
]


def _no_number(text: str) -> None:
    assert "555" not in text and "\u0665" not in text and "\uff15" not in text, text


@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_a_csv_without_header_does_not_name_its_first_cell(spelling: str, tmp_path: Path) -> None:
    from producer.campaign.rows import BadFile, read_csv

    path = tmp_path / "numbers.csv"
    path.write_text(f"{spelling}\n+14255550143\n", encoding="utf-8")
    with pytest.raises(BadFile) as refused:
        list(read_csv(path))
    _no_number(str(refused.value))
    assert "unknown column" in str(refused.value)


@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_a_batch_kwarg_named_like_a_number_is_masked(spelling: str) -> None:
    from otpq_core.outcomes import InvalidRequest
    from worker.batch import _rows

    with pytest.raises(InvalidRequest) as refused:
        _rows((), {spelling: 1, "rows": []})
    _no_number(str(refused.value))
    assert str(refused.value).endswith("unknown argument")


@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_pinpoints_own_error_text_is_masked(spelling: str) -> None:
    from otpq_core.outcomes import PinpointRejected
    from worker.gateways import Permanent

    error = Permanent("BadRequestException", f"Invalid destination {spelling}")
    _no_number(str(error))
    _no_number(str(PinpointRejected(f"BadRequestException: {spelling}")))


def test_values_under_unknown_keys_are_not_shown() -> None:
    shown = redact_kwargs({"opt": "804137", "code": 804137, "phone": "4255550142", "source": "S"})
    assert shown == {"opt": "<redacted>", "code": "<redacted>", "phone": "<redacted>",
                     "source": "S"}  # fmt: skip


def test_a_key_named_like_a_number_is_masked() -> None:
    assert redact_kwargs({"+14255550142": 1, "origination_identity": None}) == {
        "+1********42": "<redacted>", "origination_identity": None
    }  # fmt: skip
