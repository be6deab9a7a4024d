"""Notify's two code-verification operations over the sandbox's state.

Order, as for Pinpoint: latency, method, body size, signature present (AccessDenied),
quota (Throttling) and injected failures, body (Validation), configuration
(ResourceNotFound), template, per-destination injected errors, then the operation.
A delivery fault (``delivery_status``) is accepted and silently not delivered: Notify
reports delivery only in events, never in the send's answer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sandbox.backends import NOTIFY_SEND, NOTIFY_VALIDATE
from sandbox.faults import InjectedError
from sandbox.notify_config import (
    CODE_ALPHABETS,
    SERVICE_DEFAULTS,
    CodePolicy,
    NotifyConfiguration,
    find,
    text_body,
    voice_script,
    whatsapp_text,
)
from sandbox.notify_errors import CONFIGURATION_RESOURCE, UNKNOWN_OPERATION, NotifyError
from sandbox.notify_validation import (
    NotifySendParams,
    missing_template,
    parse_json_object,
    parse_send,
    parse_validate,
)
from sandbox.outbox import NotifyMessage
from sandbox.state import SandboxState
from sandbox.wire import Reply, new_request_id, notify_error, ok

SEND = NOTIFY_SEND
VALIDATE = NOTIFY_VALIDATE


def handle(
    state: SandboxState, operation: str, method: str, authorization: str, body: bytes | None
) -> Reply:
    """Answer one Notify request, counting it in the stats whatever the outcome."""
    request_id = new_request_id()
    with state.stats.request(operation):
        time.sleep(state.faults.latency_seconds(operation))
        try:
            reply = ok(_dispatch(state, operation, method, authorization, body), request_id)
        except InjectedError as exc:
            reply = notify_error(NotifyError(exc.name, exc.message), request_id)
        except NotifyError as exc:
            reply = notify_error(exc, request_id)
        state.stats.answered(operation, reply.status, time.time())
    return reply


def unknown_route(path: str) -> Reply:
    failure = NotifyError(UNKNOWN_OPERATION[0], f"No operation at {path}")
    return notify_error(failure, new_request_id())


def _dispatch(
    state: SandboxState, operation: str, method: str, authorization: str, body: bytes | None
) -> dict[str, Any]:
    if method != "POST":
        raise NotifyError(UNKNOWN_OPERATION[0], f"{method} is not an operation here")
    if body is None:
        raise NotifyError("ValidationException", "Request body is too large")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise NotifyError("AccessDeniedException", "Missing Authentication Token")
    state.faults.check_request(operation)
    doc = parse_json_object(body)
    if operation == SEND:
        return _send(state, doc)
    return _validate(state, doc)


def _configuration(state: SandboxState, id_or_arn: str | None) -> NotifyConfiguration | None:
    if id_or_arn is None:
        return None
    config = find(state.notify_configurations, id_or_arn)
    if config is None:
        raise NotifyError(
            "ResourceNotFoundException",
            f"Notify code configuration not found: {id_or_arn}",
            resourceId=id_or_arn,
            resourceType=CONFIGURATION_RESOURCE,
        )
    return config


def _render(
    params: NotifySendParams, config: NotifyConfiguration | None, code: str
) -> tuple[str, str]:
    """(body, language) for the channel, or ValidationException if nothing renders it."""
    o = params.channels
    brand = config.brand_name if config else None
    language = config.language if config else "en-US"
    preapproved = o.notify_template_id is not None
    if params.channel == "WHATSAPP":
        template = o.whatsapp_template or (config.whatsapp_template if config else None)
        language = o.whatsapp_language or (config.language if config else None)
        if template is None or language is None:
            raise missing_template(params.channel)
        return whatsapp_text(code), language
    if params.channel == "VOICE":
        if config is None and o.voice_template is None and not preapproved:
            raise missing_template(params.channel)
        return voice_script(code, brand, o.voice_template), o.voice_language or language
    if config is None and o.text_template is None and not preapproved:
        raise missing_template(params.channel)
    return text_body(code, brand, o.text_template), language


def _send(state: SandboxState, doc: dict[str, Any]) -> dict[str, Any]:
    params = parse_send(doc)
    config = _configuration(state, params.configuration)
    _render(params, config, "0000")  # refuse an unrenderable request before any fault
    base = config.policy if config else CodePolicy()
    policy = params.policy.over(base).over(SERVICE_DEFAULTS)
    assert policy.code_type and policy.code_length and policy.validity_minutes
    assert policy.max_attempts
    state.faults.check_destination(SEND, params.destination)
    answer = {"verificationId": str(uuid.uuid4()), "messageId": str(uuid.uuid4())}
    if state.faults.delivery_status(SEND, params.destination) != "SUCCESSFUL":
        return answer
    code = state.notify_codes.issue(
        (params.destination, params.reference_id or ""),
        policy.code_length,
        policy.validity_minutes,
        policy.max_attempts,
        CODE_ALPHABETS[policy.code_type],
    )
    body, language = _render(params, config, code)
    state.outbox.add(
        NotifyMessage(
            destination=params.destination,
            code=code,
            channel=params.channel,
            brand_name=config.brand_name if config else None,
            reference_id=params.reference_id,
            origination_identity=params.origination_identity,
            message_id=answer["messageId"],
            verification_id=answer["verificationId"],
            configuration_id=config.id if config else None,
            code_type=policy.code_type,
            body=body,
            language=language,
            time=state.clock.now(),
        )
    )
    return answer


def _validate(state: SandboxState, doc: dict[str, Any]) -> dict[str, Any]:
    params = parse_validate(doc)
    state.faults.check_destination(VALIDATE, params.destination)
    key = (params.destination, params.reference_id or "")
    return {"status": "VALID" if state.notify_codes.verify(key, params.code) else "INVALID"}
