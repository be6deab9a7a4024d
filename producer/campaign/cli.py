"""`otpq campaign start|status|cancel|export`: bulk campaigns from a shell.

Registered by producer.cli; handlers take the `OtpClient` that `otpq` builds (for its
settings) and return the exit status: 0 done, 2 refused / bad input / no Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from otpq_core.settings import BATCH_MAX_ROWS, DEFAULT_CAMPAIGN_BATCH_SIZE
from producer.campaign.budget import CampaignRefused
from producer.campaign.campaigns import Campaigns, CampaignStatus, StartReport, UnknownCampaign
from producer.campaign.progress import ProgressBar, Watch
from producer.campaign.rows import BadFile, check_header
from producer.client import OtpClient

EXIT_OK, EXIT_USAGE = 0, 2
#: Invalid rows listed on stderr before the rest are only counted.
INVALID_ROWS_SHOWN = 50


def add_commands(commands: Any) -> None:
    """Add `campaign` and its subcommands to otpq's subparsers."""
    campaign = commands.add_parser(
        "campaign",
        help="bulk verification campaigns: one OTP per number of a CSV file",
        description="Queue one OTP per number of a file on the bulk lane, and follow it.",
    )
    sub = campaign.add_subparsers(dest="campaign_command", required=True, metavar="COMMAND")

    start = sub.add_parser(
        "start",
        help="check a CSV and queue its numbers",
        description=(
            "Check every row (columns: destination; optional language, code_length, "
            "validity_period, reference_id), report invalid ones by line, then queue the "
            "valid ones on the bulk lane. Starting the same campaign again queues only rows "
            "it does not have. Prints the campaign id."
        ),
    )
    start.add_argument("file", help="CSV file with a header line")
    start.add_argument("--brand", dest="brand_name", required=True, help="brand, max 20 chars")
    start.add_argument("--source", required=True, help="why the code is sent, e.g. Reverify2026")
    start.add_argument("--name", default="", help="tells apart campaigns of one brand and source")
    start.add_argument("--strict", action="store_true", help="queue nothing if any row is invalid")
    start.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    start.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_CAMPAIGN_BATCH_SIZE,
        help=f"rows per otp.send_batch message, 1-{BATCH_MAX_ROWS} "
        f"(default {DEFAULT_CAMPAIGN_BATCH_SIZE}; 1: one otp.send per row)",
    )
    start.add_argument("--json", action="store_true", help="print JSON")
    start.set_defaults(run=_start, preflight=_check_file)

    status = sub.add_parser("status", help="counts by state", description="Show a campaign.")
    status.add_argument("campaign_id")
    status.add_argument("--watch", action="store_true", help="refresh until every row is done")
    status.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    status.add_argument("--json", action="store_true", help="print JSON (one line per refresh)")
    status.set_defaults(run=_status)

    cancel = sub.add_parser(
        "cancel",
        help="stop every row not yet sent",
        description="No row that has not reached AWS is sent after this returns; it waits "
        "(bounded) for the rows already at AWS. Rows not yet sent end as 'cancelled' "
        "when a worker reaches them.",
    )
    cancel.add_argument("campaign_id")
    cancel.add_argument("--json", action="store_true", help="print JSON")
    cancel.set_defaults(run=_cancel)

    export = sub.add_parser(
        "export",
        help="write one CSV row per number with its outcome",
        description="Columns: line, destination, reference_id, job_id, state, reason, answer.",
    )
    export.add_argument("campaign_id")
    export.add_argument("out", help="output CSV file, or - for stdout")
    export.add_argument("--unmasked", action="store_true", help="full numbers (file mode 0600)")
    export.set_defaults(run=_export)


class FileRefused(ValueError):
    """The campaign file was refused before anything connected to Redis."""


def _check_file(args: argparse.Namespace) -> None:
    """The header line only, before `otpq` connects anywhere (rows.check_header)."""
    try:
        check_header(args.file)
    except (BadFile, OSError, UnicodeDecodeError) as exc:
        name = os.path.basename(args.file)
        raise FileRefused(f"campaign refused (file): {name}: {exc}") from None


