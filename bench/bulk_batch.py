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
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.boto_ceiling import ceiling
from bench.stack import BenchStack, bench_stack, numbers, table
from bench.throughput import Round, drain, raw_celery, spread
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
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all four; medians")
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
    n, p = args.rows, args.processes
    per_task, batched, slow, bare = [], [], [], []
    with bench_stack(**limits_off) as stack:
        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        for r in range(args.repeat):
            base = 4 * n * r
            per_task.append(raw_celery(stack, n, p, args.task_concurrency, task="boto"))
            batched.append(campaign_rows(stack, n, p, args.concurrency, args.batch, base + n))
            slow.append(campaign_rows(stack, n, p, args.concurrency, args.batch, base + 2 * n, 100))
            stack.sandbox.control.reset()
            bare.append(ceiling(stack.sandbox.url, n, p, args.row_threads, offset=base + 3 * n))

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.0f}"

    rates = [b.rate for b in batched]
    print(
        table(
            [
                ("per-task ceiling: bare boto3 Celery task jobs/s",
                 med([t.rate for t in per_task]), "-", "-", "baseline"),
                (f"bulk rows/s, {args.batch} rows per otp.send_batch", med(rates),
                 med([t.rate for t in per_task]),
                 spread([b.rate / t.rate for b, t in zip(batched, per_task, strict=True)]),
                 "≥ 2"),
                ("the same, 100 ms upstream ÷ 0 ms", med([s.rate for s in slow]), med(rates),
                 spread([s.rate / b.rate for s, b in zip(slow, batched, strict=True)]), "≥ 0.9"),
                ("worker CPU per row, batched ÷ per task",
                 f"{statistics.median(b.cpu_per_job for b in batched) * 1000:.2f} ms",
                 f"{statistics.median(t.cpu_per_job for t in per_task) * 1000:.2f} ms",
                 spread([b.cpu_per_job / t.cpu_per_job
                         for b, t in zip(batched, per_task, strict=True)]), "-"),
                ("bare boto3 calls/s (no Celery, no Redis)", med(bare), "-", "-",
                 "machine ceiling"),
                ("connections discarded (batched rounds)",
                 str(sum(b.discarded + s.discarded for b, s in zip(batched, slow, strict=True))),
                 "-", "-", "0"),
            ],
            header=("figure", "measured", "baseline", "ratio", "goal"),
        )
    )  # fmt: skip
    print(
        f"({n} rows each, {p} worker processes; per task: -P threads -c "
        f"{args.task_concurrency}; batched: -P {args.pool} -c {args.concurrency}, "
        f"{args.row_threads} rows in flight per process; median of {args.repeat} (range), "
        "each round's ratio against its own baseline)"
    )


if __name__ == "__main__":
    main()
