"""Fleet rate limits: achieved rate ÷ configured rate with N worker processes.

    python bench/rate_limits.py [--rate 40] [--workers 2] [--seconds 15]

The sandbox enforces a quota equal to the configured rate (burst = one second), as
Pinpoint would. With a backlog queued before the workers start, the fleet should run
at ≥ 0.97 of the rate, draw no 429, and never exceed R + burst in any one-second window.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import bench_stack, numbers, table
from sandbox.stats import max_per_window as max_in_window
from worker.throttle import bucket


def measure(rate: float, workers: int, seconds: float) -> dict[str, float]:
    jobs_count = int(rate * seconds)
    with bench_stack(OTPQ_SEND_RATE=str(rate)) as stack:
        stack.sandbox.control.set_faults(quota_rps=rate, quota_burst=rate)
        client = stack.client()
        stack.start_workers(workers)
        stack.sandbox.control.reset_stats()
        started = time.time()
        # Enqueueing runs far faster than the rate: the backlog forms at once.
        jobs = [client.send(n, "Bench", "Rate") for n in numbers(jobs_count)]
        states = [client.wait(job, timeout=seconds * 4 + 60).state for job in jobs]
        stats = stack.sandbox.control.stats()["operations"]["SendOTPMessage"]
        times = sorted(stats["accepted_times"])
        burst = rate  # the sandbox's; ours holds some back (worker.throttle.JITTER_HEADROOM)
        # The first burst goes at once; after it, the bucket refills at the rate.
        ours = bucket("send", rate).capacity
        span = times[-1] - times[0]
        achieved = (len(times) - ours) / span if span > 0 else 0.0
        client.close()
    return {
        "jobs": jobs_count,
        "succeeded": states.count("succeeded"),
        "achieved_rps": achieved,
        "ratio": achieved / rate,
        "max_1s_window": max_in_window(times),
        "limit_1s_window": rate + burst,
        "http_429": stats["by_status"].get("429", 0),
        "wall_s": time.time() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    r = measure(args.rate, args.workers, args.seconds)
    print(
        table(
            [
                (
                    "achieved ÷ configured rate",
                    f"{r['achieved_rps']:.2f}/s",
                    f"{args.rate:g}/s",
                    f"{r['ratio']:.3f}",
                    "≥ 0.97",
                ),
                (
                    "busiest 1 s window",
                    r["max_1s_window"],
                    r["limit_1s_window"],
                    f"{r['max_1s_window'] / r['limit_1s_window']:.3f}",
                    "≤ 1.0",
                ),
                ("429s from the sandbox", r["http_429"], 0, "-", "0"),
                (
                    "jobs succeeded",
                    r["succeeded"],
                    r["jobs"],
                    f"{r['succeeded'] / r['jobs']:.3f}",
                    "1.0",
                ),
            ],
            header=("figure", "measured", "baseline", "ratio", "goal"),
        )
    )
    print(f"({args.workers} worker processes, {r['jobs']} jobs, {r['wall_s']:.1f}s)")


if __name__ == "__main__":
    main()
