"""Which Celery pools otpq's worker runs on, and how many jobs a worker process holds.

otpq's jobs spend their time waiting (for Redis, for a rate-limit token, for AWS), so
one process runs many at once:

- `threads` (the default): supported, recommended for every profile.
- `gevent` (installed with `otpq[worker]`): supported, greenlets instead of threads.
- `solo`: supported, one job at a time (debugging, the smallest deployments).
- `prefork` (`processes`): refused. Every child would keep its own Prometheus registry
  (the worker's `/metrics` would count none of its jobs), boto3 client and Redis pools,
  for work that only waits: run one `-P threads` worker process per core instead.
- `eventlet`: refused. Deprecated by its own maintainers, who ask users to move off
  it, and never tested with otpq: `-P gevent` gives green threads.
- anything else (`custom`): refused; otpq's guarantees are tested on the pools above.

Celery keeps a worker's real concurrency on the worker itself: `-c N` on the command
line is not written into `app.conf.worker_concurrency`, which stays at the app's
default. `adopt` reads it where Celery does (the worker's `concurrency`, or
`max_concurrency` under `--autoscale`), once the worker has resolved it, and the
process's pools are sized from that: boto3's connections (worker/runtime.py), kombu's
broker connections and Celery's publishing pool (`broker_connections`), and the
interactive reservation (worker/lanes.py).

`-P prefork` needs its own check: when an app configures `worker_pool`, Celery's command
line takes an explicit `-P prefork` for its own default and quietly runs the app's pool
instead, so the refusal reads the command line too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery.concurrency import ALIASES

#: The pools otpq runs on.
SUPPORTED = ("threads", "gevent", "solo")
#: Why each refused pool is refused; the message also says which pools to use.
REFUSED = {
    "prefork": "each child process would keep its own metrics, boto3 client and Redis "
    "pools for work that only waits; run one `-P threads` worker process per core",
    "eventlet": "eventlet is deprecated by its maintainers and untested with otpq; "
    "use `-P gevent` for green threads",
}
#: Slots per process until the worker says otherwise (the app's `worker_concurrency`).
DEFAULT_SLOTS = 16
#: Broker connections a worker needs beside its slots' (the consumer's BRPOP, sweeps of
#: the unacked set, events); kombu's own default pool holds 10 in all.
BROKER_MARGIN = 8


class UnsupportedPool(SystemExit):
    """The worker was started on a pool otpq does not run on. A SystemExit, because
    Celery logs and ignores any other exception raised by a signal handler."""


@dataclass(frozen=True)
class Pool:
    """The pool a worker process runs jobs on, and how many it runs at once."""

    name: str
    slots: int

    @property
    def broker_connections(self) -> int:
        """kombu's connection pool: each slot may ack or publish a retry at once (under
        gevent every task acks on its own greenlet), plus the consumer's own needs."""
        return max(10, self.slots + BROKER_MARGIN)


_current = Pool("threads", DEFAULT_SLOTS)


def current() -> Pool:
    """The running worker's pool (the app's defaults before `adopt`)."""
    return _current


def pool_name(pool_cls: Any) -> str:
    """Celery's alias for a pool given as an alias, a `module:Class` path or a class."""
    if isinstance(pool_cls, type):
        target = f"{pool_cls.__module__}:{pool_cls.__qualname__}"
    else:
        target = str(pool_cls)
        if target in ALIASES:
            target = ALIASES[target] or target
    for alias, path in ALIASES.items():
        if path == target:
            return "prefork" if alias == "processes" else alias
    return target


def asked_pool(argv: Sequence[str]) -> str | None:
    """The pool named on the command line (`-P x`, `-Px`, `--pool x`, `--pool=x`)."""
    for i, arg in enumerate(argv):
        if arg in ("-P", "--pool"):
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("--pool="):
            return arg.partition("=")[2]
        if arg.startswith("-P") and not arg.startswith("--"):
            return arg[2:]
    return None


def check(pool_cls: Any, argv: Sequence[str]) -> str:
    """The pool's name, or `UnsupportedPool` saying which pools to use."""
    asked = asked_pool(argv)
    name = pool_name(asked) if asked else pool_name(pool_cls)
    if name in SUPPORTED:
        return name
    why = REFUSED.get(name, "otpq's guarantees are tested on threads, gevent and solo only")
    said = asked if asked and asked in ALIASES else name  # `-P processes` is prefork
    raise UnsupportedPool(
        f"otpq worker: the {said!r} pool is not supported: {why}. "
        f"Use -P threads (the default), -P gevent or -P solo."
    )


def slots_of(worker: Any, name: str) -> int:
    """Jobs the worker runs at once, read where Celery keeps it."""
    if name == "solo":
        return 1
    # Under --autoscale=MAX,MIN the pool grows to MAX, whatever `concurrency` (the app's
    # default) says; Celery sets max_concurrency only then.
    ceiling = int(getattr(worker, "max_concurrency", 0) or 0)
    if ceiling:
        return ceiling
    return max(int(getattr(worker, "concurrency", 0) or 0), 1)


def adopt(worker: Any) -> Pool:
    """Record the started worker's pool and slots (once its concurrency is resolved)."""
    global _current
    name = pool_name(getattr(worker, "pool_cls", "threads"))
    _current = Pool(name, slots_of(worker, name))
    return _current
