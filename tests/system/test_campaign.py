"""`otpq campaign ...` as separate processes against a real worker, Redis and the sandbox:
a 2,000-row campaign completes with the right counts, a re-run texts nobody, invalid
rows are reported by line, budgets refuse up front, cancel stops the rest, and verify
jobs move the answer counts."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from otpq_core.campaign_keys import daily_key
from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer
from otpq_local.worker_process import WorkerProcess
from producer.campaign import Campaigns
from producer.client import OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers, wait_until
from tests.integration.conftest import wait_campaign_done, worker_env

pytestmark = pytest.mark.system

BRAND = "ExampleCorp"
ROOT = Path(__file__).resolve().parents[2]


def number(i: int) -> str:
    return f"+1206555{i:04d}"


def write_csv(path: Path, numbers: list[str], *, header: str = "destination") -> Path:
    path.write_text(header + "\n" + "".join(f"{n}\n" for n in numbers))
    return path


@pytest.fixture(scope="module")
def env(redis_server: RedisServer, sandbox: PinpointSandbox) -> dict[str, str]:
    return worker_env(redis_server, sandbox, OTPQ_SEND_RATE="0")


@pytest.fixture(scope="module")
def worker(env: dict[str, str], start_module_worker: Workers) -> WorkerProcess:
    return start_module_worker(env, "campaign-sys")


@pytest.fixture
def campaigns(env: dict[str, str]) -> Iterator[Campaigns]:
    c = Campaigns(Settings.from_env(env))
    yield c
    c.close()


def otpq(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", "campaign", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start(env: dict[str, str], path: Path, source: str, *extra: str) -> dict[str, Any]:
    done = otpq(env, "start", str(path), "--brand", BRAND, "--source", source, "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def watch(env: dict[str, str], cid: str) -> dict[str, Any]:
    """`status --watch --json` until every row is done; its last line."""
    done = otpq(env, "status", cid, "--watch", "--json", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_two_thousand_rows_complete_and_a_rerun_texts_nobody(
    env: dict[str, str], worker: WorkerProcess, pinpoint: SandboxControl, tmp_path: Path
) -> None:
    numbers = [number(i) for i in range(2000)]
    # Line 1 is the header: bad rows on lines 3 and 2005; five numbers twice at the end.
    lines = [numbers[0], "+1206", *numbers[1:], "12065550000", *numbers[:5]]
    path = write_csv(tmp_path / "reverify.csv", lines)
    report = start(env, path, "Reverify2026")
    assert report["enqueued"] == 2000 and report["skipped_duplicate"] == 5
    assert [(row["line"], row["field"]) for row in report["invalid_rows"]] == [
        (3, "destination"),
        (2003, "destination"),
    ]
    final = watch(env, report["campaign_id"])
    assert (final["sent"], final["queued"], final["total"], final["failed"]) == (2000, 0, 2000, {})
    assert len(pinpoint.outbox()) == 2000

    again = start(env, path, "Reverify2026")
    assert again["campaign_id"] == report["campaign_id"]
    assert (again["enqueued"], again["skipped_existing"], again["skipped_duplicate"]) == (
        0,
        2000,
        5,
    )
    # A barrier instead of a guessed sleep: a row queued after the re-run is sent only
    # once the lane has taken what was queued before it, so a row queued by mistake
    # would be in the outbox by the time the barrier's is.
    barrier = write_csv(tmp_path / "barrier.csv", [number(2999)])
    assert watch(env, start(env, barrier, "Barrier")["campaign_id"])["sent"] == 1
    assert len(pinpoint.outbox()) == 2001

    human = otpq(env, "status", report["campaign_id"])
    assert "sent      2,000" in human.stdout and "done" in human.stdout
    masked, full = tmp_path / "out.csv", tmp_path / "full.csv"
    assert otpq(env, "export", report["campaign_id"], str(masked)).returncode == 0
    assert otpq(env, "export", report["campaign_id"], str(full), "--unmasked").returncode == 0
    with masked.open() as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 2000 and {row["state"] for row in exported} == {"sent"}
    assert "+1********00" in masked.read_text() and number(1999) not in masked.read_text()
    assert number(1999) in full.read_text() and oct(full.stat().st_mode & 0o777) == "0o600"


def test_invalid_rows_by_line_and_strict_queues_nothing(
    env: dict[str, str], worker: WorkerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "destination,code_length\n"
        f"{number(3000)},6\n"
        f"{number(3001)},4\n"  # line 3: too short a code
        "hello,\n"  # line 4
    )
    strict = otpq(env, "start", str(path), "--brand", BRAND, "--source", "Strict", "--strict")
    assert strict.returncode == 2
    assert "line 3: code_length" in strict.stderr and "line 4: destination" in strict.stderr
    assert "nothing queued" in strict.stderr and strict.stdout == ""

    lenient = otpq(env, "start", str(path), "--brand", BRAND, "--source", "Strict")
    assert lenient.returncode == 0 and "line 3: code_length" in lenient.stderr
    assert "queued 1 of 3 rows" in lenient.stderr
    assert watch(env, lenient.stdout.strip())["sent"] == 1

    unknown = otpq(env, "status", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "no campaign" in unknown.stderr


def test_budgets_refuse_up_front_and_say_by_how_much(
    env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "budget.csv", [number(4000 + i) for i in range(15)])
    slow = {**env, "OTPQ_SEND_RATE": "1", "OTPQ_BULK_DEADLINE": "10"}
    refused = otpq(slow, "start", str(path), "--brand", BRAND, "--source", "Budget", "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["refused"] == "deadline"
    assert "5 rows too many" in refused.stderr and "OTPQ_BULK_DEADLINE" in refused.stderr

    client = redis.Redis.from_url(redis_server.url)
    used = int(client.get(daily_key()) or 0)
    client.close()
    capped = {**env, "OTPQ_DAILY_SEND_CAP": str(used + 12)}
    refused = otpq(capped, "start", str(path), "--brand", BRAND, "--source", "Budget")
    assert refused.returncode == 2
    assert "OTPQ_DAILY_SEND_CAP" in refused.stderr and "by 3" in refused.stderr
    refused = otpq(env, "status", "not-an-id")
    assert refused.returncode == 2


def test_cancel_stops_the_rest(
    env: dict[str, str],
    worker: WorkerProcess,
    pinpoint: SandboxControl,
    campaigns: Campaigns,
    tmp_path: Path,
) -> None:
    # Each call takes 2 s: the worker's 32 batch threads send at most 16 rows/s, so
    # sending all 400 takes 25 s and rows are certainly pending when cancel lands.
    pinpoint.set_faults(latency_ms=2000)
    path = write_csv(tmp_path / "cancel.csv", [number(5000 + i) for i in range(400)])
    cid = start(env, path, "Cancel")["campaign_id"]
    wait_until(lambda: len(pinpoint.outbox()) >= 20, what="the first 20 sends")
    cancelled = otpq(env, "cancel", cid, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    report = json.loads(cancelled.stdout)
    # Cancel returns once the rows already at AWS have ended: what it reports as sent
    # is final; the rest it reports either cancelled already or not yet ended, and
    # every one of those ends cancelled.
    assert report["in_flight"] == 0 and report["sent"] >= 20 and report["failed"] == {}
    assert report["queued"] + report["cancelled_rows"] == 400 - report["sent"] > 0
    final = watch(env, cid)
    assert final["cancelled"] and final["sent"] == report["sent"] and final["failed"] == {}
    assert final["cancelled_rows"] == 400 - report["sent"]
    assert len(pinpoint.outbox()) == final["sent"]
    again = otpq(env, "start", str(path), "--brand", BRAND, "--source", "Cancel")
    assert again.returncode == 2 and "cancelled" in again.stderr


def test_verify_jobs_move_the_campaigns_answer_counts(
    env: dict[str, str], worker: WorkerProcess, pinpoint: SandboxControl, campaigns: Campaigns
) -> None:
    source = "Answers"
    report = campaigns.start(
        [{"destination": number(6000 + i)} for i in range(4)], brand_name=BRAND, source=source
    )
    assert wait_campaign_done(campaigns, report.campaign_id).sent == 4
    client = OtpClient(Settings.from_env(env))

    def verify(i: int, right: bool) -> None:
        code = pinpoint.outbox(destination=number(6000 + i))[-1]["code"]
        typed = code if right else str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
        result = client.wait(client.verify(number(6000 + i), typed, BRAND, source), timeout=30)
        assert result.state == "succeeded"

    verify(0, right=True)
    verify(0, right=True)  # a second valid answer is not a second verified number
    verify(1, right=False)
    verify(1, right=True)
    verify(2, right=False)
    client.close()

    # The campaign hook runs just after the verify's result is stored: wait for it.
    def answers() -> tuple[int, int]:
        status = campaigns.status(report.campaign_id)
        return status.verified, status.rejected

    wait_until(
        lambda: answers() == (2, 1),
        what="the answer counts",
    )
    status = json.loads(otpq(env, "status", report.campaign_id, "--json").stdout)
    assert (status["verified"], status["rejected"]) == (2, 1)


def test_batch_size_from_the_command_line(
    env: dict[str, str], worker: WorkerProcess, pinpoint: SandboxControl, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "single.csv", [number(7000 + i) for i in range(12)])
    report = start(env, path, "OnePerRow", "--batch-size", "1")
    assert report["enqueued"] == 12
    assert watch(env, report["campaign_id"])["sent"] == 12
    assert len(pinpoint.outbox()) == 12
    refused = otpq(
        env, "start", str(path), "--brand", BRAND, "--source", "Zero", "--batch-size", "0"
    )
    assert refused.returncode == 2 and "batch_size" in refused.stderr
