"""Settings from the environment: documented defaults, each bad value refused naming
its variable (a typo must not start a fleet with an unlimited rate), and the one
combination that would make Redis deliver a live job twice refused up front."""

from __future__ import annotations

import pytest

from otpq_core.settings import ConfigError, Settings


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.backend == "pinpoint"
    assert (settings.send_rate, settings.verify_rate) == (20.0, 20.0)
    assert settings.result_ttl == 24 * 3600
    assert settings.max_attempts == 5
    assert (settings.connect_timeout, settings.read_timeout) == (2.0, 5.0)
    assert settings.visibility_timeout == 60
    assert settings.batch_concurrency == 32
    assert settings.application_id is None and settings.origination_identity is None


def test_values_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://cache:6380/2",
            "OTPQ_SEND_RATE": "7.5",
            "OTPQ_MAX_ATTEMPTS": "3",
            "OTPQ_BATCH_CONCURRENCY": "4",
            "PINPOINT_APPLICATION_ID": "app-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert settings.redis_url == "redis://cache:6380/2"
    assert (settings.send_rate, settings.max_attempts, settings.batch_concurrency) == (7.5, 3, 4)
    assert settings.application_id == "app-1" and settings.region == "eu-west-1"


def test_an_empty_value_means_the_default() -> None:
    assert Settings.from_env({"OTPQ_SEND_RATE": "  ", "REDIS_URL": ""}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OTPQ_SEND_RATE", "fast", "must be a number"),
        ("OTPQ_SEND_RATE", "-1", "at least 0"),
        ("OTPQ_MAX_ATTEMPTS", "0", "at least 1"),
        ("OTPQ_BATCH_CONCURRENCY", "0", "at least 1"),
        ("OTPQ_RESULT_TTL", "5", "at least 60"),
        ("OTPQ_METRICS_PORT", "70000", "TCP port"),
        ("OTPQ_BULK_RESERVE", "1", "OTPQ_BULK_RESERVE"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and says in str(info.value)


def test_a_visibility_timeout_shorter_than_twice_a_hold_is_refused() -> None:
    """A job held (retry wait + one call) past the visibility timeout is delivered to a
    second worker while the first still runs it."""
    with pytest.raises(ConfigError, match="OTPQ_VISIBILITY_TIMEOUT"):
        Settings.from_env({"OTPQ_VISIBILITY_TIMEOUT": "20", "OTPQ_RETRY_CAP": "10"})
    assert Settings.from_env({"OTPQ_VISIBILITY_TIMEOUT": "40", "OTPQ_RETRY_CAP": "10"})


def test_sentinel_needs_the_master_name() -> None:
    with pytest.raises(ConfigError, match="OTPQ_SENTINEL_MASTER"):
        Settings.from_env({"REDIS_URL": "sentinel://127.0.0.1:26379/0"})
    sentinel = {"REDIS_URL": "sentinel://127.0.0.1:26379/0", "OTPQ_SENTINEL_MASTER": "otpq"}
    assert Settings.from_env(sentinel).sentinel_master == "otpq"
