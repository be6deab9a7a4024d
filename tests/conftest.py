"""Session-wide real services: one redis-server on a free port for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from otpq_local.redis_server import RedisServer
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers

#: The application id every test stack's sandbox knows.
APP_ID = "otpq-test"

# Anything that enqueues without a fixture's say-so fails loudly instead of reaching a
# developer's real Redis on 6379.
os.environ["REDIS_URL"] = "redis://127.0.0.1:1/15"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied before and after each test, so jobs a test leaves
    queued are never consumed by a later test's worker."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[PinpointSandbox]:
    """One Pinpoint sandbox for the session; tests/sandbox has its own."""
    with PinpointSandbox(app_ids=(APP_ID,)) as server:
        yield server


@pytest.fixture
def pinpoint(sandbox: PinpointSandbox) -> SandboxControl:
    """The sandbox's control API, reset for each test."""
    sandbox.control.reset()
    return sandbox.control


@pytest.fixture
def start_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """`start_worker(env, name, **options)`: a ready worker, stopped after the test."""
    workers = Workers(tmp_path_factory)
    yield workers
    workers.stop_all()


@pytest.fixture(scope="module")
def start_module_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """`start_module_worker(env, name, **options)`: a ready worker, stopped after the
    module (module-scoped fixtures build theirs with this)."""
    workers = Workers(tmp_path_factory)
    yield workers
    workers.stop_all()
