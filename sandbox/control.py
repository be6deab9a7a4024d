"""A tiny client for the ``/_sandbox/`` control API, for a sandbox in another process.

Standard library only (urllib), so any test, demo or service can read codes and inject
faults without depending on otpq.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

#: How often ``wait_for_message`` looks at the outbox.
POLL_INTERVAL_SECONDS = 0.02


class SandboxControlError(RuntimeError):
    """The control API refused a request; the message is the sandbox's explanation."""


class SandboxControl:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def outbox(
        self, destination: str | None = None, backend: str | None = None
    ) -> list[dict[str, Any]]:
        """Delivered messages, oldest first, optionally for one destination or backend."""
        wanted = {"destination": destination, "backend": backend}
        query = urlencode({k: v for k, v in wanted.items() if v})
        return self._call("GET", f"outbox?{query}" if query else "outbox")

    def clear_outbox(self) -> None:
        self._call("DELETE", "outbox")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the whole fault config (keys as in the control API); returns it."""
        return self._call("POST", "faults", faults)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "stats")

    def advance_clock(self, seconds: float) -> dict[str, float]:
        return self._call("POST", "clock", {"advance": seconds})

    def reset(self) -> None:
        """Forget outbox, codes, faults, stats and clock offset."""
        self._call("POST", "reset")

    def wait_for_message(
        self,
        destination: str,
        timeout: float = 5.0,
        *,
        seen: int = 0,
        backend: str | None = None,
    ) -> dict[str, Any]:
        """The newest message for ``destination`` once more than ``seen`` exist.

        Pass ``seen=len(control.outbox(destination))`` taken before a resend to wait
        for the new code rather than get the old one back; ``backend`` (``pinpoint`` or
        ``notify``) counts only that backend's messages.
        """
        deadline = time.monotonic() + timeout
        while True:
            messages = self.outbox(destination, backend)
            if len(messages) > seen:
                return messages[-1]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no new sandbox message within {timeout}s")
            time.sleep(POLL_INTERVAL_SECONDS)

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise SandboxControlError(f"{method} /_sandbox/{route}: {detail}") from None
