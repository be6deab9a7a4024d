"""Session-wide real services: one redis-server on a free port for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from producer.stack.redis_server import RedisServer

# Anything that enqueues without a fixture's say-so fails loudly instead of reaching a
# developer's real Redis on 6379.
os.environ["REDIS_URL"] = "redis://127.0.0.1:1/15"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url
