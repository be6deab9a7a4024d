"""Country allow and deny lists (OTPQ_ALLOWED_COUNTRIES / OTPQ_DENIED_COUNTRIES): SMS
pumping protection, applied by the producer before queueing and by the worker to jobs
enqueued by name, with one answer."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from otpq_core.outcomes import DestinationBlocked
from otpq_core.settings import Settings


@lru_cache(maxsize=4096)
def region_of(destination: str) -> str:
    """The region code (US, CA, GB…) of a validated E.164 number; "ZZ" when none."""
    number = phonenumbers.parse(destination, None)
    return phonenumbers.region_code_for_number(number) or "ZZ"


def check_country(destination: str, settings: Settings) -> None:
    """Raise DestinationBlocked if the number's country may not receive SMS."""
    if not settings.allowed_countries and not settings.denied_countries:
        return
    region = region_of(destination)
    if settings.allowed_countries and region not in settings.allowed_countries:
        raise DestinationBlocked("destination", f"country {region} is not allowed")
    if region in settings.denied_countries:
        raise DestinationBlocked("destination", f"country {region} is denied")
