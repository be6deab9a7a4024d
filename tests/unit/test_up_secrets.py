"""`otpq up` gives its stack a sealing key and a hashing secret, kept private."""

from __future__ import annotations

import stat
from pathlib import Path

from producer.sealing import Sealer, generate_key
from producer.settings import Settings
from producer.stack.up import Stack, _secrets, _write_private


def test_a_stack_gets_fresh_secrets_unless_given(tmp_path: Path) -> None:
    fresh, again = Stack(workdir=tmp_path), Stack(workdir=tmp_path)
    _secrets(fresh, {})
    _secrets(again, {})
    assert fresh.env["OTPQ_OTP_KEYS"] != again.env["OTPQ_OTP_KEYS"]
    settings = Settings.from_env(fresh.env)  # both are valid settings
    assert len(settings.otp_keys) == 1 and settings.hash_key
    assert Sealer(settings.otp_keys).enabled

    key = generate_key()
    given = Stack(workdir=tmp_path)
    _secrets(given, {"OTPQ_OTP_KEYS": key, "OTPQ_HASH_KEY": "mine-0123456789abcdef"})
    assert given.env["OTPQ_OTP_KEYS"] == key
    assert given.env["OTPQ_HASH_KEY"] == "mine-0123456789abcdef"


def test_the_discovery_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "otpq-up.json"
    path.write_text("old")
    path.chmod(0o644)
    _write_private(path, '{"env": {}}')
    assert path.read_text() == '{"env": {}}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
