"""A one-line progress bar on stderr, redrawn in place; hand-written (no dependency for
twenty lines)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Redraws per second at most: drawing is slower than queueing a chunk.
REDRAW_INTERVAL = 0.1
BAR_WIDTH = 30


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
        self.stream.write("\r" + render(phase, done, total, now - start))
        self.stream.flush()

    def close(self) -> None:
        if self.phase is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.phase = None


def render(phase: str, done: int, total: int | None, elapsed: float) -> str:
    rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 else ""
    if not total:
        return f"{phase:<9} {done:>11,} rows  {rate}"
    share = min(1.0, done / total)
    filled = int(share * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"{phase:<9} [{bar}] {share:4.0%} {done:,}/{total:,}  {rate}"
