"""One worker for both examples' tests, with the abuse limits a login page relies on
switched on (the integration suite turns them off): a second code to one number inside
the budget's window is `limited`, a third wrong guess `locked`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from sandbox import PinpointSandbox
from tests.integration.conftest import worker_env

#: One send per number per 15 min, two wrong codes per code; no backoff between guesses
#: (a wait: tests/unit measures it with a clock) and no resend cooldown, so a repeat
#: send reaches the worker's budget instead of returning the first job's id.
LIMITS = {
    "OTPQ_DESTINATION_SENDS": "1/900",
    "OTPQ_VERIFY_FAILURES": "2/3600",
    "OTPQ_VERIFY_BACKOFF": "0",
    "OTPQ_RESEND_COOLDOWN": "0",
}


@pytest.fixture(scope="package")
def examples_env(
    redis_server: RedisServer, sandbox: PinpointSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    env = worker_env(redis_server, sandbox, **LIMITS)
    log = tmp_path_factory.mktemp("examples") / "worker.log"
    with WorkerProcess(env, name="examples", log_path=log):
        yield env


@pytest.fixture
def otpq_settings(examples_env: dict[str, str], redis_url: str) -> Settings:
    """What the example apps are built with: the worker's own Redis, keys and limits;
    Redis emptied first (`redis_url`), so no test inherits another's budgets."""
    return Settings.from_env(examples_env)
