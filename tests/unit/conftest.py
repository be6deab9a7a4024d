"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.helpers import RedisClock


@pytest.fixture(params=["redis", "fakeredis"])
def scripting_redis(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """An empty Redis that runs Lua: the session's redis-server, then fakeredis (which
    runs scripts only with lupa installed; skipped without it)."""
    if request.param == "fakeredis":
        pytest.importorskip(
            "lupa", reason="fakeredis runs Lua scripts only with lupa", exc_type=ImportError
        )
        conn: redis.Redis = fakeredis.FakeRedis()
    else:
        conn = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def redis_clock(monkeypatch: pytest.MonkeyPatch) -> RedisClock:
    """Every fakeredis command stamps its database with `time.time()` of its socket
    module, and expiry is judged by that stamp: replacing that one name gives the test
    the clock (fakeredis 2.x)."""
    from fakeredis._socket import _base  # fakeredis' internals: only tests that ask

    clock = RedisClock()
    monkeypatch.setattr(_base, "time", clock)
    return clock
