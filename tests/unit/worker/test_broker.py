"""worker/broker.py's read of a popped item, without a broker: only an item's own bytes
make it "not a message"; any other error is the connection's and is raised."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.broker import _Hardened


def channel_raising(error: BaseException) -> Any:
    class Kombu:
        def _brpop_read(self, **options: Any) -> bool:
            raise error

    class Channel(_Hardened, Kombu):
        pass

    return object.__new__(Channel)  # no kombu connection needed for this method


@pytest.mark.parametrize(
    "error",
    [
        json.JSONDecodeError("Expecting value", "x", 0),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
)
def test_an_item_that_is_not_a_message_is_dropped(error: BaseException) -> None:
    assert channel_raising(error)._brpop_read() is True


def test_a_closed_socket_is_not_taken_for_a_bad_item() -> None:
    with pytest.raises(ValueError, match="closed file"):
        channel_raising(ValueError("I/O operation on closed file"))._brpop_read()
