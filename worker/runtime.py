"""Per-process resources: one boto3 client, one Redis pool, built on first use.

Built lazily (not at import), so they are sized from the worker's real concurrency
(worker/pools.py, known once the worker has started) and the hot path never sets up a
connection per job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from otpq_core.redis_factory import redis_client
from otpq_core.settings import Settings
from worker import pools
from worker.abuse import Abuse
from worker.autopipe import AutoPipeline
from worker.claims import JobClaims
from worker.code_origins import CodeOrigins
from worker.gateways import Gateway, build_gateway
from worker.ratelimit import RateLimiter
from worker.throttle import Throttle
from worker.unsealing import Unsealer


@dataclass
class Runtime:
    settings: Settings
    #: Most AWS calls this process makes at once: a boto3 client's connection pool must
    #: hold that many, or urllib3 opens and throws away a connection per extra call.
    pool_size: int = 16

    @cached_property
    def redis(self) -> redis.Redis:
        return redis_client(
            self.settings,
            health_check_interval=25,
            # Few, quick retries: the limiter must answer (or fail) fast, not after
            # redis-py's default ten reconnect attempts.
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 2),
        )

    @cached_property
    def autopipe(self) -> AutoPipeline:
        return AutoPipeline(self.redis)

    @cached_property
    def gateway(self) -> Gateway:
        """The gateway new sends go through (OTPQ_BACKEND)."""
        return self.gateway_for(self.settings.backend)

    def gateway_for(self, backend: str) -> Gateway:
        """A backend's gateway, built on first use: a verify goes to the backend that
        sent its code, which after a switch is not the current one."""
        gateways = self.__dict__.setdefault("_gateways", {})
        if backend not in gateways:
            gateways[backend] = build_gateway(self.settings, backend, pool_size=self.pool_size)
        return gateways[backend]  # type: ignore[no-any-return]

    @cached_property
    def origins(self) -> CodeOrigins:
        return CodeOrigins(self.abuse.hasher, self.autopipe)

    @cached_property
    def throttle(self) -> Throttle:
        return Throttle(RateLimiter(self.redis, autopipe=self.autopipe), self.settings)

    @cached_property
    def claims(self) -> JobClaims:
        return JobClaims.from_settings(self.redis, self.settings, self.autopipe)

    @cached_property
    def abuse(self) -> Abuse:
        return Abuse(self.redis, self.settings, self.autopipe)

    @cached_property
    def sealer(self) -> Unsealer:
        return Unsealer(self.settings.otp_keys)


_current: tuple[int, Runtime] | None = None


def aws_calls_at_once(settings: Settings, slots: int) -> int:
    """A worker's jobs (its slots) plus the rows of `otp.send_batch` (their own pool)."""
    return slots + settings.batch_concurrency


def runtime(settings: Settings) -> Runtime:
    """This process's runtime, sized from the worker's pool (worker/pools.py)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        size = aws_calls_at_once(settings, pools.current().slots)
        _current = (os.getpid(), Runtime(settings, size))
    return _current[1]
