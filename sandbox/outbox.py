"""What the sandbox "delivered": the fake phone that tests and demos read codes from.

Pinpoint's entries keep their original shape; Notify's add ``backend``, ``channel`` and
``kind`` (``sms``, ``call`` or ``whatsapp``), so one outbox shows both backends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


def sms_text(code: str, brand_name: str) -> str:
    """The body Pinpoint's default English OTP template produces."""
    return f"This is your One Time Password: {code} from {brand_name}"


@dataclass(frozen=True)
class OutboxMessage:
    destination: str
    code: str
    brand_name: str
    reference_id: str
    origination_identity: str
    message_id: str
    body: str
    language: str
    application_id: str
    time: float

    backend: ClassVar[str] = "pinpoint"
    label: ClassVar[str] = "SMS"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: What each Notify channel puts on the fake phone, and how the CLI names it.
NOTIFY_KINDS = {
    "TEXT": ("sms", "SMS"),
    "VOICE": ("call", "Call"),
    "WHATSAPP": ("whatsapp", "WhatsApp"),
}


@dataclass(frozen=True)
class NotifyMessage:
    """One Notify delivery; ``body`` is the SMS text, the spoken words, or the WhatsApp text."""

    destination: str
    code: str
    channel: str
    brand_name: str | None
    reference_id: str | None
    origination_identity: str
    message_id: str
    verification_id: str
    configuration_id: str | None
    code_type: str
    body: str
    language: str
    time: float
    backend: str = "notify"

    @property
    def kind(self) -> str:
        return NOTIFY_KINDS[self.channel][0]

    @property
    def label(self) -> str:
        return NOTIFY_KINDS[self.channel][1]

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"kind": self.kind}


Message = OutboxMessage | NotifyMessage


class Outbox:
    """Messages oldest first; an optional listener sees each one as it arrives."""

    def __init__(self, on_message: Callable[[Message], None] | None = None) -> None:
        self._messages: list[Message] = []
        self._lock = threading.Lock()
        self._on_message = on_message

    def add(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)
        if self._on_message is not None:
            self._on_message(message)

    def messages(self, destination: str | None = None, backend: str | None = None) -> list[Message]:
        with self._lock:
            return [
                m
                for m in self._messages
                if destination in (None, m.destination) and backend in (None, m.backend)
            ]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
