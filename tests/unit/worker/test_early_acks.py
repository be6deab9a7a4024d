"""worker/early_acks.py: which deliveries are acked with their outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker import early_acks


class Pipe:
    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def zrem(self, key: str, member: str) -> None:
        self.commands.append(("zrem", key, member))

    def hdel(self, key: str, field: str) -> None:
        self.commands.append(("hdel", key, field))


@pytest.fixture(autouse=True)
def keys() -> Iterator[None]:
    early_acks.use_keys("unacked", "unacked_index")
    yield
    early_acks.forget_keys()


def test_an_ack_is_queued_as_kombu_writes_it() -> None:
    pipe = Pipe()
    assert early_acks.ack_into(pipe, "tag-1")
    assert pipe.commands == [("zrem", "unacked_index", "tag-1"), ("hdel", "unacked", "tag-1")]


def test_nothing_is_queued_without_a_tag_or_without_the_consumers_keys() -> None:
    pipe = Pipe()
    assert not early_acks.ack_into(pipe, None)
    early_acks.forget_keys()
    assert not early_acks.ack_into(pipe, "tag-2")
    assert pipe.commands == []


def test_only_a_delivery_marked_acked_skips_its_ack_and_only_once() -> None:
    assert not early_acks.take("tag-3")
    early_acks.acked("tag-3")
    assert early_acks.take("tag-3")
    assert not early_acks.take("tag-3")
