"""Log scrubbing, at every level: no code, no full number, no digest of one.

Two layers, both in one filter on the handlers (so records from every library pass
through it, DEBUG ones included):

1. *Structural.* A few records are known to carry whole message or request bodies:
   Celery's `TaskPool: Apply` (DEBUG), the lines Celery's consumer writes for a
   message it refuses (unknown task name, content type not accepted, undecodable
   body, unknown format), botocore's request parameters and response body (DEBUG).
   Their body arguments are replaced by a summary (what it was, how big) before the
   message is formatted; the rest of the line stays, so a DEBUG log is still useful.
2. *Textual*, on every formatted message and exception text: numbers in any spelling
   and hex digests are masked (otpq_core.redaction.redact_text), and the value of any
   field named like a code (`otp`, `Otp`, `code`, `VerificationCode`) is replaced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from otpq_core.redaction import redact_text

#: Shown instead of a body: never its content.
BODY = "<body redacted: {size} chars>"

#: `otp=123456`, `'Otp': '123456'`, `"code": "123456"`, `VerificationCode: 123456`.
_CODE_FIELD = re.compile(
    r"""(?i)((?<![\w])['"]?(?:otp|code|verification_?code)['"]?\s*[:=]\s*)(b?['"]?)[^\s'",;}\]]*"""
)


def _body(value: object) -> str:
    return BODY.format(size=len(value) if isinstance(value, str | bytes) else len(repr(value)))


def _headers(value: object) -> str:
    """A message's headers carry the client's own argsrepr/kwargsrepr: keep only the
    task name and id."""
    if isinstance(value, Mapping):
        return repr({k: value.get(k) for k in ("task", "id") if k in value})
    return "<headers redacted>"


def _exc(value: object) -> str:
    """An exception by its text (as Celery's `%s` shows it), never its repr: a
    UnicodeDecodeError's repr holds the whole undecodable body, its text does not."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {str(value)[:200]}"
    return "<error>"


def _celery_rewrites() -> dict[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    try:
        from celery.worker.consumer import consumer as c
    except ImportError:  # pragma: no cover  (the worker always has Celery)
        return {}
    return {
        # (report,): body, content type, delivery info and headers in one string.
        c.UNKNOWN_FORMAT: lambda a: (_body(a[0]),),
        # (exc, body, headers, delivery_info)
        c.UNKNOWN_TASK_ERROR: lambda a: (str(a[0])[:200], _body(a[1]), _headers(a[2]), *a[3:]),
        # (exc, body)
        c.INVALID_TASK_ERROR: lambda a: (_exc(a[0]), _body(a[1]), *a[2:]),
        # (exc, content_type, content_encoding, headers, body)
        c.MESSAGE_DECODE_ERROR: lambda a: (_exc(a[0]), *a[1:3], "<headers redacted>", _body(a[4])),
    }


def _params(value: object) -> str:
    if not isinstance(value, Mapping):
        return "<params redacted>"
    kept = {k: value.get(k) for k in ("url_path", "method", "query_string") if k in value}
    kept["body"] = _body(value.get("body") or b"")
    return repr(kept)


#: (logger name, format string prefix) → rewrite of the record's args.
_PREFIXED: list[tuple[str, str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]] = [
    # celery/concurrency/base.py logs it as "celery.pool": the target, args and kwargs
    # (the request dict, with the client's own argsrepr and the message body).
    ("celery", "TaskPool: Apply", lambda a: (a[0], "<redacted>", "<redacted>")),
    ("botocore.endpoint", "Making request for", lambda a: (a[0], _params(a[1]), *a[2:])),
    ("botocore.parsers", "Response body", lambda a: (_body(a[0]),)),
]

_rewrites: dict[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]] | None = None


def _structural(record: logging.LogRecord) -> None:
    global _rewrites
    if _rewrites is None:
        _rewrites = _celery_rewrites()
    args = record.args
    if not isinstance(args, tuple) or not isinstance(record.msg, str):
        return
    rewrite = _rewrites.get(record.msg)
    if rewrite is None:
        for name, prefix, candidate in _PREFIXED:
            if record.name.startswith(name) and record.msg.startswith(prefix):
                rewrite = candidate
                break
    if rewrite is not None:
        try:
            record.args = rewrite(args)
        except (IndexError, TypeError):
            record.args = ()
            record.msg = f"<{record.name} message redacted>"


def scrub(text: str) -> str:
    """Numbers, digests and code fields masked in one line of text."""
    return _CODE_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}<redacted>", redact_text(text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        _structural(record)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"<{record.name} message redacted>"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
