"""Bulk rows/s through the batched lane (`otp.send_batch`) against raw Celery no-op tasks/s.

    python bench/bulk_batch.py [--rows 3000] [--processes 2] [--concurrency 8] [--batch 100]

Figures, all measured in this run on one stack:
  * raw Celery no-op tasks/s with a stored result (bench/noop_app.py): the ceiling of
    any design that runs one Celery task per row;
  * campaign rows/s with one `otp.send` message per row (batch size 1), for reference;
  * campaign rows/s with `--batch` rows per `otp.send_batch` message ÷ raw no-op (goal ≥ 2);
  * the same ÷ bare boto3 calls/s (bench/boto_ceiling.py: no Celery, no Redis, the same
    processes and threads): the ceiling of any lane that calls Pinpoint once per row.
Rows are queued before the workers start; rates come from the results' own `date_done`
stamps (each row's result is stored under its own id). The limiter runs at a rate that
never binds and the abuse limits are off, as in bench/throughput.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.boto_ceiling import ceiling
from bench.stack import BenchStack, bench_stack, numbers, table
from bench.throughput import done_rate, raw_celery, start
from otpq_core.settings import Settings
from producer.campaign import Campaigns


def campaign_rows(
    stack: BenchStack,
    rows: int,
    processes: int,
    concurrency: int,
    batch: int,
    offset: int,
    latency_ms: float = 0.0,
) -> float:
    stack.sandbox.control.reset()
    stack.sandbox.control.set_faults(latency_ms=latency_ms)
    campaigns = Campaigns(Settings.from_env(stack.env))
    destinations = numbers(rows, start=offset)
    report = campaigns.start(
        [{"destination": n} for n in destinations],
        brand_name="Bench",
        source="BulkBatch",
        name=f"batch{batch}-{latency_ms:g}ms",
        batch_size=batch,
    )
    assert report.enqueued == rows, report.to_dict()
    ids = [campaigns.row_job_id(report.campaign_id, n) for n in destinations]
    campaigns.close()
    start(stack, processes, concurrency, "worker")
    rate = done_rate(redis.Redis.from_url(stack.env["REDIS_URL"]), ids, timeout=600)
    stack.stop_workers()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="batches per process")
    parser.add_argument("--noop-concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--row-threads", type=int, default=128, help="OTPQ_BATCH_CONCURRENCY (rows in flight)"
    )
    args = parser.parse_args()
    limits_off = {
        "OTPQ_SEND_RATE": "100000",
        "OTPQ_DESTINATION_SENDS": "0",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_VERIFY_FAILURES": "0",
        "OTPQ_BATCH_CONCURRENCY": str(args.row_threads),
    }
    with bench_stack(**limits_off) as stack:
        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        n, p = args.rows, args.processes
        noop = raw_celery(stack, n, p, args.noop_concurrency)
        single = campaign_rows(stack, n, p, args.noop_concurrency, 1, offset=0)
        batched = campaign_rows(stack, n, p, args.concurrency, args.batch, offset=n)
        slow = campaign_rows(stack, n, p, args.concurrency, args.batch, 2 * n, latency_ms=100)
        stack.sandbox.control.reset()
        bare = ceiling(stack.sandbox.url, n, p, args.row_threads, offset=3 * n)
    print(
        table(
            [
                ("raw Celery no-op tasks/s", f"{noop:.0f}", "-", "-", "baseline"),
                (
                    "bulk rows/s, 1 row per otp.send",
                    f"{single:.0f}",
                    f"{noop:.0f}",
                    f"{single / noop:.2f}",
                    "-",
                ),
                (
                    f"bulk rows/s, {args.batch} rows per otp.send_batch",
                    f"{batched:.0f}",
                    f"{noop:.0f}",
                    f"{batched / noop:.2f}",
                    "≥ 2",
                ),
                (
                    "the same, 100 ms Pinpoint",
                    f"{slow:.0f}",
                    f"{batched:.0f}",
                    f"{slow / batched:.2f}",
                    "≥ 0.9",
                ),
                ("bare boto3 calls/s (no Celery, no Redis)", f"{bare:.0f}", "-", "-", "ceiling"),
                (
                    f"bulk rows/s, {args.batch} rows per otp.send_batch",
                    f"{batched:.0f}",
                    f"{bare:.0f}",
                    f"{batched / bare:.2f}",
                    "(share of the ceiling)",
                ),
            ],
            header=("figure", "measured", "baseline", "ratio", "goal"),
        )
    )
    print(
        f"({n} rows each, {p} worker processes; no-op and per-row: {args.noop_concurrency} "
        f"threads; batched: {args.concurrency} batches, {args.row_threads} rows in flight)"
    )


if __name__ == "__main__":
    main()
