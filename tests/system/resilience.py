"""Shared parts of the crash and restart tests: a load of sends with one destination
per job, a poll until every job is terminal, and the duplicate count from the outbox.

Kept out of a conftest so these tests import exactly what they use.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
import pytest

from producer.client import JobStatus, OtpClient
from sandbox import SandboxControl
from tests.helpers import wait_until

JOB = {"brand_name": "ExampleCorp", "source": "CrashTest"}

#: Settings that keep every hold short, so a low visibility timeout passes
#: Settings.check (≥ 2 × the longest hold: 2 + 1 + 2 = 5 s) and redelivery takes
#: seconds, not a minute.
FAST_RECOVERY = {
    # OTPQ_CRASH_VISIBILITY_TIMEOUT=60 measures the production default instead.
    "OTPQ_VISIBILITY_TIMEOUT": os.environ.get("OTPQ_CRASH_VISIBILITY_TIMEOUT", "12"),
    "OTPQ_MAX_CAPACITY_WAIT": "2",
    "OTPQ_CONNECT_TIMEOUT": "1",
    "OTPQ_READ_TIMEOUT": "2",
}


def destinations(count: int, first: int = 0) -> list[str]:
    """Distinct, valid US numbers (+1425555XXXX), one per job."""
    numbers = [f"+1425555{first + i:04d}" for i in range(count)]
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers)
    return numbers


def enqueue(client: OtpClient, numbers: Iterable[str]) -> dict[str, str]:
    """job id → destination."""
    return {client.send(number, **JOB): number for number in numbers}


def wait_all(client: OtpClient, job_ids: Iterable[str], timeout: float) -> dict[str, JobStatus]:
    """Poll until every job is terminal; fails naming how many are not."""
    pending = set(job_ids)
    done: dict[str, JobStatus] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for job_id in list(pending):
            status = client.status(job_id)
            if status.done:
                done[job_id] = status
                pending.discard(job_id)
        if pending and time.monotonic() > deadline:
            states = collections.Counter(client.status(j).state for j in pending)
            pytest.fail(f"{len(pending)} jobs not terminal after {timeout}s: {dict(states)}")
        time.sleep(0.2)
    return done


def wait_for_sends(pinpoint: SandboxControl, count: int, timeout: float = 60) -> None:
    wait_until(lambda: len(pinpoint.outbox()) >= count, timeout, f"{count} sends")


@dataclass
class Tally:
    """What a load ended as, and how it squares with docs/guarantees.md."""

    outcomes: collections.Counter[str]
    sms_per_job: dict[str, int]

    @classmethod
    def of(
        cls, jobs: dict[str, str], statuses: dict[str, JobStatus], pinpoint: SandboxControl
    ) -> Tally:
        sent = collections.Counter(m["destination"] for m in pinpoint.outbox())
        outcomes = collections.Counter(s.reason or s.state for s in statuses.values())
        return cls(outcomes, {job: sent[dest] for job, dest in jobs.items()})

    @property
    def duplicates(self) -> int:
        return sum(1 for n in self.sms_per_job.values() if n > 1)

    def report(self, label: str, statuses: dict[str, JobStatus]) -> str:
        uncertain = [job for job, status in statuses.items() if status.reason == "uncertain"]
        reached = sum(1 for job in uncertain if self.sms_per_job[job])
        line = (
            f"{label}: {sum(self.outcomes.values())} jobs, outcomes {dict(self.outcomes)}, "
            f"duplicate sends {self.duplicates}; {reached} of {len(uncertain)} uncertain "
            f"jobs had reached Pinpoint"
        )
        print(line)
        return line

    def check(self, statuses: dict[str, JobStatus]) -> None:
        """Zero duplicates; succeeded ⇒ exactly one SMS; uncertain ⇒ at most one."""
        assert self.duplicates == 0, self.sms_per_job
        for job, status in statuses.items():  # jobs without a status were lost: not here
            if status.state == "succeeded":
                assert self.sms_per_job[job] == 1, status
            else:
                assert status.reason == "uncertain", status
                assert self.sms_per_job[job] <= 1, status
