"""What the sandbox "delivered": the fake phone that tests and demos read codes from."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Outbox:
    """Messages oldest first; an optional listener sees each one as it arrives."""

    def __init__(self, on_message: Callable[[OutboxMessage], None] | None = None) -> None:
        self._messages: list[OutboxMessage] = []
        self._lock = threading.Lock()
        self._on_message = on_message

    def add(self, message: OutboxMessage) -> None:
        with self._lock:
            self._messages.append(message)
        if self._on_message is not None:
            self._on_message(message)

    def messages(self, destination: str | None = None) -> list[OutboxMessage]:
        with self._lock:
            return [m for m in self._messages if destination in (None, m.destination)]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
