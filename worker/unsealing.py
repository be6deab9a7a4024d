"""The worker's half of sealing (otpq_core/sealing.py has the format): open the OTP a
verify message carries, just before validation. Only workers hold a use for opening;
the producer only seals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import InvalidToken

from otpq_core.outcomes import InvalidRequest
from otpq_core.sealing import PREFIX, SEALED_FIELDS, is_sealed, keyring


class Unsealer:
    """Opens sealed task kwargs with every key of OTPQ_OTP_KEYS (rotation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = keyring(keys)

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def open(self, field: str, value: str) -> str:
        """The plaintext of a sealed value; InvalidRequest(field) if no key opens it."""
        if self._fernet is None:  # a worker without OTPQ_OTP_KEYS
            raise InvalidRequest(field, "cannot be decrypted (unknown key?)")
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise InvalidRequest(field, "cannot be decrypted (unknown key?)") from None

    def open_kwargs(self, kwargs: Any) -> Any:
        """Sealed fields opened, plaintext and anything else untouched (validation, which
        follows, refuses what is wrong by name)."""
        if not isinstance(kwargs, Mapping):
            return kwargs
        return {
            k: self.open(k, v) if k in SEALED_FIELDS and is_sealed(v) else v
            for k, v in kwargs.items()
        }