def _start(client: OtpClient, args: argparse.Namespace) -> int:
    campaigns = Campaigns(client.settings)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar() if show else None
    try:
        report = campaigns.start_csv(
            args.file,
            brand_name=args.brand_name,
            source=args.source,
            name=args.name,
            strict=args.strict,
            progress=bar,
            batch_size=args.batch_size,
        )
    except CampaignRefused as exc:
        if bar:
            bar.close()
        if isinstance(exc.report, StartReport):
            _invalid(exc.report)
        if args.json:
            data = {"refused": exc.kind, "error": exc.detail}
            if isinstance(exc.report, StartReport):
                data["report"] = exc.report.to_dict()
            print(json.dumps(data, sort_keys=True))
        print(f"otpq: campaign refused ({exc.kind}): {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        campaigns.close()
    if bar:
        bar.close()
    _invalid(report)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    else:
        print(
            f"queued {report.enqueued:,} of {report.rows:,} rows; skipped "
            f"{report.skipped_existing:,} already queued or sent, {report.skipped_duplicate:,} "
            f"repeated in the file; {report.invalid:,} invalid",
            file=sys.stderr,
        )
        print(report.campaign_id)
    return EXIT_OK


def _invalid(report: StartReport) -> None:
    for row in report.invalid_rows[:INVALID_ROWS_SHOWN]:
        print(f"otpq: invalid row, {row}", file=sys.stderr)
    if report.invalid > INVALID_ROWS_SHOWN:
        more = report.invalid - INVALID_ROWS_SHOWN
        print(f"otpq: ... and {more:,} more invalid rows (--json lists them)", file=sys.stderr)


def _status(client: OtpClient, args: argparse.Namespace) -> int:
    campaigns = Campaigns(client.settings)
    try:
        status = campaigns.status(args.campaign_id)
        if not args.watch:
            print(json.dumps(status.to_dict(), sort_keys=True) if args.json else describe(status))
            return EXIT_OK
        watch = None if args.json else Watch()
        shown = None
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                if watch:
                    left = status.queued
                    watch.show(summary(status), finished=status.total - left, left=left)
                else:
                    line = json.dumps(status.to_dict(), sort_keys=True)
                    if line != shown:
                        print(line, flush=True)
                        shown = line
                if status.done:
                    break
                time.sleep(args.interval)
                status = campaigns.status(args.campaign_id)
        if watch:
            watch.close()
        return EXIT_OK
    except UnknownCampaign as exc:
        print(f"otpq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        campaigns.close()


def _cancel(client: OtpClient, args: argparse.Namespace) -> int:
    campaigns = Campaigns(client.settings)
    try:
        status = campaigns.cancel(args.campaign_id)
    except UnknownCampaign as exc:
        print(f"otpq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        campaigns.close()
    if args.json:
        print(json.dumps(status.to_dict(), sort_keys=True))
    else:
        print(
            f"cancelled {status.campaign_id}: no row that had not reached AWS will be sent; "
            f"{status.queued:,} rows not yet ended will end as cancelled as workers reach them"
        )
        if status.in_flight:
            print(
                f"otpq: {status.in_flight:,} rows reached AWS but their outcome was not "
                "recorded when the wait for them ended (a worker may have died mid-call); "
                "each was sent at most once and ends sent, failed or uncertain",
                file=sys.stderr,
            )
    return EXIT_OK


def _export(client: OtpClient, args: argparse.Namespace) -> int:
    campaigns = Campaigns(client.settings)
    try:
        campaigns.status(args.campaign_id)
        if args.out == "-":
            written = campaigns.export(args.campaign_id, sys.stdout, unmasked=args.unmasked)
        elif args.unmasked:
            written = _export_private(campaigns, args.campaign_id, args.out)
        else:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with open(fd, "w", newline="", encoding="utf-8") as out:
                written = campaigns.export(args.campaign_id, out, unmasked=False)
    except UnknownCampaign as exc:
        print(f"otpq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        campaigns.close()
    print(f"wrote {written:,} rows to {args.out}", file=sys.stderr)
    return EXIT_OK


def _export_private(campaigns: Campaigns, campaign: str, path: str) -> int:
    """Full numbers go into a new file created 0600 beside `path`, renamed over it once
    written: an existing file's mode (or an open reader of it) never sees them. A path
    that is not a regular file (a pipe, a terminal) is written as it is."""
    target = Path(path)
    if target.exists() and not target.is_file():
        with open(target, "w", newline="", encoding="utf-8") as out:
            return campaigns.export(campaign, out, unmasked=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with open(fd, "w", newline="", encoding="utf-8") as out:
            written = campaigns.export(campaign, out, unmasked=True)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def summary(status: CampaignStatus) -> str:
    """One line: where the rows are, and the answers so far."""
    failed = sum(status.failed.values())
    head = "cancelled, " if status.cancelled else ""
    return (
        f"{head}{status.total:,} rows: {status.queued:,} queued, {status.sent:,} sent, "
        f"{failed:,} failed, {status.expired:,} expired, {status.limited:,} limited, "
        f"{status.cancelled_rows:,} cancelled | {status.verified:,} verified, "
        f"{status.rejected:,} rejected"
    )


def describe(status: CampaignStatus) -> str:
    label = f"{status.brand_name} / {status.source}" + (f" / {status.name}" if status.name else "")
    flag = "  CANCELLED" if status.cancelled else ("  done" if status.done else "  sending")
    failed = ", ".join(f"{reason} {n:,}" for reason, n in status.failed.items()) or "none"
    return "\n".join(
        [
            f"campaign {status.campaign_id}  {label}{flag}",
            f"rows      {status.total:,}",
            f"  queued    {status.queued:,}",
            f"  sent      {status.sent:,}",
            f"  failed    {sum(status.failed.values()):,} ({failed})",
            f"  expired   {status.expired:,}",
            f"  limited   {status.limited:,}",
            f"  cancelled {status.cancelled_rows:,}",
            f"answers   verified {status.verified:,}, rejected {status.rejected:,} "
            "(numbers whose answers were all wrong so far)",
            f"retries   {status.retries:,}",
        ]
    )
