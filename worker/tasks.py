"""`otp.send` and `otp.verify`: parse, check policy, call the gateway, shape the outcome.

Thin on purpose. Validation is the producer's request model; Pinpoint's shapes are
the gateway's; what each failure means is producer.outcomes' table.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn, TypeVar

from celery import Task

from producer.lanes import DEADLINE_HEADER, SEND_TASK, VERIFY_TASK
from producer.outcomes import (
    GaveUp,
    InvalidRequest,
    JobExpired,
    OtpqError,
    PinpointRejected,
    Retrying,
    Uncertain,
    reason_of,
)
from producer.redaction import mask_number, redact_kwargs
from producer.requests import SendRequest, VerifyRequest
from worker.app import app, settings
from worker.backoff import full_jitter
from worker.gateway import Permanent, Transient
from worker.runtime import Runtime, runtime

_R = TypeVar("_R", SendRequest, VerifyRequest)


class OtpTask(Task):
    """Base of both tasks: redacted arguments on every message and every log line."""

    Request = "worker.request:RedactedRequest"
    typing = False
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by OTPQ_MAX_ATTEMPTS and the job's deadline instead
    # Expected outcomes: logged as one line, without a traceback.
    throws = (OtpqError,)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        # Retries re-publish through here: keep their message reprs clean too.
        options.setdefault("argsrepr", "()")
        options.setdefault("kwargsrepr", repr(redact_kwargs(kwargs or {})))
        return super().apply_async(args, kwargs, **options)

    @property
    def rt(self) -> Runtime:
        return runtime(settings, pool_size=app.conf.worker_concurrency or 16)

    def deadline(self) -> float | None:
        value = getattr(self.request, DEADLINE_HEADER, None)
        if value is None:
            value = (self.request.headers or {}).get(DEADLINE_HEADER)
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def check_deadline(self) -> None:
        deadline = self.deadline()
        if deadline is not None and time.time() > deadline:
            late = time.time() - deadline
            raise JobExpired(f"deadline passed {late:.1f}s before the job could run")

    def retry_or_give_up(self, error: Transient) -> NoReturn:
        attempts = self.request.retries + 1
        if attempts >= settings.max_attempts:
            raise GaveUp(f"after {attempts} attempts: {error}")
        delay = full_jitter(self.request.retries, settings.retry_base, settings.retry_cap)
        deadline = self.deadline()
        if deadline is not None and time.time() + delay >= deadline:
            raise GaveUp(f"after {attempts} attempts (deadline reached): {error}")
        raise self.retry(countdown=delay, exc=Retrying(str(error)), max_retries=None)


def _parse(model: type[_R], args: tuple[Any, ...], kwargs: Any) -> _R:
    if args:
        raise InvalidRequest("args", "takes keyword arguments only")
    return model.from_kwargs(kwargs)


@app.task(name=SEND_TASK, bind=True, base=OtpTask)
def send(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    request = _parse(SendRequest, args, kwargs)
    self.check_deadline()
    job_id = self.request.id
    claim = self.rt.claims.claim(job_id)
    if not claim.won:
        if claim.outcome is None:
            raise Uncertain("a previous delivery was in flight when its worker stopped")
        return _replay(claim.outcome)
    try:
        delivery = self.rt.gateway.send(request)
    except Transient as error:
        self.rt.claims.release(job_id)
        self.retry_or_give_up(error)
    except Permanent as error:
        self.rt.claims.complete(job_id, {"error": str(PinpointRejected(str(error)))})
        raise PinpointRejected(str(error)) from None
    result = {
        "job_id": job_id,
        "reference_id": request.ref_id,
        "message_id": delivery.message_id,
        "delivery_status": delivery.delivery_status,
        "status_code": delivery.status_code,
        "destination": mask_number(request.destination),
        "attempts": self.request.retries + 1,
    }
    self.rt.claims.complete(job_id, {"result": result})
    return result


@app.task(name=VERIFY_TASK, bind=True, base=OtpTask)
def verify(self: OtpTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
    request = _parse(VerifyRequest, args, kwargs)
    self.check_deadline()
    try:
        valid = self.rt.gateway.verify(request)
    except Transient as error:
        self.retry_or_give_up(error)
    except Permanent as error:
        raise PinpointRejected(str(error)) from None
    return {
        "job_id": self.request.id,
        "valid": valid,
        "reference_id": request.ref_id,
        "destination": mask_number(request.destination),
        "attempts": self.request.retries + 1,
    }


def _replay(outcome: dict[str, Any]) -> dict[str, Any]:
    """A redelivered send whose first delivery finished: same outcome, no new SMS."""
    if "result" in outcome:
        return dict(outcome["result"])
    text = str(outcome.get("error", "rejected: unknown"))
    reason = reason_of(text)
    detail = text.split(": ", 1)[1] if ": " in text else text
    raise PinpointRejected(detail) if reason == "rejected" else Uncertain(detail)
