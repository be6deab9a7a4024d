import redis

from otpq_local.redis_server import RedisServer


def test_session_redis_runs_with_noeviction(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_stop_removes_its_directory() -> None:
    server = RedisServer().start()
    directory = server.dir
    assert directory.exists()
    server.stop()
    assert not directory.exists()
