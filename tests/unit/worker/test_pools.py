"""worker/pools.py: which pools a worker starts on, and its real concurrency."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency.gevent import TaskPool as GeventPool
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadPool

from worker import pools


@pytest.mark.parametrize(
    ("argv", "asked"),
    [
        (["celery", "-A", "worker", "worker", "-P", "gevent"], "gevent"),
        (["celery", "worker", "-Pprefork"], "prefork"),
        (["celery", "worker", "--pool", "solo"], "solo"),
        (["celery", "worker", "--pool=eventlet"], "eventlet"),
        (["celery", "worker", "-c", "4"], None),
    ],
)
def test_the_pool_asked_on_the_command_line(argv: list[str], asked: str | None) -> None:
    assert pools.asked_pool(argv) == asked


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("threads", "threads"),
        (ThreadPool, "threads"),
        (GeventPool, "gevent"),
        (PreforkPool, "prefork"),
        ("processes", "prefork"),
        ("celery.concurrency.solo:TaskPool", "solo"),
    ],
)
def test_pool_names(given: object, name: str) -> None:
    assert pools.pool_name(given) == name


@pytest.mark.parametrize("pool", ["threads", "gevent", "solo"])
def test_supported_pools_start(pool: str) -> None:
    assert pools.check("threads", ["celery", "worker", "-P", pool]) == pool


@pytest.mark.parametrize(
    ("pool", "why"),
    [("prefork", "per core"), ("processes", "per core"), ("eventlet", "deprecated")],
)
def test_refused_pools_say_which_to_use(pool: str, why: str) -> None:
    with pytest.raises(pools.UnsupportedPool) as refused:
        pools.check("threads", ["celery", "worker", "-P", pool])
    message = str(refused.value)
    assert why in message and "-P threads" in message and "-P gevent" in message
    assert f"the {pool!r} pool" in message  # as typed: `processes` is not renamed


def test_an_explicit_prefork_is_refused_though_celery_would_run_the_apps_pool() -> None:
    """Celery's CLI turns `-P prefork` into the app's `worker_pool` (threads) silently."""
    with pytest.raises(pools.UnsupportedPool):
        pools.check(ThreadPool, ["celery", "-A", "worker", "worker", "-P", "prefork"])


def test_a_pool_configured_without_the_command_line_is_checked_too() -> None:
    with pytest.raises(pools.UnsupportedPool):
        pools.check(PreforkPool, ["celery", "-A", "worker", "worker"])
    assert pools.check("threads", ["celery", "-A", "worker", "worker"]) == "threads"


def test_slots_come_from_the_worker_not_the_apps_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pools, "_current", pools.current())  # restored after the test
    worker = SimpleNamespace(pool_cls=ThreadPool, concurrency=40, max_concurrency=None)
    assert pools.adopt(worker) == pools.Pool("threads", 40)
    assert pools.current() == pools.Pool("threads", 40)
    autoscaled = SimpleNamespace(pool_cls=GeventPool, concurrency=10, max_concurrency=200)
    assert pools.adopt(autoscaled) == pools.Pool("gevent", 200)
    # --autoscale=10,2 under the app's default of 16: the pool never exceeds 10.
    below_default = SimpleNamespace(pool_cls=ThreadPool, concurrency=16, max_concurrency=10)
    assert pools.adopt(below_default) == pools.Pool("threads", 10)
    solo = SimpleNamespace(pool_cls="solo", concurrency=8, max_concurrency=None)
    assert pools.adopt(solo) == pools.Pool("solo", 1)
