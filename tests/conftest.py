"""Session-wide real services: one redis-server on a free port for the whole run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from otpq_local.redis_server import RedisServer
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers

#: The application id every test stack's sandbox knows.
APP_ID = "otpq-test"

#: Where a test that forgot tmp_path would leave its files (otpq's own are named otpq-*).
TMP = Path(tempfile.gettempdir())
#: Set to 1 (CI) to fail the run when it leaves otpq files in /tmp; otherwise a warning,
#: since another run on the same machine may have made them.
STRICT_TMP = "OTPQ_STRICT_TMP"
_tmp_before = pytest.StashKey[set[str]]()
_tmp_left = pytest.StashKey[list[str]]()

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


def _otpq_entries() -> set[str]:
    return {path.name for path in TMP.glob("otpq*")}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_tmp_before] = _otpq_entries()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests keep their files under tmp_path (removed by pytest), never loose in /tmp:
    otpq-named entries that appeared during the run are reported, and fail it in
    strict mode. Session fixtures (the shared Redis, the sandbox) have stopped by now."""
    before = session.config.stash.get(_tmp_before, set())
    left = sorted(_otpq_entries() - before)
    session.config.stash[_tmp_left] = left
    if left and os.environ.get(STRICT_TMP) == "1" and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left = terminalreporter.config.stash.get(_tmp_left, [])
    if left:
        terminalreporter.section(f"files left in {TMP}", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(left)} otpq entries appeared in {TMP} during this run (a test or fixture "
            "that does not use tmp_path, or another run on this machine"
            f"{'' if os.environ.get(STRICT_TMP) == '1' else f'; {STRICT_TMP}=1 fails the run'}):",
            red=True,
        )
        for name in left[:20]:
            terminalreporter.write_line(f"  {TMP / name}", red=True)
