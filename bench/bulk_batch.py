"""Bulk rows/s through the batched lane (`otp.send_batch`) against the per-task ceiling.

    python bench/bulk_batch.py [--rows 3000] [--processes 2] [--concurrency 8]
                               [--batch 100] [--row-threads 128] [--task-concurrency 128]

Figures, all measured in this run on one stack:
  * the per-task ceiling: a bare Celery task making the same boto3 `send_otp_message`
    call (bench/boto_app.py), one task per row, -P threads -c --task-concurrency: the
    most any design that runs one Celery task per row reaches here;
  * campaign rows/s with --batch rows per `otp.send_batch` message ÷ that ceiling
    (goal ≥ 2: batching is why the bulk lane has batches), every safety feature on
    (limiter, claim, abuse limits, cancel check, per-row result);
  * the same at 100 ms upstream ÷ 0 ms (goal ≥ 0.9);
  * bare boto3 calls/s from the same processes and threads with no Celery and no Redis
    (bench/boto_ceiling.py): the machine's ceiling for any lane that calls AWS per row.
Rows are queued, moved aside, and released in one RENAME once the workers are ready;
rates come from the rows' own result stamps (each row's result is stored under its id).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.boto_ceiling import ceiling
from bench.stack import BenchStack, bench_stack, numbers, table
from bench.throughput import Round, drain, raw_celery
from otpq_core.settings import Settings
from producer.campaign import Campaigns

#: The batched rounds' pool (--pool).
POOL = "threads"


def campaign_rows(
    stack: BenchStack,
    rows: int,
    processes: int,
    concurrency: int,
    batch: int,
    offset: int,
    latency_ms: float = 0.0,
) -> Round:
    stack.sandbox.control.reset()
    stack.sandbox.control.set_faults(latency_ms=latency_ms)

    def enqueue() -> list[str]:
        campaigns = Campaigns(Settings.from_env(stack.env))
        destinations = numbers(rows, start=offset)
        report = campaigns.start(
            [{"destination": n} for n in destinations],
            brand_name="Bench",
            source="BulkBatch",
            name=f"batch{batch}-{latency_ms:g}ms-{offset}",
            batch_size=batch,
        )
        assert report.enqueued == rows, report.to_dict()
        ids = [campaigns.row_job_id(report.campaign_id, n) for n in destinations]
        campaigns.close()
        return ids

    round_ = drain(stack, "otp.bulk", enqueue, processes, concurrency, "worker", POOL)
    stack.sandbox.control.reset()
    return round_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="batches per process")
    parser.add_argument("--task-concurrency", type=int, default=128)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pool", default="threads", help="the batched rounds' pool")
    parser.add_argument(
        "--row-threads", type=int, default=128, help="OTPQ_BATCH_CONCURRENCY (rows in flight)"
    )
    args = parser.parse_args()
    global POOL
    POOL = args.pool
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
        per_task = raw_celery(stack, n, p, args.task_concurrency, task="boto")
        batched = campaign_rows(stack, n, p, args.concurrency, args.batch, offset=n)
        slow = campaign_rows(stack, n, p, args.concurrency, args.batch, 2 * n, latency_ms=100)
        stack.sandbox.control.reset()
        bare = ceiling(stack.sandbox.url, n, p, args.row_threads, offset=3 * n)
    print(
        table(
            [
                ("per-task ceiling: bare boto3 Celery task jobs/s", f"{per_task.rate:.0f}",
                 "-", "-", "baseline"),
                (f"bulk rows/s, {args.batch} rows per otp.send_batch", f"{batched.rate:.0f}",
                 f"{per_task.rate:.0f}", f"{batched.rate / per_task.rate:.2f}", "≥ 2"),
                ("the same, 100 ms upstream ÷ 0 ms", f"{slow.rate:.0f}", f"{batched.rate:.0f}",
                 f"{slow.rate / batched.rate:.2f}", "≥ 0.9"),
                ("worker CPU per row, batched ÷ per task", f"{batched.cpu_per_job * 1000:.2f} ms",
                 f"{per_task.cpu_per_job * 1000:.2f} ms",
                 f"{batched.cpu_per_job / per_task.cpu_per_job:.2f}", "-"),
                ("bare boto3 calls/s (no Celery, no Redis)", f"{bare:.0f}", "-", "-",
                 "machine ceiling"),
                ("connections discarded (batched rounds)",
                 f"{batched.discarded + slow.discarded}", "-", "-", "0"),
            ],
            header=("figure", "measured", "baseline", "ratio", "goal"),
        )
    )  # fmt: skip
    print(
        f"({n} rows each, {p} worker processes; per task: -P threads -c "
        f"{args.task_concurrency}; batched: -P {args.pool} -c {args.concurrency}, "
        f"{args.row_threads} rows in flight per process)"
    )


if __name__ == "__main__":
    main()
