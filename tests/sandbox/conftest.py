"""One sandbox for the session, reset before each test; stock boto3 clients against it
(``pinpoint`` and ``endusermessaging``, both at the same URL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import PinpointSandbox, SandboxControl
from tests.sandbox.calls import APP_ID, OTHER_APP_ID, make_client
from tests.sandbox.notify_calls import NOTIFY_CONFIGURATIONS, make_notify_client


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[PinpointSandbox]:
    with PinpointSandbox(
        app_ids=(APP_ID, OTHER_APP_ID), notify_configurations=NOTIFY_CONFIGURATIONS
    ) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: PinpointSandbox) -> PinpointSandbox:
    sandbox_server.control.reset()
    return sandbox_server


@pytest.fixture
def control(sandbox: PinpointSandbox) -> SandboxControl:
    return sandbox.control


@pytest.fixture
def pinpoint(sandbox: PinpointSandbox) -> Iterator[Any]:
    client = make_client(sandbox.url)
    yield client
    client.close()


@pytest.fixture
def notify(sandbox: PinpointSandbox) -> Iterator[Any]:
    client = make_notify_client(sandbox.url)
    yield client
    client.close()


@pytest.fixture
def notify_unchecked(sandbox: PinpointSandbox) -> Iterator[Any]:
    """botocore checks only minimums client-side; this client lets the sandbox check all."""
    client = make_notify_client(sandbox.url, parameter_validation=False)
    yield client
    client.close()
