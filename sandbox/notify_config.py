"""Notify code configurations the sandbox knows, and how each channel renders a code.

A configuration is what ``CreateNotifyCodeConfiguration`` would have made: a code policy
(type, length, validity, attempts) and channel templates. The sandbox knows them the way
it knows Pinpoint application ids: given at start-up, looked up by id or ARN. Templates
are the sandbox's own: the brand is part of the configuration's text template, as it is
on AWS, and a request's inline template marks the code with ``{{code}}``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

CODE_ALPHABETS = {
    "NUMERIC": string.digits,
    "ALPHA": string.ascii_uppercase,
    "ALPHANUMERIC": string.ascii_uppercase + string.digits,
}
CODE_PLACEHOLDER = "{{code}}"
ARN_RESOURCE = "notify-code-configuration/"
SANDBOX_REGION = "us-east-1"
SANDBOX_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class CodePolicy:
    """Each member may be unset; ``over`` fills the gaps from a lower layer."""

    code_type: str | None = None
    code_length: int | None = None
    validity_minutes: int | None = None
    max_attempts: int | None = None

    def over(self, base: CodePolicy) -> CodePolicy:
        return CodePolicy(
            self.code_type or base.code_type,
            self.code_length or base.code_length,
            self.validity_minutes or base.validity_minutes,
            self.max_attempts or base.max_attempts,
        )


#: What applies when neither the request nor the configuration sets a value. The model
#: leaves AWS's defaults unsaid; these are Pinpoint's, so both backends behave alike.
SERVICE_DEFAULTS = CodePolicy("NUMERIC", 6, 15, 3)


@dataclass(frozen=True)
class NotifyConfiguration:
    id: str
    brand_name: str = "otpq"
    policy: CodePolicy = field(default_factory=CodePolicy)
    whatsapp_template: str = "otpq_verification"
    language: str = "en-US"

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:end-user-messaging:{SANDBOX_REGION}:{SANDBOX_ACCOUNT}:{ARN_RESOURCE}{self.id}"
        )

    def with_policy(self, **policy: object) -> NotifyConfiguration:
        return replace(self, policy=replace(self.policy, **policy))


DEFAULT_NOTIFY_CONFIGURATIONS = ("otpq-sandbox",)


def configurations(
    items: Iterable[str | NotifyConfiguration],
) -> dict[str, NotifyConfiguration]:
    """By id; a bare string is a configuration with the defaults and brand ``otpq``."""
    known: dict[str, NotifyConfiguration] = {}
    for item in items:
        config = NotifyConfiguration(item) if isinstance(item, str) else item
        known[config.id] = config
    return known


def find(known: dict[str, NotifyConfiguration], id_or_arn: str) -> NotifyConfiguration | None:
    """Look up by id, or by an ARN whose resource is ``notify-code-configuration/<id>``."""
    if not id_or_arn.startswith("arn:"):
        return known.get(id_or_arn)
    resource = id_or_arn.split(":", 5)[-1]
    if not resource.startswith(ARN_RESOURCE):
        return None
    return known.get(resource.removeprefix(ARN_RESOURCE))


def spoken(code: str) -> str:
    """A code as a voice reads it: one character at a time."""
    return ", ".join(code)


def text_body(code: str, brand_name: str | None, template: str | None) -> str:
    if template is not None:
        return template.replace(CODE_PLACEHOLDER, code)
    brand = f" {brand_name}" if brand_name else ""
    return f"{code} is your{brand} verification code."


def voice_script(code: str, brand_name: str | None, template: str | None) -> str:
    if template is not None:
        return template.replace(CODE_PLACEHOLDER, spoken(code))
    brand = f" {brand_name}" if brand_name else ""
    said = spoken(code)
    return f"Your{brand} verification code is {said}. Again, your code is {said}."


def whatsapp_text(code: str) -> str:
    """Meta's fixed authentication-template text: no brand, no free text."""
    return f"{code} is your verification code. For your security, do not share this code."
