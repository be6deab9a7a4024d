"""Worker memory: RSS stays flat (within 10 %) across many jobs.

    python bench/worker_memory.py [--jobs 20000]

One worker process (threads pool) runs --jobs sends against the sandbox; its RSS is
read from /proc after the first tenth (warm: clients built, caches filled) and at the
end. Jobs are queued in chunks so the queue never holds more than a few thousand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import bench_stack, numbers, table

CHUNK = 2000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    args = parser.parse_args()
    env = {
        "OTPQ_SEND_RATE": "100000",
        "OTPQ_DESTINATION_SENDS": "0",
        "OTPQ_RESEND_COOLDOWN": "0",
        "OTPQ_RESULT_TTL": "600",
    }
    with bench_stack(**env) as stack:
        (worker,) = stack.start_workers(1, concurrency=32)
        client = stack.client()
        warm = None
        trend: list[str] = []
        started = time.time()
        for offset in range(0, args.jobs, CHUNK):
            ids = [client.send(n, "Bench", "Memory") for n in numbers(CHUNK, start=offset)]
            client.wait(ids[-1], timeout=600)
            rss = rss_mb(worker.pid)  # type: ignore[arg-type]
            warm = rss if warm is None else warm
            done = offset + CHUNK
            if done % max(CHUNK, args.jobs // 10 // CHUNK * CHUNK) == 0:
                trend.append(f"{done:,}: {rss:.1f}")
        end = rss_mb(worker.pid)  # type: ignore[arg-type]
        client.close()
    assert warm is not None
    print("RSS (MB) after jobs — " + ", ".join(trend))
    print(
        table(
            [
                (
                    f"worker RSS after {args.jobs:,} jobs",
                    f"{end:.1f} MB",
                    f"{warm:.1f} MB",
                    f"{end / warm:.3f}",
                    "≤ 1.10",
                )
            ],
            header=("figure", "measured", f"baseline (after {CHUNK:,} jobs)", "ratio", "goal"),
        )
    )
    print(f"({args.jobs:,} sends in {time.time() - started:.0f}s)")


if __name__ == "__main__":
    main()
