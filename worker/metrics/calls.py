"""Backend call latency, from botocore's own events: the gateways stay free of timing
code."""

from __future__ import annotations

import time
from typing import Any

from worker.metrics.recording import observe_pinpoint

_STARTED = "otpq_started"
_OPERATION = "otpq_operation"


def instrument(client: Any) -> Any:
    """Time each Pinpoint call on `client` (a boto3 client) from botocore's own events.

    botocore's retries are off, so one call is one HTTP request. Idempotent.
    """
    events = client.meta.events
    # botocore runs wildcard handlers before service-specific ones, and stops at the first
    # that answers the call (the Stubber does): be first among those. Each client talks
    # to one backend.
    service = client.meta.service_model.service_id.hyphenize()
    events.register_first("before-call.*.*", _before_call, unique_id="otpq-metrics-before")
    events.register(f"after-call.{service}", _after_call, unique_id="otpq-metrics-after")
    events.register(
        f"after-call-error.{service}", _after_call_error, unique_id="otpq-metrics-error"
    )
    return client


def _before_call(model: Any = None, context: Any = None, **_: Any) -> None:
    if isinstance(context, dict):
        context[_STARTED] = time.perf_counter()
        context[_OPERATION] = getattr(model, "name", None)


def _elapsed(context: Any) -> tuple[str, float] | None:
    if not isinstance(context, dict) or _STARTED not in context:
        return None
    started = context.pop(_STARTED)
    return str(context.get(_OPERATION)), time.perf_counter() - started


def _after_call(http_response: Any = None, context: Any = None, **_: Any) -> None:
    timing = _elapsed(context)
    if timing is not None:
        observe_pinpoint(timing[0], getattr(http_response, "status_code", None), timing[1])


def _after_call_error(context: Any = None, **_: Any) -> None:
    timing = _elapsed(context)
    if timing is not None:
        observe_pinpoint(timing[0], None, timing[1])
