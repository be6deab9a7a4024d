"""The shipped deployment files: valid, and every declared queue has a consumer."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from producer.celery_config import celery_config
from producer.lanes import INTERACTIVE, SERVED_QUEUES, UNROUTED
from producer.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def consumed_queues() -> dict[str, set[str]]:
    out = {}
    for name, service in compose()["services"].items():
        command = " ".join(service.get("command", []))
        match = re.search(r"celery -A worker worker .*?-Q (\S+)", command)
        if match:
            out[name] = set(match.group(1).split(","))
    return out


def test_compose_is_valid_yaml_with_the_stack() -> None:
    services = compose()["services"]
    assert {"redis", "sandbox", "worker", "worker-interactive", "flower"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "noeviction" in redis_cmd and "--appendonly yes" in redis_cmd


def test_every_declared_queue_has_a_consumer() -> None:
    declared = {q.name for q in celery_config(Settings())["task_queues"]}
    assert declared == set(SERVED_QUEUES)
    served = set().union(*consumed_queues().values())
    if INTERACTIVE in served:  # interactive workers also drain `celery` (worker/routing.py)
        served.add(UNROUTED)
    assert served >= declared


def test_an_interactive_only_profile_ships() -> None:
    assert {INTERACTIVE} in consumed_queues().values()
