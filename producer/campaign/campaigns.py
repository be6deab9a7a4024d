"""`Campaigns`: start a bulk verification campaign, watch it, cancel it, export it.

    campaigns = Campaigns.from_env()
    report = campaigns.start(rows, brand_name="ExampleCorp", source="Reverify2026")
    campaigns.status(report.campaign_id).sent

A start streams its input twice without holding it: the first pass checks every row
with `SendRequest` and spools the valid ones to an unnamed temporary file, while Redis
counts which are new; then the budgets are checked; only then does the second pass
build the messages and push them, a chunk per Redis call. Memory stays at one chunk
whatever the size of the input.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from otpq_core import ledger as keys
from otpq_core.campaign_ids import campaign_id, is_campaign_id, row_job_id
from otpq_core.keys import KeyHasher
from otpq_core.ledger import Ledger
from otpq_core.outcomes import OtpqError
from otpq_core.redaction import ROWS_SHOWN, mask_number, redact_kwargs, redact_text
from otpq_core.redis_factory import redis_client
from otpq_core.settings import BATCH_MAX_ROWS, DEFAULT_CAMPAIGN_BATCH_SIZE, Settings
from otpq_core.wire import BULK
from producer.campaign.budget import Budget, CampaignRefused
from producer.campaign.messages import batch_message, batch_row, origin, send_message
from producer.campaign.parallel import ordered_map, processes_for
from producer.campaign.rows import BadFile, InvalidRow, numbered, parse_row, read_csv
from producer.client import BrokerUnavailable
from producer.refid import shown_ref_id
from producer.requests import SendRequest

#: Rows per Redis call, in both passes: big enough to amortise the round trip, small
#: enough that a chunk of messages (~1.3 KB each) stays a couple of MB.
CHUNK_ROWS = 1000
#: Invalid rows reported in detail; the rest are counted.
INVALID_ROWS_KEPT = 1000
#: A number that is always valid, to check brand and source once rather than per row.
_PROBE = "+14255550142"
#: How often `cancel` looks again at the rows still at AWS.
CANCEL_POLL = 0.02
#: Added to one AWS call's connect and read timeouts: the longest a live worker holds
#: a send's claim (worker/claims.py CALL_MARGIN, the same figure).
CALL_MARGIN = 2.0


def cancel_bound(settings: Settings) -> float:
    """The longest `cancel` waits for the rows already at AWS (9 s by default)."""
    return settings.connect_timeout + settings.read_timeout + CALL_MARGIN


_SEP = "\x1f"  # never in validated text (a control character) nor in JSON output

#: progress(phase, done, total): phase "checking" (total unknown) or "queueing".
Progress = Callable[[str, int, int | None], None]


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
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise BrokerUnavailable(redact_text(f"campaign: Redis: {exc}")) from None


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
        with _redis_errors(), tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            if self.ledger.is_cancelled(cid):
                raise CampaignRefused(
                    "cancelled", f"campaign {cid} was cancelled; start it under another name"
                )
            self._check(rows, report, spool, progress, processes)
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
                if batch_size > 1:
                    self._push_batches(cid, spool, report, progress, batch_size)
                else:
                    self._push(cid, spool, report, progress)
            finally:
                # Rows another start queued first (or a failure) leave reservation unused.
                self.ledger.release(report.new - report.enqueued)
        return report

    def _check(
        self,
        rows: Iterable[tuple[int, Any]],
        report: StartReport,
        spool: IO[str],
        progress: Progress | None,
        processes: int = 1,
    ) -> None:
        """First pass: validate, spool the valid rows, count new/existing/duplicate
        (the checking in `processes` processes: producer/campaign/parallel.py)."""
        cid = report.campaign_id
        plan = keys.plan_key(cid, uuid.uuid4().hex)
        chunk: list[str] = []
        work = functools.partial(
            check_rows, cid, report.brand_name, report.source, hasher=self.ledger.hasher
        )
        try:
            for checked in ordered_map(work, rows, processes):
                report.rows += 1
                if isinstance(checked, InvalidRow):
                    report.invalid += 1
                    if len(report.invalid_rows) < INVALID_ROWS_KEPT:
                        report.invalid_rows.append(checked)
                    continue
                report.valid += 1
                job, spooled = checked
                spool.write(spooled)
                chunk.append(job)
                if len(chunk) >= CHUNK_ROWS:
                    self._count(cid, plan, chunk, report)
                    if progress:
                        progress("checking", report.rows, None)
            if chunk:
                self._count(cid, plan, chunk, report)
            if progress:
                progress("checking", report.rows, report.rows)
        finally:
            self.ledger.drop_plan(plan)

    def _count(self, cid: str, plan: str, chunk: list[str], report: StartReport) -> None:
        new, existing, dup = self.ledger.plan(cid, plan, chunk)
        report.new += new
        report.skipped_existing += existing
        report.skipped_duplicate += dup
        chunk.clear()

    def _push(
        self, cid: str, spool: IO[str], report: StartReport, progress: Progress | None
    ) -> None:
        """Second pass: build the messages and queue the rows the campaign lacks."""
        spool.seek(0)
        origin_json = json.dumps(origin())
        ttl = self.settings.campaign_ttl
        done = 0
        chunk: list[tuple[str, str, str, str]] = []
        deadline = time.time() + self.settings.bulk_deadline
        for text in spool:
            job, ref, number, kwargs_json, repr_json = text.rstrip("\n").split(_SEP)
            message = send_message(
                job,
                kwargs_json,
                repr_json,
                deadline=deadline,
                campaign=cid,
                origin_json=origin_json,
            )
            chunk.append((job, number, ref, message))
            if len(chunk) >= CHUNK_ROWS:
                report.enqueued += self.ledger.enqueue(cid, BULK, chunk, ttl)
                done += len(chunk)
                chunk.clear()
                deadline = time.time() + self.settings.bulk_deadline
                if progress:
                    progress("queueing", done, report.valid)
        if chunk:
            report.enqueued += self.ledger.enqueue(cid, BULK, chunk, ttl)
            done += len(chunk)
        _finish_push(report, done, progress)

    def _push_batches(
        self,
        cid: str,
        spool: IO[str],
        report: StartReport,
        progress: Progress | None,
        batch_size: int,
    ) -> None:
        """Second pass, batched: `batch_size` rows per `otp.send_batch` message, a chunk
        of messages per Redis round trip. A batch holding a row the campaign already has
        (a concurrent start, or a repeated line) is rebuilt from its new rows."""
        spool.seek(0)
        origin_json = json.dumps(origin())
        ttl = self.settings.campaign_ttl
        done = 0
        rows: list[tuple[str, str, str, str]] = []  # job, numbers entry, ref key, kwargs
        pending: list[list[tuple[str, str, str, str]]] = []
        for text in spool:
            job, ref, number, kwargs_json, _ = text.rstrip("\n").split(_SEP)
            rows.append((job, number, ref, kwargs_json))
            if len(rows) >= batch_size:
                pending.append(rows)
                rows = []
            if len(pending) * batch_size >= CHUNK_ROWS:
                done += self._enqueue_batches(cid, pending, report, origin_json, ttl)
                pending = []
                if progress:
                    progress("queueing", done, report.valid)
        if rows:
            pending.append(rows)
        if pending:
            done += self._enqueue_batches(cid, pending, report, origin_json, ttl)
        _finish_push(report, done, progress)

    def _enqueue_batches(
        self,
        cid: str,
        batches: list[list[tuple[str, str, str, str]]],
        report: StartReport,
        origin_json: str,
        ttl: float,
    ) -> int:
        """Push batches until each is pushed or has no new row; returns rows handled."""
        handled = sum(len(batch) for batch in batches)
        deadline = time.time() + self.settings.bulk_deadline
        while batches:
            built = [(b, self._batch_message(cid, b, deadline, origin_json)) for b in batches]
            answers = self.ledger.enqueue_batches(
                cid, BULK, [([r[:3] for r in b], message) for b, message in built], ttl
            )
            batches = []
            for (batch, _), answer in zip(built, answers, strict=True):
                if isinstance(answer, int):
                    report.enqueued += answer
                elif answer:
                    batches.append([batch[i] for i in answer])
        return handled

    @staticmethod
    def _batch_message(
        cid: str, rows: list[tuple[str, str, str, str]], deadline: float, origin_json: str
    ) -> str:
        shown: list[Any] = [
            {"job_id": job, "kwargs": json.loads(kwargs_json)}
            for job, _, _, kwargs_json in rows[:ROWS_SHOWN]
        ]
        if len(rows) > len(shown):
            shown.append(f"<{len(rows) - len(shown)} more rows>")
        return batch_message(
            str(uuid.uuid4()),
            [batch_row(job, kwargs_json) for job, _, _, kwargs_json in rows],
            json.dumps(repr(redact_kwargs({"rows": shown}))),
            deadline=deadline,
            campaign=cid,
            origin_json=origin_json,
        )

    # -- watch, cancel, export ----------------------------------------------------

    def row_job_id(self, campaign: str, destination: str) -> str:
        """The job id of `destination`'s row in `campaign` (to poll it with OtpClient)."""
        return self.ledger.row_job_id(campaign, destination)

    def status(self, campaign: str) -> CampaignStatus:
        if not is_campaign_id(campaign):
            raise UnknownCampaign(f"{campaign[:40]!r} is not a campaign id")
        with _redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(keys.meta_key(campaign))
            pipe.hgetall(keys.counts_key(campaign))
            meta_raw, counts_raw = pipe.execute()
        if not meta_raw:
            raise UnknownCampaign(f"no campaign {campaign}")
        meta = {k.decode(): v.decode() for k, v in meta_raw.items()}
        return CampaignStatus(
            campaign_id=campaign,
            brand_name=meta.get("brand_name", ""),
            source=meta.get("source", ""),
            name=meta.get("name", ""),
            cancelled="cancelled" in meta,
            counts={k.decode(): int(v) for k, v in counts_raw.items()},
        )

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
        self.status(campaign)
        bound = cancel_bound(self.settings)
        give_up = time.monotonic() + (bound if wait is None else min(wait, bound))
        with _redis_errors():
            self.ledger.cancel(campaign)
            while self.ledger.in_flight(campaign, bound) and time.monotonic() < give_up:
                time.sleep(CANCEL_POLL)
            left = self.ledger.in_flight(campaign)
        return dataclasses.replace(self.status(campaign), in_flight=left)

    def export(self, campaign: str, out: IO[str], *, unmasked: bool = False) -> int:
        """Write one CSV row per number with its outcome; returns the number of rows.
        Numbers are masked unless `unmasked`. Row order is Redis's, not the file's (the
        `line` column gives the file's)."""
        self.status(campaign)
        writer = csv.writer(out)
        writer.writerow(
            ["line", "destination", "reference_id", "job_id", "state", "reason", "answer"]
        )
        written = 0
        with _redis_errors():
            for row in self.ledger.rows(campaign):
                state, _, reason = row["state"].partition(":")
                destination = row["destination"] if unmasked else mask_number(row["destination"])
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


