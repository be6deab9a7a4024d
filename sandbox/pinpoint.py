"""The two OTP operations over the sandbox's state, in the order Pinpoint checks things.

Order: latency, method (405), body size (413), signature present (403), quota (429) and
injected failures, application (404), body (400), per-destination injected errors, then
the operation itself. Each refusal is a ``PinpointError`` turned into a modeled error.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sandbox.backends import PINPOINT_SEND, PINPOINT_VERIFY
from sandbox.errors import PinpointError
from sandbox.faults import DELIVERY_STATUSES, InjectedError
from sandbox.outbox import OutboxMessage, sms_text
from sandbox.state import SandboxState
from sandbox.validation import parse_json_object, parse_send, parse_verify
from sandbox.wire import Reply, error, new_request_id, ok

SEND = PINPOINT_SEND
VERIFY = PINPOINT_VERIFY
DEFAULT_APP_IDS = ("otpq-sandbox",)


def handle(
    state: SandboxState,
    operation: str,
    app_id: str,
    method: str,
    authorization: str,
    body: bytes | None,
) -> Reply:
    """Answer one Pinpoint request, counting it in the stats whatever the outcome.

    ``body`` is None when it exceeded the server's limit and was discarded unread.
    """
    request_id = new_request_id()
    with state.stats.request(operation):
        time.sleep(state.faults.latency_seconds(operation))
        try:
            answer = _dispatch(state, operation, app_id, method, authorization, body, request_id)
            reply = ok(answer, request_id)
        except InjectedError as exc:
            reply = error(PinpointError(exc.name, exc.message), request_id)
        except PinpointError as exc:
            reply = error(exc, request_id)
        state.stats.answered(operation, reply.status, time.time())
    return reply


def _dispatch(
    state: SandboxState,
    operation: str,
    app_id: str,
    method: str,
    authorization: str,
    body: bytes | None,
    request_id: str,
) -> dict[str, Any]:
    if method != "POST":
        raise PinpointError("MethodNotAllowedException", f"{method} is not allowed here")
    if body is None:
        raise PinpointError("PayloadTooLargeException", "Request body is too large")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise PinpointError("ForbiddenException", "Missing Authentication Token")
    state.faults.check_request(operation)
    if app_id not in state.app_ids:
        raise PinpointError("NotFoundException", f"Application not found: {app_id}")
    doc = parse_json_object(body)
    if operation == SEND:
        return _send(state, app_id, doc, request_id)
    return _verify(state, app_id, doc)


def _send(state: SandboxState, app_id: str, doc: dict[str, Any], request_id: str) -> dict[str, Any]:
    params = parse_send(doc)
    state.faults.check_destination(SEND, params.destination)
    status = state.faults.delivery_status(SEND, params.destination)
    status_code, status_message = DELIVERY_STATUSES[status]
    result: dict[str, Any] = {
        "DeliveryStatus": status,
        "StatusCode": status_code,
        "StatusMessage": status_message,
    }
    if status == "SUCCESSFUL":
        key = (app_id, params.destination, params.reference_id)
        code = state.codes.issue(
            key, params.code_length, params.validity_period, params.allowed_attempts
        )
        message_id = str(uuid.uuid4())
        result["MessageId"] = message_id
        state.outbox.add(
            OutboxMessage(
                destination=params.destination,
                code=code,
                brand_name=params.brand_name,
                reference_id=params.reference_id,
                origination_identity=params.origination_identity,
                message_id=message_id,
                body=sms_text(code, params.brand_name),
                language=params.language,
                application_id=app_id,
                time=state.clock.now(),
            )
        )
    return {
        "ApplicationId": app_id,
        "RequestId": request_id,
        "Result": {params.destination: result},
    }


def _verify(state: SandboxState, app_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    params = parse_verify(doc)
    state.faults.check_destination(VERIFY, params.destination)
    valid = state.codes.verify((app_id, params.destination, params.reference_id), params.otp)
    return {"Valid": valid}
