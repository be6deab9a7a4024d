"""worker.broker's Channel keeps one Redis client per connection pool."""

from __future__ import annotations

from kombu import Connection

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
