"""One Redis client factory: nothing else in producer/ or worker/ builds a client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import redis
import redis.asyncio

from otpq_core.celery_config import celery_config, producer_config
from otpq_core.redis_factory import (
    async_redis_client,
    parse_sentinel_url,
    redis_client,
    sentinel_kwargs,
)
from otpq_core.settings import ConfigError, Settings
from tests.helpers import ROOT

#: Calls that build a Redis client or pool.
CONSTRUCTORS = {"Redis", "StrictRedis", "from_url", "ConnectionPool", "Sentinel", "master_for"}
#: Where they may appear: the factory itself. worker/broker.py builds kombu's clients
#: through kombu (`super()._create_client()`), which this scan does not count.
ALLOWED = {"otpq_core/redis_factory.py"}
SENTINEL = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26380;sentinel://10.0.0.3/0"


def constructions(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in CONSTRUCTORS:
                lines.append(node.lineno)
    return lines


def test_no_redis_client_is_built_outside_the_factory() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("otpq_core", "producer", "worker", "otpq_local")
        for path in (ROOT / package).rglob("*.py")
        if str(path.relative_to(ROOT)) not in ALLOWED
        for line in constructions(path)
    }
    assert found == set()


def test_the_scan_sees_a_construction(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import redis\nc = redis.Redis.from_url('redis://x')\nredis.Redis()\n")
    assert constructions(sample) == [2, 3]


def test_a_tls_url_carries_the_ca_file_to_both_clients() -> None:
    settings = Settings(redis_url="rediss://127.0.0.1:1/0", redis_ca_certs="/etc/ca.pem")
    for client in (redis_client(settings), async_redis_client(settings)):
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
        assert kwargs["socket_timeout"] == settings.redis_timeout


def test_sentinel_urls_parse_as_kombu_reads_them() -> None:
    url = parse_sentinel_url("sentinel://:pw@10.0.0.1:26379/2;sentinel://10.0.0.2")
    assert url.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (url.db, url.password) == (2, "pw")
    with pytest.raises(ConfigError, match="different databases"):
        parse_sentinel_url("sentinel://a:1/1;sentinel://b:2/3")
    with pytest.raises(ConfigError, match="sentinel://HOST"):
        parse_sentinel_url("sentinel://a:1;redis://b:2")


def test_a_sentinel_url_needs_the_master_name() -> None:
    with pytest.raises(ConfigError, match="OTPQ_SENTINEL_MASTER"):
        Settings.from_env({"REDIS_URL": SENTINEL})


def test_sentinel_clients_ask_the_sentinels_for_the_named_master() -> None:
    settings = Settings.from_env(
        {"REDIS_URL": SENTINEL, "OTPQ_SENTINEL_MASTER": "otpq", "OTPQ_SENTINEL_PASSWORD": "s3"}
    )
    sync, aio = redis_client(settings), async_redis_client(settings)
    assert isinstance(sync, redis.Redis) and isinstance(aio, redis.asyncio.Redis)
    for client in (sync, aio):
        pool = client.connection_pool
        assert pool.service_name == "otpq"
        hosts = [
            s.connection_pool.connection_kwargs["host"] for s in pool.sentinel_manager.sentinels
        ]
        assert hosts == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        assert (
            pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs["password"] == "s3"
        )
    assert sentinel_kwargs(settings)["password"] == "s3"


def test_sentinel_reaches_broker_and_result_backend_options() -> None:
    settings = Settings.from_env({"REDIS_URL": SENTINEL, "OTPQ_SENTINEL_MASTER": "otpq"})
    for config in (celery_config(settings), producer_config(settings)):
        for options in ("broker_transport_options", "result_backend_transport_options"):
            assert config[options]["master_name"] == "otpq"
    assert producer_config(settings)["result_backend"].startswith(
        "producer.results:PollingSentinelBackend+sentinel://"
    )


def test_sentinel_tls_reaches_the_sentinels_and_the_data_nodes() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": SENTINEL,
            "OTPQ_SENTINEL_MASTER": "otpq",
            "OTPQ_SENTINEL_TLS": "on",
            "OTPQ_REDIS_CA_CERTS": "/etc/ca.pem",
        }
    )
    pool = redis_client(settings).connection_pool
    assert pool.connection_class is redis.sentinel.SentinelManagedSSLConnection
    assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert sentinel_kwargs(settings)["ssl"] is True
    assert celery_config(settings)["broker_use_ssl"]["ssl_ca_certs"] == "/etc/ca.pem"
    with pytest.raises(ConfigError, match="OTPQ_SENTINEL_TLS"):
        Settings.from_env({"OTPQ_SENTINEL_TLS": "maybe"})


def test_the_worker_transport_speaks_sentinel_for_a_sentinel_url() -> None:
    from kombu import Connection

    from worker.broker import Channel, SentinelChannel, Transport

    sentinel = Connection(SENTINEL, transport=Transport, transport_options={"master_name": "m"})
    plain = Connection("redis://127.0.0.1:1/0", transport=Transport)
    assert sentinel.transport.Channel is SentinelChannel
    assert plain.transport.Channel is Channel
