"""Injected misbehaviour: quota, random and scheduled errors, latency, delivery failures.

One ``FaultConfig`` is live at a time; posting a new one replaces it whole (and refills
the quota buckets), so a test states everything it wants in one place. ``backend`` and
``operations`` narrow where it applies (default: every operation of both backends).
Error names may come from either backend; each operation gets its own backend's twin
(see ``sandbox.backends``). Each backend has its own quota bucket, like AWS accounts
have a quota per service; ``fail_next`` and ``error_rate`` count requests in scope.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.backends import ALL_ERRORS, BACKEND_OF, OPERATIONS, resolve
from sandbox.token_bucket import TokenBucket

#: Values Pinpoint reports in ``MessageResult.DeliveryStatus`` (TIMEOUT is not in
#: botocore's enum, but Pinpoint's event stream uses it and botocore does not check).
DELIVERY_STATUSES: dict[str, tuple[int, str]] = {
    "SUCCESSFUL": (200, "Message sent"),
    "THROTTLED": (429, "Throttled by the carrier"),
    "TEMPORARY_FAILURE": (500, "Temporary failure"),
    "PERMANENT_FAILURE": (400, "Permanent failure"),
    "UNKNOWN_FAILURE": (500, "Unknown failure"),
    "OPT_OUT": (400, "The destination has opted out"),
    "DUPLICATE": (400, "Duplicate destination"),
    "TIMEOUT": (408, "Timed out delivering the message"),
}

_KEYS = {
    "quota_rps", "quota_burst", "error_rate", "seed", "latency_ms",
    "delivery_status", "errors", "fail_next", "backend", "operations", "send_quota",
}  # fmt: skip

_THROTTLED = "TooManyRequestsException"
_SERVER_ERROR = "InternalServerErrorException"
_QUOTA_EXCEEDED = "ServiceQuotaExceededException"


class InjectedError(Exception):
    """A fault fired: ``name`` is already the error the current operation declares."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class FaultConfigError(ValueError):
    """A fault config the sandbox cannot honour; the message names the key."""


@dataclass(frozen=True)
class FaultConfig:
    quota_rps: float | None = None
    quota_burst: float | None = None
    error_rate: float = 0.0
    seed: int | None = None
    latency_ms: float = 0.0
    delivery_status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    fail_next_count: int = 0
    fail_next_error: str = _SERVER_ERROR
    backend: str | None = None
    operations: frozenset[str] | None = None
    #: Requests accepted before the account's quota is spent (ServiceQuotaExceeded); only
    #: operations that declare that error (Notify's send) count and are refused.
    send_quota: int | None = None

    def applies_to(self, operation: str) -> bool:
        if self.backend is not None and BACKEND_OF[operation] != self.backend:
            return False
        return self.operations is None or operation in self.operations

    @property
    def scope(self) -> list[str]:
        """The operations this config applies to."""
        return [op for op in BACKEND_OF if self.applies_to(op)]

    @classmethod
    def from_json(cls, doc: Any) -> FaultConfig:
        if not isinstance(doc, dict):
            raise FaultConfigError("faults must be a JSON object")
        unknown = sorted(set(doc) - _KEYS)
        if unknown:
            raise FaultConfigError(f"unknown fault keys: {', '.join(unknown)}")
        fail_next = doc.get("fail_next") or {}
        if not isinstance(fail_next, dict):
            raise FaultConfigError("fail_next must be an object {count, error}")
        backend, operations = _scope(doc)
        config = cls(
            quota_rps=_number(doc, "quota_rps", low=0.001),
            quota_burst=_number(doc, "quota_burst", low=1),
            error_rate=_number(doc, "error_rate", low=0, high=1) or 0.0,
            seed=_seed(doc.get("seed")),
            latency_ms=_number(doc, "latency_ms", low=0) or 0.0,
            delivery_status=_mapping(doc, "delivery_status", DELIVERY_STATUSES),
            errors=_mapping(doc, "errors", ALL_ERRORS),
            fail_next_count=int(_number(fail_next, "count", low=0) or 0),
            fail_next_error=fail_next.get("error", _SERVER_ERROR),
            backend=backend,
            operations=operations,
            send_quota=_count(doc, "send_quota"),
        )
        if config.fail_next_error not in ALL_ERRORS:
            name = config.fail_next_error
            raise FaultConfigError(f"fail_next.error is not a modeled error: {name}")
        named = [("fail_next.error", config.fail_next_error), *_named(config.errors)]
        if config.send_quota is not None:
            named.append(("send_quota", _QUOTA_EXCEEDED))
        for key, name in named:
            if not any(resolve(name, op) for op in config.scope):
                raise FaultConfigError(f"{key}: no operation in scope can raise {name}")
        if config.quota_burst is not None and config.quota_rps is None:
            raise FaultConfigError("quota_burst needs quota_rps")
        return config


