"""Every supported pool drains every job: rounds of sends per pool, jobs left unfinished.

    python bench/pools.py [--rounds 5] [--jobs 3000] [--latency-ms 100] [--wait 90]
                          [--pools threads gevent solo]

Per pool (worker/pools.py: threads -c 128, gevent -c 200, solo), --rounds rounds of
--jobs interactive sends, each round drained by two fresh worker processes at
--latency-ms upstream. A job is unfinished if its result is not SUCCESS --wait seconds
after the round was released (goal: 0 in every round, every pool). Also printed: each
pool's jobs/s ÷ the bare boto3 Celery task's on the same pool and concurrency (the
baseline, measured in this run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import BenchStack, bench_stack, numbers, table
from bench.throughput import raw_celery, start

#: -c per pool: what its documented profile runs (solo runs one job at a time).
CONCURRENCY = {"threads": 128, "gevent": 200, "solo": 1}
#: Share of --jobs a round has on each pool: solo's two slots drain 3,000 sends at
#: 100 ms in two and a half minutes, longer than the wait, so its rounds are smaller.
JOBS_SHARE = {"threads": 1.0, "gevent": 1.0, "solo": 0.04}


def unfinished_after(r: redis.Redis, ids: list[str], wait: float) -> tuple[int, float]:
    """(jobs without a SUCCESS result after `wait` seconds, jobs/s while draining)."""
    keys = [f"celery-task-meta-{i}" for i in ids]
    started = time.monotonic()
    while True:
        metas = [json.loads(raw) if raw else {} for raw in r.mget(keys)]
        left = sum(m.get("status") != "SUCCESS" for m in metas)
        if left == 0 or time.monotonic() - started > wait:
            break
        time.sleep(0.5)
    stamps = sorted(
        datetime.fromisoformat(m["date_done"]).timestamp()
        for m in metas
        if m.get("status") == "SUCCESS"
    )
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return left, rate


def one_round(
    stack: BenchStack, pool: str, jobs: int, offset: int, wait: float
) -> tuple[int, float]:
    r = redis.Redis.from_url(stack.env["REDIS_URL"])
    client = stack.client()
    ids = [client.send(n, "Bench", f"Pools{offset}", deadline=3600) for n in numbers(jobs, offset)]
    client.close()
    staged = f"bench-staged-{uuid.uuid4().hex[:8]}"
    r.rename("otp.interactive", staged)
    start(stack, 2, CONCURRENCY[pool], "worker", pool)
    r.rename(staged, "otp.interactive")
    left, rate = unfinished_after(r, ids, wait)
    stack.stop_workers()
    r.close()
    return left, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--wait", type=float, default=90.0)
    parser.add_argument("--pools", nargs="*", default=list(CONCURRENCY))
    args = parser.parse_args()
    rows = []
    with bench_stack(OTPQ_SEND_RATE="100000", OTPQ_VERIFY_RATE="100000") as stack:
        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        for i, pool in enumerate(args.pools):
            c, jobs = CONCURRENCY[pool], max(1, int(args.jobs * JOBS_SHARE[pool]))
            stack.sandbox.control.reset()
            stack.sandbox.control.set_faults(latency_ms=args.latency_ms)
            bare = raw_celery(stack, jobs, 2, c, task="boto", pool=pool).rate
            lefts, rates = [], []
            for n in range(args.rounds):
                offset = (i * args.rounds + n) * args.jobs
                left, rate = one_round(stack, pool, jobs, offset, args.wait)
                lefts.append(left)
                rates.append(rate)
            rate = statistics.median(rates)
            rows.append(
                (
                    f"-P {pool} -c {c}",
                    f"{sum(lefts)} of {args.rounds * jobs}",
                    f"{rate:.0f}/s",
                    f"{bare:.0f}/s",
                    f"{rate / bare:.2f}",
                )
            )
    print(
        table(
            rows,
            header=("pool", "unfinished (goal 0)", "otp.send", "bare boto3 task", "ratio"),
        )
    )
    print(
        f"({args.rounds} rounds × {args.jobs} sends per pool (solo: "
        f"{int(args.jobs * JOBS_SHARE['solo'])}), 2 worker processes, "
        f"{args.latency_ms:g} ms upstream; unfinished = no SUCCESS {args.wait:g} s after release)"
    )


if __name__ == "__main__":
    main()
