"""Property: any kwargs sent by name to a live worker end terminal — SUCCESS, or an
`invalid` FAILURE naming a field — and never crash the worker."""

from __future__ import annotations

import string
from typing import Any

import pytest
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otpq_core.wire import INTERACTIVE
from otpq_local.worker_process import WorkerProcess
from producer.client import OtpClient
from producer.requests import SendRequest
from tests.integration.test_hostile import assert_still_serves, other

__all__ = ["other"]  # fixture

pytestmark = pytest.mark.integration

FIELDS = [
    "destination",
    "brand_name",
    "source",
    "code_length",
    "validity_period",
    "language",
    "allowed_attempts",
    "reference_id",
    "origination_identity",
    "entity_id",
    "template_id",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Plausible values too, so some examples are valid sends.
plausible = (
    st.integers(0, 9999).map(lambda i: f"+1425555{i:04d}")
    | st.integers(1, 9)
    | st.integers(1, 70)
    | st.sampled_from(["en-US", "de-DE", "xx", "ExampleCorp", "Login"])
)
unknown_keys = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=20)
base = st.builds(
    lambda i: {"destination": f"+1425555{i:04d}", "brand_name": "ExampleCorp", "source": "Prop"},
    st.integers(0, 9999),
)
kwargs_strategy = st.one_of(
    # a valid request with one field changed, added or removed
    st.builds(
        lambda b, k, v: {**b, k: v}, base, st.sampled_from(FIELDS) | unknown_keys, json_values
    ),
    st.builds(lambda b, k, v: {**b, k: v}, base, st.sampled_from(FIELDS), plausible),
    st.builds(lambda b, k: {n: v for n, v in b.items() if n != k}, base, st.sampled_from(FIELDS)),
    # anything at all
    st.dictionaries(st.sampled_from(FIELDS) | unknown_keys, json_values | plausible, max_size=6),
)


def names_a_field(error: str, kwargs: dict[str, Any]) -> bool:
    names = [*kwargs, *SendRequest.REQUIRED]
    return any(error.startswith(f"invalid: {str(name)[:40]}:") for name in names)


@pytest.mark.timeout(300)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kwargs=kwargs_strategy)
def test_any_kwargs_by_name_end_terminal_and_never_crash_the_worker(
    client: OtpClient, worker: WorkerProcess, other: Celery, kwargs: dict[str, Any]
) -> None:
    pid = worker.pid
    job = other.send_task("otp.send", kwargs=kwargs, queue=INTERACTIVE)
    status = client.wait(job.id, timeout=30)
    if status.state == "succeeded":
        assert status.result and status.result["delivery_status"] == "SUCCESSFUL"
    else:
        assert status.reason == "invalid", (kwargs, status)
        assert status.error and names_a_field(status.error, kwargs), (kwargs, status)
    assert worker.running() and worker.pid == pid


def test_worker_still_serves_after_the_properties(client: OtpClient, worker: WorkerProcess) -> None:
    assert_still_serves(client, worker, worker.pid)