def _scope(doc: dict[str, Any]) -> tuple[str | None, frozenset[str] | None]:
    backend = doc.get("backend")
    if backend is not None and backend not in OPERATIONS:
        raise FaultConfigError(f"backend must be one of {', '.join(OPERATIONS)}, got {backend!r}")
    operations = doc.get("operations")
    if operations is None:
        return backend, None
    if not isinstance(operations, list) or not operations:
        raise FaultConfigError("operations must be a non-empty list of operation names")
    allowed = OPERATIONS[backend] if backend else tuple(BACKEND_OF)
    for name in operations:
        if name not in allowed:
            raise FaultConfigError(f"operations: {name!r} is not one of {', '.join(allowed)}")
    return backend, frozenset(operations)


def _count(doc: dict[str, Any], key: str) -> int | None:
    value = doc.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise FaultConfigError(f"{key} must be an integer >= 0")
    return value


def _named(errors: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"errors[{destination}]", name) for destination, name in errors.items()]


def _number(doc: dict[str, Any], key: str, low: float, high: float | None = None) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(f"{key} must be a number")
    if value < low or (high is not None and value > high):
        raise FaultConfigError(f"{key} must be >= {low}" + (f" and <= {high}" if high else ""))
    return value


def _seed(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise FaultConfigError("seed must be an integer")
    return value


def _mapping(doc: dict[str, Any], key: str, allowed: dict[str, Any]) -> dict[str, str]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise FaultConfigError(f"{key} must be an object of destination -> name")
    for destination, name in value.items():
        if name not in allowed:
            choices = ", ".join(sorted(allowed))
            raise FaultConfigError(f"{key}[{destination}]: {name!r} is not one of {choices}")
    return dict(value)


class Faults:
    """The live config plus the state it needs: quota buckets, random source, countdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        buckets = {}
        if config.quota_rps is not None:
            burst = config.quota_burst or max(1.0, config.quota_rps)
            scoped = {BACKEND_OF[op] for op in config.scope}
            buckets = {backend: TokenBucket(config.quota_rps, burst) for backend in scoped}
        with self._lock:
            self._config = config
            self._buckets = buckets
            self._random = random.Random(config.seed)
            self._fail_next_left = config.fail_next_count
            self._send_quota_left = config.send_quota

    def clear(self) -> None:
        self.configure(FaultConfig())

    def latency_seconds(self, operation: str) -> float:
        with self._lock:
            config = self._config
        return config.latency_ms / 1000 if config.applies_to(operation) else 0.0

    def check_request(self, operation: str) -> None:
        """Rate quota, scheduled failures, random ones, then the send quota: each raises
        ``InjectedError``."""
        with self._lock:
            config = self._config
            if not config.applies_to(operation):
                return
            bucket = self._buckets.get(BACKEND_OF[operation])
            if bucket is not None and not bucket.take():
                raise InjectedError(_as(_THROTTLED, operation), "Too many requests")
            scheduled = resolve(config.fail_next_error, operation)
            if self._fail_next_left > 0 and scheduled is not None:
                self._fail_next_left -= 1
                raise InjectedError(scheduled, "Injected failure (fail_next)")
            rate = config.error_rate
            if rate and self._random.random() < rate:
                raise InjectedError(_as(_SERVER_ERROR, operation), "Injected failure (error_rate)")
            if self._send_quota_left is not None and resolve(_QUOTA_EXCEEDED, operation):
                if self._send_quota_left == 0:
                    raise InjectedError(_QUOTA_EXCEEDED, "Sending quota exceeded (send_quota)")
                self._send_quota_left -= 1

    def check_destination(self, operation: str, destination: str) -> None:
        with self._lock:
            config = self._config
        name = config.errors.get(destination) if config.applies_to(operation) else None
        injected = resolve(name, operation) if name is not None else None
        if injected is not None:
            raise InjectedError(injected, f"Injected {injected} for this destination")

    def delivery_status(self, operation: str, destination: str) -> str:
        with self._lock:
            config = self._config
        if not config.applies_to(operation):
            return "SUCCESSFUL"
        return config.delivery_status.get(destination, "SUCCESSFUL")

    def to_json(self) -> dict[str, Any]:
        """The live config; ``fail_next.count`` is what remains, not what was asked."""
        with self._lock:
            c = self._config
            burst = None
            if c.quota_rps is not None:
                burst = c.quota_burst or max(1.0, c.quota_rps)
            return {
                "quota_rps": c.quota_rps,
                "quota_burst": burst,
                "error_rate": c.error_rate,
                "seed": c.seed,
                "latency_ms": c.latency_ms,
                "delivery_status": dict(c.delivery_status),
                "errors": dict(c.errors),
                "fail_next": {"count": self._fail_next_left, "error": c.fail_next_error},
                "backend": c.backend,
                "operations": sorted(c.operations) if c.operations is not None else None,
                "send_quota": self._send_quota_left,
            }


def _as(name: str, operation: str) -> str:
    resolved = resolve(name, operation)
    assert resolved is not None, f"{operation} declares no twin of {name}"
    return resolved
