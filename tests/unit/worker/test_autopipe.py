"""AutoPipeline: concurrent threads' commands share one round trip, each gets its own
replies and its own errors (against the session's real redis-server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers import wait_until
from worker.autopipe import AutoPipeline


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


def test_alone_a_call_goes_out_at_once(client: redis.Redis) -> None:
    auto = AutoPipeline(client)
    assert auto.run(lambda p: p.set("a", "1").incr("a")) == [True, 2]
    assert auto.run(lambda p: p.hincrby("a", "x", 1))[0].__class__.__name__ == "ResponseError"


def test_threads_waiting_on_a_round_trip_share_the_next(client: redis.Redis) -> None:
    auto = AutoPipeline(client)
    executes: list[int] = []
    queued = threading.Event()
    real_pipeline = client.pipeline

    def pipeline(**kwargs: Any) -> Any:
        pipe = real_pipeline(**kwargs)
        real_execute = pipe.execute

        def execute(**kw: Any) -> Any:
            executes.append(len(pipe.command_stack))
            if len(executes) == 1:
                assert queued.wait(10)  # hold the first round trip until 5 wait behind it
            return real_execute(**kw)

        pipe.execute = execute
        return pipe

    client.pipeline = pipeline  # type: ignore[method-assign]
    results: dict[int, list[Any]] = {}

    def call(i: int) -> None:
        results[i] = auto.run(lambda p: p.incr(f"n{i}").incrby(f"n{i}", i))

    first = threading.Thread(target=call, args=(0,))
    first.start()
    wait_until(lambda: executes, 10, "the first round trip", interval=0.001)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    wait_until(lambda: len(auto._queue) >= 5, 10, "five threads queued", interval=0.001)
    queued.set()
    for t in [first, *others]:
        t.join(10)
    assert executes == [2, 10]  # the five waiting threads: one round trip
    assert results == {i: [1, 1 + i] for i in range(6)}


def test_a_connection_error_fails_each_thread_with_its_own_exception() -> None:
    refused = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    auto = AutoPipeline(refused)
    errors = []
    for _ in range(2):
        with pytest.raises(redis.ConnectionError) as info:
            auto.run(lambda p: p.get("x"))
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert not auto._busy and not auto._queue  # the turn was given back


def test_a_broken_build_fails_only_its_caller(client: redis.Redis) -> None:
    auto = AutoPipeline(client)

    def broken(pipe: Any) -> None:
        pipe.set("half", "1")
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        auto.run(broken)
    assert client.get("half") is None
    assert auto.run(lambda p: p.set("k", "v")) == [True]


def test_a_script_unknown_to_redis_is_loaded(client: redis.Redis) -> None:
    auto = AutoPipeline(client)
    script = client.register_script("return ARGV[1] .. KEYS[1]")
    client.script_flush()
    assert auto.script(script, ["k"], ["v"]) == b"vk"
    assert auto.script(script, ["k"], ["w"]) == b"wk"
    failing = client.register_script("return redis.error_reply('no')")
    with pytest.raises(redis.ResponseError, match="no"):
        auto.script(failing, [], [])
