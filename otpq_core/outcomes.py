"""How a job ends, and the exceptions that say so.

This table is the contract (DESIGN.md, "Outcomes"); every failure otpq reports is
one of the classes below, and its `reason` is the first word of its text::

    what happened                                  state    reason     retried  AWS called
    input invalid (our validation)                 FAILURE  invalid    no       no
    job older than its deadline                    FAILURE  expired    no       no
    destination over its budget                    FAILURE  limited    no       no
      (OTPQ_DESTINATION_SENDS)
    destination country not allowed                FAILURE  blocked    no       no
      (OTPQ_ALLOWED/DENIED_COUNTRIES; the producer
      raises it before queueing)
    destination over its failed-verify cap         FAILURE  locked     no       no
      (OTPQ_VERIFY_FAILURES)
    a send by name repeats one for the same        FAILURE  cooldown   no       no
      destination and reference within
      OTPQ_RESEND_COOLDOWN (the producer returns
      the first job's id instead)
    refused by Pinpoint (400/403/404/405/413,      FAILURE  rejected   no       once
      PERMANENT_FAILURE, OPT_OUT, DUPLICATE)
    refused by Notify (ValidationException,        FAILURE  rejected   no       once
      AccessDeniedException,
      ResourceNotFoundException,
      ConflictException,
      ServiceQuotaExceededException; other 4xx)
    transient (429, 5xx, connection error or       RETRY    -          yes      per attempt
      timeout; THROTTLED, TEMPORARY_FAILURE,
      UNKNOWN_FAILURE, TIMEOUT; Notify's
      ThrottlingException, InternalServerException)
    ... still transient when attempts or the       FAILURE  gave_up    -        per attempt
      deadline run out
    redelivered after its worker died while the    FAILURE  uncertain  no       maybe once
      send was in flight (not sent blindly again)
    its bulk campaign was cancelled before it ran  FAILURE  cancelled  no       no
    sent / verified (valid or not)                 SUCCESS  -          -        once

Exception tree::

    OtpqError
     ├── InvalidRequest  (also a ValueError: raised by the producer before queueing)
     │    └── DestinationBlocked  (field "destination")
     ├── JobExpired
     ├── DestinationLimited
     ├── DestinationLocked
     ├── ResendCooldown
     ├── PinpointRejected
     ├── GaveUp
     ├── Uncertain
     └── Cancelled

    Retrying is not final: it is the reason shown while a job waits for its next try.

Both backends share the table (docs/notify.md, "Outcomes of Notify's errors"):
`PinpointRejected` is the class of a refusal by either, its detail starting with the
backend's error code.

Each class is rebuilt from its args by Celery's result backend, so a caller polling
a result gets the same class back. No text here ever holds an OTP or a full number.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, ClassVar

from otpq_core.redaction import redact_text


class OtpqError(Exception):
    """A job's final failure. `str()` is `"<reason>: <detail>"`."""

    reason: ClassVar[str] = "error"

    def __init__(self, detail: str = "", *extra: object) -> None:
        super().__init__(detail, *extra)
        self.detail = detail

    def __str__(self) -> str:
        # Details quote input and AWS's own text: a number in any spelling is masked.
        text = f"{self.reason}: {self.detail}" if self.detail else self.reason
        return redact_text(text)


class InvalidRequest(OtpqError, ValueError):
    """Input that fails validation; `field` names the offending kwarg."""

    reason = "invalid"

    def __init__(self, field: str, problem: str = "") -> None:
        Exception.__init__(self, field, problem)
        self.field = field
        self.problem = problem
        self.detail = f"{field}: {problem}" if problem else field


class JobExpired(OtpqError):
    reason = "expired"


class DestinationLimited(OtpqError):
    """The destination used up a send budget (OTPQ_DESTINATION_SENDS)."""

    reason = "limited"


class DestinationBlocked(InvalidRequest):
    """The destination's country is not allowed (OTPQ_ALLOWED_COUNTRIES or
    OTPQ_DENIED_COUNTRIES): SMS pumping protection. An InvalidRequest on field
    `destination`, so a form that reports bad input reports this too."""

    reason = "blocked"


class DestinationLocked(OtpqError):
    """Too many wrong codes for this destination and reference (OTPQ_VERIFY_FAILURES,
    OTPQ_VERIFY_BACKOFF): somebody may be guessing. A fresh code lifts it."""

    reason = "locked"


class ResendCooldown(OtpqError):
    """A send enqueued by name repeats one for the same destination and reference
    within OTPQ_RESEND_COOLDOWN; the detail names the first job, whose code stands."""

    reason = "cooldown"


class PinpointRejected(OtpqError):
    """Pinpoint refused the request or reported a permanent delivery failure."""

    reason = "rejected"


class GaveUp(OtpqError):
    """Still failing transiently when the attempts or the deadline ran out.

    Reads `gave up after N attempts: <last error>`, as DESIGN.md's table words it.
    """

    reason = "gave_up"

    def __str__(self) -> str:
        return f"gave up {self.detail}"


class Uncertain(OtpqError):
    """A previous delivery of this send may have reached Pinpoint before its worker
    died. Sending again could text the user twice (and void the first code), so the
    job ends here; the user can ask for a new code."""

    reason = "uncertain"


