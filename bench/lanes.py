"""Interactive latency with and without a bulk backlog, per worker profile.

    python bench/lanes.py [--profile general|dedicated] [--backlog 2000] [--rate 50]
                          [--probes 20] [--batch-size 1] [--concurrency 4]

`general`: two workers serving both lanes (`-Q otp.interactive,otp.bulk -c 4`), what
most people run. `dedicated`: one general worker beside an interactive-only one, the
shipped profiles. The fleet is limited to --rate sends/s. Interactive sends (probes)
are paced well below the rate; each one's enqueue-to-result latency runs from the
client's clock to the result's `date_done`. The same probes run on an idle fleet (the
baseline) and then behind a campaign of --backlog bulk sends. The goal: the backlog
adds at most one token interval (1 / rate) to an interactive send, whatever its size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import BenchStack, bench_stack, numbers, percentile, table
from otpq_core.settings import Settings
from otpq_core.wire import INTERACTIVE
from producer.campaign import Campaigns

#: Interactive probes per second: well under the rate, so they do not queue each other.
PROBE_RATE = 5.0


def probe(stack: BenchStack, count: int, start: int) -> list[float]:
    client = stack.client()
    r = redis.Redis.from_url(stack.env["REDIS_URL"])
    sent: list[tuple[str, float]] = []
    for destination in numbers(count, start=start):
        t0 = time.time()
        sent.append((client.send(destination, "Bench", "Login"), t0))
        time.sleep(1 / PROBE_RATE)
    latencies = []
    for job_id, t0 in sent:
        status = client.wait(job_id, timeout=120)
        if status.state != "succeeded":
            raise RuntimeError(f"probe {status.state}: {status.error}")
        meta = json.loads(r.get(f"celery-task-meta-{job_id}"))
        latencies.append(datetime.fromisoformat(meta["date_done"]).timestamp() - t0)
    client.close()
    return latencies


def start_profile(stack: BenchStack, profile: str, concurrency: int) -> str:
    if profile == "general":
        stack.start_workers(2, concurrency=concurrency, name="general")
        return f"2 general workers (-Q otp.interactive,otp.bulk -P threads -c {concurrency})"
    stack.start_workers(1, concurrency=concurrency, name="general")
    stack.start_workers(1, queues=(INTERACTIVE,), concurrency=concurrency, name="interactive")
    return (
        f"1 general worker (-c {concurrency}) + 1 interactive worker "
        f"(-Q otp.interactive -c {concurrency}), -P threads"
    )


def measure(
    profile: str, backlog: int, rate: float, probes: int, batch_size: int, concurrency: int
) -> tuple[list[float], list[float], str]:
    env = {
        "OTPQ_SEND_RATE": str(rate),
        "OTPQ_DESTINATION_SENDS": "0",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_BULK_DEADLINE": str(24 * 3600),
    }
    with bench_stack(**env) as stack:
        shape = start_profile(stack, profile, concurrency)
        probe(stack, 3, start=400_000)  # warm connections; not measured
        quiet = probe(stack, probes, start=500_000)
        campaigns = Campaigns(Settings.from_env(stack.env))
        campaigns.start(
            ({"destination": n} for n in numbers(backlog)),
            brand_name="Bench",
            source="Backlog",
            batch_size=batch_size,
        )
        busy = probe(stack, probes, start=600_000)
        campaigns.close()
    return quiet, busy, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=("general", "dedicated"), default="general")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1, help="rows per bulk message")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    quiet, busy, shape = measure(
        args.profile, args.backlog, args.rate, args.probes, args.batch_size, args.concurrency
    )
    token = 1 / args.rate
    rows = [
        ("interactive p50, no backlog", f"{percentile(quiet, 50) * 1000:.0f} ms", "-", "-", "-"),
        ("interactive p99, no backlog", f"{percentile(quiet, 99) * 1000:.0f} ms", "-", "-", "-"),
    ]
    for q, goal in ((50, "≤ 250 ms"), (99, "≤ 500 ms")):
        b, base = percentile(busy, q), percentile(quiet, q)
        rows.append(
            (
                f"interactive p{q}, {args.backlog:,} bulk queued",
                f"{b * 1000:.0f} ms",
                f"{base * 1000:.0f} ms",
                f"{(b - base) * 1000:+.0f} ms",
                f"{goal}; ≤ +{token * 1000:.0f} ms (1 token)",
            )
        )
    print(table(rows, header=("figure", "measured", "baseline", "difference", "goal")))
    print(
        f"({shape}; rate {args.rate:g}/s; {args.probes} probes at {PROBE_RATE:g}/s; "
        f"bulk {args.batch_size} row(s) per message)"
    )


if __name__ == "__main__":
    main()
