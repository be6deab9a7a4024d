"""worker.broker's Channel keeps one Redis client per connection pool, puts back a
message whose delivery a lost connection cut short, and does without an event loop what
kombu leaves to one (gevent workers): acks wait for a connection, a freed slot wakes
the consumer."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.message import Message
from kombu.transport import redis as kombu_redis

from tests.helpers import wait_until
from worker.broker import Channel


def test_one_client_per_pool_and_a_new_one_when_the_pool_changes(redis_url: str) -> None:
    with Connection(redis_url, transport="worker.broker:Transport") as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first
        with channel.conn_or_acquire() as client:
            assert client is first
            assert client.ping()
        channel._pool = None  # what kombu does when the connection is lost
        second = channel._create_client()
        assert second is not first
        assert second.connection_pool is channel.pool
        assert second.ping()


def test_messages_still_flow_through_the_cached_client(redis_url: str) -> None:
    with Connection(redis_url, transport="worker.broker:Transport") as conn:
        queue = conn.SimpleQueue("otpq-transport-check")
        for i in range(3):
            queue.put({"n": i})
        got = [queue.get(timeout=5) for _ in range(3)]
        for message in got:
            message.ack()
        assert sorted(m.payload["n"] for m in got) == [0, 1, 2]
        queue.close()


def test_a_message_whose_unacked_record_failed_is_put_back(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops between kombu's BRPOP and its unacked record (a failover's
    killed clients): the popped message is neither queued nor unacked. It goes back."""
    original = kombu_redis.QoS.append
    calls = []

    def cut_once(self: kombu_redis.QoS, message: object, delivery_tag: str) -> None:
        calls.append(delivery_tag)
        if len(calls) == 1:
            raise redis.ConnectionError("Connection closed by server.")
        original(self, message, delivery_tag)

    monkeypatch.setattr(kombu_redis.QoS, "append", cut_once)
    with Connection(redis_url, transport="worker.broker:Transport") as conn:
        queue = conn.SimpleQueue("otpq-putback-check")
        queue.put({"n": 1})
        with pytest.raises(redis.ConnectionError):
            queue.get(timeout=5)
        lists = redis.Redis.from_url(redis_url)
        assert lists.llen("otpq-putback-check") == 0 and not lists.hlen("unacked")
        again = queue.get(timeout=5)
        assert again.payload == {"n": 1} and again.delivery_info["redelivered"] is True
        again.ack()
        assert len(calls) == 2 and lists.llen("otpq-putback-check") == 0
        lists.close()
        queue.close()


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run `work` in a daemon thread; its return value or exception lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # the test asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_an_ack_waits_for_a_free_connection_instead_of_failing(redis_url: str) -> None:
    """Under gevent every task greenlet acks on its own: more acks at once than the
    channel has connections. One that finds them all in use waits for one; it used to
    fail ("Too many connections"), leaving its message unacked and its slot taken."""
    options = {"max_connections": 2}
    with Connection(
        redis_url, transport="worker.broker:Transport", transport_options=options
    ) as conn:
        queue = conn.SimpleQueue("otpq-ack-waits")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        pool = conn.default_channel.pool
        held = [pool.get_connection() for _ in range(2)]  # every connection busy
        acking, outcome = _in_thread(message.ack)

        def waiting() -> bool:
            freed = getattr(pool, "_freed", None)  # a pool that waits has a condition
            return not acking.is_alive() or bool(freed and freed._waiters)

        wait_until(waiting, what="the ack to wait for a connection (or give up)")
        for connection in held:
            pool.release(connection)
        acking.join(timeout=30)
        assert outcome == [None], outcome
        assert not redis.Redis.from_url(redis_url).hlen("unacked")
        queue.close()


def test_a_consumer_with_every_slot_taken_resumes_when_one_is_acked(redis_url: str) -> None:
    """Without an event loop (gevent) the consumer calls drain_events in a loop. With
    its one prefetch slot taken, kombu polled an idle socket for the whole timeout
    whatever was acked meanwhile; now the ack wakes it and the next message comes."""
    with Connection(redis_url, transport="worker.broker:Transport") as conn:
        channel = conn.default_channel
        channel.basic_qos(0, 1, False)
        got: list[Message] = []
        consumer = conn.Consumer(
            [Queue("otpq-credit", Exchange("otpq-credit"), "otpq-credit")],
            callbacks=[lambda _body, message: got.append(message)],
            channel=channel,
        )
        consumer.consume()
        producer = conn.Producer(channel=channel)
        for n in (1, 2):
            producer.publish({"n": n}, exchange="otpq-credit", routing_key="otpq-credit")
        conn.drain_events(timeout=5)
        assert [m.payload["n"] for m in got] == [1]
        # Far longer than the test waits: only a freed slot can end this drain in time.
        draining, outcome = _in_thread(lambda: conn.drain_events(timeout=90))
        wait_until(lambda: channel.qos._delivered and not channel.qos.can_consume())
        got[0].ack()
        wait_until(lambda: len(got) == 2, what="the second message after the first's ack")
        draining.join(timeout=30)
        assert outcome == [None], outcome
        got[1].ack()
        consumer.cancel()
