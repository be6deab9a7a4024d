"""The ``/_sandbox/`` routes: read the outbox, steer faults, the clock and the stats.

Unauthenticated on purpose: only tests and demos on this machine talk to it. Answers are
plain JSON; mistakes are 400 ``{"error": ...}`` naming what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.faults import FaultConfig, FaultConfigError
from sandbox.state import SandboxState
from sandbox.wire import Reply

PREFIX = "/_sandbox/"


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(
    state: SandboxState, method: str, path: str, query: dict[str, list[str]], body: bytes
) -> Reply:
    try:
        return _route(state, method, path.removeprefix(PREFIX).strip("/"), query, body)
    except _ControlError as exc:
        return Reply(exc.status, {"error": str(exc)})
    except FaultConfigError as exc:
        return Reply(400, {"error": str(exc)})


def _route(
    state: SandboxState, method: str, name: str, query: dict[str, list[str]], body: bytes
) -> Reply:
    match (method, name):
        case ("GET", "outbox"):
            destination = query.get("destination", [None])[0]
            backend = query.get("backend", [None])[0]
            messages = state.outbox.messages(destination, backend)
            return Reply(200, [m.to_json() for m in messages])
        case ("DELETE", "outbox"):
            state.outbox.clear()
            return Reply(200, {"cleared": "outbox"})
        case ("GET", "faults"):
            return Reply(200, state.faults.to_json())
        case ("POST", "faults"):
            state.faults.configure(FaultConfig.from_json(_json(body)))
            return Reply(200, state.faults.to_json())
        case ("DELETE", "faults"):
            state.faults.clear()
            return Reply(200, state.faults.to_json())
        case ("GET", "stats"):
            return Reply(200, state.stats.to_json())
        case ("DELETE", "stats"):
            state.stats.reset()
            return Reply(200, state.stats.to_json())
        case ("GET", "clock"):
            return Reply(200, _clock(state))
        case ("POST", "clock"):
            state.clock.advance(_advance(_json(body)))
            return Reply(200, _clock(state))
        case ("POST", "reset"):
            state.reset()
            return Reply(200, {"reset": True})
        case (_, "outbox" | "faults" | "stats" | "clock" | "reset"):
            raise _ControlError(405, f"{method} not allowed on {PREFIX}{name}")
    raise _ControlError(404, f"no such sandbox route: {PREFIX}{name}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _ControlError(400, "body is not valid JSON") from None


def _advance(doc: Any) -> float:
    seconds = doc.get("advance") if isinstance(doc, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise _ControlError(400, "advance must be a number of seconds >= 0")
    return float(seconds)


def _clock(state: SandboxState) -> dict[str, float]:
    return {"now": state.clock.now(), "offset": state.clock.offset}
