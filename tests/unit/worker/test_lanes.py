"""worker/lanes.py: the order a worker asks Redis in, and the slots it keeps for logins."""

from __future__ import annotations

import pytest

from worker.lanes import LaneCycle, is_bulk, order, reserved_slots


def test_interactive_then_celery_then_others_then_bulk() -> None:
    queues = ["otp.bulk", "celery", "reports", "otp.interactive"]
    assert order(queues) == ["otp.interactive", "celery", "reports", "otp.bulk"]


@pytest.mark.parametrize(
    ("slots", "configured", "kept"),
    [
        (1, None, 0),  # solo: its one slot cannot be kept from bulk work
        (2, None, 1),
        (4, None, 1),
        (16, None, 4),
        (128, None, 32),
        (8, 3, 3),
        (8, 0, 0),
        (8, 50, 7),  # never every slot: bulk work keeps one
    ],
)
def test_reserved_slots(slots: int, configured: int | None, kept: int) -> None:
    assert reserved_slots(slots, configured) == kept


def test_a_message_is_bulk_by_its_routing_key() -> None:
    assert is_bulk({"exchange": "otp.interactive", "routing_key": "otp.bulk"})
    assert not is_bulk({"exchange": "otp.bulk", "routing_key": "otp.interactive"})
    assert not is_bulk(None)


def test_the_cycle_leaves_bulk_out_only_when_full_and_never_rotates() -> None:
    full = [False]
    cycle = LaneCycle(lambda: full[0])
    cycle.update(["otp.bulk", "otp.interactive", "celery"])
    assert not cycle.hold_back()
    assert cycle.consume(3) == ["otp.interactive", "celery", "otp.bulk"]
    cycle.rotate("otp.interactive")
    assert cycle.consume(3) == ["otp.interactive", "celery", "otp.bulk"]
    full[0] = True
    assert cycle.hold_back()
    assert cycle.consume(3) == ["otp.interactive", "celery"]


def test_a_bulk_only_worker_never_leaves_its_only_queue_out() -> None:
    cycle = LaneCycle(lambda: True)
    cycle.update(["otp.bulk"])
    assert not cycle.hold_back()
    assert cycle.consume(1) == ["otp.bulk"]
