"""Worker throughput and CPU per job against bare Celery, and how upstream latency is hidden.

    python bench/throughput.py [--jobs 3000] [--processes 2] [--concurrency 128]
                               [--pool threads|gevent|solo] [--latency-ms 100]

Baselines, measured in this run with the same broker, result backend, pool, processes
and concurrency:
  * raw Celery no-op tasks (bench/noop_app.py): the ceiling of one task per job;
  * a bare Celery task making the same boto3 `send_otp_message` call (bench/boto_app.py):
    what a Celery app with no limiter, claim, abuse limits, deadline, redaction, events
    or metrics does.
Figures:
  * otpq `otp.send` jobs/s ÷ the bare boto3 task's, every safety feature on (goal ≥ 0.9);
  * otpq's own CPU per job (its worker CPU per job less the bare task's) ÷ the bare task's
    CPU per job (goal ≤ 0.1), from the worker processes' /proc counters;
  * otpq jobs/s at --latency-ms upstream ÷ at 0 ms (goal ≥ 0.9), and the connections
    urllib3 discarded because a pool was smaller than the calls in flight (goal 0).

Jobs are queued while no worker runs, moved aside, and moved back into their queue in
one RENAME once every worker is ready: neither start-up nor enqueueing counts in a rate
or in CPU. Rates come from the results' own `date_done` stamps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import BenchStack, bench_stack, numbers, table
from otpq_local.worker_process import WorkerProcess

#: What urllib3 logs when it throws a connection away (its pool was full).
DISCARDED = "Connection pool is full"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Round:
    """One drain: jobs per second, worker CPU seconds per job, connections discarded."""

    rate: float
    cpu_per_job: float
    discarded: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def done_rate(r: redis.Redis, ids: list[str], timeout: float) -> float:
    """Jobs per second between the first and the last result stored."""
    deadline = time.monotonic() + timeout
    keys = [f"celery-task-meta-{i}" for i in ids]
    while True:
        metas = [json.loads(raw) if raw else {} for raw in r.mget(keys)]
        if all(m.get("status") in ("SUCCESS", "FAILURE") for m in metas):
            break
        if time.monotonic() > deadline:
            unfinished = sum(m.get("status") not in ("SUCCESS", "FAILURE") for m in metas)
            raise TimeoutError(f"{unfinished} of {len(ids)} jobs did not finish in {timeout:g}s")
        time.sleep(0.2)
    stamps = []
    for meta in metas:
        stamps.append(datetime.fromisoformat(meta["date_done"]).timestamp())
        if meta["status"] != "SUCCESS":
            raise RuntimeError(f"a job ended {meta['status']}: {meta.get('result')}")
    return (len(stamps) - 1) / (max(stamps) - min(stamps))


def start(
    stack: BenchStack,
    processes: int,
    concurrency: int,
    app: str,
    pool: str = "threads",
    queues: tuple[str, ...] = ("otp.interactive", "otp.bulk"),
) -> list[WorkerProcess]:
    started = []
    for i in range(processes):
        worker = WorkerProcess(
            stack.env,
            app=app,
            queues=("noop",) if app != "worker" else queues,
            concurrency=concurrency,
            pool=pool,
            name=f"{app.replace('.', '-')}-{pool}{i}",
            loglevel="warning",
            log_path=stack.workdir / f"{app}-{pool}-{len(stack.workers)}.log",
        ).start(timeout=60)
        stack.workers.append(worker)
        started.append(worker)
    return started


def drain(
    stack: BenchStack,
    queue: str,
    enqueue: Callable[[], list[str]],
    processes: int,
    concurrency: int,
    app: str,
    pool: str,
) -> Round:
    """Queue the jobs `enqueue` makes, start the workers, release the jobs at once, and
    measure the drain."""
    r = redis.Redis.from_url(stack.env["REDIS_URL"])
    ids = enqueue()
    staged = f"bench-staged-{uuid.uuid4().hex[:8]}"
    r.rename(queue, staged)
    workers = start(stack, processes, concurrency, app, pool)
    before = sum(cpu_seconds(w.pid or 0) for w in workers)
    r.rename(staged, queue)
    rate = done_rate(r, ids, timeout=600)
    cpu = sum(cpu_seconds(w.pid or 0) for w in workers) - before
    discarded = sum(w.log().count(DISCARDED) for w in workers)
    stack.stop_workers()
    r.close()
    return Round(rate, cpu / len(ids), discarded)


def raw_celery(
    stack: BenchStack,
    jobs: int,
    processes: int,
    concurrency: int,
    task: str = "noop",
    pool: str = "threads",
) -> Round:
    """Raw Celery baselines: `noop` does nothing; `boto` only calls SendOTPMessage."""
    from bench.noop_app import app

    def enqueue() -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(jobs)]
        for job_id, destination in zip(ids, numbers(jobs, start=900_000), strict=True):
            kwargs = {"destination": destination} if task == "boto" else {"x": 1}
            app.send_task(task, kwargs=kwargs, task_id=job_id, queue="noop")
        return ids

    stack.env["BENCH_POOL_CONNECTIONS"] = str(concurrency)
    name = "bench.boto_app" if task == "boto" else "bench.noop_app"
    return drain(stack, "noop", enqueue, processes, concurrency, name, pool)


def otpq_sends(
    stack: BenchStack,
    jobs: int,
    processes: int,
    concurrency: int,
    latency_ms: float,
    pool: str = "threads",
    offset: int = 0,
) -> Round:
    stack.sandbox.control.reset()
    stack.sandbox.control.set_faults(latency_ms=latency_ms)
    # Numbers of its own per round: a repeat within OTPQ_RESEND_COOLDOWN would return
    # the earlier round's job instead of queueing one (docs/security.md).
    destinations = numbers(jobs, start=offset + int(latency_ms) * jobs)
    round_ = drain_sends(
        stack, destinations, f"Throughput{latency_ms:g}", processes, concurrency, pool
    )
    stack.sandbox.control.reset()
    return round_


def drain_sends(
    stack: BenchStack,
    destinations: list[str],
    source: str,
    processes: int,
    concurrency: int,
    pool: str = "threads",
) -> Round:
    """One interactive send per destination, drained by otpq workers."""

    def enqueue() -> list[str]:
        client = stack.client()
        ids = [client.send(n, "Bench", source, deadline=3600) for n in destinations]
        client.close()
        return ids

    return drain(stack, "otp.interactive", enqueue, processes, concurrency, "worker", pool)


@dataclass(frozen=True)
class Figures:
    """One repetition: the two baselines and otpq at 0 ms and at --latency-ms."""

    noop: Round
    boto: Round
    fast: Round
    slow: Round

    def ratios(self) -> dict[str, float]:
        return {
            "boto/noop": self.boto.rate / self.noop.rate,
            "otpq/boto": self.fast.rate / self.boto.rate,
            "cpu": self.fast.cpu_per_job / self.boto.cpu_per_job,
            "own": (self.fast.cpu_per_job - self.boto.cpu_per_job) / self.boto.cpu_per_job,
            "slow/fast": self.slow.rate / self.fast.rate,
        }


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """The median, and the range when there is more than one value."""
    median = fmt.format(statistics.median(values))
    if len(values) < 2:
        return median
    return f"{median} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def rows(runs: list[Figures], latency_ms: float) -> list[tuple[str, ...]]:
    def med(pick: Callable[[Figures], float], fmt: str = "{:.0f}") -> str:
        return fmt.format(statistics.median(pick(f) for f in runs))

    ratios = [f.ratios() for f in runs]

    def ratio(name: str) -> str:
        return spread([r[name] for r in ratios])

    ms = "{:.2f} ms"
    return [
        ("raw Celery no-op tasks/s", med(lambda f: f.noop.rate), "-", "-", "baseline"),
        ("bare boto3 Celery task jobs/s", med(lambda f: f.boto.rate),
         med(lambda f: f.noop.rate), ratio("boto/noop"), "(reference)"),
        ("otp.send jobs/s ÷ bare boto3 task", med(lambda f: f.fast.rate),
         med(lambda f: f.boto.rate), ratio("otpq/boto"), "≥ 0.9"),
        ("worker CPU per job, otp.send ÷ bare task",
         med(lambda f: f.fast.cpu_per_job * 1000, ms),
         med(lambda f: f.boto.cpu_per_job * 1000, ms), ratio("cpu"), "-"),
        ("otpq's own CPU per job ÷ bare task's",
         med(lambda f: (f.fast.cpu_per_job - f.boto.cpu_per_job) * 1000, ms),
         med(lambda f: f.boto.cpu_per_job * 1000, ms), ratio("own"), "≤ 0.1"),
        (f"otp.send jobs/s, {latency_ms:g} ms upstream ÷ 0 ms", med(lambda f: f.slow.rate),
         med(lambda f: f.fast.rate), ratio("slow/fast"), "≥ 0.9"),
        ("connections discarded (all otpq rounds)",
         str(sum(f.fast.discarded + f.slow.discarded for f in runs)), "-", "-", "0"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--pool", default="threads")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all four; medians")
    args = parser.parse_args()
    runs = []
    # A limiter rate that never binds: the Lua call still runs on every job.
    with bench_stack(OTPQ_SEND_RATE="100000", OTPQ_VERIFY_RATE="100000") as stack:
        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        p, c, n, pool = args.processes, args.concurrency, args.jobs, args.pool
        for r in range(args.repeat):
            noop = raw_celery(stack, n, p, c, pool=pool)
            boto = raw_celery(stack, n, p, c, task="boto", pool=pool)
            stack.sandbox.control.reset()
            offset = r * 1_000_000
            fast = otpq_sends(stack, n, p, c, 0, pool, offset=offset)
            slow = otpq_sends(stack, n, p, c, args.latency_ms, pool, offset=offset)
            runs.append(Figures(noop, boto, fast, slow))
    print(
        table(
            rows(runs, args.latency_ms), header=("figure", "measured", "baseline", "ratio", "goal")
        )
    )
    print(
        f"({n} jobs each; {p} worker processes, -P {pool} -c {c}; "
        f"median of {args.repeat} (range), each round's ratio against its own baselines)"
    )


if __name__ == "__main__":
    main()
