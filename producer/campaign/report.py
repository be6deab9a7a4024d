"""What a campaign did and is doing: the start's report, the status counts, cancel
(which reports the rows still at AWS) and the per-row export."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import redis
from cryptography.fernet import MultiFernet

from otpq_core.campaign_ids import is_campaign_id
from otpq_core.outcomes import OtpqError
from otpq_core.redaction import mask_number, redact_text
from otpq_core.sealing import is_sealed, keyring, open_at_rest
from otpq_core.settings import Settings
from producer.campaign.ledger import Ledger
from producer.campaign.rows import InvalidRow
from producer.client import BrokerUnavailable

#: How often `cancel` looks again at the rows still at AWS.
CANCEL_POLL = 0.02
#: Added to one AWS call's connect and read timeouts: the longest a live worker holds
#: a send's claim (worker/claims.py CALL_MARGIN, the same figure).
CALL_MARGIN = 2.0


def cancel_bound(settings: Settings) -> float:
    """The longest `cancel` waits for the rows already at AWS (9 s by default)."""
    return settings.connect_timeout + settings.read_timeout + CALL_MARGIN


class UnknownCampaign(OtpqError, LookupError):
    reason = "unknown"


@dataclass
class StartReport:
    """What a start did. `enqueued` rows were queued now; the skipped ones were already
    queued or sent by an earlier start, or repeated in this input."""

    campaign_id: str
    brand_name: str
    source: str
    name: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    invalid_rows: list[InvalidRow] = field(default_factory=list)
    new: int = 0
    enqueued: int = 0
    skipped_existing: int = 0
    skipped_duplicate: int = 0
    seconds_needed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "brand_name": self.brand_name,
            "source": self.source,
            "name": self.name,
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "invalid_rows": [row.to_dict() for row in self.invalid_rows],
            "enqueued": self.enqueued,
            "skipped_existing": self.skipped_existing,
            "skipped_duplicate": self.skipped_duplicate,
            "seconds_needed": round(self.seconds_needed, 1),
        }


@dataclass(frozen=True)
class CampaignStatus:
    """Counts by state. Rows: queued (not finished yet) + sent + expired + limited +
    cancelled + failed = total. Answers, per destination: verified (a valid code, counted
    once) and rejected (only wrong codes so far)."""

    campaign_id: str
    brand_name: str
    source: str
    name: str
    cancelled: bool
    counts: Mapping[str, int]
    #: Set by `Campaigns.cancel` only: rows still at AWS when it returned (0 unless it
    #: gave up waiting for them after `cancel_bound`).
    in_flight: int | None = None

    def count(self, name: str) -> int:
        return int(self.counts.get(name, 0))

    total = property(lambda self: self.count("total"))
    queued = property(lambda self: self.count("queued"))
    sent = property(lambda self: self.count("sent"))
    expired = property(lambda self: self.count("expired"))
    limited = property(lambda self: self.count("limited"))
    cancelled_rows = property(lambda self: self.count("cancelled"))
    verified = property(lambda self: self.count("verified"))
    rejected = property(lambda self: self.count("rejected"))
    retries = property(lambda self: self.count("retries"))

    @property
    def failed(self) -> dict[str, int]:
        """Failed sends by reason (rejected, gave_up, uncertain, invalid, error)."""
        return {
            k.split(":", 1)[1]: v for k, v in sorted(self.counts.items()) if k.startswith("failed:")
        }

    @property
    def done(self) -> bool:
        """Every row has finished sending (answers may still arrive)."""
        return self.queued == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "brand_name": self.brand_name,
            "source": self.source,
            "name": self.name,
            "cancelled": self.cancelled,
            "done": self.done,
            "total": self.total,
            "queued": self.queued,
            "sent": self.sent,
            "failed": self.failed,
            "expired": self.expired,
            "limited": self.limited,
            "cancelled_rows": self.cancelled_rows,
            "verified": self.verified,
            "rejected": self.rejected,
            "retries": self.retries,
        } | ({} if self.in_flight is None else {"in_flight": self.in_flight})


@contextlib.contextmanager
def redis_errors() -> Iterator[None]:
    """Redis failures as `BrokerUnavailable`, their text redacted."""
    try:
        yield
    except redis.RedisError as exc:
        raise BrokerUnavailable(redact_text(f"campaign: Redis: {exc}")) from None


def status(ledger: Ledger, campaign: str) -> CampaignStatus:
    if not is_campaign_id(campaign):
        raise UnknownCampaign(f"{campaign[:40]!r} is not a campaign id")
    with redis_errors():
        meta, counts = ledger.meta_and_counts(campaign)
    if not meta:
        raise UnknownCampaign(f"no campaign {campaign}")
    return CampaignStatus(
        campaign_id=campaign,
        brand_name=meta.get("brand_name", ""),
        source=meta.get("source", ""),
        name=meta.get("name", ""),
        cancelled="cancelled" in meta,
        counts=counts,
    )


def cancel(
    ledger: Ledger, settings: Settings, campaign: str, wait: float | None = None
) -> CampaignStatus:
    """`Campaigns.cancel` (its docstring says what it guarantees)."""
    status(ledger, campaign)
    bound = cancel_bound(settings)
    give_up = time.monotonic() + (bound if wait is None else min(wait, bound))
    with redis_errors():
        ledger.cancel(campaign)
        while ledger.in_flight(campaign, bound) and time.monotonic() < give_up:
            time.sleep(CANCEL_POLL)
        left = ledger.in_flight(campaign)
    return dataclasses.replace(status(ledger, campaign), in_flight=left)


def export(
    ledger: Ledger,
    campaign: str,
    out: IO[str],
    *,
    unmasked: bool = False,
    keys: tuple[str, ...] = (),
) -> int:
    """`Campaigns.export`: one CSV row per number with its outcome; returns the count.
    Numbers rest sealed (or only masked): `unmasked` opens them with `keys`."""
    ring = keyring(keys)
    status(ledger, campaign)
    writer = csv.writer(out)
    writer.writerow(["line", "destination", "reference_id", "job_id", "state", "reason", "answer"])
    written = 0
    with redis_errors():
        for row in ledger.rows(campaign):
            state, _, reason = row["state"].partition(":")
            destination = _shown_number(ring, row["destination"], unmasked=unmasked)
            writer.writerow(
                [
                    row["line"],
                    destination,
                    row["reference_id"],
                    row["job_id"],
                    state,
                    reason,
                    row["answer"],
                ]
            )
            written += 1
    return written


def _shown_number(ring: MultiFernet | None, stored: str, *, unmasked: bool) -> str:
    """An export's destination column: the number opened, or masked."""
    if unmasked:
        return open_at_rest(ring, stored)
    if not is_sealed(stored):
        return stored  # kept masked already
    return mask_number(open_at_rest(ring, stored)) if ring else "<sealed>"
