"""The one place otpq builds a Redis client (sync or asyncio), for every URL it accepts.

Every part that talks to Redis outside kombu and Celery — the producer's guards and
message push, campaigns, the worker's limiter, claims and abuse keys, the queue-length
gauge, the asyncio client — gets its client here, so each honours the same settings:

- `redis://` and `rediss://` (TLS: `ssl_*` query parameters, else OTPQ_REDIS_CA_CERTS /
  OTPQ_REDIS_CERTFILE / OTPQ_REDIS_KEYFILE, exactly as the broker reads them);
- `sentinel://h1:26379;sentinel://h2:26379/0` with OTPQ_SENTINEL_MASTER naming the
  monitored master, OTPQ_SENTINEL_PASSWORD for the sentinels themselves and
  OTPQ_SENTINEL_TLS for TLS to sentinels and data nodes. The client asks a sentinel
  for the master on each new connection, so after a failover it follows the new one;
- OTPQ_REDIS_TIMEOUT for connecting and for each reply, so no call hangs.

tests/unit/otpq_core/test_redis_factory.py fails if a client is built anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from otpq_core.celery_config import redis_tls
from otpq_core.settings import ConfigError, Settings

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """What a `sentinel://` URL (one or more, `;`-separated) names."""

    hosts: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse the form kombu and Celery read: the database and the *master's* password
    come from the first URL (kombu ignores them on the others, so a different one there
    is refused rather than silently dropped)."""
    hosts: list[tuple[str, int]] = []
    first: tuple[int, str | None, str | None] | None = None
    for chunk in filter(None, (c.strip() for c in url.split(";"))):
        parts = urlsplit(chunk)
        if parts.scheme.lower() != SENTINEL_SCHEME or not parts.hostname:
            raise ConfigError("REDIS_URL: every ';'-separated part must be sentinel://HOST:PORT")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ConfigError("REDIS_URL: the database after '/' must be a number")
        try:
            port = parts.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            raise ConfigError("REDIS_URL: a sentinel port is not a number") from None
        hosts.append((parts.hostname, port))
        db = int(path) if path else 0
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if first is None:
            first = (db, user, password)
        elif path and db != first[0]:
            raise ConfigError(
                "REDIS_URL: sentinel URLs name different databases; kombu reads the first"
            )
    if first is None:
        raise ConfigError("REDIS_URL: no sentinel host given")
    return SentinelUrl(tuple(hosts), *first)


def sentinel_master(settings: Settings) -> str:
    if not settings.sentinel_master:
        raise ConfigError("OTPQ_SENTINEL_MASTER must name the master when REDIS_URL is sentinel://")
    return settings.sentinel_master


def sentinel_kwargs(settings: Settings, timeout: float | None = None) -> dict[str, Any]:
    """Connection options for the sentinels themselves (not the data nodes)."""
    timeout = settings.redis_timeout if timeout is None else timeout
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if settings.sentinel_password:
        options["password"] = settings.sentinel_password
    tls = redis_tls(settings)
    if tls:
        options.update(ssl=True, **tls)
    return options


def _options(
    settings: Settings,
    *,
    pool_size: int | None,
    decode: bool,
    timeout: float | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    timeout = settings.redis_timeout if timeout is None else timeout
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": decode,
        **extra,
    }
    if pool_size is not None:
        options["max_connections"] = pool_size
    return options


def redis_client(
    settings: Settings,
    *,
    pool_size: int | None = None,
    decode: bool = False,
    timeout: float | None = None,
    **extra: Any,
) -> redis.Redis:
    """A client for the Redis that `settings.redis_url` names (its master, for Sentinel).

    `extra` goes to redis-py as is (`retry`, `health_check_interval`, ...)."""
    options = _options(settings, pool_size=pool_size, decode=decode, timeout=timeout, extra=extra)
    tls = redis_tls(settings)
    if is_sentinel(settings.redis_url):
        url = parse_sentinel_url(settings.redis_url)
        if tls:
            options.update(connection_class=redis.sentinel.SentinelManagedSSLConnection, **tls)
        sentinel = redis.sentinel.Sentinel(
            list(url.hosts), sentinel_kwargs=sentinel_kwargs(settings, timeout)
        )
        return sentinel.master_for(
            sentinel_master(settings),
            redis_class=redis.Redis,
            db=url.db,
            username=url.username,
            password=url.password,
            **options,
        )
    return redis.Redis.from_url(settings.redis_url, **options, **(tls or {}))


def async_redis_client(
    settings: Settings,
    *,
    pool_size: int | None = None,
    decode: bool = False,
    timeout: float | None = None,
    **extra: Any,
) -> redis.asyncio.Redis:
    """The `redis.asyncio` twin of `redis_client`: same URLs, TLS and timeouts."""
    options = _options(settings, pool_size=pool_size, decode=decode, timeout=timeout, extra=extra)
    tls = redis_tls(settings)
    if is_sentinel(settings.redis_url):
        url = parse_sentinel_url(settings.redis_url)
        if tls:
            options.update(
                connection_class=redis.asyncio.sentinel.SentinelManagedSSLConnection, **tls
            )
        sentinel = redis.asyncio.sentinel.Sentinel(
            list(url.hosts), sentinel_kwargs=sentinel_kwargs(settings, timeout)
        )
        return sentinel.master_for(
            sentinel_master(settings),
            redis_class=redis.asyncio.Redis,
            db=url.db,
            username=url.username,
            password=url.password,
            **options,
        )
    return redis.asyncio.Redis.from_url(settings.redis_url, **options, **(tls or {}))
