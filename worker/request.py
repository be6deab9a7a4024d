"""Worker-side redaction of task arguments.

`argsrepr`/`kwargsrepr` are written by whichever client sent the message, and a
plain Celery client in another codebase sends the real ones: a phone number and,
for verify, the code. The worker recomputes both from the decoded kwargs before
anything logs them or sends a `task-received` event, so Flower and the logs are
clean whoever enqueued.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from producer.redaction import redact_kwargs


class RedactedRequest(Request):
    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._argsrepr = "()" if not self._args else f"<{len(self._args)} args redacted>"
        kwargs = self._kwargs if isinstance(self._kwargs, dict) else {}
        self._kwargsrepr = repr(redact_kwargs(kwargs))
