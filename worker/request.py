"""Worker-side redaction of task arguments.

`argsrepr`/`kwargsrepr` are written by whichever client sent the message, and a
plain Celery client in another codebase sends the real ones: a phone number and,
for verify, the code. The worker recomputes both from the decoded kwargs before
anything logs them or sends a `task-received` event, so Flower and the logs are
clean whoever enqueued.

It also never lets a job be dropped by a rejection (see `reject`).
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

    def reject(self, requeue: bool = False) -> None:
        """Always requeue: otpq raises no `Reject` itself, and Celery rejects without
        requeue when `self.retry()` cannot publish the retry (Redis down), which
        would drop the job for good. Requeued, the job runs again (its claim keeps a
        send from going out twice; its deadline ends a loop). If Redis is still down,
        the reject fails too and the message stays in kombu's unacked set, from which
        a live worker's sweep returns it after the visibility timeout."""
        super().reject(requeue=True)
