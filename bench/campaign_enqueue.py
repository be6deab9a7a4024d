"""Campaign enqueue speed and memory, against baselines measured in the same run.

    PYTHONPATH=$PWD python bench/campaign_enqueue.py                  # full run
    PYTHONPATH=$PWD python bench/campaign_enqueue.py --rows 20000 --memory-rows 200000

1. Enqueue N rows (default 100,000) onto otp.bulk in a throwaway redis-server, no worker:
   - naive: one `send_task` (what `apply_async` does) per row, kwargs already validated;
   - campaign push: the same rows as hand-built messages, a chunk per Redis call (the
     second pass of `Campaigns.start`);
   - campaign start: the whole start (validate every row with SendRequest, count new rows
     in Redis, push);
   - naive OtpClient.send loop (validate + send_task) on a sample, for the end-to-end ratio.
2. Peak RSS of `Campaigns.start_csv` in a fresh process, for a CSV of 100,000 rows and one
   of 1,000,000 (default): memory must not grow with the file.

Not a test (pytest never collects bench/): it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from otpq_core.redaction import redact_kwargs
from otpq_core.settings import Settings
from otpq_core.wire import BULK, CAMPAIGN_HEADER, DEADLINE_HEADER, SEND_TASK
from otpq_local.redis_server import RedisServer
from producer.campaign import Campaigns
from producer.campaign import start as starting
from producer.client import OtpClient, make_app

BRAND, SOURCE = "ExampleCorp", "Bench"


def _area_codes() -> list[int]:
    import phonenumbers

    def valid(ac: int) -> bool:
        return all(
            phonenumbers.is_valid_number(phonenumbers.parse(f"+1{ac}555{x:04d}")) for x in (0, 9999)
        )

    return [ac for ac in range(200, 1000) if valid(ac)]


#: US area codes whose 555 exchange phonenumbers accepts: 4.5 million distinct numbers.
AREA_CODES = _area_codes()


def number(i: int) -> str:
    return f"+1{AREA_CODES[i // 10_000]}555{i % 10_000:04d}"


def destinations(n: int) -> list[str]:
    return [number(i) for i in range(n)]


def flush(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushall(asynchronous=True)  # a million queued messages take a while to free
    client.close()


def naive_send_task(settings: Settings, numbers: list[str]) -> float:
    app = make_app(settings)
    campaign = str(uuid.uuid4())
    started = time.perf_counter()
    for destination in numbers:
        kwargs = {"destination": destination, "brand_name": BRAND, "source": SOURCE}
        app.send_task(
            SEND_TASK,
            kwargs=kwargs,
            queue=BULK,
            task_id=str(uuid.uuid4()),
            headers={DEADLINE_HEADER: time.time() + 3600, CAMPAIGN_HEADER: campaign},
            argsrepr="()",
            kwargsrepr=repr(redact_kwargs(kwargs)),
            retry=False,
        )
    elapsed = time.perf_counter() - started
    app.close()
    return elapsed


def naive_client_send(settings: Settings, numbers: list[str]) -> float:
    client = OtpClient(settings)
    started = time.perf_counter()
    for destination in numbers:
        client.send(destination, BRAND, SOURCE, lane="bulk")
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def campaign_start(settings: Settings, csv_path: Path) -> tuple[float, float, int]:
    """`otpq campaign start FILE`'s path: (whole start seconds, push-pass seconds, rows
    queued). Files over 1 MiB are checked on every core (producer/campaign/parallel.py)."""
    pushed: list[float] = []
    # The push pass (one message per row, or per batch: the default) is timed.
    original = starting.push

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        original(*args, **kwargs)
        pushed.append(time.perf_counter() - t)

    starting.push = timed  # type: ignore[assignment]
    try:
        campaigns = Campaigns(settings)
        started = time.perf_counter()
        report = campaigns.start_csv(csv_path, brand_name=BRAND, source=SOURCE)
        elapsed = time.perf_counter() - started
        campaigns.close()
    finally:
        starting.push = original  # type: ignore[assignment]
    return elapsed, pushed[0], report.enqueued


def proc_status_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process. Not getrusage's ru_maxrss: Linux
    carries the parent's peak across fork and exec, so a child would report the bench's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(path: str, url: str) -> None:
    """In a fresh process: start a campaign from a CSV and report peak RSS."""
    settings = Settings.from_env({"REDIS_URL": url, "OTPQ_SEND_RATE": "0"})
    campaigns = Campaigns(settings)
    before = proc_status_kb("VmRSS")
    started = time.perf_counter()
    report = campaigns.start_csv(path, brand_name=BRAND, source=SOURCE)
    elapsed = time.perf_counter() - started
    peak = proc_status_kb("VmHWM")
    used = int(campaigns.redis.info("memory")["used_memory"])
    print(json.dumps({"before_kb": before, "peak_kb": peak, "seconds": elapsed,
                      "enqueued": report.enqueued, "redis_bytes": used}))  # fmt: skip


def write_csv(path: Path, n: int) -> None:
    with path.open("w") as out:
        out.write("destination\n")
        for i in range(n):
            out.write(number(i) + "\n")


def measure_memory(url: str, rows: int, workdir: Path) -> dict[str, float]:
    flush(url)
    path = workdir / f"rows-{rows}.csv"
    write_csv(path, rows)
    done = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(path), url],
        capture_output=True, text=True, check=True, env={**os.environ},
    )  # fmt: skip
    path.unlink()
    flush(url)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=None, help="default: --rows")
    parser.add_argument("--client-rows", type=int, default=10_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--memory-child", nargs=2, metavar=("CSV", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    naive_rows = args.naive_rows or args.rows
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="otpq-bench-") as tmp:
        settings = Settings.from_env({"REDIS_URL": server.url, "OTPQ_SEND_RATE": "0"})
        numbers = destinations(args.rows)
        version = sys.version.split()[0]
        print(f"enqueue onto {BULK} (throwaway redis-server, no worker), python {version}")

        flush(server.url)
        naive = naive_rows / naive_send_task(settings, numbers[:naive_rows])
        flush(server.url)
        csv_path = Path(tmp) / "start.csv"
        write_csv(csv_path, args.rows)
        whole, push, queued = campaign_start(settings, csv_path)
        csv_path.unlink()
        assert queued == args.rows, queued
        flush(server.url)
        client_rate = args.client_rows / naive_client_send(settings, numbers[: args.client_rows])
        flush(server.url)

        rows = [
            ("naive send_task loop (apply_async)", naive_rows, naive_rows / naive, naive),
            ("campaign push (2nd pass)", args.rows, push, args.rows / push),
            ("campaign start, CSV (check+count+push)", args.rows, whole, args.rows / whole),
            ("naive OtpClient.send loop (validate)", args.client_rows,
             args.client_rows / client_rate, client_rate),
        ]  # fmt: skip
        print(f"{'path':<40}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'vs naive':>10}")
        for label, n, seconds, rate in rows:
            print(f"{label:<40}{n:>10,}{seconds:>10.1f}{rate:>10,.0f}{rate / naive:>9.1f}x")
        print(f"campaign start vs OtpClient.send loop: {(args.rows / whole) / client_rate:.1f}x")
        sys.stdout.flush()

        print("\npeak RSS of `Campaigns.start_csv` in a fresh process")
        print(
            f"{'rows':>12}{'RSS before MB':>15}{'peak RSS MB':>13}{'seconds':>10}{'rows/s':>10}"
            f"{'Redis B/row':>13}"
        )
        sizes = sorted({min(100_000, args.memory_rows), args.memory_rows})
        for size in sizes:
            got = measure_memory(server.url, size, Path(tmp))
            assert got["enqueued"] == size, got
            print(
                f"{size:>12,}{got['before_kb'] / 1024:>15.1f}{got['peak_kb'] / 1024:>13.1f}"
                f"{got['seconds']:>10.1f}{size / got['seconds']:>10,.0f}"
                f"{got['redis_bytes'] / size:>13,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
