"""Worker-side redaction of task arguments, and the lane on every task event.

`argsrepr`/`kwargsrepr` are written by whichever client sent the message, and a
plain Celery client in another codebase sends the real ones: a phone number and,
for verify, the code. The worker recomputes both from the decoded kwargs before
anything logs them or sends a `task-received` event, so Flower and the logs are
clean whoever enqueued.

Only a client's `task-sent` event says which lane (routing key) a job took, and our
producer does not send one; the worker adds it to the events it sends itself, so
Flower shows the lane for every job, and the runtime of failed ones too.
"""

from __future__ import annotations

import time
from typing import Any

from celery.worker.request import Request

from producer.redaction import redact_kwargs
from worker.events import scrub_event


class RedactedRequest(Request):
    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._argsrepr = "()" if not self._args else f"<{len(self._args)} args redacted>"
        kwargs = self._kwargs if isinstance(self._kwargs, dict) else {}
        self._kwargsrepr = repr(redact_kwargs(kwargs))

    def send_event(self, type: str, **fields: Any) -> None:
        info = self.delivery_info or {}
        fields.setdefault("routing_key", info.get("routing_key"))
        fields.setdefault("exchange", info.get("exchange"))
        if type == "task-failed" and self.time_start and "runtime" not in fields:
            # Celery reports runtime only for successes; Flower shows failures' too.
            fields["runtime"] = max(0.0, time.time() - self.time_start)
        clean = scrub_event({"type": type, **fields})
        clean.pop("type")
        super().send_event(type, **clean)
