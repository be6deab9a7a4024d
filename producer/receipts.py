"""What `OtpClient.send` returns: the job id, a `str` as before, that also says whether
a new job was queued.

A repeat inside OTPQ_RESEND_COOLDOWN (or of an idempotency key) gets the first job's
id back and sends no new SMS; a caller that shows "code sent" again should know that.
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