class Cancelled(OtpqError):
    """The send belonged to a bulk campaign that was cancelled before it was sent."""

    reason = "cancelled"


class RetryCause(StrEnum):
    """Why a job runs again: a closed set, used as is for metrics labels."""

    #: No fleet rate-limit capacity yet.
    CAPACITY = "capacity"
    #: Redis could not answer the rate limiter, the abuse limits, or the code-origin lookup.
    LIMITER_UNAVAILABLE = "limiter_unavailable"
    ABUSE_UNAVAILABLE = "abuse_unavailable"
    CODE_ORIGIN_UNAVAILABLE = "code_origin_unavailable"
    #: The backend failed transiently (5xx, connection error, TEMPORARY_FAILURE...).
    BACKEND_TRANSIENT = "backend_transient"
    #: The backend said "too fast" (429, THROTTLED): costs no attempt.
    THROTTLED = "throttled"
    #: A batch row not started within its batch's window, re-enqueued as an `otp.send`.
    HANDED_OFF = "handed_off"
    #: The send's claim was let go between the limiter's look and this run's own.
    CLAIM_CHANGED = "claim_changed"


#: What each cause reads as in a RETRY result (the backend causes show the error itself).
RETRY_TEXT: dict[RetryCause, str] = {
    RetryCause.CAPACITY: "waiting for capacity",
    RetryCause.LIMITER_UNAVAILABLE: "rate limiter unavailable",
    RetryCause.ABUSE_UNAVAILABLE: "abuse limits unavailable",
    RetryCause.CODE_ORIGIN_UNAVAILABLE: "code origin unavailable",
    RetryCause.HANDED_OFF: "handed off by its batch",
    RetryCause.CLAIM_CHANGED: "its claim changed hands",
}


class Retrying(OtpqError):
    """Why a job is in RETRY: the transient error of its last attempt.

    `cause` (a RetryCause) rides on the live exception only, never in its args: a
    result stored by any worker version rebuilds the same way. `code` is the backend's
    error code for a backend cause."""

    reason = "retrying"

    def __init__(self, detail: str = "", *extra: object) -> None:
        super().__init__(detail, *extra)
        self.cause: RetryCause | None = None
        self.code: str | None = None

    @classmethod
    def because(
        cls, cause: RetryCause, detail: str | None = None, *, code: str | None = None
    ) -> Retrying:
        retrying = cls(RETRY_TEXT.get(cause, "") if detail is None else detail)
        retrying.cause, retrying.code = cause, code
        return retrying


#: Every final failure, by reason, for callers that only have the text.
REASONS: dict[str, type[OtpqError]] = {
    cls.reason: cls
    for cls in (
        InvalidRequest,
        JobExpired,
        DestinationLimited,
        DestinationBlocked,
        DestinationLocked,
        ResendCooldown,
        PinpointRejected,
        GaveUp,
        Uncertain,
        Cancelled,
        Retrying,
    )
}


#: Failures that are otpq refusing a job by policy, before any backend call: expected,
#: shown without a traceback (worker/request.py), read as "refused by policy".
REFUSALS: tuple[type[OtpqError], ...] = (
    InvalidRequest,
    JobExpired,
    DestinationLimited,
    DestinationLocked,
    ResendCooldown,
    Cancelled,
)


def reason_of(text: str) -> str:
    """The reason word of a failure text, or `"error"` for foreign exceptions."""
    if text.startswith("gave up"):
        return GaveUp.reason
    word = text.split(":", 1)[0].strip()
    return word if word in REASONS else "error"


def reason_for(exception: BaseException) -> str:
    """The reason of a job's failure, read from its class: `"error"` for anything that is
    not otpq's."""
    return exception.reason if isinstance(exception, OtpqError) else "error"


def record(exception: OtpqError) -> dict[str, Any]:
    """A failure as data, for a claim to replay: `{reason, detail}`, plus its text (which
    older workers read, and which `OtpClient.status` shows)."""
    detail = redact_text(exception.detail)  # as `str()` does: a claim holds no number
    return {"error": str(exception), "reason": exception.reason, "detail": detail}


def rebuild(stored: dict[str, Any]) -> OtpqError:
    """The exception a stored failure stands for. Records written by older workers hold
    only the text: its first word is the reason, the rest the detail."""
    reason, detail = stored.get("reason"), stored.get("detail")
    if not isinstance(reason, str) or not isinstance(detail, str):
        text = str(stored.get("error", "rejected: unknown"))
        reason = reason_of(text)
        detail = text.split(": ", 1)[1] if ": " in text else text
        if reason == GaveUp.reason:
            detail = text.removeprefix("gave up ")
    cls = REASONS.get(reason)
    if cls is None or cls is InvalidRequest or issubclass(cls, InvalidRequest):
        return Uncertain(detail)
    return cls(detail)


def for_humans(seconds: float) -> str:
    """A wait as people read it: ``45 s``, ``12 min 5 s``, ``23 h 59 min`` (rounded up:
    never "0 s" while something still waits)."""
    total = max(1, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
