"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
and Jitter"): spreads a fleet's retries so they do not arrive in waves."""

from __future__ import annotations

import random


def full_jitter(retries: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `retries + 1`: uniform(0, min(cap, base * 2**retries))."""
    ceiling = min(cap, base * (2 ** min(retries, 32)))
    return (rng or random).uniform(0, ceiling)