def _finish_push(report: StartReport, done: int, progress: Progress | None) -> None:
    """Close a push pass: a last progress tick, and rows a concurrent start of the same
    campaign queued first counted as skipped."""
    if progress:
        progress("queueing", done, report.valid)
    raced = report.new - report.enqueued
    if raced > 0:
        report.skipped_existing += raced


def check_rows(
    cid: str, brand_name: str, source: str, rows: list[tuple[int, Any]], *, hasher: KeyHasher
) -> list[InvalidRow | tuple[str, str]]:
    """The first pass's work for some rows: each is invalid, or its job id and spool line.
    A module-level function, so that worker processes can run it (producer/campaign/
    parallel.py)."""
    out: list[InvalidRow | tuple[str, str]] = []
    for line, row in rows:
        parsed = parse_row(line, row, brand_name, source)
        if isinstance(parsed, InvalidRow):
            out.append(parsed)
            continue
        job = row_job_id(cid, parsed.destination, hasher)
        kwargs = parsed.to_kwargs()
        fields = (
            job,
            keys.ref_key(parsed.ref_id, hasher),
            json.dumps(
                [parsed.destination, shown_ref_id(parsed.reference_id, parsed.ref_id), line]
            ),
            json.dumps(kwargs),
            json.dumps(repr(redact_kwargs(kwargs))),
        )
        out.append((job, _SEP.join(fields) + "\n"))
    return out
