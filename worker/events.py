"""What task events may carry, and the filter that makes Flower store only that.

Flower builds its task list from events: `task-sent` (written by whichever client
enqueued), `task-received`, `task-started`, `task-succeeded` (result repr),
`task-failed` and `task-retried` (exception text, traceback). The worker's own
events are already clean (worker/request.py), so are the `task-sent` events of otpq's own
apps (worker/app.py, producer/publish.py), but a plain Celery client in another
codebase that enables `task_send_sent_event` publishes the real arguments: a phone
number and, for verify, the code. Celery's event state keeps the `task-sent` args
until a `task-received` overwrites them, and lets a late `task-sent` overwrite them
again; Flower also indexes them for search and can persist them to disk.

So Flower must scrub every event before it touches its state. `celery -A worker
flower` imports this package, and `install_flower_filter()` wraps Flower's single
ingest point (`flower.events.EventsState.event`) — no flag or config file needed.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Mapping
from typing import Any

from otpq_core.redaction import redact_kwargs, redact_text

log = logging.getLogger(__name__)

#: Free-text fields of task events; numbers in them are masked.
TEXT_FIELDS = ("result", "exception", "traceback")
#: Shown instead of arguments that cannot be parsed (and so cannot be masked).
UNREADABLE = "'<redacted>'"

_COUNTED = re.compile(r"<\d{1,4} args redacted>")


def scrub_args(value: Any) -> Any:
    """Positional arguments are never shown: only how many there were."""
    if value is None:
        return None
    parsed = _literal(value)
    if isinstance(parsed, list | tuple):
        return "()" if not parsed else f"<{len(parsed)} args redacted>"
    if isinstance(value, str) and _COUNTED.fullmatch(value):
        return value  # already scrubbed by the worker
    return UNREADABLE


def scrub_kwargs(value: Any) -> Any:
    """Keyword arguments as redact_kwargs shows them: numbers masked, OTPs replaced."""
    if value is None:
        return None
    parsed = _literal(value)
    if isinstance(parsed, Mapping):
        return repr(redact_kwargs(parsed))
    return UNREADABLE


def _literal(value: Any) -> Any:
    """Event args arrive as reprs (protocol 2) or as values (old clients)."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        # saferepr truncates long values with "...": unparseable, so not shown.
        return None


def scrub_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Celery event with nothing secret left in it.

    Task events get their args/kwargs re-derived and their free text masked; other
    events (worker heartbeats) pass unchanged.
    """
    clean = dict(event)
    if not str(clean.get("type", "")).startswith("task-"):
        return clean
    if "args" in clean:
        clean["args"] = scrub_args(clean["args"])
    if "kwargs" in clean:
        clean["kwargs"] = scrub_kwargs(clean["kwargs"])
    for name in TEXT_FIELDS:
        if isinstance(clean.get(name), str):
            clean[name] = redact_text(clean[name])
    return clean


def install_flower_filter() -> bool:
    """Make Flower scrub each event before its state, search index or `--persistent`
    database sees it. A no-op without Flower; idempotent. Returns whether installed."""
    try:
        from flower.events import EventsState  # type: ignore[import-untyped]
    except ImportError:
        return False
    return _scrub_before(EventsState, "event")


def install_event_filters() -> bool:
    """The same for `celery -A worker events`: its curses monitor and `--camera` keep
    Celery's `State`, and `--dump` prints each event (Dumper.on_event)."""
    from celery.events.dumper import Dumper
    from celery.events.state import State

    return _scrub_before(State, "event") and _scrub_before(Dumper, "on_event")


def _scrub_before(cls: type, name: str) -> bool:
    """Wrap `cls.name(self, event)` so that it sees `scrub_event(event)`; idempotent."""
    original = getattr(cls, name, None)
    if original is None:
        log.warning("%s.%s not found: events may show raw args", cls.__name__, name)
        return False
    if getattr(original, "otpq_scrubbed", False):
        return True

    def scrubbed(self: Any, event: Mapping[str, Any]) -> Any:
        return original(self, scrub_event(event))

    scrubbed.otpq_scrubbed = True  # type: ignore[attr-defined]
    scrubbed.__doc__ = original.__doc__
    setattr(cls, name, scrubbed)
    return True
