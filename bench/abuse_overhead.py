"""What the abuse checks and sealing add per job, against one Redis round trip.

    PYTHONPATH=. python bench/abuse_overhead.py [N]

Prints microseconds per operation and each one's ratio to a plain `SET NX` (the send
claim every send already makes), all measured in the same run on a throwaway
redis-server on loopback.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import redis

from otpq_core.sealing import Sealer, generate_key
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from producer.requests import SendRequest, VerifyRequest
from worker.abuse import Abuse
from worker.unsealing import Unsealer


def per_op(n: int, op: Callable[[int], object]) -> float:
    for i in range(min(n, 200)):  # warm up
        op(-i - 1)
    start = time.perf_counter()
    for i in range(n):
        op(i)
    return (time.perf_counter() - start) / n * 1e6


def main(n: int) -> None:
    with RedisServer() as server:
        conn = redis.Redis.from_url(server.url)
        settings = replace(
            Settings.from_env({"OTPQ_HASH_KEY": "bench-hash-key-0123456789"}),
            destination_sends=((10**9, 900.0), (10**9, 86400.0)),
            verify_failures=((10**9, 86400.0),),
        )
        abuse = Abuse(conn, settings)
        keys = [generate_key(), generate_key()]
        sealer, unsealer = Sealer(keys), Unsealer(keys)
        run = uuid.uuid4().hex
        numbers = [f"+1425555{i:04d}" for i in range(100)]
        # A reference of its own per send: a repeat would be answered by the cooldown.
        sends = {
            i: SendRequest(numbers[i % 100], "ExampleCorp", "Bench", reference_id=f"r{i}")
            for i in range(-200, n)
        }
        verify = VerifyRequest(numbers[0], "123456", "ExampleCorp", "Bench")
        kwargs = verify.to_kwargs()

        base = per_op(n, lambda i: conn.set(f"otpq:claim:{run}:{i}", b"x", nx=True, ex=60))
        rows = {
            "send claim (SET NX), baseline": base,
            "admit_send (cooldown + 2-window budget)": per_op(
                n, lambda i: abuse.admit_send(sends[i], f"{run}-s{i}")
            ),
            "admit_verify (failure lock)": per_op(
                n, lambda i: abuse.admit_verify(verify, f"{run}-v{i}")
            ),
            "seal + open one OTP (Fernet)": per_op(
                n, lambda i: unsealer.open_kwargs(sealer.seal_kwargs(kwargs))
            ),
        }
        conn.close()
    print(f"{n} operations each, redis-server on loopback")
    for name, micros in rows.items():
        print(f"  {name:42s} {micros:8.1f} us   x{micros / base:5.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
