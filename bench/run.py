"""Every benchmark, one command; each prints its figures beside a baseline from the same run.

    python bench/run.py            # the figures quoted in the README (about 25 minutes)
    python bench/run.py --quick    # smaller sizes, a few minutes

Nothing here is collected by pytest, and nothing asserts: a benchmark reports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (script, full-size arguments, quick arguments): issue 15's figures first.
BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("lanes.py", ["--profile", "general"], ["--profile", "general", "--probes", "10"]),
    ("lanes.py", ["--profile", "general", "--batch-size", "100"],
     ["--profile", "general", "--batch-size", "100", "--probes", "10"]),
    ("lanes.py", ["--profile", "dedicated"], ["--profile", "dedicated", "--probes", "10"]),
    ("throughput.py", ["--jobs", "3000", "--concurrency", "128", "--repeat", "3"],
     ["--jobs", "1000", "--concurrency", "128"]),
    ("throughput.py", ["--jobs", "3000", "--concurrency", "200", "--pool", "gevent",
                       "--repeat", "3"],
     ["--jobs", "1000", "--concurrency", "200", "--pool", "gevent"]),
    ("pools.py", ["--rounds", "5", "--jobs", "3000"], ["--rounds", "1", "--jobs", "1000"]),
    ("bulk_batch.py", ["--pool", "gevent", "--repeat", "3"],
     ["--pool", "gevent", "--rows", "2000"]),
    ("bulk_batch.py", ["--pool", "threads", "--repeat", "3"],
     ["--pool", "threads", "--rows", "2000"]),
    ("rate_limits.py", ["--rate", "40", "--seconds", "10"], ["--rate", "40", "--seconds", "6"]),
    ("limiter_concurrency.py", ["--seconds", "10"], ["--seconds", "2"]),
    ("campaign_enqueue.py", [], ["--rows", "20000", "--memory-rows", "100000"]),
    ("worker_memory.py", ["--jobs", "100000"], ["--jobs", "4000"]),
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("only", nargs="*", help="run only these scripts (e.g. lanes.py)")
    args = parser.parse_args()
    failed = 0
    for script, full, quick in BENCHES:
        if args.only and script not in args.only:
            continue
        if not (HERE / script).exists():
            continue
        print(f"\n== {script} {' '.join(quick if args.quick else full)}", flush=True)
        started = time.time()
        done = subprocess.run(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        )
        failed += done.returncode != 0
        print(f"   ({time.time() - started:.0f}s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
