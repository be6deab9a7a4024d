"""deploy/prometheus: valid YAML with the expected structure, and every alert asks for
series and label values that otpq and Flower really export. promtool, when installed,
checks the PromQL and runs alerts_test.yml."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from otpq_core.outcomes import REASONS
from otpq_core.wire import QUEUES, SEND_TASK, VERIFY_TASK
from tests.helpers import ROOT
from worker import metrics

PROMETHEUS = ROOT / "deploy" / "prometheus"
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"\d+[smhd]")
SELECTOR = re.compile(r"\b((?:otpq|flower)_[a-z_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')

#: otpq's series: name -> label names, as the worker exports them.
OTPQ_LABELS: dict[str, tuple[str, ...]] = {
    "otpq_jobs_total": tuple(metrics.JOBS._labelnames),
    "otpq_retries_total": tuple(metrics.RETRIES._labelnames),
    "otpq_verifications_total": tuple(metrics.VERIFICATIONS._labelnames),
    "otpq_throttled_total": tuple(metrics.THROTTLED._labelnames),
    "otpq_queue_length": ("lane",),
    **{
        f"{histogram._name}{suffix}": (*histogram._labelnames, *extra)
        for histogram in (metrics.PINPOINT_SECONDS, metrics.RATELIMIT_WAIT)
        for suffix, extra in (("_bucket", ("le",)), ("_count", ()), ("_sum", ()))
    },
}
#: The closed set of values each otpq label takes.
LABEL_VALUES: dict[str, set[str]] = {
    "task": {SEND_TASK, VERIFY_TASK},
    "lane": {*QUEUES, metrics.OTHER},
    "outcome": {"succeeded", "failed"},
    "reason": {*REASONS, "error", metrics.NO_REASON},
    "operation": {*metrics.OPERATIONS, metrics.OTHER},
    "valid": {"true", "false"},
}


def load(name: str) -> Any:
    return yaml.safe_load((PROMETHEUS / name).read_text())


def rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]


def flower_series() -> set[str]:
    pytest.importorskip("flower")
    import prometheus_client
    from flower.events import get_prometheus_metrics

    get_prometheus_metrics()
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        if family.name.startswith("flower_"):
            names |= {family.name, f"{family.name}_total"}
            names |= {f"{family.name}{s}" for s in ("_bucket", "_count", "_sum")}
    return names


def test_alerts_file_has_groups_of_complete_rules() -> None:
    doc = load("alerts.yml")
    assert set(doc) == {"groups"}
    names = []
    for group in doc["groups"]:
        assert group["name"].startswith("otpq-") and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert re.fullmatch(r"Otpq[A-Z][A-Za-z]+", rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert rule["labels"]["severity"] in SEVERITIES
            assert rule["annotations"]["summary"]
            assert "for" not in rule or DURATION.fullmatch(rule["for"])
            names.append(rule["alert"])
    assert len(names) == len(set(names))


def test_the_alerts_operators_asked_for_exist() -> None:
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    assert (
        'outcome="failed"' in by_name["OtpqFailureRatioHigh"]
        and "/" in by_name["OtpqFailureRatioHigh"]
    )
    assert "otpq_throttled_total" in by_name["OtpqPinpointThrottling"]
    assert "otpq_queue_length" in by_name["OtpqInteractiveBacklog"]
    assert 'reason="gave_up"' in by_name["OtpqGivingUp"]


def test_every_series_and_label_value_exists() -> None:
    known_flower = flower_series()
    checked = 0
    for rule in rules():
        for name, matchers in SELECTOR.findall(rule["expr"]):
            checked += 1
            if name.startswith("flower_"):
                assert name in known_flower, (rule["alert"], name)
                continue
            assert name in OTPQ_LABELS, (rule["alert"], name)
            for label, op, value in MATCHER.findall(matchers):
                assert label in OTPQ_LABELS[name], (rule["alert"], name, label)
                if op == "=" and label in LABEL_VALUES:
                    assert value in LABEL_VALUES[label], (rule["alert"], label, value)
    assert checked >= len(rules())


def test_prometheus_config_loads_the_rules_and_scrapes_both_endpoints() -> None:
    config = load("prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    workers = jobs["otpq-worker"]["dns_sd_configs"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for service in workers["names"]:
        assert str(workers["port"]) == compose[service]["environment"]["OTPQ_METRICS_PORT"]
        assert re.search(r" -n \w+@%h", " ".join(compose[service]["command"]))
    # Flower reads its login from FLOWER_BASIC_AUTH (kept out of the command line).
    assert "FLOWER_BASIC_AUTH" in compose["flower"]["environment"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_checks_and_unit_tests_pass() -> None:
    for args in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        done = subprocess.run(
            ["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
