"""Notify's input rules for its two operations, from the botocore model's constraints.

botocore checks only required members, types and minimums before sending; the service
checks the rest. Every failure is collected (a field may fail more than once) and
answered as one ValidationException whose ``fieldList`` holds JSON pointers. No message
repeats a value: destinations and codes are secrets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sandbox.notify_config import CODE_ALPHABETS, CODE_PLACEHOLDER, CodePolicy
from sandbox.notify_errors import FieldError, NotifyError, invalid, invalid_field

CHANNELS = ("TEXT", "VOICE", "WHATSAPP")
MAX_CONTEXT_ENTRIES = 5

_E164 = re.compile(r"\+[0-9]{8,15}")
_ID = r"[A-Za-z0-9_-]+"
_NOT_BLANK = r"\S+"


@dataclass(frozen=True)
class ChannelOverrides:
    text_template: str | None = None
    voice_template: str | None = None
    voice_language: str | None = None
    notify_template_id: str | None = None
    whatsapp_template: str | None = None
    whatsapp_language: str | None = None


@dataclass(frozen=True)
class NotifySendParams:
    channel: str
    destination: str
    origination_identity: str
    configuration: str | None
    policy: CodePolicy
    channels: ChannelOverrides
    configuration_set: str | None
    context: dict[str, str]
    reference_id: str | None


@dataclass(frozen=True)
class NotifyValidateParams:
    destination: str
    code: str
    reference_id: str | None


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise NotifyError("ValidationException", "Request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise NotifyError("ValidationException", "Request body must be a JSON object")
    return value


class _Checker:
    """Reads members by the model's rules, remembering every failure."""

    def __init__(self) -> None:
        self.failures: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.failures.append(FieldError(path, message))

    def raise_any(self) -> None:
        if self.failures:
            raise invalid(self.failures)

    def string(
        self,
        doc: dict[str, Any],
        path: str,
        key: str,
        *,
        required: bool = False,
        high: int,
        low: int = 1,
        pattern: str | None = None,
        choices: tuple[str, ...] = (),
    ) -> str | None:
        where = f"{path}/{key}"
        value = doc.get(key)
        if value is None:
            if required:
                self.fail(where, "Member must not be null")
            return None
        if not isinstance(value, str):
            self.fail(where, "Member must be a string")
            return None
        ok = True
        if choices and value not in choices:
            self.fail(where, f"Member must satisfy enum value set: [{', '.join(choices)}]")
            return None
        if not low <= len(value) <= high:
            self.fail(where, f"Member must have length between {low} and {high}")
            ok = False
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(where, f"Member must satisfy regular expression pattern: {pattern}")
            ok = False
        return value if ok else None

    def integer(self, doc: dict[str, Any], path: str, key: str, low: int, high: int) -> int | None:
        where = f"{path}/{key}"
        value = doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "Member must be an integer")
            return None
        if not low <= value <= high:
            self.fail(where, f"Member must be between {low} and {high}")
            return None
        return value

    def structure(self, doc: dict[str, Any], path: str, key: str) -> dict[str, Any]:
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"{path}/{key}", "Member must be a structure")
            return {}
        return value

    def string_map(
        self,
        doc: dict[str, Any],
        path: str,
        key: str,
        *,
        low: int,
        high: int,
        sizes: tuple[int, int],
    ) -> dict[str, str]:
        where = f"{path}/{key}"
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "Member must be a map")
            return {}
        if not low <= len(value) <= high:
            self.fail(where, f"Member must have between {low} and {high} entries")
        for name, item in value.items():
            if not 1 <= len(name) <= sizes[0] or not re.fullmatch(r"\S+", name):
                self.fail(where, f"Map keys must be 1-{sizes[0]} non-blank characters")
            if not isinstance(item, str) or not 1 <= len(item) <= sizes[1] or not item.strip():
                self.fail(where, f"Map values must be 1-{sizes[1]} characters, not blank")
        return dict(value)

    def destination(self, doc: dict[str, Any]) -> str | None:
        value = self.string(doc, "", "destinationIdentity", required=True, high=20)
        if value is not None and not _E164.fullmatch(value):
            self.fail("/destinationIdentity", "Member must be an E.164 phone number")
            return None
        return value

    def template(self, doc: dict[str, Any], path: str) -> str | None:
        value = self.string(doc, path, "inlineTemplateBody", high=6000)
        if value is not None and CODE_PLACEHOLDER not in value:
            self.fail(f"{path}/inlineTemplateBody", f"Template must contain {CODE_PLACEHOLDER}")
            return None
        return value


