"""What `OtpClient` and `AsyncOtpClient` share: validation, and the bytes they push.

Both clients turn a call into a `Job` here (so both refuse the same input with the
same `InvalidRequest`), and a job into a `WireMessage`: the exact JSON that
`app.send_task(task, kwargs=..., queue=lane)` makes kombu's Redis transport LPUSH —
Celery's protocol-2 headers and properties (`app.amqp.as_task_v2`, then the options
`send_task_message` folds into the properties), kombu's `prepare_message`, and the
virtual channel's `basic_publish` for a direct lane (the anonymous exchange with the
lane as routing key: `Channel._put`, an LPUSH to the lane's list, priority 0 having
no suffix). Then one LPUSH is all either client does, on a blocking or an asyncio
connection, and tests/unit/producer/test_publish.py holds both to what Celery itself writes.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu.serialization import dumps as serialize
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps as json_dumps

from otpq_core.outcomes import InvalidRequest
from otpq_core.redaction import redact_kwargs
from otpq_core.sealing import Sealer
from otpq_core.settings import Settings
from otpq_core.wire import (
    BULK,
    DEADLINE_HEADER,
    INTERACTIVE,
    QUEUES,
    SEND_TASK,
    VERIFY_TASK,
    default_deadline,
)
from producer.requests import SendRequest, VerifyRequest


@dataclass(frozen=True)
class Job:
    """A validated call: what to run, where, until when, behind which guards."""

    task: str
    kwargs: dict[str, Any]
    queue: str
    deadline: float
    idempotency_key: str | None = None
    cooldown: tuple[str, str] | None = None
    destination: str | None = None


@dataclass(frozen=True)
class WireMessage:
    """One task message: LPUSH `payload` to the Redis list `key`."""

    key: str
    payload: str


def queue_for(lane: str) -> str:
    queue = {"interactive": INTERACTIVE, "bulk": BULK}.get(lane, lane)
    if queue not in QUEUES:
        raise InvalidRequest("lane", "must be 'interactive' or 'bulk'")
    return queue


def _job_options(settings: Settings, options: dict[str, Any]) -> tuple[str, float, str | None]:
    queue = queue_for(options.pop("lane", "interactive"))
    deadline = options.pop("deadline", None)
    if deadline is None:
        deadline = default_deadline(queue, settings)
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
        raise InvalidRequest("deadline", "must be a positive number of seconds")
    return queue, float(deadline), options.pop("idempotency_key", None)


def send_job(
    settings: Settings, destination: str, brand_name: str, source: str, options: dict[str, Any]
) -> Job:
    """`OtpClient.send`'s arguments, checked; `options` as that method documents them."""
    options = dict(options)
    queue, deadline, idempotency_key = _job_options(settings, options)
    request = SendRequest.from_kwargs(
        {"destination": destination, "brand_name": brand_name, "source": source, **options}
    )
    request.check_backend(settings.backend)
    return Job(
        SEND_TASK,
        request.to_kwargs(),
        queue,
        deadline,
        idempotency_key,
        cooldown=(request.destination, request.ref_id),
        destination=request.destination,
    )


def verify_job(
    settings: Settings,
    sealer: Sealer,
    destination: str,
    otp: str,
    brand_name: str,
    source: str,
    options: dict[str, Any],
) -> Job:
    """`OtpClient.verify`'s arguments, checked, the code sealed (otpq_core/sealing.py)."""
    options = dict(options)
    queue, deadline, idempotency_key = _job_options(settings, options)
    request = VerifyRequest.from_kwargs(
        {"destination": destination, "otp": otp, "brand_name": brand_name, "source": source}
        | options
    )
    return Job(
        VERIFY_TASK, sealer.seal_kwargs(request.to_kwargs()), queue, deadline, idempotency_key
    )


def build_message(
    app: Celery, job: Job, job_id: str | None = None, *, now: float | None = None
) -> WireMessage:
    """The message `app.send_task` would publish for `job`, as kombu stores it."""
    job_id = job_id or str(uuid.uuid4())
    now = time.time() if now is None else now
    extra = {"argsrepr": "()", "kwargsrepr": repr(redact_kwargs(job.kwargs))}
    headers, properties, body, _ = app.amqp.as_task_v2(
        job_id, job.task, (), job.kwargs, reply_to=app.thread_oid, ignore_result=None, **extra
    )
    headers[DEADLINE_HEADER] = now + job.deadline
    properties.update(extra)  # celery.app.amqp send_task_message: properties.update(kwargs)
    queue = app.amqp.queues[job.queue]
    if queue.exchange.type != "direct":  # pragma: no cover  (lanes are direct)
        raise ValueError(f"lane {job.queue} is not on a direct exchange")
    properties["delivery_mode"] = queue.exchange.delivery_mode or 2  # kombu Producer.publish
    content_type, content_encoding, payload = serialize(body, serializer=app.conf.task_serializer)
    message = {
        "body": payload,
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": headers,
        "properties": properties,
    }
    properties.setdefault("delivery_info", {})  # virtual Channel.prepare_message
    properties.setdefault("priority", 0)
    # virtual Channel._inplace_augment_message, body_encoding "base64"
    message["body"] = base64.b64encode(str_to_bytes(payload)).decode("ascii")
    properties.update(body_encoding="base64", delivery_tag=str(uuid.uuid4()))
    properties["delivery_info"].update(exchange="", routing_key=job.queue)
    return WireMessage(job.queue, json_dumps(message))
