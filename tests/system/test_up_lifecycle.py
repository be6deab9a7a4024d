"""`otpq up` over another stack, after a SIGKILLed one, and stopping with a backlog."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import redis

from otpq_core.settings import Settings
from producer.client import OtpClient
from producer.known_jobs import is_known, lane_keys
from tests.helpers import wait_until
from tests.system.conftest import alive, descendants, otpq
from tests.system.test_up import read_until

pytestmark = pytest.mark.system

READY = "Ctrl-C stops everything."


def up(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "up", "--no-flower"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    return rest


def test_a_second_stack_is_refused_and_a_killed_ones_orphans_are_stopped(
    clean_env: dict[str, str],
) -> None:
    first = up(clean_env)
    try:
        read_until(first, READY)
        second = otpq("up", "--no-flower", env=clean_env)
        assert second.returncode == 2
        assert f"already running (pid {first.pid}" in second.stdout
        assert f"kill -INT {first.pid}" in second.stdout
        orphans = descendants(first.pid)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            stop(first)
    left = [pid for pid in orphans if alive(pid)]
    assert left, "a SIGKILLed otpq up leaves its children running"

    successor = up(clean_env)
    try:
        text = "\n".join(read_until(successor, READY))
        assert "cleanup    stopping redis-server" in text and "cleanup    stopping worker" in text
        assert f"left running by a killed otpq up (pid {first.pid})" in text
        assert not [pid for pid in left if alive(pid)], "orphans still running"
        children = descendants(successor.pid)
    finally:
        rest = stop(successor)
    assert successor.returncode == 0, rest
    assert not [pid for pid in children if alive(pid)]


def test_stopping_with_a_bulk_backlog_says_what_it_waits_for_and_loses_nothing(
    clean_env: dict[str, str], redis_url: str
) -> None:
    env = {
        **clean_env,
        "REDIS_URL": redis_url,
        "OTPQ_HASH_KEY": "h" * 32,
        "OTPQ_SEND_RATE": "2",
        "OTPQ_DESTINATION_SENDS": "off",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_UP_STOP_GRACE": "1",
    }
    stack = up(env)
    client = OtpClient(Settings.from_env(env))
    r = redis.Redis.from_url(redis_url)
    try:
        read_until(stack, READY)
        jobs = [
            client.send("+14255550199", "ExampleCorp", "Backlog", lane="bulk") for _ in range(300)
        ]
        wait_until(
            lambda: r.hlen("unacked") and any(client.status(j).done for j in jobs[:5]),
            60,
            "the worker taking jobs",
        )
        children = descendants(stack.pid)
    finally:
        rest = stop(stack)
        client.close()
    try:
        assert stack.returncode == 0, rest
        assert "stopping worker (finishing " in rest and " jobs in flight" in rest
        assert "stopped." in rest
        assert not [pid for pid in children if alive(pid)]
        lost = [j for j in jobs if not is_known(r, j)]
        assert not lost, f"{len(lost)} jobs neither done, queued nor held in Redis"
        waiting = [j for j in jobs if not client.status(j).done]
        assert waiting, "the backlog was meant to outlast the stop"
        if "cold shutdown, putting them back in their queue" in rest and "killing" not in rest:
            # The jobs that were mid-wait are back in their lane, not merely held.
            assert r.hlen("unacked") == 0
            assert sum(r.llen(key) for key in lane_keys()) >= len(waiting)
    finally:
        r.close()
