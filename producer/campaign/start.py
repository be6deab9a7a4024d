"""Starting a campaign: check a file's rows, then push the ones the campaign lacks.

A start streams its input twice without holding it: the first pass (`check`) checks
every row with `SendRequest` and spools the valid ones to an unnamed temporary file,
while Redis counts which are new; the caller then checks the budgets; only then does
the second pass (`push`) build the messages and push them, a chunk per Redis call.
Memory stays at one chunk whatever the size of the input.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import IO, Any

from otpq_core import campaign_keys as keys
from otpq_core.campaign_ids import row_job_id
from otpq_core.keys import KeyHasher
from otpq_core.redaction import ROWS_SHOWN, redact_kwargs
from otpq_core.sealing import keyring, seal_at_rest
from otpq_core.wire import BULK
from producer.campaign.ledger import Ledger
from producer.campaign.messages import batch_message, batch_row, origin, send_message
from producer.campaign.parallel import ordered_map
from producer.campaign.report import StartReport
from producer.campaign.rows import InvalidRow, parse_row
from producer.refid import shown_ref_id

#: Rows per Redis call, in both passes: big enough to amortise the round trip, small
#: enough that a chunk of messages (~1.3 KB each) stays a couple of MB.
CHUNK_ROWS = 1000
#: Invalid rows reported in detail; the rest are counted.
INVALID_ROWS_KEPT = 1000

_SEP = "\x1f"  # never in validated text (a control character) nor in JSON output

#: progress(phase, done, total): phase "checking" (total unknown) or "queueing".
Progress = Callable[[str, int, int | None], None]

#: A spooled row: job id, reference key, numbers entry, kwargs JSON, kwargs repr JSON.
Row = tuple[str, str, str, str, str]


def check(
    ledger: Ledger,
    rows: Iterable[tuple[int, Any]],
    report: StartReport,
    spool: IO[str],
    progress: Progress | None,
    processes: int = 1,
    keys_for_rest: tuple[str, ...] = (),
) -> None:
    """First pass: validate, spool the valid rows, count new/existing/duplicate
    (the checking in `processes` processes: producer/campaign/parallel.py). Each row's
    number is kept for `export --unmasked` sealed under `keys_for_rest` (OTPQ_OTP_KEYS),
    or only masked without keys."""
    cid = report.campaign_id
    plan = keys.plan_key(cid, uuid.uuid4().hex)
    chunk: list[str] = []
    work = functools.partial(
        check_rows,
        cid,
        report.brand_name,
        report.source,
        hasher=ledger.hasher,
        otp_keys=keys_for_rest,
    )

    def count() -> None:
        new, existing, dup = ledger.plan(cid, plan, chunk)
        report.new += new
        report.skipped_existing += existing
        report.skipped_duplicate += dup
        chunk.clear()

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
                count()
                if progress:
                    progress("checking", report.rows, None)
        if chunk:
            count()
        if progress:
            progress("checking", report.rows, report.rows)
    finally:
        ledger.drop_plan(plan)


def check_rows(
    cid: str,
    brand_name: str,
    source: str,
    rows: list[tuple[int, Any]],
    *,
    hasher: KeyHasher,
    otp_keys: tuple[str, ...] = (),
) -> list[InvalidRow | tuple[str, str]]:
    """The first pass's work for some rows: each is invalid, or its job id and spool line.
    A module-level function, so that worker processes can run it (producer/campaign/
    parallel.py)."""
    out: list[InvalidRow | tuple[str, str]] = []
    ring = keyring(otp_keys)
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
                [
                    seal_at_rest(ring, parsed.destination),
                    shown_ref_id(parsed.reference_id, parsed.ref_id),
                    line,
                ]
            ),
            json.dumps(kwargs),
            json.dumps(repr(redact_kwargs(kwargs))),
        )
        out.append((job, _SEP.join(fields) + "\n"))
    return out


def push(
    ledger: Ledger,
    spool: IO[str],
    report: StartReport,
    progress: Progress | None,
    *,
    batch_size: int,
    bulk_deadline: float,
    ttl: float,
) -> None:
    """Second pass: build the messages and queue the rows the campaign lacks, a chunk
    per Redis round trip. `batch_size` rows per `otp.send_batch` message; 1: one
    `otp.send` message per row. Each message's deadline is set as its chunk is built."""
    spool.seek(0)
    origin_json = json.dumps(origin())
    cid = report.campaign_id
    # Whole batches per chunk, so that only the file's last batch is short.
    chunk_rows = batch_size * -(-CHUNK_ROWS // batch_size)
    done = 0
    chunk: list[Row] = []

    def flush() -> None:
        nonlocal done
        deadline = time.time() + bulk_deadline
        if batch_size == 1:
            messages = [
                (job, number, ref, send_message(
                    job, kwargs_json, repr_json,
                    deadline=deadline, campaign=cid, origin_json=origin_json,
                ))
                for job, ref, number, kwargs_json, repr_json in chunk
            ]  # fmt: skip
            report.enqueued += ledger.enqueue(cid, BULK, messages, ttl)
        else:
            batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            report.enqueued += _enqueue_batches(ledger, cid, batches, deadline, origin_json, ttl)
        done += len(chunk)
        chunk.clear()

    for text in spool:
        job, ref, number, kwargs_json, repr_json = text.rstrip("\n").split(_SEP)
        chunk.append((job, ref, number, kwargs_json, repr_json))
        if len(chunk) >= chunk_rows:
            flush()
            if progress:
                progress("queueing", done, report.valid)
    if chunk:
        flush()
    if progress:
        progress("queueing", done, report.valid)
    # Rows a concurrent start of the same campaign queued first count as skipped.
    raced = report.new - report.enqueued
    if raced > 0:
        report.skipped_existing += raced


def _enqueue_batches(
    ledger: Ledger,
    cid: str,
    batches: list[list[Row]],
    deadline: float,
    origin_json: str,
    ttl: float,
) -> int:
    """Push batches until each is pushed or has no new row; returns the rows pushed. A
    batch holding a row the campaign already has (a concurrent start, or a repeated
    line) is rebuilt from its new rows."""
    pushed = 0
    while batches:
        built = [(b, _batch_message(cid, b, deadline, origin_json)) for b in batches]
        entries = [[(job, number, ref) for job, ref, number, _, _ in b] for b in batches]
        answers = ledger.enqueue_batches(
            cid, BULK, [(e, message) for e, (_, message) in zip(entries, built, strict=True)], ttl
        )
        batches = []
        for (batch, _), answer in zip(built, answers, strict=True):
            if isinstance(answer, int):
                pushed += answer
            elif answer:
                batches.append([batch[i] for i in answer])
    return pushed


def _batch_message(cid: str, rows: list[Row], deadline: float, origin_json: str) -> str:
    shown: list[Any] = [
        {"job_id": job, "kwargs": json.loads(kwargs_json)}
        for job, _, _, kwargs_json, _ in rows[:ROWS_SHOWN]
    ]
    if len(rows) > len(shown):
        shown.append(f"<{len(rows) - len(shown)} more rows>")
    return batch_message(
        str(uuid.uuid4()),
        [batch_row(job, kwargs_json) for job, _, _, kwargs_json, _ in rows],
        json.dumps(repr(redact_kwargs({"rows": shown}))),
        deadline=deadline,
        campaign=cid,
        origin_json=origin_json,
    )
