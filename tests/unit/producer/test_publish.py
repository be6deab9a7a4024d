"""The clients' message is exactly Celery's, and the sync and async clients push the same."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis

from otpq_core.redaction import redact_kwargs
from otpq_core.settings import Settings
from otpq_core.wire import DEADLINE_HEADER
from producer.aio import AsyncOtpClient
from producer.client import OtpClient, make_app
from producer.publish import build_message, send_job

DEST = "+14255550142"
JOB = {"brand_name": "ExampleCorp", "source": "CreateAccount"}
#: Per-message values: ids, the delivery tag, the deadline, the thread's reply queue.
VARYING = ("id", "root_id", "correlation_id", "delivery_tag", DEADLINE_HEADER, "reply_to")


def normalised(payload: bytes | str) -> dict[str, Any]:
    message = json.loads(payload)
    for part in (message["headers"], message["properties"]):
        for key in VARYING:
            if key in part:
                part[key] = "*"
    return message


def test_the_message_is_what_celery_send_task_writes(redis_url: str) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url})
    app = make_app(settings)
    job = send_job(settings, DEST, JOB["brand_name"], JOB["source"], {"lane": "bulk"})
    try:
        app.send_task(
            job.task,
            kwargs=job.kwargs,
            queue=job.queue,
            headers={DEADLINE_HEADER: 1.0},
            argsrepr="()",
            kwargsrepr=repr(redact_kwargs(job.kwargs)),
            retry=False,
        )
        conn = redis.Redis.from_url(redis_url)
        celerys = conn.rpop(job.queue)
        conn.close()
    finally:
        app.close()
    ours = build_message(make_app(settings), job)
    assert ours.key == job.queue == "otp.bulk"
    assert celerys is not None and normalised(ours.payload) == normalised(celerys)
    assert json.loads(ours.payload)["body"] == json.loads(celerys)["body"]


def test_sync_and_async_clients_push_the_same_bytes(redis_url: str) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url, "OTPQ_RESEND_COOLDOWN": "0"})
    conn = redis.Redis.from_url(redis_url)
    sync = OtpClient(settings)
    try:
        sync_id = sync.send(DEST, **JOB, idempotency_key="k1")
    finally:
        sync.close()

    async def send() -> str:
        async with AsyncOtpClient(settings) as client:
            return await client.send(DEST, **JOB, idempotency_key="k2")

    async_id = asyncio.run(send())
    later, earlier = conn.lrange("otp.interactive", 0, -1)
    conn.close()
    assert json.loads(earlier)["headers"]["id"] == sync_id
    assert json.loads(later)["headers"]["id"] == async_id

    def stripped(payload: bytes) -> bytes:
        text = payload.decode()
        for value in json.loads(text)["headers"]["id"], *_varying(text):
            text = text.replace(str(value), "*")
        return text.encode()

    assert stripped(earlier) == stripped(later)


def _varying(text: str) -> list[Any]:
    message = json.loads(text)
    return [
        message["properties"]["delivery_tag"],
        message["properties"]["reply_to"],
        json.dumps(message["headers"][DEADLINE_HEADER]),
    ]
