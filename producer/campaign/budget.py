"""The checks a campaign passes before its first message is queued, so that it is
refused whole rather than half sent.

- Deadline: every bulk job must be sent within OTPQ_BULK_DEADLINE of being queued, at
  OTPQ_SEND_RATE for the whole fleet. The campaign's new rows, behind whatever the bulk
  lane already holds, must fit: (backlog + rows) / rate <= deadline.
- Daily cap: OTPQ_DAILY_SEND_CAP sends per UTC day, fleet-wide. The worker counts every
  send outside a campaign; a campaign reserves all its rows at once when it starts (so
  two campaigns started together cannot both fit in the last slot), and gives back what
  it did not queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from otpq_core.outcomes import OtpqError


class CampaignRefused(OtpqError):
    """Nothing was queued. `kind` says which check refused: `deadline`, `daily_cap`,
    `invalid_rows` (with `strict`), `cancelled`, or `file`."""

    reason = "refused"

    def __init__(self, kind: str, detail: str, report: Any = None) -> None:
        super().__init__(detail, kind)
        self.kind = kind
        self.report = report


@dataclass(frozen=True)
class Budget:
    send_rate: float
    bulk_deadline: float
    daily_cap: int | None

    def seconds_needed(self, rows: int, backlog: int = 0) -> float:
        """Seconds the fleet needs to send `rows` behind `backlog` (0 when unlimited)."""
        return (backlog + rows) / self.send_rate if self.send_rate > 0 else 0.0

    def check_deadline(self, rows: int, backlog: int) -> None:
        needed = self.seconds_needed(rows, backlog)
        if needed <= self.bulk_deadline:
            return
        over = needed - self.bulk_deadline
        fits = max(0, math.floor(self.bulk_deadline * self.send_rate) - backlog)
        behind = f" behind {backlog:,} jobs already on the bulk lane" if backlog else ""
        raise CampaignRefused(
            "deadline",
            f"{rows:,} rows{behind} need {_duration(needed)} at OTPQ_SEND_RATE="
            f"{self.send_rate:g}/s, {_duration(over)} more than OTPQ_BULK_DEADLINE="
            f"{_duration(self.bulk_deadline)}: {rows - fits:,} rows too many "
            f"(at most {fits:,} fit)",
        )

    def refuse_daily(self, rows: int, used: int) -> CampaignRefused:
        assert self.daily_cap is not None
        over = used + rows - self.daily_cap
        return CampaignRefused(
            "daily_cap",
            f"{rows:,} rows would exceed OTPQ_DAILY_SEND_CAP={self.daily_cap:,} by {over:,} "
            f"({used:,} already sent or reserved today, UTC)",
        )


def _duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
