"""Where a worker's CPU goes, per job: py-spy samples of one worker draining sends.

    python bench/profile.py [--jobs 3000] [--concurrency 128] [--app worker|boto]
                            [--top 25] [--rate 250] [--save stacks.txt]

Needs `py-spy` (`pip install py-spy`; not a dependency of otpq). One worker process
drains --jobs sends staged in Redis (bench/throughput.py's drain) while py-spy samples
the stack of the thread holding the GIL (Python CPU, not waits). Printed:
  * the share of samples by the package of the running (leaf) frame;
  * otpq's steps: for samples taken inside otpq's code, the innermost otpq function on
    the stack (what otpq was doing, Redis and botocore work it asked for included).
`--app boto` profiles the bare boto3 baseline (bench/boto_app.py) instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import bench_stack, numbers, table
from bench.throughput import cpu_seconds, done_rate, start

ROOT = Path(__file__).resolve().parents[1]
OTPQ_PACKAGES = ("worker", "otpq_core", "producer")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def package_of(path: str) -> str:
    """`.../site-packages/kombu/transport/redis.py` → `kombu`; otpq's own by folder."""
    path = path.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(ROOT)) or not path.startswith("/"):
        rel = path.removeprefix(str(ROOT) + "/")
        return rel.split("/", 1)[0].removesuffix(".py")
    return "python (stdlib)"


def parse(line: str) -> tuple[list[tuple[str, str]], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    frames = []
    for raw in stack.split(";"):
        match = _FRAME.match(raw.strip())
        if match:
            frames.append((match["func"], match["file"]))
    return frames, int(count)


def summarize(lines: list[str], top: int) -> tuple[Counter[str], Counter[str], int]:
    by_package: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    total = 0
    for line in lines:
        if not line.strip():
            continue
        frames, count = parse(line)
        if not frames:
            continue
        total += count
        by_package[package_of(frames[-1][1])] += count
        for func, file in reversed(frames):
            if package_of(file) in OTPQ_PACKAGES:
                rel = file.removeprefix(str(ROOT) + "/")
                by_step[f"{rel}:{func}"] += count
                break
    return by_package, by_step, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--app", choices=("worker", "boto"), default="worker")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--pool", default="threads")
    parser.add_argument("--save", help="keep the collapsed stacks in this file")
    parser.add_argument(
        "--batch", type=int, default=0, help="rows per otp.send_batch (a campaign) instead"
    )
    args = parser.parse_args()
    if not shutil.which("py-spy"):
        sys.exit("bench/profile.py needs py-spy: pip install py-spy")
    limits = {"OTPQ_SEND_RATE": "100000", "OTPQ_VERIFY_RATE": "100000"}
    if args.batch:
        limits.update(OTPQ_BATCH_CONCURRENCY=str(args.concurrency), OTPQ_RESEND_COOLDOWN="0")
        limits.update(OTPQ_DESTINATION_SENDS="0")
    with bench_stack(**limits) as stack:
        os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
        r = redis.Redis.from_url(stack.env["REDIS_URL"])
        destinations = numbers(args.jobs, start=700_000)
        if args.app == "boto":
            from bench.noop_app import app as noop

            ids = [str(uuid.uuid4()) for _ in destinations]
            for job_id, n in zip(ids, destinations, strict=True):
                noop.send_task("boto", kwargs={"destination": n}, task_id=job_id, queue="noop")
            queue, app = "noop", "bench.boto_app"
            stack.env["BENCH_POOL_CONNECTIONS"] = str(args.concurrency)
        elif args.batch:
            from otpq_core.settings import Settings
            from producer.campaign import Campaigns

            campaigns = Campaigns(Settings.from_env(stack.env))
            rows = [{"destination": n} for n in destinations]
            report = campaigns.start(
                rows, brand_name="Bench", source="Profile", batch_size=args.batch
            )
            ids = [campaigns.row_job_id(report.campaign_id, n) for n in destinations]
            campaigns.close()
            queue, app = "otp.bulk", "worker"
        else:
            client = stack.client()
            ids = [client.send(n, "Bench", "Profile", deadline=3600) for n in destinations]
            client.close()
            queue, app = "otp.interactive", "worker"
        r.rename(queue, "bench-staged")
        slots = 8 if args.batch else args.concurrency
        (worker,) = start(stack, 1, slots, app, args.pool)
        out = stack.workdir / "stacks.txt"
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(worker.pid), "--rate", str(args.rate),
             "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        before = cpu_seconds(worker.pid or 0)
        r.rename("bench-staged", queue)
        rate = done_rate(r, ids, timeout=600)
        cpu = cpu_seconds(worker.pid or 0) - before
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        lines = [
            re.sub(r"^process \d+:[^;]*;|^thread \([^)]*\);", "", ln)
            for ln in out.read_text().splitlines()
        ]
        lines = [re.sub(r"^thread \([^)]*\);", "", ln) for ln in lines]
        if args.save:
            Path(args.save).write_text("\n".join(lines) + "\n")
        stack.stop_workers()
    by_package, by_step, total = summarize(lines, args.top)
    per_job = cpu / len(ids) * 1000

    def shares(counts: Counter[str], n: int) -> list[tuple[str, str, str]]:
        return [
            (name, f"{k / total:.1%}", f"{per_job * k / total:.3f}")
            for name, k in counts.most_common(n)
        ]

    print(f"{args.app}: {rate:.0f} jobs/s, {per_job:.2f} ms CPU per job, {total} samples\n")
    print(table(shares(by_package, 12), header=("package running", "samples", "ms per job")))
    print()
    header = ("innermost otpq function on the stack", "samples", "ms per job")
    print(table(shares(by_step, args.top), header=header))


if __name__ == "__main__":
    main()
