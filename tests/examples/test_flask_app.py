"""examples/flask_app.py against a real worker and the sandbox, through Flask's test
client (no server, no port): the app's factory builds its own `OtpClient`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from examples.flask_app import create_app
from otpq_core.settings import Settings
from sandbox import SandboxControl

pytestmark = pytest.mark.integration

PHONE = "+12065550172"


@pytest.fixture
def http(otpq_settings: Settings) -> Iterator[FlaskClient]:
    app = create_app(otpq_settings)
    yield app.test_client()
    app.extensions["otpq"].close()


def wrong(code: str) -> str:
    return "1" * len(code) if code == "0" * len(code) else "0" * len(code)


def test_send_then_verify_with_the_code_from_the_outbox(
    http: FlaskClient, pinpoint: SandboxControl
) -> None:
    sent = http.post("/otp/send", json={"phone": PHONE})
    assert sent.status_code == 200, sent.text
    assert sent.json is not None and sent.json["delivery_status"] == "SUCCESSFUL"
    code = pinpoint.wait_for_message(PHONE)["code"]
    bad = http.post("/otp/verify", json={"phone": PHONE, "code": wrong(code)})
    assert (bad.status_code, bad.json) == (200, {"valid": False})
    good = http.post("/otp/verify", json={"phone": PHONE, "code": code})
    assert (good.status_code, good.json) == (200, {"valid": True})


def test_a_formatted_number_is_422_naming_destination(
    http: FlaskClient, pinpoint: SandboxControl
) -> None:
    answer = http.post("/otp/send", json={"phone": "+1 (206) 555-0172"})
    assert answer.status_code == 422
    assert answer.json is not None and answer.json["field"] == "destination"
    assert "drop the formatting" in answer.json["message"]
    assert "2065550172" not in answer.text  # the number is shown masked only
    assert pinpoint.outbox() == []


def test_a_missing_phone_is_422_naming_destination(http: FlaskClient) -> None:
    answer = http.post("/otp/send", json={})
    assert (answer.status_code, answer.json and answer.json["field"]) == (422, "destination")


def test_a_second_code_inside_the_budget_is_429_limited(
    http: FlaskClient, pinpoint: SandboxControl
) -> None:
    assert http.post("/otp/send", json={"phone": PHONE}).status_code == 200
    again = http.post("/otp/send", json={"phone": PHONE})
    assert (again.status_code, again.json and again.json["error"]) == (429, "limited")
    assert len(pinpoint.outbox(destination=PHONE)) == 1


def test_guessing_is_429_locked(http: FlaskClient, pinpoint: SandboxControl) -> None:
    assert http.post("/otp/send", json={"phone": PHONE}).status_code == 200
    code = pinpoint.wait_for_message(PHONE)["code"]
    for _ in range(2):
        guess = http.post("/otp/verify", json={"phone": PHONE, "code": wrong(code)})
        assert guess.json == {"valid": False}
    locked = http.post("/otp/verify", json={"phone": PHONE, "code": code})
    assert (locked.status_code, locked.json and locked.json["error"]) == (429, "locked")
