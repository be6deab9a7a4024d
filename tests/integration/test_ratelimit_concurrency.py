"""Many threads in several processes share one bucket through a real redis-server.

Bounds are checked on the server times the script returns with each grant, so they
hold however slowly this machine runs. The throughput floor depends on load: it is a
figure of bench/limiter_concurrency.py, not an assertion here.
"""

from __future__ import annotations

import threading

import pytest
import redis

from bench.limiter_concurrency import fleet_grants
from worker.ratelimit import Bucket, RateLimiter

pytestmark = pytest.mark.integration

RATE = 50.0
BURST = 10.0
DURATION = 2.0  # seconds of server time
PROCESSES = 3
THREADS = 4  # per process, and in this process too


def test_fleet_never_exceeds_rate_plus_burst(redis_url: str) -> None:
    grants = fleet_grants(
        redis_url,
        rate=RATE,
        burst=BURST,
        seconds=DURATION,
        processes=PROCESSES,
        threads=THREADS,
    )
    assert grants, "no grants at all"
    elapsed = grants[-1] - grants[0]
    assert len(grants) <= BURST + RATE * elapsed + 1
    for i, t in enumerate(grants):
        in_window = sum(1 for g in grants[i:] if g < t + 1.0)
        assert in_window <= RATE + BURST, f"{in_window} grants in the second after {t}"


def test_simultaneous_429s_count_as_one_decrease(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, cooldown=60.0)
    bucket = Bucket("send", RATE)
    barrier = threading.Barrier(50)
    factors: list[float] = []

    def report() -> None:
        barrier.wait()
        factors.append(limiter.throttled([bucket]))

    threads = [threading.Thread(target=report) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(factors) == 50
    assert min(factors) == 0.5
    assert limiter.factor(bucket) < 0.55  # regained a little since, never halved twice
    client.close()
