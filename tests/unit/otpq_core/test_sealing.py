"""Sealing the OTP in verify messages (the producer's Sealer, the worker's Unsealer):
round trip, rotation, tamper, and no key."""

from __future__ import annotations

import logging

import pytest

from otpq_core import sealing
from otpq_core.outcomes import InvalidRequest
from otpq_core.sealing import PREFIX, Sealer, generate_key, is_sealed
from otpq_core.settings import ConfigError, Settings
from producer.client import OtpClient
from producer.requests import VerifyRequest
from worker.unsealing import Unsealer

OLD, NEW, ROGUE = generate_key(), generate_key(), generate_key()
KWARGS = {
    "destination": "+14255550142",
    "otp": "123456",
    "brand_name": "ExampleCorp",
    "source": "Login",
}


def test_round_trip_hides_the_code_and_validates_after_opening() -> None:
    sealer = Sealer([NEW])
    sealed = sealer.seal_kwargs(KWARGS)
    assert is_sealed(sealed["otp"]) and sealed["otp"].startswith(PREFIX)
    assert "123456" not in sealed["otp"]
    assert {k: v for k, v in sealed.items() if k != "otp"} == {
        k: v for k, v in KWARGS.items() if k != "otp"
    }
    opened = Unsealer([NEW]).open_kwargs(sealed)
    assert opened == KWARGS
    assert VerifyRequest.from_kwargs(opened).otp == "123456"


def test_each_seal_is_different() -> None:
    sealer = Sealer([NEW])
    assert sealer.seal("123456") != sealer.seal("123456")


def test_rotation_first_key_seals_every_key_opens() -> None:
    token_old = Sealer([OLD]).seal("123456")
    rotated = Sealer([NEW, OLD])
    token_new = rotated.seal("654321")
    assert Unsealer([NEW, OLD]).open("otp", token_old) == "123456"
    assert Unsealer([NEW, OLD]).open("otp", token_new) == "654321"
    # The new key seals: a worker that knows only NEW opens what `rotated` sealed...
    assert Unsealer([NEW]).open("otp", token_new) == "654321"
    # ...but not what was queued under OLD, once OLD is dropped.
    with pytest.raises(InvalidRequest) as info:
        Unsealer([NEW]).open("otp", token_old)
    assert str(info.value) == "invalid: otp: cannot be decrypted (unknown key?)"


def flip(char: str) -> str:
    """Another base64 character than `char`: writing a fixed one could leave it as is."""
    return "y" if char == "x" else "x"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
        lambda t: t[: len(PREFIX) + 20] + flip(t[len(PREFIX) + 20]) + t[len(PREFIX) + 21 :],
        lambda t: t[:40],
        lambda t: PREFIX + "not base64 at all !",
        lambda t: PREFIX,
        lambda t: PREFIX + "é",
    ],
)
def test_tampered_or_garbage_token_is_invalid_otp(mangle: object) -> None:
    token = Sealer([NEW]).seal("123456")
    with pytest.raises(InvalidRequest) as info:
        Unsealer([NEW]).open_kwargs({**KWARGS, "otp": mangle(token)})  # type: ignore[operator]
    assert info.value.field == "otp"
    assert "123456" not in str(info.value)


def test_unknown_key_and_worker_without_keys_refuse_by_field() -> None:
    token = Sealer([ROGUE]).seal("123456")
    for worker in (Unsealer([NEW, OLD]), Unsealer([])):
        with pytest.raises(InvalidRequest) as info:
            worker.open_kwargs({**KWARGS, "otp": token})
        assert str(info.value) == "invalid: otp: cannot be decrypted (unknown key?)"


def test_plaintext_and_odd_values_pass_through_to_validation() -> None:
    sealer = Unsealer([NEW])
    assert sealer.open_kwargs(KWARGS) == KWARGS
    assert sealer.open_kwargs({**KWARGS, "otp": 123456})["otp"] == 123456
    assert sealer.open_kwargs(["not", "a", "mapping"]) == ["not", "a", "mapping"]
    with pytest.raises(InvalidRequest, match="otp"):
        VerifyRequest.from_kwargs(sealer.open_kwargs({**KWARGS, "otp": 123456}))


