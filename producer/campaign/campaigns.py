"""`Campaigns`: start a bulk verification campaign, watch it, cancel it, export it.

    campaigns = Campaigns.from_env()
    report = campaigns.start(rows, brand_name="ExampleCorp", source="Reverify2026")
    campaigns.status(report.campaign_id).sent

The facade over the parts: start.py (checking and pushing a file's rows), budget.py
(admission), report.py (the report, status, cancel and export), ledger.py (the
campaign's record in Redis).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import redis

from otpq_core.campaign_ids import campaign_id
from otpq_core.redis_factory import redis_client
from otpq_core.settings import BATCH_MAX_ROWS, DEFAULT_CAMPAIGN_BATCH_SIZE, Settings
from otpq_core.wire import BULK
from producer.campaign import report as reports
from producer.campaign import start as starting
from producer.campaign.budget import Budget, CampaignRefused
from producer.campaign.ledger import Ledger
from producer.campaign.parallel import processes_for
from producer.campaign.report import (
    CampaignStatus,
    StartReport,
    UnknownCampaign,
    cancel_bound,
    redis_errors,
)
from producer.campaign.rows import BadFile, numbered, read_csv
from producer.campaign.start import Progress
from producer.requests import SendRequest

__all__ = [
    "CampaignStatus",
    "Campaigns",
    "Progress",
    "StartReport",
    "UnknownCampaign",
    "cancel_bound",
]

#: A number that is always valid, to check brand and source once rather than per row.
_PROBE = "+14255550142"


class Campaigns:
    """Bulk campaigns over one Redis connection pool. Thread-safe; one per process."""

    def __init__(self, settings: Settings | None = None, *, client: redis.Redis | None = None):
        self.settings = settings or Settings.from_env()
        self.redis = client or redis_client(self.settings)
        self.ledger = Ledger(self.redis, self.settings.hash_key)
        self.budget = Budget(
            self.settings.send_rate, self.settings.bulk_deadline, self.settings.daily_send_cap
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Campaigns:
        return cls(Settings.from_env(env))

    def close(self) -> None:
        self.redis.close()

    # -- start ------------------------------------------------------------------

    def start(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        brand_name: str,
        source: str,
        name: str = "",
        strict: bool = False,
        progress: Progress | None = None,
        batch_size: int = DEFAULT_CAMPAIGN_BATCH_SIZE,
    ) -> StartReport:
        """Queue one OTP per row (dicts with `destination` and optionally `language`,
        `code_length`, `validity_period`, `reference_id`). Rows are numbered from 1 in
        the report. `batch_size` rows travel per `otp.send_batch` message (1: one
        `otp.send` message per row). Raises `CampaignRefused` (nothing queued) or
        `InvalidRequest` for a bad brand or source."""
        return self._start(numbered(rows), brand_name, source, name, strict, progress, batch_size)

    def start_csv(
        self,
        path: str | Path,
        *,
        brand_name: str,
        source: str,
        name: str = "",
        strict: bool = False,
        progress: Progress | None = None,
        batch_size: int = DEFAULT_CAMPAIGN_BATCH_SIZE,
    ) -> StartReport:
        """`start` from a CSV file; invalid rows are reported by their line in the file."""
        try:
            processes = processes_for(Path(path).stat().st_size)
            return self._start(
                read_csv(path), brand_name, source, name, strict, progress, batch_size, processes
            )
        except (BadFile, OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CampaignRefused("file", f"{Path(path).name}: {exc}") from None

    def _start(
        self,
        rows: Iterable[tuple[int, Any]],
        brand_name: str,
        source: str,
        name: str,
        strict: bool,
        progress: Progress | None,
        batch_size: int = DEFAULT_CAMPAIGN_BATCH_SIZE,
        processes: int = 1,
    ) -> StartReport:
        if not 1 <= batch_size <= BATCH_MAX_ROWS:
            raise CampaignRefused("batch_size", f"must be from 1 to {BATCH_MAX_ROWS}")
        SendRequest(destination=_PROBE, brand_name=brand_name, source=source)
        cid = campaign_id(brand_name, source, name)
        report = StartReport(cid, brand_name, source, name)
        with redis_errors(), tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            if self.ledger.is_cancelled(cid):
                raise CampaignRefused(
                    "cancelled", f"campaign {cid} was cancelled; start it under another name"
                )
            starting.check(
                self.ledger, rows, report, spool, progress, processes, self.settings.otp_keys
            )
            if strict and report.invalid:
                raise CampaignRefused(
                    "invalid_rows",
                    f"{report.invalid:,} invalid rows and --strict: nothing queued",
                    report,
                )
            if report.new == 0:
                return report
            backlog = int(self.redis.llen(BULK))
            report.seconds_needed = self.budget.seconds_needed(report.new, backlog)
            self.budget.check_deadline(report.new, backlog)
            granted, used = self.ledger.reserve(report.new, self.budget.daily_cap)
            if not granted:
                raise self.budget.refuse_daily(report.new, used)
            try:
                self.ledger.record_start(
                    cid,
                    {"id": cid, "brand_name": brand_name, "source": source, "name": name},
                    self.settings.campaign_ttl,
                )
                starting.push(
                    self.ledger,
                    spool,
                    report,
                    progress,
                    batch_size=batch_size,
                    bulk_deadline=self.settings.bulk_deadline,
                    ttl=self.settings.campaign_ttl,
                )
            finally:
                # Rows another start queued first (or a failure) leave reservation unused.
                self.ledger.release(report.new - report.enqueued)
        return report

    # -- watch, cancel, export ----------------------------------------------------

    def row_job_id(self, campaign: str, destination: str) -> str:
        """The job id of `destination`'s row in `campaign` (to poll it with OtpClient)."""
        return self.ledger.row_job_id(campaign, destination)

    def status(self, campaign: str) -> CampaignStatus:
        return reports.status(self.ledger, campaign)

    def cancel(self, campaign: str, *, wait: float | None = None) -> CampaignStatus:
        """Stop every row not yet at AWS, then wait for the rows already there.

        Setting the mark is enough for the rows not yet claimed: a worker checks it in the
        same atomic step that claims a row (worker/ratelimit/script.py), so no row claims
        after this. Rows claimed before it are in the campaign's in-flight register until
        their outcome is recorded; this returns once none claimed within `cancel_bound`
        (one AWS call's timeouts plus margin: an older claim's call is over, or its worker
        died) is left, or after `wait` seconds if that is shorter. `in_flight` on the
        status returned counts the rows whose outcome is still not recorded then: 0
        normally; otherwise each reached AWS at most once and ends sent, failed or
        `uncertain`. Rows not yet reached end `cancelled` as workers reach them. A
        cancelled campaign cannot be restarted."""
        return reports.cancel(self.ledger, self.settings, campaign, wait)

    def export(self, campaign: str, out: IO[str], *, unmasked: bool = False) -> int:
        """Write one CSV row per number with its outcome; returns the number of rows.
        Numbers are masked unless `unmasked`. Row order is Redis's, not the file's (the
        `line` column gives the file's)."""
        return reports.export(
            self.ledger, campaign, out, unmasked=unmasked, keys=self.settings.otp_keys
        )
