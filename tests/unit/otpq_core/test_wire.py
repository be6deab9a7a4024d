"""Defaults defined once: the deadline (producer and worker) and the first-wins rule
(the producer's guards and the worker's admission script)."""

from __future__ import annotations

import fakeredis
import pytest

from otpq_core import cooldown
from otpq_core.settings import Settings
from otpq_core.wire import BULK, INTERACTIVE, UNROUTED, default_deadline
from producer.guards import first_wins
from worker.sliding_windows import SlidingWindows

pytest.importorskip("lupa")

SETTINGS = Settings.from_env({"OTPQ_INTERACTIVE_DEADLINE": "30", "OTPQ_BULK_DEADLINE": "900"})


def test_the_deadline_default_is_the_lanes() -> None:
    assert default_deadline(INTERACTIVE, SETTINGS) == 30
    assert default_deadline(BULK, SETTINGS) == 900
    assert default_deadline(UNROUTED, SETTINGS) == 30  # run as interactive


def test_producer_and_worker_share_one_cooldown_rule() -> None:
    r = fakeredis.FakeRedis()
    key = "otpq:cooldown:test"
    # The producer takes it first; the worker's admission script sees that holder.
    assert first_wins(r, key, "job-1", 30) is None
    verdict = SlidingWindows(r).admit("otpq:sends:test", "job-2", (), cooldown=(key, 30))
    assert verdict.cooldown_holder == "job-1"
    # And the other way round: the holder itself goes through, twice.
    assert SlidingWindows(r).admit("otpq:sends:t2", "job-3", (), cooldown=("k2", 30)).admitted
    assert cooldown.first_wins(r, "k2", "job-3", 30) is None
    assert cooldown.first_wins(r, "k2", "job-4", 30) == "job-3"
    assert 0 < r.pttl("k2") <= 30_000