def parse_send(doc: dict[str, Any]) -> NotifySendParams:
    check = _Checker()
    channel = check.string(doc, "", "channel", required=True, high=16, choices=CHANNELS)
    destination = check.destination(doc)
    origination = check.string(
        doc, "", "originationIdentity", required=True, high=256, pattern=r"[A-Za-z0-9_:/+-]+"
    )
    configuration = check.string(
        doc, "", "notifyCodeConfiguration", high=256, pattern=r"[A-Za-z0-9_:/-]+"
    )
    policy = _policy(check, check.structure(doc, "", "overrideCodeConfigurationParameters"))
    channels = _channels(check, check.structure(doc, "", "overrideChannelParameters"))
    configuration_set = check.string(doc, "", "configurationSetName", high=256, pattern=_ID)
    context = check.string_map(
        doc, "", "context", low=0, high=MAX_CONTEXT_ENTRIES, sizes=(100, 800)
    )
    reference_id = check.string(doc, "", "referenceId", high=256, pattern=_ID)
    check.raise_any()
    assert channel is not None and destination is not None and origination is not None
    return NotifySendParams(
        channel=channel,
        destination=destination,
        origination_identity=origination,
        configuration=configuration,
        policy=policy,
        channels=channels,
        configuration_set=configuration_set,
        context=context,
        reference_id=reference_id,
    )


def _policy(check: _Checker, doc: dict[str, Any]) -> CodePolicy:
    path = "/overrideCodeConfigurationParameters"
    return CodePolicy(
        code_type=check.string(doc, path, "codeType", high=16, choices=tuple(CODE_ALPHABETS)),
        code_length=check.integer(doc, path, "codeLength", 4, 8),
        validity_minutes=check.integer(doc, path, "validityPeriodMinutes", 1, 60),
        max_attempts=check.integer(doc, path, "maxAttempts", 1, 5),
    )


def _channels(check: _Checker, doc: dict[str, Any]) -> ChannelOverrides:
    path = "/overrideChannelParameters"
    text = check.structure(doc, path, "text")
    check.string_map(
        text, f"{path}/text", "destinationCountryParameters", low=1, high=10, sizes=(64, 64)
    )
    voice = check.structure(doc, path, "voice")
    notify = check.structure(doc, path, "notify")
    whatsapp = check.structure(doc, path, "whatsApp")
    voice_path, notify_path, whatsapp_path = f"{path}/voice", f"{path}/notify", f"{path}/whatsApp"
    check.string(voice, voice_path, "voiceId", high=64, pattern=r"[A-Za-z0-9]+")
    check.string(notify, notify_path, "voiceId", high=64, pattern=r"[A-Za-z0-9]+")
    check.string(voice, voice_path, "voiceMessageBodyTextType", high=8, choices=("TEXT", "SSML"))
    return ChannelOverrides(
        text_template=check.template(text, f"{path}/text"),
        voice_template=check.template(voice, voice_path),
        voice_language=check.string(voice, voice_path, "languageCode", low=2, high=35,
                                    pattern=_NOT_BLANK),
        notify_template_id=check.string(notify, notify_path, "notifyTemplateId", high=256,
                                        pattern=_ID),
        whatsapp_template=check.string(whatsapp, whatsapp_path, "whatsAppTemplateName",
                                       high=512, pattern=_NOT_BLANK),
        whatsapp_language=check.string(whatsapp, whatsapp_path, "languageCode", low=2, high=35,
                                       pattern=_NOT_BLANK),
    )  # fmt: skip


def parse_validate(doc: dict[str, Any]) -> NotifyValidateParams:
    check = _Checker()
    destination = check.destination(doc)
    code = check.string(doc, "", "code", required=True, low=4, high=8, pattern=r"[A-Za-z0-9]+")
    reference_id = check.string(doc, "", "referenceId", high=256, pattern=_ID)
    check.raise_any()
    assert destination is not None and code is not None
    return NotifyValidateParams(destination, code, reference_id)


def missing_template(channel: str) -> NotifyError:
    """No configuration and no template for the channel: the request cannot be rendered."""
    member = {"WHATSAPP": "whatsApp", "VOICE": "voice"}.get(channel, "text")
    return invalid_field(
        f"/overrideChannelParameters/{member}",
        "Without notifyCodeConfiguration, the request must supply this channel's template",
    )
