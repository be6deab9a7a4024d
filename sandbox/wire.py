"""How answers look on the wire, in the rest-json form botocore parses.

Pinpoint's success bodies are the output's *payload member* itself (``MessageResponse``,
``VerificationResponse``), not an object wrapping it; its errors carry the code in the
``x-amzn-ErrorType`` header and ``{"Message", "RequestID"}`` in the body. Notify's outputs
have no payload member, so the body is the output structure; its errors carry the same
header and the error shape itself (``message`` and the shape's members) as the body.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import PinpointError
from sandbox.notify_errors import NotifyError


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.body).encode()


def new_request_id() -> str:
    return str(uuid.uuid4())


def ok(body: Any, request_id: str) -> Reply:
    return Reply(200, body, {"x-amzn-RequestId": request_id})


def error(exc: PinpointError, request_id: str) -> Reply:
    return Reply(
        exc.status,
        {"Message": exc.message, "RequestID": request_id},
        {"x-amzn-ErrorType": exc.name, "x-amzn-RequestId": request_id},
    )


def notify_error(exc: NotifyError, request_id: str) -> Reply:
    return Reply(
        exc.status,
        exc.body(),
        {"x-amzn-ErrorType": exc.name, "x-amzn-RequestId": request_id},
    )
