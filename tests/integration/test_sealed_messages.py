"""The OTP inside a queued verify message: sealed in Redis and in its files, opened by
a worker that holds the key, across a key rotation; plaintext by name still works.

Kombu base64-encodes message bodies, so a plain grep would find no code even if it
were there: every scan here decodes the bodies first, and proves it would see a
plaintext code by finding the one a plain Celery client sent.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from otpq_core.sealing import PREFIX, generate_key
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

JOB = {"brand_name": "ExampleCorp", "source": "Sealed"}
OLD, NEW, ROGUE = generate_key(), generate_key(), generate_key()
_BODY = re.compile(rb'"body": ?"([A-Za-z0-9+/=]+)"')


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    """A Redis of its own, with AOF on as in production; no other test's worker on it."""
    with RedisServer(persist=True) as server:
        yield server


def decoded(raw: bytes) -> str:
    """Raw bytes plus every base64 message body inside them, decoded."""
    parts = [raw.decode("latin-1")]
    for body in _BODY.findall(raw):
        parts.append(base64.b64decode(body).decode("latin-1"))
    return "\n".join(parts)


def redis_dump(url: str, port: int) -> str:
    """Every key (`redis-cli --scan`) and every value in it, bodies decoded."""
    conn = redis.Redis.from_url(url)
    cli = shutil.which("redis-cli")
    if cli:
        out = subprocess.run(
            [cli, "-p", str(port), "--scan"], capture_output=True, check=True, timeout=10
        ).stdout
        keys = [k for k in out.split(b"\n") if k]
    else:
        keys = list(conn.scan_iter("*"))
    chunks: list[bytes] = []
    for key in keys:
        chunks.append(key)
        kind = conn.type(key)
        if kind == b"string":
            chunks.append(conn.get(key) or b"")
        elif kind == b"list":
            chunks += conn.lrange(key, 0, -1)
        elif kind == b"hash":
            for field, value in conn.hgetall(key).items():
                chunks += [field, value]
        elif kind == b"set":
            chunks += list(conn.smembers(key))
        elif kind == b"zset":
            chunks += [m for m, _ in conn.zrange(key, 0, -1, withscores=True)]
        chunks.append(conn.dump(key) or b"")
    conn.close()
    return decoded(b"\n".join(chunks))


def disk_dump(server: RedisServer) -> str:
    return decoded(b"\n".join(p.read_bytes() for p in server.dir.rglob("*") if p.is_file()))


def client(server: RedisServer, sandbox: PinpointSandbox, keys: str) -> OtpClient:
    return OtpClient(Settings.from_env(worker_env(server, sandbox, OTPQ_OTP_KEYS=keys)))


def verifies(pinpoint: SandboxControl) -> int:
    return int(pinpoint.stats()["operations"].get("VerifyOTPMessage", {}).get("received", 0))


def test_queued_verify_is_sealed_and_opens_after_rotation(
    aof_redis: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    sealed_dest, plain_dest, new_dest = "+14255550119", "+14255550120", "+14255550121"
    old = client(aof_redis, sandbox, OLD)
    # The fleet before the rotation: everything on OLD.
    with start_worker.running(worker_env(aof_redis, sandbox, OTPQ_OTP_KEYS=OLD), "pre-rotation"):
        for dest in (sealed_dest, plain_dest):
            sent = old.wait(old.send(dest, **JOB, code_length=8), timeout=30)
            assert sent.state == "succeeded", sent
    codes = {d: pinpoint.outbox(destination=d)[-1]["code"] for d in (sealed_dest, plain_dest)}

    # No worker now: both verifies wait in the queue.
    sealed_job = old.verify(sealed_dest, codes[sealed_dest], **JOB)
    plain: Celery = Celery("elsewhere", broker=aof_redis.url, backend=aof_redis.url)
    plain.conf.update(task_serializer="json", accept_content=["json"])
    plain_job = plain.send_task(
        "otp.verify",
        kwargs={"destination": plain_dest, "otp": codes[plain_dest], **JOB},
        queue="otp.interactive",
    )
    live = redis_dump(aof_redis.url, aof_redis.port)
    assert codes[plain_dest] in live  # the scan sees a plaintext code when there is one
    assert PREFIX in live
    assert codes[sealed_dest] not in live

    # Redis's files: the AOF gets the message within a second (appendfsync everysec).
    def on_disk() -> str | None:
        dump = disk_dump(aof_redis)
        return dump if codes[plain_dest] in dump else None

    disk = wait_until(on_disk, timeout=10, what="the queued messages in the AOF")
    assert PREFIX in disk
    assert codes[sealed_dest] not in disk

    # The rotated fleet: NEW seals, OLD still opens what was queued under it.
    rotated = worker_env(aof_redis, sandbox, OTPQ_OTP_KEYS=f"{NEW},{OLD}")
    with start_worker.running(rotated, "rotated"):
        status = old.wait(sealed_job, timeout=30)
        assert status.result is not None and status.result["valid"] is True, status
        plain_result: dict[str, Any] = plain_job.get(timeout=30)
        assert plain_result["valid"] is True

        new = client(aof_redis, sandbox, NEW)
        assert new.wait(new.send(new_dest, **JOB), timeout=30).state == "succeeded"
        code = pinpoint.outbox(destination=new_dest)[-1]["code"]
        before = verifies(pinpoint)
        rogue = client(aof_redis, sandbox, ROGUE)
        refused = rogue.wait(rogue.verify(new_dest, code, **JOB), timeout=30)
        assert refused.state == "failed"
        assert refused.error == "invalid: otp: cannot be decrypted (unknown key?)"
        assert verifies(pinpoint) == before
        checked = new.wait(new.verify(new_dest, code, **JOB), timeout=30)
        assert checked.result is not None and checked.result["valid"] is True
        for c in (new, rogue):
            c.close()

    # Done: no sealed code anywhere, results included (the plaintext one is the
    # by-name caller's choice; its message was consumed, only the AOF keeps history).
    after = redis_dump(aof_redis.url, aof_redis.port)
    assert codes[sealed_dest] not in after and code not in after
    assert json.dumps(codes[sealed_dest]) not in after
    old.close()
    plain.close()
