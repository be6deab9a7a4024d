"""A one-line progress bar on stderr, redrawn in place; hand-written (no dependency for
twenty lines).

A rate (and the ETA computed from it) is shown only once it means something: after
`RATE_AFTER` seconds. Over a few milliseconds a small file would read as millions of
rows per second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Redraws per second at most: drawing is slower than queueing a chunk.
REDRAW_INTERVAL = 0.1
BAR_WIDTH = 30
#: Seconds of observation before a rate is shown.
RATE_AFTER = 1.0


class ProgressBar:
    """`bar(phase, done, total)` as a `Progress` callback; `total=None` shows a count."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started: dict[str, float] = {}
        self.drawn = 0.0
        self.phase: str | None = None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        start = self.started.setdefault(phase, now)
        final = total is not None and done >= total
        if phase == self.phase and not final and now - self.drawn < REDRAW_INTERVAL:
            return
        if self.phase is not None and phase != self.phase:
            self.stream.write("\n")
        self.phase, self.drawn = phase, now
        self.stream.write("\r" + render(phase, done, total, now - start) + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.phase is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.phase = None


def rate_of(done: float, elapsed: float) -> float | None:
    """Rows per second, or None while too little time has passed to tell."""
    return done / elapsed if elapsed >= RATE_AFTER else None


def eta_text(left: float, rate: float | None) -> str:
    """`ETA 1m05s` for `left` rows at `rate`; empty when the rate is not known yet."""
    if rate is None or rate <= 0 or left <= 0:
        return ""
    seconds = int(left / rate + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"ETA {hours}h{minutes:02d}m"
    return f"ETA {minutes}m{secs:02d}s" if minutes else f"ETA {secs}s"


def render(phase: str, done: int, total: int | None, elapsed: float) -> str:
    rate = rate_of(done, elapsed)
    speed = f"{rate:,.0f} rows/s" if rate is not None else ""
    if not total:
        return f"{phase:<9} {done:>11,} rows  {speed}".rstrip()
    share = min(1.0, done / total)
    filled = int(share * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    eta = eta_text(total - done, rate)
    return f"{phase:<9} [{bar}] {share:4.0%} {done:,}/{total:,}  {speed}  {eta}".rstrip()


class Watch:
    """`campaign status --watch`: one line redrawn in place on a terminal, a line per
    change otherwise (a log, a pipe), each with an ETA once the rate is known."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.first: tuple[float, int] | None = None
        self.shown: str | None = None

    def show(self, line: str, *, finished: int, left: int, now: float | None = None) -> None:
        """`line` plus an ETA from how fast `finished` rows grew since the first call."""
        now = time.monotonic() if now is None else now
        if self.first is None:
            self.first = (now, finished)
        start, base = self.first
        eta = eta_text(left, rate_of(finished - base, now - start)) if finished > base else ""
        text = f"{line} | {eta}" if eta else line
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        elif text != self.shown:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = text

    def close(self) -> None:
        if self.tty and self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()
