"""Worker throughput against raw Celery, and how well upstream latency is hidden.

    python bench/throughput.py [--jobs 3000] [--processes 2] [--concurrency 64]

Figures (each a ratio against a baseline measured in this run):
  * raw Celery no-op tasks/s with a stored result (the ceiling for one task per job);
  * otpq interactive sends/s at 0 ms Pinpoint latency, every safety feature on
    (limiter at a rate that never binds, claim, deadline, redaction) ÷ raw no-op;
  * otpq sends/s at 100 ms latency ÷ the same at 0 ms (latency hiding).
Jobs are queued before the workers start; the rate is computed from the results'
own `date_done` stamps, so worker start-up is not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import BenchStack, bench_stack, numbers, table
from otpq_local.worker_process import WorkerProcess


def done_rate(r: redis.Redis, ids: list[str], timeout: float) -> float:
    """Jobs per second between the first and the last result stored."""
    deadline = time.monotonic() + timeout
    keys = [f"celery-task-meta-{i}" for i in ids]
    while True:
        metas = [json.loads(raw) if raw else {} for raw in r.mget(keys)]
        if all(m.get("status") in ("SUCCESS", "FAILURE") for m in metas):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("jobs did not finish")
        time.sleep(0.5)
    stamps = []
    for meta in metas:
        stamps.append(datetime.fromisoformat(meta["date_done"]).timestamp())
        if meta["status"] != "SUCCESS":
            raise RuntimeError(f"a job ended {meta['status']}: {meta.get('result')}")
    return (len(stamps) - 1) / (max(stamps) - min(stamps))


#: Worker pool for every run in this module (--pool).
POOL = "threads"


def start(stack: BenchStack, processes: int, concurrency: int, app: str) -> None:
    for i in range(processes):
        stack.workers.append(
            WorkerProcess(
                stack.env,
                app=app,
                queues=("noop",) if app != "worker" else ("otp.interactive", "otp.bulk"),
                concurrency=concurrency,
                pool=POOL,
                name=f"{app.replace('.', '-')}{i}",
                loglevel="warning",
                log_path=stack.workdir / f"{app}{i}.log",
            ).start(timeout=60)
        )


def raw_celery(
    stack: BenchStack, jobs: int, processes: int, concurrency: int, task: str = "noop"
) -> float:
    """Raw Celery baselines: `noop` does nothing; `boto` only calls SendOTPMessage."""
    from bench.noop_app import app

    ids = [str(uuid.uuid4()) for _ in range(jobs)]
    for job_id, destination in zip(ids, numbers(jobs, start=900_000), strict=True):
        kwargs = {"destination": destination} if task == "boto" else {"x": 1}
        app.send_task(task, kwargs=kwargs, task_id=job_id, queue="noop")
    start(stack, processes, concurrency, "bench.boto_app" if task == "boto" else "bench.noop_app")
    rate = done_rate(redis.Redis.from_url(stack.env["REDIS_URL"]), ids, timeout=600)
    stack.stop_workers()
    return rate


def otpq_sends(
    stack: BenchStack, jobs: int, processes: int, concurrency: int, latency_ms: float
) -> float:
    stack.sandbox.control.reset()
    stack.sandbox.control.set_faults(latency_ms=latency_ms)
    # Numbers of its own per round: a repeat within OTPQ_RESEND_COOLDOWN would return
    # the earlier round's job instead of queueing one (docs/security.md).
    destinations = numbers(jobs, start=int(latency_ms) * jobs)
    return drain_sends(stack, destinations, f"Throughput{latency_ms:g}", processes, concurrency)


def drain_sends(
    stack: BenchStack, destinations: list[str], source: str, processes: int, concurrency: int
) -> float:
    """Queue one send per destination, then start workers and time the drain."""
    client = stack.client()
    ids = [client.send(n, "Bench", source, deadline=3600) for n in destinations]
    start(stack, processes, concurrency, "worker")
    rate = done_rate(redis.Redis.from_url(stack.env["REDIS_URL"]), ids, timeout=600)
    stack.stop_workers()
    client.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    # A limiter rate that never binds: the Lua call still runs on every job.
    with bench_stack(OTPQ_SEND_RATE="100000", OTPQ_VERIFY_RATE="100000") as stack:
        import os

        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        p, c, n = args.processes, args.concurrency, args.jobs
        noop = raw_celery(stack, n, p, c)
        stack.sandbox.control.reset()
        boto = raw_celery(stack, n, p, c, task="boto")
        fast = otpq_sends(stack, n, p, c, 0)
        slow = otpq_sends(stack, n, p, c, 100)
    print(
        table(
            [
                ("raw Celery no-op tasks/s", f"{noop:.0f}", "-", "-", "baseline"),
                (
                    "raw Celery task calling boto3/s",
                    f"{boto:.0f}",
                    f"{noop:.0f}",
                    f"{boto / noop:.2f}",
                    "(reference)",
                ),
                (
                    "otpq sends/s ÷ the boto3-only task",
                    f"{fast:.0f}",
                    f"{boto:.0f}",
                    f"{fast / boto:.2f}",
                    "≈ 1 (features cost little)",
                ),
                (
                    "otpq sends/s, 0 ms Pinpoint",
                    f"{fast:.0f}",
                    f"{noop:.0f}",
                    f"{fast / noop:.2f}",
                    "≥ 0.6",
                ),
                (
                    "otpq sends/s, 100 ms Pinpoint",
                    f"{slow:.0f}",
                    f"{fast:.0f}",
                    f"{slow / fast:.2f}",
                    "≥ 0.9",
                ),
            ],
            header=("figure", "measured", "baseline", "ratio", "goal"),
        )
    )
    print(f"({n} jobs each, {p} worker processes × {c} threads)")


if __name__ == "__main__":
    main()
