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
from typing import ClassVar

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


class Retrying(OtpqError):
    """Why a job is in RETRY: the transient error of its last attempt."""

    reason = "retrying"


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


def reason_of(text: str) -> str:
    """The reason word of a failure text, or `"error"` for foreign exceptions."""
    if text.startswith("gave up"):
        return GaveUp.reason
    word = text.split(":", 1)[0].strip()
    return word if word in REASONS else "error"


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
