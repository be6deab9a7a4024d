"""How long `campaign cancel` takes, and how many texts go out after it returns.

    python bench/cancel.py [--rows 1000] [--rate 20] [--latency-ms 300] [--batch 1]

The issue's case: a 1,000-row campaign at 20/s, cancelled once some rows went out.
Cancel returns when no row that has not reached AWS can still be sent, after waiting
for the rows already at AWS; so its time is about one Pinpoint call (the latency), far
under its bound (connect + read timeouts + 2 s). Printed per run: texts when cancel
returned, texts when the campaign ended (must be equal, or differ by at most the
`in_flight` cancel reported), and the cancel's time as a ratio of the sandbox latency
and of the bound.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import bench_stack, numbers, table
from otpq_core.sealing import generate_key
from otpq_core.settings import Settings
from producer.campaign import Campaigns
from producer.campaign.report import cancel_bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--batch", type=int, default=1, help="rows per message")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {
        "OTPQ_SEND_RATE": str(args.rate),
        "OTPQ_DESTINATION_SENDS": "off",
        "OTPQ_VERIFY_FAILURES": "off",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_OTP_KEYS": generate_key(),
    }
    results = []
    with bench_stack(**env) as stack:
        stack.start_workers(1, concurrency=32)
        control = stack.sandbox.control
        settings = Settings.from_env(stack.env)
        bound = cancel_bound(settings)
        for run in range(args.runs):
            control.reset()
            control.set_faults(latency_ms=args.latency_ms)
            campaigns = Campaigns(settings)
            rows = [{"destination": n} for n in numbers(args.rows, start=run * args.rows)]
            report = campaigns.start(
                rows, brand_name="Bench", source="Cancel", name=f"run{run}", batch_size=args.batch
            )
            while len(control.outbox()) < 20:
                time.sleep(0.02)
            began = time.monotonic()
            status = campaigns.cancel(report.campaign_id)
            took = time.monotonic() - began
            at_return = len(control.outbox())
            while not campaigns.status(report.campaign_id).done:
                time.sleep(0.1)
            after = len(control.outbox())
            campaigns.close()
            results.append(
                [
                    run,
                    at_return,
                    after,
                    status.in_flight,
                    f"{took:.3f}",
                    f"{took / (args.latency_ms / 1000):.2f}",
                    f"{took / bound:.3f}",
                ]
            )
    header = ["run", "texts at return", "texts at end", "in_flight", "cancel s", "÷ latency"]
    print(table(results, [*header, "÷ bound"]))


if __name__ == "__main__":
    main()
