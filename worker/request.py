"""Worker-side redaction of task arguments, and the lane on every task event.

`argsrepr`/`kwargsrepr` are written by whichever client sent the message, and a
plain Celery client in another codebase sends the real ones: a phone number and,
for verify, the code. The worker recomputes both from the decoded kwargs before
anything logs them or sends a `task-received` event, so Flower and the logs are
clean whoever enqueued.

It also turns a malformed body into an `invalid` job instead of a dead worker (see
`well_formed`), and never lets a job be dropped by a rejection (see `reject`).

A job refused by policy (otpq_core.outcomes `REFUSALS`: invalid, expired, limited,
locked, cooldown, cancelled) is an expected ending, not a crash: its `task-failed`
event carries the one-line outcome (`limited: ...`) as its exception and no
traceback, so Flower shows it as a refusal. Its state stays FAILURE.

Only a client's `task-sent` event says which lane (routing key) a job took, and our
producer does not send one; the worker adds it to the events it sends itself, so
Flower shows the lane for every job, and the runtime of failed ones too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from celery.worker.request import Request

from otpq_core.outcomes import REFUSALS
from otpq_core.redaction import redact_args, redact_kwargs, redact_text
from worker.events import scrub_event

logger = logging.getLogger(__name__)

#: The one positional argument a malformed message is run with: the task refuses
#: positional arguments, so the job ends `invalid: args` with a result to poll.
MALFORMED = "<message body is not [args, kwargs, embed]>"
#: Shown in place of each positional argument (otpq's tasks take none).
REDACTED_ARG = "<redacted>"


def well_formed(payload: object) -> bool:
    """Celery unpacks `args, kwargs, embed = payload` outside any error handler: any
    other shape raises in the consumer and stops the worker."""
    return (
        isinstance(payload, list | tuple)
        and len(payload) == 3
        and isinstance(payload[0], list | tuple)
        and isinstance(payload[1], dict)
        and isinstance(payload[2], dict | type(None))
    )


class RedactedRequest(Request):
    def __init__(
        self, message: Any, *args: Any, body: Any = None, decoded: bool = False, **options: Any
    ) -> None:
        payload = body if decoded else message.payload
        if not well_formed(payload):
            logger.warning("malformed message body for job %s: failing it as invalid", _id(message))
            body, decoded = ([MALFORMED], {}, {}), True
        super().__init__(message, *args, body=body, decoded=decoded, **options)
        # The task's own context gets the delivery tag: a finished send acks its message
        # in the round trip that records its outcome (worker/early_acks.py).
        self._delivery_info["delivery_tag"] = getattr(message, "delivery_tag", None)
        self._argsrepr = redact_args(self._args)
        kwargs = self._kwargs if isinstance(self._kwargs, dict) else {}
        # Key names are caller-chosen too: redact_kwargs bounds and masks unknown ones.
        self._shown_kwargs = redact_kwargs(kwargs)
        self._kwargsrepr = repr(self._shown_kwargs)

    def info(self, safe: bool = False) -> dict[str, Any]:
        """What `celery inspect active|scheduled|reserved|query_task` and Flower's
        worker page show. Celery's own returns the raw args and kwargs unless
        `safe=True`, and only `active` can be asked for that: here both forms are the
        redacted ones, whoever sent the job."""
        shown = super().info(safe=True)
        if not safe:
            shown["args"] = [REDACTED_ARG] * len(self._args or ())
            shown["kwargs"] = dict(self._shown_kwargs)
        return shown

    def reject(self, requeue: bool = False) -> None:
        """Always requeue: otpq raises no `Reject` itself, and Celery rejects without
        requeue when `self.retry()` cannot publish the retry (Redis down), which
        would drop the job for good. Requeued, the job runs again (its claim keeps a
        send from going out twice; its deadline ends a loop). If Redis is still down,
        the reject fails too and the message stays in kombu's unacked set, from which
        a live worker's sweep returns it after the visibility timeout."""
        super().reject(requeue=True)

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = getattr(exc_info, "exception", None)
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        self._refusal = str(exc) if isinstance(exc, REFUSALS) else None
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def send_event(self, type: str, **fields: Any) -> None:
        info = self.delivery_info or {}
        if type == "task-failed" and getattr(self, "_refusal", None):
            # Refused by policy: the outcome's one line, no traceback (see above).
            fields.update(exception=self._refusal, traceback="")
        fields.setdefault("routing_key", info.get("routing_key"))
        fields.setdefault("exchange", info.get("exchange"))
        if type == "task-failed" and self.time_start and "runtime" not in fields:
            # Celery reports runtime only for successes; Flower shows failures' too.
            fields["runtime"] = max(0.0, time.time() - self.time_start)
        clean = scrub_event({"type": type, **fields})
        clean.pop("type")
        super().send_event(type, **clean)


def _id(message: Any) -> str:
    headers = getattr(message, "headers", None) or {}
    return redact_text(str(headers.get("id", "?"))[:64])
