"""worker.events: every task event Flower consumes is scrubbed, whoever sent it, and
Flower's own event state keeps only the scrubbed form."""

from __future__ import annotations

import pytest

from worker import events

DEST = "+14255550142"
OTP = "493817"
PLAIN_KWARGS = repr({"destination": DEST, "otp": OTP, "brand_name": "B", "source": "S"})


def test_task_sent_from_a_plain_client_is_scrubbed() -> None:
    clean = events.scrub_event(
        {
            "type": "task-sent",
            "uuid": "u-1",
            "name": "otp.verify",
            "args": repr([DEST, OTP]),
            "kwargs": PLAIN_KWARGS,
            "routing_key": "otp.interactive",
        }
    )
    assert clean["args"] == "<2 args redacted>"
    assert clean["kwargs"] == repr(
        {"destination": "+1********42", "otp": "<redacted>", "brand_name": "B", "source": "S"}
    )
    assert clean["routing_key"] == "otp.interactive" and clean["name"] == "otp.verify"
    assert DEST not in repr(clean) and OTP not in repr(clean)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ("()", "()"),
        ("[]", "()"),
        ((DEST,), "<1 args redacted>"),
        ("<3 args redacted>", "<3 args redacted>"),  # the worker's own form is kept
        (f"['{DEST}'] <1 args redacted>", events.UNREADABLE),  # a forged suffix is not
        (f"['{DEST}', '{OTP}', ...", events.UNREADABLE),  # saferepr truncation
        (None, None),
    ],
)
def test_args_show_only_their_count(args: object, shown: object) -> None:
    assert events.scrub_args(args) == shown


@pytest.mark.parametrize(
    "kwargs",
    [
        PLAIN_KWARGS[:40] + "...",  # truncated by saferepr: unparseable, so not shown
        f"dict(destination='{DEST}')",  # not a literal
        f"{{'destination': __import__('os').system('{DEST}')}}",  # never evaluated
    ],
)
def test_unreadable_kwargs_are_not_shown(kwargs: str) -> None:
    assert events.scrub_kwargs(kwargs) == events.UNREADABLE


def test_kwargs_as_values_from_old_clients_are_scrubbed() -> None:
    shown = events.scrub_kwargs({"destination": DEST, "otp": OTP})
    assert shown == repr({"destination": "+1********42", "otp": "<redacted>"})


def test_scrubbing_is_idempotent_on_the_workers_own_events() -> None:
    once = events.scrub_event({"type": "task-received", "args": "()", "kwargs": PLAIN_KWARGS})
    assert events.scrub_event(once) == once


@pytest.mark.parametrize("field", ["result", "exception", "traceback"])
def test_free_text_fields_are_masked(field: str) -> None:
    clean = events.scrub_event({"type": "task-failed", field: f"ValueError('{DEST} refused')"})
    assert clean[field] == "ValueError('+1********42 refused')"


def test_worker_events_pass_unchanged() -> None:
    heartbeat = {"type": "worker-heartbeat", "hostname": "general@h", "active": 2}
    assert events.scrub_event(heartbeat) == heartbeat


def test_flower_state_keeps_only_scrubbed_args() -> None:
    pytest.importorskip("flower")
    from flower.events import EventsState

    assert events.install_flower_filter() is True
    assert events.install_flower_filter() is True  # idempotent: wrapped once
    assert EventsState.event.otpq_scrubbed is True
    state = EventsState(max_tasks_in_memory=100)
    base = {"uuid": "u-1", "hostname": "elsewhere@h", "clock": 1, "local_received": 1.0}
    received = {**base, "type": "task-received", "timestamp": 1.0, "name": "otp.verify"}
    state.event({**received, "args": "()", "kwargs": PLAIN_KWARGS})
    done = {**base, "type": "task-succeeded", "timestamp": 1.5, "clock": 2, "runtime": 0.1}
    state.event({**done, "result": "{'valid': False}"})
    # A client's task-sent arriving after the end still overwrites args under Celery's
    # merge rules (checked without the filter: the raw number and code come back).
    sent = {**base, "type": "task-sent", "timestamp": 2.0, "clock": 3, "name": "otp.verify"}
    state.event({**sent, "args": repr([]), "kwargs": PLAIN_KWARGS})
    task = state.tasks["u-1"]
    assert task.state == "SUCCESS"
    assert "+1********42" in task.kwargs and "<redacted>" in task.kwargs
    assert DEST not in repr(task.as_dict()) and OTP not in repr(task.as_dict())
    hits = state.search_engine.search(state.tasks, f"kwargs:{OTP}")
    assert not list(hits.task_ids)


def test_celery_event_monitor_and_dumper_see_scrubbed_events() -> None:
    import io

    from celery.events.dumper import Dumper
    from celery.events.state import State

    assert events.install_event_filters()
    raw = {
        "type": "task-sent", "uuid": "2f0c1234-1234-5678-9abc-123456789012",
        "name": "otp.verify", "args": "()", "hostname": "client", "timestamp": 1.0,
        "kwargs": repr({"destination": "+14255550142", "otp": "804137"}), "clock": 1,
        "local_received": 1.0,
    }  # fmt: skip
    state = State()
    state.event(dict(raw))
    task = state.tasks[raw["uuid"]]
    assert "804137" not in task.kwargs and "5550142" not in task.kwargs
    out = io.StringIO()
    Dumper(out=out).on_event(dict(raw))
    printed = out.getvalue()
    assert "otp.verify" in printed and "804137" not in printed and "5550142" not in printed
