"""Sends/s with the abuse checks on (defaults) ÷ off, on the same stack, same run.

    PYTHONPATH=. python bench/abuse_throughput.py [--jobs 1000] [--rounds 2]

Rounds alternate off/on so load from elsewhere on the machine hits both alike; each
round texts numbers of its own (a repeat would be answered by the resend cooldown).
The producer's cooldown `SET NX` is inside the enqueue, the worker's checks inside
the measured drain.
"""

from __future__ import annotations

import argparse
import statistics

from bench.stack import BenchStack, bench_stack, numbers, table
from bench.throughput import drain_sends

OFF = {"OTPQ_DESTINATION_SENDS": "off", "OTPQ_VERIFY_FAILURES": "off", "OTPQ_RESEND_COOLDOWN": "0"}
ON = {"OTPQ_DESTINATION_SENDS": "", "OTPQ_VERIFY_FAILURES": "", "OTPQ_RESEND_COOLDOWN": ""}


def drain_rate(stack: BenchStack, limits: dict[str, str], first: int, jobs: int) -> float:
    stack.env.update(limits)
    return drain_sends(stack, numbers(jobs, start=first), "Abuse", 1, 16).rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    off, on = [], []
    with bench_stack(OTPQ_SEND_RATE="100000", OTPQ_HASH_KEY="bench-hash-key-0123456789") as stack:
        for r in range(args.rounds):
            off.append(drain_rate(stack, OFF, 2 * r * args.jobs, args.jobs))
            on.append(drain_rate(stack, ON, (2 * r + 1) * args.jobs, args.jobs))
    base, checked = statistics.median(off), statistics.median(on)
    print(
        table(
            [
                ("sends/s, abuse checks off", f"{base:.0f}", "-", "-"),
                (
                    "sends/s, abuse checks on",
                    f"{checked:.0f}",
                    f"{base:.0f}",
                    f"{checked / base:.2f}",
                ),
            ],
            header=("figure", "median", "baseline", "ratio"),
        )
    )
    print(f"({args.jobs} jobs per round, {args.rounds} rounds each, 1 worker × 16 threads)")


if __name__ == "__main__":
    main()
