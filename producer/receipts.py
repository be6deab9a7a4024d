"""The job id a repeated send gets back: still a `str` (the return type of
`OtpClient.send` is unchanged), but one that says no new job was queued.

A repeat inside OTPQ_RESEND_COOLDOWN (or of an idempotency key) gets the first job's
id back and sends no new SMS; a caller that shows "code sent" again should know that:
`deduplicated(job_id)`. The guards (producer/guards.py `first_wins`) make it, so every
client that reserves through them returns it.
"""

from __future__ import annotations


class JobId(str):
    """A job id (a plain `str` for every existing use) with `deduplicated`: True when
    no new job was queued and this is the id of an earlier one."""

    deduplicated: bool

    def __new__(cls, value: str, *, deduplicated: bool = False) -> JobId:
        job = super().__new__(cls, value)
        job.deduplicated = deduplicated
        return job

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (str(self), self.deduplicated))


def _rebuild(value: str, deduplicated: bool) -> JobId:
    return JobId(value, deduplicated=deduplicated)


def deduplicated(job_id: str) -> bool:
    """True when `job_id` came back from a repeat and no new SMS was queued."""
    return bool(getattr(job_id, "deduplicated", False))
