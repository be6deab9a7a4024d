"""`otp.send_batch` refuses a malformed batch whole, before any row runs or any
connection is made, and names what was wrong without echoing a number; each row of a
live batch starts within a window that ends it before the visibility timeout."""

from __future__ import annotations

from dataclasses import replace

import pytest

from otpq_core.outcomes import InvalidRequest
from otpq_core.settings import BATCH_MAX_ROWS, Settings
from worker.batch import send_batch, start_window


def refusal(*args: object, **kwargs: object) -> InvalidRequest:
    """Run the task in this process (no worker, no broker) and return what it raised."""
    result = send_batch.apply(args=args, kwargs=kwargs)
    assert result.state == "FAILURE"
    assert isinstance(result.result, InvalidRequest), result.result
    return result.result


@pytest.mark.parametrize(
    ("args", "kwargs", "field", "says"),
    [
        ((), {"rows": [{}] * (BATCH_MAX_ROWS + 1)}, "rows", f"at most {BATCH_MAX_ROWS}"),
        ((), {"rows": "+14255550142"}, "rows", "must be a list"),
        ((), {}, "rows", "must be a list"),
        (([],), {}, "args", "keyword arguments only"),
        ((), {"rows": [], "+14255550142": 1}, "+1********42", "unknown argument"),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    args: tuple[object, ...], kwargs: dict[str, object], field: str, says: str
) -> None:
    error = refusal(*args, **kwargs)
    assert error.field == field and says in str(error)
    assert "14255550142" not in str(error)


def test_rows_start_early_enough_to_end_before_half_the_visibility_timeout() -> None:
    settings = Settings.from_env({})
    hold = settings.max_capacity_wait + settings.connect_timeout + settings.read_timeout
    window = start_window(settings)
    assert window > 0
    assert window + hold == pytest.approx(settings.visibility_timeout / 2)
    # A hold longer than half the timeout leaves no window: rows are handed back at once.
    assert start_window(replace(settings, visibility_timeout=2 * hold - 1)) == 0.0
