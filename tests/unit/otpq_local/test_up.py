"""`otpq up` gives its stack a sealing key and a hashing secret, kept private."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from otpq_core.sealing import Sealer, generate_key
from otpq_core.settings import Settings
from otpq_local.up import Stack, _secrets, _write_private, discover, flower_line


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


def _discovery_file(directory: Path) -> Path:
    path = directory / "otpq-up.json"
    _write_private(path, json.dumps({"pid": os.getpid(), "env": {"REDIS_URL": "redis://x"}}))
    return path


def test_a_private_discovery_file_is_trusted(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    assert discover(_discovery_file(tmp_path)) == {"REDIS_URL": "redis://x"}
    tmp_path.chmod(0o1777)  # like /tmp: shared, but sticky
    assert discover(_discovery_file(tmp_path)) == {"REDIS_URL": "redis://x"}
    tmp_path.chmod(0o700)


def test_a_discovery_file_others_may_write_is_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path.chmod(0o700)
    path = _discovery_file(tmp_path)
    path.chmod(0o622)
    assert discover(path) is None
    assert "others may write to it" in capsys.readouterr().err


def test_a_discovery_file_of_another_user_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path.chmod(0o700)
    path = _discovery_file(tmp_path)
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 4242)  # the file is now someone else's
    assert discover(path) is None
    assert "belongs to another user" in capsys.readouterr().err


def test_a_discovery_file_in_a_directory_others_may_write_is_ignored(tmp_path: Path) -> None:
    path = _discovery_file(tmp_path)
    tmp_path.chmod(0o777)  # anyone could swap the file: not sticky
    try:
        assert discover(path) is None
    finally:
        tmp_path.chmod(0o700)


def test_a_symlinked_discovery_file_is_ignored(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    real = _discovery_file(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert discover(link) is None


def test_the_flower_line_says_when_its_api_needs_credentials() -> None:
    url = "http://127.0.0.1:5555"
    assert "401 unless FLOWER_BASIC_AUTH" in flower_line(url, {})
    assert "401" not in flower_line(url, {"FLOWER_BASIC_AUTH": "ops:secret"})
    assert "secret" not in flower_line(url, {"FLOWER_BASIC_AUTH": "ops:secret"})
