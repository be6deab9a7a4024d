"""The log filter on the records known to carry bodies, and on text in any spelling."""

from __future__ import annotations

import json
import logging

import pytest
from celery.worker.consumer import consumer

from otpq_core.redaction import redact_text
from worker.logs import RedactingFilter

NUMBER = "+14255550142"
CODE = "804137"
REF = "46bb87b047dd9f34b9cbe4011325b15b"
BODY = json.dumps([[], {"destination": NUMBER, "otp": CODE, "reference_id": REF}, {}])


def shown(name: str, msg: str, *args: object, level: int = logging.ERROR) -> str:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    RedactingFilter().filter(record)
    return logging.Formatter().format(record)


def assert_clean(text: str) -> None:
    for secret in (NUMBER, NUMBER[1:], "5550142", CODE, REF, REF[:12]):
        assert secret not in text, text


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        (consumer.UNKNOWN_FORMAT, (f"body: {BODY}",)),
        (
            consumer.UNKNOWN_TASK_ERROR,
            (KeyError("otp.verfy"), BODY, {"task": "otp.verfy", "kwargsrepr": BODY}, {}),
        ),
        (consumer.INVALID_TASK_ERROR, (ValueError("bad"), BODY)),
        (
            consumer.MESSAGE_DECODE_ERROR,
            (ValueError("pickle"), "application/x-python-serialize", "binary", {"a": BODY}, BODY),
        ),
    ],
)
def test_refused_message_lines_keep_no_body(msg: str, args: tuple[object, ...]) -> None:
    text = shown("celery.worker.consumer.consumer", msg, *args)
    assert_clean(text)
    assert "<body redacted" in text


def test_unknown_task_line_still_names_the_task() -> None:
    text = shown(
        "celery.worker.consumer.consumer",
        consumer.UNKNOWN_TASK_ERROR,
        KeyError("otp.verfy"),
        BODY,
        {"task": "otp.verfy", "id": "x"},
        {},
    )
    assert "otp.verfy" in text


def test_taskpool_apply_and_botocore_bodies() -> None:
    apply = shown(
        "celery.concurrency.base",
        "TaskPool: Apply %s (args:%s kwargs:%s)",
        "<fn>",
        repr(("otp.verify", "id", {}, BODY)),
        "{}",
        level=logging.DEBUG,
    )
    params = {"url_path": "/v1/apps/a/verify-otp", "method": "POST", "body": BODY.encode()}
    request = shown(
        "botocore.endpoint", "Making request for %s with params: %s", "op", params,
        level=logging.DEBUG,
    )  # fmt: skip
    response = shown("botocore.parsers", "Response body:\n%r", BODY.encode(), level=logging.DEBUG)
    for text in (apply, request, response):
        assert_clean(text)
    assert "/v1/apps/a/verify-otp" in request


@pytest.mark.parametrize(
    "body",
    [
        ([NUMBER, CODE, "ExampleCorp", "Login"], {}),  # positional arguments
        ([], {"destination": NUMBER, "pin": CODE}),  # a misspelled field
        ([], {"destination": NUMBER, "otp": [CODE]}),  # a code inside a list
    ],
)
def test_taskpool_apply_on_celerys_own_logger_shows_no_argument(body: object) -> None:
    """The line comes from celery/concurrency/base.py's logger ("celery.pool"), with the
    request dict (the client's own argsrepr) and the body: none of it may show."""
    from celery.concurrency import base

    request = {"argsrepr": repr(body), "kwargsrepr": repr(body)}
    apply = shown(
        base.logger.name,
        "TaskPool: Apply %s (args:%s kwargs:%s)",
        "<fn>",
        repr(("otp.verify", "id", request, json.dumps([*body, {}]))),  # type: ignore[misc]
        "{}",
        level=logging.DEBUG,
    )
    assert_clean(apply)
    assert "TaskPool: Apply" in apply


def test_code_fields_are_redacted_in_any_line() -> None:
    assert_clean(shown("x", "%s", f"{{'Otp': '{CODE}', 'otp': {CODE}}} otp={CODE}"))
    assert "code_length': 6" in shown("x", "%s", "{'code_length': 6}")


@pytest.mark.parametrize(
    "spelling",
    [
        "+1 (425) 555-0142",
        "14255550142",
        "+1-425-555-0142",
        "\uff0b\uff11\uff14\uff12\uff15\uff15\uff15\uff15\uff10\uff11\uff14\uff12",
        "+\u0661\u0664\u0662\u0665\u0665\u0665\u0665\u0660\u0661\u0664\u0662",
        "+1 1 425 555 0142",
    ],
)
def test_numbers_in_any_spelling_are_masked(spelling: str) -> None:
    text = redact_text(f"refused {spelling}: no")
    digits = "".join(c for c in spelling if c.isdigit())
    assert digits not in text and "555" not in text and "\u0665" not in text, text


def test_job_ids_and_dates_are_kept() -> None:
    text = "job 2f0c1234-1234-5678-9abc-123456789012 at 2026-12-01T19:58:30.123+00:00"
    assert redact_text(text) == text
    assert redact_text(f"ref {REF}") == "ref 46bb\u2026"


def test_decode_error_shows_the_error_not_its_bytes() -> None:
    raw = b"\xff" + BODY.encode()
    try:
        raw.decode()
    except UnicodeDecodeError as exc:
        error = exc
    text = shown(
        "celery.worker.consumer.consumer", consumer.MESSAGE_DECODE_ERROR,
        error, "application/json", "binary", {}, raw,
    )  # fmt: skip
    assert_clean(text)
    assert "UnicodeDecodeError" in text and "destination" not in text
