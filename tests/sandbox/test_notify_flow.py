"""Send, read the outbox, validate: Notify's code semantics through a stock boto3 client."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox import SandboxControl
from sandbox.notify_config import CODE_PLACEHOLDER
from tests.sandbox.calls import OTHER_PHONE, PHONE, send, verify, wrong
from tests.sandbox.notify_calls import (
    BRAND,
    CONFIG_ID,
    ORIGIN,
    STRICT,
    STRICT_ID,
    notify_send,
    notify_validate,
    other,
)

_ALPHABETS = {"NUMERIC": "[0-9]", "ALPHA": "[A-Z]", "ALPHANUMERIC": "[A-Z0-9]"}


def test_text_send_delivers_an_sms_and_validates_exactly_once(
    notify: Any, control: SandboxControl
) -> None:
    answer = notify_send(notify, channel="TEXT")

    message = control.wait_for_message(PHONE, timeout=2)
    code = message["code"]
    assert re.fullmatch("[0-9]{6}", code)
    assert message | {"code": None, "time": None} == {
        "backend": "notify",
        "channel": "TEXT",
        "kind": "sms",
        "destination": PHONE,
        "code": None,
        "brand_name": BRAND,
        "reference_id": "ref-1",
        "origination_identity": ORIGIN,
        "message_id": answer["messageId"],
        "verification_id": answer["verificationId"],
        "configuration_id": CONFIG_ID,
        "code_type": "NUMERIC",
        "body": f"{code} is your {BRAND} verification code.",
        "language": "en-US",
        "time": None,
    }
    assert answer["verificationId"] != answer["messageId"]
    assert notify_validate(notify, code) == "VALID"
    assert notify_validate(notify, code) == "INVALID"  # consumed


def test_voice_send_is_a_call_that_spells_the_code(notify: Any, control: SandboxControl) -> None:
    notify_send(notify, channel="VOICE")

    message = control.wait_for_message(PHONE, timeout=2)
    spelled = ", ".join(message["code"])
    assert (message["channel"], message["kind"]) == ("VOICE", "call")
    assert message["body"] == (
        f"Your {BRAND} verification code is {spelled}. Again, your code is {spelled}."
    )
    assert notify_validate(notify, message["code"]) == "VALID"


def test_whatsapp_send_uses_the_authentication_template(
    notify: Any, control: SandboxControl
) -> None:
    notify_send(notify, channel="WHATSAPP", configuration=STRICT_ID)

    message = control.wait_for_message(PHONE, timeout=2)
    code = message["code"]
    assert (message["channel"], message["kind"]) == ("WHATSAPP", "whatsapp")
    assert message["body"] == (
        f"{code} is your verification code. For your security, do not share this code."
    )
    assert message["language"] == STRICT.language
    assert notify_validate(notify, code) == "VALID"


@pytest.mark.parametrize("code_type", sorted(_ALPHABETS))
@pytest.mark.parametrize("length", [4, 5, 6, 7, 8])
def test_code_has_the_requested_type_and_length(
    notify: Any, control: SandboxControl, code_type: str, length: int
) -> None:
    overrides = {"codeType": code_type, "codeLength": length}
    notify_send(notify, overrideCodeConfigurationParameters=overrides)

    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert re.fullmatch(f"{_ALPHABETS[code_type]}{{{length}}}", code)
    assert control.outbox()[-1]["code_type"] == code_type
    assert notify_validate(notify, code) == "VALID"


def test_alpha_codes_use_letters(notify: Any, control: SandboxControl) -> None:
    """Eight ALPHA codes of 8 letters: a digit in any would show a wrong alphabet."""
    for n in range(8):
        reference = f"r{n}"
        overrides = {"codeType": "ALPHA", "codeLength": 8}
        notify_send(notify, reference_id=reference, overrideCodeConfigurationParameters=overrides)
    codes = "".join(m["code"] for m in control.outbox())
    assert codes.isalpha() and codes.isupper() and len(codes) == 64


def test_configuration_policy_applies_and_request_overrides_win(
    notify: Any, control: SandboxControl
) -> None:
    notify_send(notify, reference_id="own", configuration=STRICT_ID)
    notify_send(
        notify,
        reference_id="overridden",
        configuration=STRICT_ID,
        overrideCodeConfigurationParameters={"codeType": "NUMERIC", "codeLength": 4},
    )
    own, overridden = (m["code"] for m in control.outbox())

    assert re.fullmatch("[A-Z]{8}", own)
    assert re.fullmatch("[0-9]{4}", overridden)
    assert control.outbox()[0]["body"] == f"{own} is your Strict verification code."
    # STRICT allows one attempt: a wrong code locks the verification.
    assert notify_validate(notify, other(own), reference_id="own") == "INVALID"
    assert notify_validate(notify, own, reference_id="own") == "INVALID"


def test_configuration_by_arn(notify: Any, control: SandboxControl) -> None:
    arn = f"arn:aws:end-user-messaging:us-east-1:000000000000:notify-code-configuration/{CONFIG_ID}"

    notify_send(notify, configuration=arn)

    assert control.wait_for_message(PHONE, timeout=2)["configuration_id"] == CONFIG_ID


def test_without_configuration_the_inline_template_renders_the_code(
    notify: Any, control: SandboxControl
) -> None:
    template = f"Code {CODE_PLACEHOLDER} for Acme"
    notify_send(
        notify,
        configuration=None,
        overrideChannelParameters={"text": {"inlineTemplateBody": template}},
    )

    message = control.wait_for_message(PHONE, timeout=2)
    assert message["body"] == f"Code {message['code']} for Acme"
    assert message["configuration_id"] is None
    assert re.fullmatch("[0-9]{6}", message["code"])  # service defaults


def test_wrong_codes_spend_attempts_but_the_right_one_still_works(
    notify: Any, control: SandboxControl
) -> None:
    notify_send(notify, overrideCodeConfigurationParameters={"maxAttempts": 3})
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert notify_validate(notify, other(code)) == "INVALID"
    assert notify_validate(notify, other(code)) == "INVALID"
    assert notify_validate(notify, code) == "VALID"


def test_too_many_attempts_lock_the_verification(notify: Any, control: SandboxControl) -> None:
    notify_send(notify, overrideCodeConfigurationParameters={"maxAttempts": 2})
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert notify_validate(notify, other(code)) == "INVALID"
    assert notify_validate(notify, other(code)) == "INVALID"
    assert notify_validate(notify, code) == "INVALID"


def test_code_expires_after_its_validity_period(notify: Any, control: SandboxControl) -> None:
    overrides = {"validityPeriodMinutes": 1}
    notify_send(notify, reference_id="early", overrideCodeConfigurationParameters=overrides)
    notify_send(notify, reference_id="late", overrideCodeConfigurationParameters=overrides)
    codes = {m["reference_id"]: m["code"] for m in control.outbox(PHONE)}

    control.advance_clock(60 - 1)
    assert notify_validate(notify, codes["early"], reference_id="early") == "VALID"
    control.advance_clock(2)
    assert notify_validate(notify, codes["late"], reference_id="late") == "INVALID"


def test_resend_replaces_the_code(notify: Any, control: SandboxControl) -> None:
    notify_send(notify, overrideCodeConfigurationParameters={"codeLength": 8})
    first = control.wait_for_message(PHONE, timeout=2)["code"]
    notify_send(notify, overrideCodeConfigurationParameters={"codeLength": 8})
    second = control.wait_for_message(PHONE, timeout=2, seen=1)["code"]

    assert first != second
    assert notify_validate(notify, first) == "INVALID"
    assert notify_validate(notify, second) == "VALID"


def test_codes_are_scoped_by_destination_and_reference(
    notify: Any, control: SandboxControl
) -> None:
    notify_send(notify)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert notify_validate(notify, code, reference_id="ref-2") == "INVALID"
    assert notify_validate(notify, code, reference_id=None) == "INVALID"
    assert notify_validate(notify, code, destination=OTHER_PHONE) == "INVALID"
    assert notify_validate(notify, code) == "VALID"


def test_without_reference_id_send_and_validate_still_pair(
    notify: Any, control: SandboxControl
) -> None:
    notify_send(notify, reference_id=None)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert notify_validate(notify, code, reference_id=None) == "VALID"


def test_unknown_verification_is_simply_invalid(notify: Any) -> None:
    assert notify_validate(notify, "123456") == "INVALID"


def test_a_pinpoint_code_does_not_validate_through_notify(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    send(pinpoint)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert notify_validate(notify, code) == "INVALID"
    assert verify(pinpoint, code) is True


def test_a_notify_code_does_not_verify_through_pinpoint(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    notify_send(notify)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    assert verify(pinpoint, code) is False
    assert notify_validate(notify, code) == "VALID"


def test_both_backends_codes_live_side_by_side(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    send(pinpoint)
    notify_send(notify)
    [pinpoint_message] = control.outbox(backend="pinpoint")
    [notify_message] = control.outbox(backend="notify")
    pinpoint_code, notify_code = pinpoint_message["code"], notify_message["code"]

    assert len(control.outbox()) == 2
    assert "backend" not in pinpoint_message  # Pinpoint's entries keep their shape
    assert notify_message["backend"] == "notify"
    assert notify_validate(notify, wrong(notify_code)) == "INVALID"
    assert verify(pinpoint, pinpoint_code) is True
    assert notify_validate(notify, notify_code) == "VALID"


def test_one_url_serves_both_through_botocore_endpoint_variables(
    sandbox: Any, control: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.sandbox.calls import make_client
    from tests.sandbox.notify_calls import make_notify_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_PINPOINT", sandbox.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ENDUSERMESSAGING", sandbox.url)
    pinpoint = make_client(None)  # type: ignore[arg-type]
    notify = make_notify_client(None)
    try:
        send(pinpoint)
        notify_send(notify, destination=OTHER_PHONE)
        assert verify(pinpoint, control.wait_for_message(PHONE, timeout=2)["code"]) is True
        code = control.wait_for_message(OTHER_PHONE, timeout=2)["code"]
        assert notify_validate(notify, code, destination=OTHER_PHONE) == "VALID"
    finally:
        pinpoint.close()
        notify.close()
    stats = control.stats()["operations"]
    assert stats["SendOTPMessage"]["received"] == stats["SendNotifyCodeVerification"]["received"]
    assert stats["ValidateNotifyCodeVerification"]["by_status"] == {"200": 1}


def test_wait_for_message_can_wait_for_one_backend(
    pinpoint: Any, notify: Any, control: SandboxControl
) -> None:
    send(pinpoint)
    with pytest.raises(TimeoutError):
        control.wait_for_message(PHONE, timeout=0.05, backend="notify")
    notify_send(notify)

    message = control.wait_for_message(PHONE, timeout=2, backend="notify")

    assert message["backend"] == "notify"
    assert control.wait_for_message(PHONE, timeout=2, backend="pinpoint")["application_id"]


def test_reset_forgets_notify_codes(notify: Any, control: SandboxControl) -> None:
    notify_send(notify)
    code = control.wait_for_message(PHONE, timeout=2)["code"]

    control.reset()

    assert control.outbox() == []
    assert notify_validate(notify, code) == "INVALID"
