"""The shipped deployment files: valid, safe by default, and every queue has a consumer.

tests/system/test_compose.py runs the stack for real; these checks need no container engine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from otpq_core.celery_config import celery_config
from otpq_core.settings import Settings
from otpq_core.wire import INTERACTIVE, QUEUES, SERVED_QUEUES, UNROUTED
from tests.helpers import ROOT

COMPOSE_FILES = ["docker-compose.yml", "compose.sandbox.yml", "tests/system/compose.hostnet.yml"]
#: Variables that carry a secret: none may have a default in the production file.
CREDENTIAL = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|AUTH)")
#: Services that run once and exit (none today); every other one needs a healthcheck.
ONE_SHOT: set[str] = set()


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def compose() -> dict:
    return load("docker-compose.yml")


def merged(*names: str) -> dict[str, dict[str, Any]]:
    """Services as compose merges override files: maps merge, everything else replaces."""
    services: dict[str, dict[str, Any]] = {}
    for name in names:
        for service, config in load(name)["services"].items():
            into = services.setdefault(service, {})
            for key, value in config.items():
                if isinstance(value, dict) and isinstance(into.get(key), dict):
                    into[key] = {**into[key], **value}
                else:
                    into[key] = value
    return services


def consumed_queues() -> dict[str, set[str]]:
    out = {}
    for name, service in compose()["services"].items():
        command = " ".join(service.get("command", []))
        match = re.search(r"celery -A worker worker .*?-Q (\S+)", command)
        if match:
            out[name] = set(match.group(1).split(","))
    return out


def test_compose_is_valid_yaml_with_the_stack() -> None:
    services = merged("docker-compose.yml", "compose.sandbox.yml")
    assert {"redis", "sandbox", "worker", "worker-interactive", "flower", "prometheus"} <= set(
        services
    )
    redis_cmd = " ".join(services["redis"]["command"])
    assert "noeviction" in redis_cmd and "--appendonly yes" in redis_cmd
    assert services["prometheus"]["profiles"][0] == "prometheus"
    assert services["worker-interactive"]["profiles"] == ["interactive"]


def test_every_declared_queue_has_a_consumer() -> None:
    declared = {q.name for q in celery_config(Settings())["task_queues"]}
    assert declared == set(SERVED_QUEUES)
    served = set().union(*consumed_queues().values())
    if INTERACTIVE in served:  # interactive workers also drain `celery` (worker/routing.py)
        served.add(UNROUTED)
    assert served >= declared


def test_an_interactive_only_profile_ships() -> None:
    assert {INTERACTIVE} in consumed_queues().values()


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_service_installs_anything_at_start(name: str) -> None:
    for service, config in load(name)["services"].items():
        for key in ("command", "entrypoint"):
            words = config.get(key) or []
            line = words if isinstance(words, str) else " ".join(words)
            assert not re.search(r"\b(pip|apt-get|apk|uv)\b.*\binstall\b", line), (service, line)
        assert not any(":/src" in str(v) for v in config.get("volumes", [])), service


def test_every_long_running_service_has_a_healthcheck_restart_and_grace() -> None:
    for service, config in merged("docker-compose.yml", "compose.sandbox.yml").items():
        if service in ONE_SHOT:
            continue
        assert config.get("healthcheck", {}).get("test"), f"{service} has no healthcheck"
        assert config.get("restart") == "unless-stopped", service
    for worker in ("worker", "worker-interactive"):
        grace = merged("docker-compose.yml")[worker]["stop_grace_period"]
        assert int(grace.rstrip("s")) >= 30, "warm shutdown needs time to finish sends"


def test_no_credential_has_a_default_in_the_production_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    # ${VAR-x} and ${VAR:-x} with a non-empty x: a default. ${VAR:?msg} is a demand.
    for var, default in re.findall(r"\$\{(\w+):?-([^}]*)\}", text):
        assert not (CREDENTIAL.search(var) or var.startswith(("AWS_", "PINPOINT_"))), (
            var,
            default,
        )
    for service, config in compose()["services"].items():
        for var, value in (config.get("environment") or {}).items():
            if CREDENTIAL.search(var) or var.startswith(("AWS_", "PINPOINT_")):
                assert value is None or str(value).startswith(f"${{{var}:?"), (service, var)


def test_the_production_file_alone_talks_to_real_aws() -> None:
    """Leaving compose.sandbox.yml out is the whole switch: no sandbox URL to unset."""
    base = compose()
    assert "sandbox" not in base["services"]
    for service in ("worker", "worker-interactive", "flower"):
        env = base["services"][service]["environment"]
        assert env["AWS_ENDPOINT_URL_PINPOINT"] is None, service
    sandbox_env = merged("docker-compose.yml", "compose.sandbox.yml")["worker"]["environment"]
    assert sandbox_env["AWS_ENDPOINT_URL_PINPOINT"].startswith("http://sandbox:")


def test_flower_requires_auth() -> None:
    flower = compose()["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert not any("basic-auth" in word for word in flower["command"]), "keep it out of ps"
    for name in COMPOSE_FILES[1:]:
        override = load(name)["services"].get("flower", {})
        assert "FLOWER_BASIC_AUTH" not in (override.get("environment") or {}), name


def test_the_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*OTPQ_READY_FILE", text, re.M)
    assert "--no-index" in text and "requirements.lock" in text
    assert "!wheels/" in (ROOT / ".dockerignore").read_text()


def test_the_lock_pins_every_runtime_dependency() -> None:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"unpinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        dep for extra in ("worker", "flower") for dep in project["optional-dependencies"][extra]
    ]
    for dep in wanted:
        name = re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} missing from requirements.lock"


def k8s() -> list[dict[str, Any]]:
    kustomization = load("deploy/k8s/kustomization.yaml")
    docs = []
    for name in kustomization["resources"]:
        docs += [doc for doc in yaml.safe_load_all((ROOT / "deploy/k8s" / name).read_text())]
    return docs


def k8s_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in k8s() if doc["kind"] == kind}


def test_k8s_every_file_is_listed_and_every_container_has_probes() -> None:
    listed = set(load("deploy/k8s/kustomization.yaml")["resources"])
    assert listed == {p.name for p in (ROOT / "deploy/k8s").glob("*.yaml")} - {"kustomization.yaml"}
    deployments = k8s_kind("Deployment")
    assert {"otpq-worker-general", "otpq-worker-interactive", "otpq-flower"} <= set(deployments)
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        ), name
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["readinessProbe"] and container["livenessProbe"], name
            assert "install" not in " ".join(container.get("args", [])), name


def test_k8s_workers_consume_every_queue_read_the_ready_file_and_have_a_budget() -> None:
    deployments = k8s_kind("Deployment")
    budgets = k8s_kind("PodDisruptionBudget")
    consumed: set[str] = set()
    for name in ("otpq-worker-general", "otpq-worker-interactive"):
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        args = container["args"]
        consumed |= set(args[args.index("-Q") + 1].split(","))
        assert "OTPQ_READY_FILE" in " ".join(container["readinessProbe"]["exec"]["command"])
        assert pod["terminationGracePeriodSeconds"] >= 30
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert consumed >= set(QUEUES)
    ready_file = k8s_kind("ConfigMap")["otpq"]["data"]["OTPQ_READY_FILE"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(Path(ready_file).parent) in mounts, "the ready file needs a writable volume"


def test_k8s_keys_come_from_a_secret_and_flower_has_a_service() -> None:
    secrets = k8s_kind("Secret")
    assert set(secrets["otpq-keys"]["stringData"]) == {"OTPQ_OTP_KEYS", "OTPQ_HASH_KEY"}
    assert set(secrets["otpq-flower"]["stringData"]) == {"FLOWER_BASIC_AUTH"}
    config = k8s_kind("ConfigMap")["otpq"]["data"]
    assert not [key for key in config if CREDENTIAL.search(key)]
    flower = k8s_kind("Deployment")["otpq-flower"]["spec"]["template"]
    env = {e["name"]: e for e in flower["spec"]["containers"][0]["env"]}
    assert env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]["name"] == "otpq-flower"
    service = k8s_kind("Service")["otpq-flower"]
    assert service["spec"]["selector"].items() <= flower["metadata"]["labels"].items()
    assert service["spec"]["type"] == "ClusterIP"
