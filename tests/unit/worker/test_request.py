"""`Request.info()` is what `celery inspect` and Flower's worker page show."""

from __future__ import annotations

import json

from kombu import Message

from worker.app import app
from worker.request import RedactedRequest

NUMBER = "+14255550142"
CODE = "804137"


def request(kwargs: dict[str, object], args: list[object] | None = None) -> RedactedRequest:
    body = json.dumps([args or [], kwargs, {}]).encode()
    headers = {
        "id": "2f0c1234-1234-5678-9abc-123456789012",
        "task": "otp.verify",
        "argsrepr": repr(args),
        "kwargsrepr": repr(kwargs),  # a plain client's real arguments
    }
    message = Message(body=body, headers=headers, content_type="application/json",
                      content_encoding="utf-8")  # fmt: skip
    return RedactedRequest(message, app=app, task=app.tasks["otp.verify"])


def test_info_shows_no_code_and_no_number_safe_or_not() -> None:
    job = request({"destination": NUMBER, "otp": CODE, NUMBER: 1}, args=[CODE])
    for safe in (False, True):
        shown = json.dumps(job.info(safe=safe), default=str)
        assert CODE not in shown and "5550142" not in shown, shown
    info = job.info()
    assert info["kwargs"]["destination"] == "+1********42"
    assert info["kwargs"]["otp"] == "<redacted>"
    assert info["args"] == ["<redacted>"]
    assert CODE not in repr(job) and "5550142" not in str(job)
