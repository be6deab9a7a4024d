"""Sealing the OTP a user typed before it travels through Redis.

A verify message sits in a Redis list, and Redis writes its lists to disk (AOF, RDB)
and to replicas. The producer replaces the `otp` kwarg with ``enc:v1:<Fernet token>``
(AES-128-CBC + HMAC-SHA256, from `cryptography`); the worker opens it just before
validation (worker/unsealing.py: opening is the worker's half, this module the shared
format and the producer's half). Keys come from OTPQ_OTP_KEYS: the first one seals,
every one opens (MultiFernet), so a key is rotated without losing queued jobs
(docs/security.md).

A plain digit string still works: callers that enqueue by name from another codebase
send the code as the contract describes. Our own producer (`OtpClient.verify`) refuses
to send a code unsealed: without OTPQ_OTP_KEYS it raises ConfigError, unless
OTPQ_ALLOW_PLAINTEXT_OTP=1 says plaintext is meant (then it warns once per process).
`otpq up` always has keys; the worker's side opens whatever it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from otpq_core.settings import ConfigError

#: Marks a sealed value; the version names the scheme (Fernet), should it ever change.
PREFIX = "enc:v1:"
#: Task kwargs that are sealed. The destination is not (docs/security.md says why).
SEALED_FIELDS = ("otp",)

log = logging.getLogger("otpq.sealing")
#: Whether this process has warned that it sends codes unsealed (once is enough).
_warned_unsealed = False


def generate_key() -> str:
    """A new random key, in the form OTPQ_OTP_KEYS takes."""
    return Fernet.generate_key().decode("ascii")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def keyring(keys: Sequence[str]) -> MultiFernet | None:
    """OTPQ_OTP_KEYS as one MultiFernet (the first key seals, all open); None if unset."""
    return MultiFernet([Fernet(k) for k in keys]) if keys else None


class Sealer:
    """The producer's half: seals the secret fields of task kwargs with OTPQ_OTP_KEYS."""

    def __init__(self, keys: Sequence[str], *, plaintext_allowed: bool = True) -> None:
        self._fernet = keyring(keys)
        #: Whether `seal` may hand a value back unsealed when there is no key.
        self.plaintext_allowed = plaintext_allowed

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str) -> str:
        if self._fernet is None:
            if not self.plaintext_allowed:
                raise ConfigError(
                    "OTPQ_OTP_KEYS is not set: the code would sit in Redis in plaintext; "
                    "set OTPQ_OTP_KEYS to the workers' keys (or OTPQ_ALLOW_PLAINTEXT_OTP=1 "
                    "to accept plaintext; see docs/security.md)"
                )
            global _warned_unsealed
            if not _warned_unsealed:
                _warned_unsealed = True
                log.warning(
                    "OTPQ_OTP_KEYS is not set: OTPs travel through Redis in plaintext "
                    "(see docs/security.md)"
                )
            return value
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def seal_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The producer's side: every sealed field replaced by its token."""
        return {
            k: self.seal(v) if k in SEALED_FIELDS and isinstance(v, str) else v
            for k, v in kwargs.items()
        }


def seal_at_rest(ring: MultiFernet | None, number: str) -> str:
    """A phone number as a campaign keeps it for `export --unmasked`: sealed under
    OTPQ_OTP_KEYS, or only masked when there are no keys (no number rests in Redis)."""
    from otpq_core.redaction import mask_number

    if ring is None:
        return mask_number(number)
    return PREFIX + ring.encrypt(number.encode("utf-8")).decode("ascii")


def open_at_rest(ring: MultiFernet | None, stored: str) -> str:
    """The number `seal_at_rest` kept; ConfigError when it cannot be had back."""
    if not is_sealed(stored):
        raise ConfigError(
            "this campaign kept masked numbers only (it started without OTPQ_OTP_KEYS): "
            "an unmasked export is not possible"
        )
    if ring is None:
        raise ConfigError("an unmasked export needs OTPQ_OTP_KEYS (the keys it started with)")
    try:
        return ring.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ConfigError(
            "OTPQ_OTP_KEYS does not hold the key this campaign was sealed with"
        ) from None
