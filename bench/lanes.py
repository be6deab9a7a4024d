"""Interactive latency with and without a bulk backlog.

    python bench/lanes.py [--backlog 100000] [--rate 50] [--probes 40]

Runs a general worker (both lanes) beside an interactive-only worker, as the shipped
profiles do, with the fleet limited to --rate sends/s. Interactive sends are paced
below the rate; each one's enqueue-to-result latency is measured from the client's
clock to the result's `date_done`. Then a campaign queues --backlog bulk sends and the
same probes run again. The goal: the backlog adds no more than one token's time
(1 / rate) to an interactive send.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--probes", type=int, default=40)
    args = parser.parse_args()
    env = {
        "OTPQ_SEND_RATE": str(args.rate),
        "OTPQ_DESTINATION_SENDS": "0",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_BULK_DEADLINE": str(24 * 3600),
    }
    with bench_stack(**env) as stack:
        stack.start_workers(1, name="general")
        stack.start_workers(1, queues=("otp.interactive",), name="interactive")
        probe(stack, 3, start=400_000)  # warm connections; not measured
        quiet = probe(stack, args.probes, start=500_000)

        campaigns = Campaigns(Settings.from_env(stack.env))
        t0 = time.time()
        report = campaigns.start(
            ({"destination": n} for n in numbers(args.backlog)),
            brand_name="Bench",
            source="Backlog",
        )
        enqueue_s = time.time() - t0
        busy = probe(stack, args.probes, start=600_000)
        status = campaigns.status(report.campaign_id).to_dict()
        campaigns.close()
    token = 1 / args.rate
    p50q, p99q = percentile(quiet, 50), percentile(quiet, 99)
    p50b, p99b = percentile(busy, 50), percentile(busy, 99)
    print(
        table(
            [
                ("interactive p50, no backlog", f"{p50q * 1000:.0f} ms", "-", "-", "-"),
                ("interactive p99, no backlog", f"{p99q * 1000:.0f} ms", "-", "-", "-"),
                (
                    f"interactive p50, {args.backlog:,} bulk queued",
                    f"{p50b * 1000:.0f} ms",
                    f"{p50q * 1000:.0f} ms",
                    f"{(p50b - p50q) * 1000:+.0f} ms",
                    f"≤ +{token * 1000:.0f} ms (1 token)",
                ),
                (
                    f"interactive p99, {args.backlog:,} bulk queued",
                    f"{p99b * 1000:.0f} ms",
                    f"{p99q * 1000:.0f} ms",
                    f"{(p99b - p99q) * 1000:+.0f} ms",
                    f"≤ +{token * 1000:.0f} ms (1 token)",
                ),
            ],
            header=("figure", "measured", "baseline", "difference", "goal"),
        )
    )
    print(
        f"(rate {args.rate:g}/s; {args.backlog:,} bulk sends queued in {enqueue_s:.1f}s; "
        f"{status.get('sent', 0):,} of them sent while the probes ran)"
    )


if __name__ == "__main__":
    main()