def test_a_sealed_non_code_still_fails_validation() -> None:
    sealed = Sealer([NEW]).seal("12ab")
    with pytest.raises(InvalidRequest) as info:
        VerifyRequest.from_kwargs(Unsealer([NEW]).open_kwargs({**KWARGS, "otp": sealed}))
    assert info.value.field == "otp"


def test_no_key_sends_plaintext_and_warns_once_per_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sealing, "_warned_unsealed", False)
    sealer = Sealer([])
    with caplog.at_level(logging.WARNING, logger="otpq.sealing"):
        assert sealer.seal_kwargs(KWARGS) == KWARGS
        assert Sealer([]).seal_kwargs(KWARGS) == KWARGS
    warnings = [r for r in caplog.records if "OTPQ_OTP_KEYS" in r.getMessage()]
    assert len(warnings) == 1
    assert not sealer.enabled and Sealer([NEW]).enabled
    assert not Unsealer([]).enabled and Unsealer([NEW]).enabled


def test_settings_parse_keys_and_refuse_bad_ones_without_echoing_them() -> None:
    assert Settings.from_env({"OTPQ_OTP_KEYS": f" {NEW} , {OLD} "}).otp_keys == (NEW, OLD)
    assert Settings.from_env({}).otp_keys == ()
    secretish = "s3cr3t-but-not-a-fernet-key"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"OTPQ_OTP_KEYS": f"{NEW},{secretish}"})
    assert "key #2" in str(info.value) and secretish not in str(info.value)


def test_otp_client_refuses_to_queue_a_plaintext_code_without_keys(redis_url: str) -> None:
    import redis

    client = OtpClient(Settings.from_env({"REDIS_URL": redis_url}))
    try:
        with pytest.raises(ConfigError, match="OTPQ_OTP_KEYS is not set") as info:
            client.verify("+14255550142", "123456", "ExampleCorp", "Login")
        assert "123456" not in str(info.value)
        queued = redis.Redis.from_url(redis_url)
        assert queued.llen("otp.interactive") == 0  # nothing reached Redis
        client.send("+14255550142", "ExampleCorp", "Login")  # sends carry no code
        assert queued.llen("otp.interactive") == 1
        queued.close()
    finally:
        client.close()


def test_plaintext_is_allowed_only_when_asked_for(redis_url: str) -> None:
    import redis

    env = {"REDIS_URL": redis_url, "OTPQ_ALLOW_PLAINTEXT_OTP": "1"}
    client = OtpClient(Settings.from_env(env))
    try:
        client.verify("+14255550142", "123456", "ExampleCorp", "Login")
        queued = redis.Redis.from_url(redis_url)
        assert queued.llen("otp.interactive") == 1
        queued.close()
    finally:
        client.close()
    assert Settings.from_env({}).allow_plaintext_otp is False
    with pytest.raises(ConfigError, match="OTPQ_ALLOW_PLAINTEXT_OTP"):
        Settings.from_env({"OTPQ_ALLOW_PLAINTEXT_OTP": "maybe"})


def test_the_producer_side_cannot_open() -> None:
    # Opening is the worker's half (worker/unsealing.py); the producer only seals.
    assert not hasattr(Sealer([NEW]), "open") and not hasattr(Sealer([NEW]), "open_kwargs")


def test_the_one_character_mangle_always_changes_the_token() -> None:
    """Writing a fixed character over one of the token's left it unchanged when the two
    were alike (1 in 64): the tamper test then saw a valid token."""
    for _ in range(200):
        token = Sealer([NEW]).seal("123456")
        at = len(PREFIX) + 20
        assert token[:at] + flip(token[at]) + token[at + 1 :] != token
