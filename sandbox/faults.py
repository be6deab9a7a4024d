"""Injected misbehaviour: quota, random and scheduled errors, latency, delivery failures.

One ``FaultConfig`` is live at a time; posting a new one replaces it whole (and refills
the quota bucket), so a test states everything it wants in one place.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import MODELED_ERRORS, PinpointError
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
    "delivery_status", "errors", "fail_next",
}  # fmt: skip


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
    fail_next_error: str = "InternalServerErrorException"

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
        config = cls(
            quota_rps=_number(doc, "quota_rps", low=0.001),
            quota_burst=_number(doc, "quota_burst", low=1),
            error_rate=_number(doc, "error_rate", low=0, high=1) or 0.0,
            seed=_seed(doc.get("seed")),
            latency_ms=_number(doc, "latency_ms", low=0) or 0.0,
            delivery_status=_mapping(doc, "delivery_status", DELIVERY_STATUSES),
            errors=_mapping(doc, "errors", MODELED_ERRORS),
            fail_next_count=int(_number(fail_next, "count", low=0) or 0),
            fail_next_error=fail_next.get("error", "InternalServerErrorException"),
        )
        if config.fail_next_error not in MODELED_ERRORS:
            name = config.fail_next_error
            raise FaultConfigError(f"fail_next.error is not a modeled error: {name}")
        if config.quota_burst is not None and config.quota_rps is None:
            raise FaultConfigError("quota_burst needs quota_rps")
        return config


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
    """The live config plus the state it needs: quota bucket, random source, countdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        bucket = None
        if config.quota_rps is not None:
            burst = config.quota_burst or max(1.0, config.quota_rps)
            bucket = TokenBucket(config.quota_rps, burst)
        with self._lock:
            self._config = config
            self._bucket = bucket
            self._random = random.Random(config.seed)
            self._fail_next_left = config.fail_next_count

    def clear(self) -> None:
        self.configure(FaultConfig())

    @property
    def latency_seconds(self) -> float:
        with self._lock:
            return self._config.latency_ms / 1000

    def check_request(self) -> None:
        """Quota, then scheduled failures, then random ones: each raises its error."""
        with self._lock:
            bucket = self._bucket
            if bucket is not None and not bucket.take():
                raise PinpointError("TooManyRequestsException", "Too many requests")
            if self._fail_next_left > 0:
                self._fail_next_left -= 1
                raise PinpointError(self._config.fail_next_error, "Injected failure (fail_next)")
            rate = self._config.error_rate
            if rate and self._random.random() < rate:
                raise PinpointError("InternalServerErrorException", "Injected failure (error_rate)")

    def check_destination(self, destination: str) -> None:
        with self._lock:
            name = self._config.errors.get(destination)
        if name is not None:
            raise PinpointError(name, f"Injected {name} for this destination")

    def delivery_status(self, destination: str) -> str:
        with self._lock:
            return self._config.delivery_status.get(destination, "SUCCESSFUL")

    def to_json(self) -> dict[str, Any]:
        """The live config; ``fail_next.count`` is what remains, not what was asked."""
        with self._lock:
            c = self._config
            return {
                "quota_rps": c.quota_rps,
                "quota_burst": self._bucket.burst if self._bucket else None,
                "error_rate": c.error_rate,
                "seed": c.seed,
                "latency_ms": c.latency_ms,
                "delivery_status": dict(c.delivery_status),
                "errors": dict(c.errors),
                "fail_next": {"count": self._fail_next_left, "error": c.fail_next_error},
            }
