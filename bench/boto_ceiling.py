"""The ceiling of any bulk design on this machine: bare boto3 calls to the sandbox.

No Celery, no Redis, no otpq: `processes` processes, each with one warmed boto3 client
and a pool of `threads` threads, send `rows` SendOTPMessage requests between them as
fast as they can. A bulk lane that calls Pinpoint once per row cannot beat this on
the same machine, whatever it batches; botocore's own CPU per call (and the sandbox's,
which shares the cores) set it.

    python bench/boto_ceiling.py [--rows 3000] [--processes 2] [--threads 32]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import APP_ID, bench_stack, numbers, send_otp_parameters


def _calls(
    endpoint: str, destinations: list[str], threads: int, go: Any, out: Any
) -> None:  # in a child process
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "pinpoint",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=threads),
    )

    def call(destination: str) -> None:
        client.send_otp_message(
            ApplicationId=APP_ID,
            SendOTPMessageRequestParameters=send_otp_parameters(destination, "ceiling"),
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, destinations[:threads]))  # warm: connections, client
        go.wait(timeout=120)
        started = time.time()
        list(pool.map(call, destinations[threads:]))
        out.put((started, time.time(), len(destinations) - threads))


def ceiling(endpoint: str, rows: int, processes: int, threads: int, offset: int = 0) -> float:
    """Rows per second of bare boto3 calls, all processes started together."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Barrier(processes + 1), ctx.Queue()
    share = rows // processes + threads
    children = [
        ctx.Process(
            target=_calls,
            args=(endpoint, numbers(share, start=offset + i * share), threads, go, out),
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    go.wait(timeout=120)  # every child warmed up: all start together
    spans = [out.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return sum(n for _, _, n in spans) / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    with bench_stack() as stack:
        rate = ceiling(stack.sandbox.url, args.rows, args.processes, args.threads)
    print(f"bare boto3 calls/s: {rate:.0f} ({args.processes} processes × {args.threads} threads)")


if __name__ == "__main__":
    main()
