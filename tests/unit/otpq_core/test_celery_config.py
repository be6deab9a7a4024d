"""The Celery configuration both sides build: what they must agree on (serializers,
lanes, visibility timeout, result lifetime) and what the producer overrides so a web
request fails fast instead of retrying for seconds."""

from __future__ import annotations

from otpq_core.celery_config import celery_config, lane_bindings, producer_config
from otpq_core.settings import Settings
from otpq_core.wire import BULK, INTERACTIVE, QUEUES, SEND_BATCH_TASK, SEND_TASK, UNROUTED

ENV = {
    "REDIS_URL": "redis://127.0.0.1:6390/3",
    "OTPQ_VISIBILITY_TIMEOUT": "90",
    "OTPQ_REDIS_TIMEOUT": "1.5",
}


def test_json_only_both_ways() -> None:
    config = celery_config(Settings.from_env(ENV))
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["accept_content"] == config["result_accept_content"] == ["json"]


def test_broker_and_results_on_the_configured_redis_with_its_timeouts() -> None:
    settings = Settings.from_env(ENV)
    config = celery_config(settings)
    assert config["broker_url"] == config["result_backend"] == ENV["REDIS_URL"]
    for options in (config["broker_transport_options"], config["result_backend_transport_options"]):
        assert options["visibility_timeout"] == 90
        assert options["socket_timeout"] == options["socket_connect_timeout"] == 1.5
    assert config["result_expires"] == int(settings.result_ttl)
    assert "broker_use_ssl" not in config  # a plain redis:// URL


def test_each_lane_has_its_own_exchange_and_key_and_celery_is_served() -> None:
    config = celery_config(Settings.from_env(ENV))
    queues = {q.name: q for q in config["task_queues"]}
    assert set(queues) == {INTERACTIVE, BULK, UNROUTED}
    for name, queue in queues.items():
        assert (queue.exchange.name, queue.routing_key, queue.exchange.type) == (
            name,
            name,
            "direct",
        )
    assert config["task_routes"][SEND_BATCH_TASK] == {"queue": BULK}
    assert config["task_routes"][SEND_TASK] == {"queue": config["task_default_queue"]}
    assert config["task_create_missing_queues"] is False


def test_every_lane_is_bound_on_every_lane_exchange_and_celerys_by_its_own_key() -> None:
    bindings = lane_bindings()
    assert len(bindings) == (len(QUEUES) + 1) * len(QUEUES)
    assert {exchange for exchange, _, _ in bindings} == {*QUEUES, "celery"}
    assert all(key == queue for _, key, queue in bindings)


def test_the_producer_makes_one_attempt_per_redis_operation() -> None:
    settings = Settings.from_env(ENV)
    shared, producer = celery_config(settings), producer_config(settings)
    assert producer["broker_transport_options"]["max_retries"] == 0
    assert producer["broker_transport_options"]["retry_on_timeout"] is False
    assert shared["broker_transport_options"]["retry_on_timeout"] is True  # the worker's
    assert producer["result_backend_transport_options"]["retry_policy"] == {"max_retries": 0}
    assert producer["result_backend_always_retry"] is False
    assert producer["task_publish_retry"] is False
    assert producer["result_backend"].startswith("producer.results:")
    assert producer["result_backend"].endswith("+" + ENV["REDIS_URL"])
    # The visibility timeout is the one thing both must agree on: the producer keeps it.
    assert producer["broker_transport_options"]["visibility_timeout"] == 90
