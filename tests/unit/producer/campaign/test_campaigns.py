"""Campaigns without a worker: rows and CSV lines, dedup and re-runs, budgets, the
hand-built messages, the ledger's scripts, bounded memory. A real redis-server."""

from __future__ import annotations

import base64
import io
import json
import re
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from otpq_core import campaign_keys as keys
from otpq_core.campaign_ids import row_job_id
from otpq_core.celery_config import celery_config
from otpq_core.keys import KeyHasher
from otpq_core.outcomes import Cancelled, InvalidRequest, reason_of
from otpq_core.sealing import generate_key
from otpq_core.settings import Settings
from otpq_core.wire import BULK, CAMPAIGN_HEADER, DEADLINE_HEADER
from producer.campaign import CampaignRefused, Campaigns, InvalidRow, campaign_id
from producer.campaign.messages import origin, send_message
from producer.campaign.progress import ProgressBar, render
from producer.campaign.rows import parse_row
from producer.refid import generate_ref_id
from worker.campaign_ledger import CampaignLedger

BRAND, SOURCE = "ExampleCorp", "Reverify2026"


def number(i: int) -> str:
    return f"+1425555{i:04d}"


#: The deployment's OTP keys: a campaign keeps its numbers sealed under them.
KEYS = {"OTPQ_OTP_KEYS": generate_key()}


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"destination": number(i)} for i in range(start, start + n)]


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "OTPQ_SEND_RATE": "0", **KEYS})


@pytest.fixture
def campaigns(settings: Settings) -> Iterator[Campaigns]:
    c = Campaigns(settings)
    yield c
    c.close()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_ids_are_deterministic_and_distinct() -> None:
    a = campaign_id(BRAND, SOURCE, "q1")
    assert a == campaign_id(BRAND, SOURCE, "q1")
    assert a != campaign_id(BRAND, SOURCE, "q2") != campaign_id(BRAND, SOURCE)
    hasher, other = KeyHasher(b"k" * 32), KeyHasher(b"j" * 32)
    job = row_job_id(a, number(1), hasher)
    assert job == row_job_id(a, number(1), hasher) != row_job_id(a, number(2), hasher)
    # Keyed: without the key, nobody recomputes a row id from a candidate number.
    assert job != row_job_id(a, number(1), other)
    assert job not in {str(uuid.uuid5(uuid.UUID(a), number(1))), str(uuid.UUID(a))}


def test_csv_invalid_rows_are_reported_by_file_line(campaigns: Campaigns, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(
        "Destination,code_length,language\n"  # line 1
        f"{number(1)},6,en-US\n"  # 2
        "+1425,6,en-US\n"  # 3: not E.164
        "\n"  # 4: blank, skipped
        f"{number(2)},9,\n"  # 5: code_length out of range
        f'"{number(3)}",,"fr-\nFR"\n'  # 6-7: a quoted cell spanning two lines; bad language
        f"{number(4)},,de-DE,extra\n"  # 8: a cell too many
        f"{number(5)},7,\n"  # 9
    )
    report = campaigns.start_csv(path, brand_name=BRAND, source=SOURCE)
    assert [(row.line, row.field) for row in report.invalid_rows] == [
        (3, "destination"),
        (5, "code_length"),
        (6, "language"),
        (8, "row"),
    ]
    assert (report.rows, report.valid, report.invalid, report.enqueued) == (6, 2, 4, 2)
    shown = " ".join(str(row) for row in report.invalid_rows)
    assert "+1425," not in shown and number(2) not in shown  # never the value


def test_a_big_file_is_checked_on_every_core_with_the_same_report(
    campaigns: Campaigns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above a size, the first pass runs in worker processes (producer/campaign/
    parallel.py): same rows, same order, same invalid lines, same job ids."""
    monkeypatch.setattr("producer.campaign.parallel.CHUNK", 7)  # many chunks, few rows
    lines = [number(i) if i % 10 else "+1425" for i in range(60)] + [number(1), number(2)]
    path = tmp_path / "big.csv"
    path.write_text("destination\n" + "\n".join(lines) + "\n")
    serial = Campaigns(campaigns.settings)
    import producer.campaign.parallel as parallel

    pools: list[object] = []
    real_pool = parallel.ProcessPoolExecutor

    def counted(*args: object, **kwargs: object) -> object:
        pools.append(args)
        return real_pool(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", counted)
    monkeypatch.setattr("producer.campaign.campaigns.processes_for", lambda size: 2)
    report = campaigns.start_csv(path, brand_name=BRAND, source=SOURCE, name="parallel")
    monkeypatch.setattr("producer.campaign.campaigns.processes_for", lambda size: 1)
    again = serial.start_csv(path, brand_name=BRAND, source=SOURCE, name="serial")
    serial.close()
    assert len(pools) == 1  # the first start ran in worker processes, the second not
    assert [(row.line, row.field) for row in report.invalid_rows] == [
        (2 + i, "destination") for i in range(0, 60, 10)
    ]
    assert (report.rows, report.invalid, report.enqueued, report.skipped_duplicate) == (
        62, 6, 54, 2,
    )  # fmt: skip
    assert [(row.line, row.field) for row in again.invalid_rows] == [
        (row.line, row.field) for row in report.invalid_rows
    ]
    assert (again.rows, again.invalid, again.enqueued) == (62, 6, 54)
    assert campaigns.status(report.campaign_id).queued == 54


def test_processes_only_for_big_inputs() -> None:
    from producer.campaign.parallel import processes_for

    assert processes_for(10_000) == 1
    assert processes_for(50 << 20) >= 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "empty"), ("phone\n+14255550101\n", "unknown column 'phone'"), ("language\n", "no 'de")],
)
def test_unusable_file_is_refused(
    campaigns: Campaigns, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CampaignRefused) as info:
        campaigns.start_csv(path, brand_name=BRAND, source=SOURCE)
    assert info.value.kind == "file" and needle in str(info.value)


def test_bad_brand_is_refused_once_not_per_row(campaigns: Campaigns) -> None:
    with pytest.raises(InvalidRequest) as info:
        campaigns.start(rows(3), brand_name="B" * 21, source=SOURCE)
    assert info.value.field == "brand_name"


def test_row_columns_and_types() -> None:
    parsed = parse_row(2, {"destination": f" {number(1)} ", "code_length": "8"}, BRAND, SOURCE)
    assert not isinstance(parsed, InvalidRow)
    assert parsed.code_length == 8 and parsed.destination == number(1)
    unknown = parse_row(3, {"destination": number(1), "otp": "1"}, BRAND, SOURCE)
    assert isinstance(unknown, InvalidRow) and unknown.field == "otp"
    not_a_mapping = parse_row(4, ["+1"], BRAND, SOURCE)
    assert isinstance(not_a_mapping, InvalidRow) and not_a_mapping.field == "row"


def test_duplicates_are_sent_once_and_a_rerun_queues_nothing(
    campaigns: Campaigns, r: redis.Redis
) -> None:
    batch = rows(30) + rows(5)  # five numbers twice
    first = campaigns.start(batch, brand_name=BRAND, source=SOURCE, name="dup", batch_size=1)
    assert (first.enqueued, first.skipped_duplicate, first.skipped_existing) == (30, 5, 0)
    assert r.llen(BULK) == 30
    again = campaigns.start(rows(40), brand_name=BRAND, source=SOURCE, name="dup", batch_size=1)
    assert (again.enqueued, again.skipped_existing) == (10, 30)
    assert r.llen(BULK) == 40
    status = campaigns.status(first.campaign_id)
    assert (status.total, status.queued) == (40, 40)


def test_strict_refuses_everything_when_one_row_is_invalid(
    campaigns: Campaigns, r: redis.Redis
) -> None:
    with pytest.raises(CampaignRefused) as info:
        campaigns.start([*rows(5), {"destination": "+1"}], brand_name=BRAND, source=SOURCE,
                        strict=True)  # fmt: skip
    assert info.value.kind == "invalid_rows"
    assert [row.line for row in info.value.report.invalid_rows] == [6]
    assert r.llen(BULK) == 0 and not r.keys("otpq:campaign:*")


def test_deadline_refusal_says_by_how_much(redis_url: str, r: redis.Redis) -> None:
    env = {"REDIS_URL": redis_url, "OTPQ_SEND_RATE": "2", "OTPQ_BULK_DEADLINE": "10"}
    c = Campaigns(Settings.from_env(env))
    with pytest.raises(CampaignRefused) as info:
        c.start(rows(25), brand_name=BRAND, source=SOURCE)
    assert info.value.kind == "deadline"
    assert "5 rows too many" in str(info.value) and "at most 20 fit" in str(info.value)
    assert r.llen(BULK) == 0
    assert c.start(rows(20), brand_name=BRAND, source=SOURCE).enqueued == 20
    c.close()


def test_daily_cap_counts_other_sends_and_reserves_whole_campaigns(
    redis_url: str, r: redis.Redis
) -> None:
    c = Campaigns(Settings.from_env({"REDIS_URL": redis_url, "OTPQ_DAILY_SEND_CAP": "20"}))
    for _ in range(4):
        CampaignLedger(r).count_send()  # what the worker does for each send outside campaigns
    assert c.start(rows(10), brand_name=BRAND, source=SOURCE, name="a").enqueued == 10
    with pytest.raises(CampaignRefused) as info:
        c.start(rows(10, 100), brand_name=BRAND, source=SOURCE, name="b")
    assert info.value.kind == "daily_cap"
    assert "by 4" in str(info.value) and "14 already" in str(info.value)
    assert r.llen(BULK) == 1  # one otp.send_batch message of 10 rows
    c.close()


def test_a_cancelled_campaign_cannot_start_again(campaigns: Campaigns) -> None:
    report = campaigns.start(rows(3), brand_name=BRAND, source=SOURCE)
    assert campaigns.cancel(report.campaign_id).cancelled
    with pytest.raises(CampaignRefused) as info:
        campaigns.start(rows(3), brand_name=BRAND, source=SOURCE)
    assert info.value.kind == "cancelled"


def test_message_is_kombus_format_with_redacted_reprs(
    campaigns: Campaigns, redis_url: str, r: redis.Redis
) -> None:
    app = Celery("ref", set_as_current=False)
    app.conf.update(celery_config(Settings.from_env({"REDIS_URL": redis_url})))
    app.send_task("otp.send", kwargs={"destination": number(7)}, queue=BULK,
                  headers={DEADLINE_HEADER: 1.0, CAMPAIGN_HEADER: "x"})  # fmt: skip
    reference = json.loads(r.rpop(BULK))
    app.close()
    report = campaigns.start(
        [{"destination": number(7)}], brand_name=BRAND, source=SOURCE, batch_size=1
    )
    ours = json.loads(r.rpop(BULK))
    assert ours.keys() == reference.keys()
    assert ours["headers"].keys() == reference["headers"].keys()
    assert ours["properties"].keys() - {"reply_to"} == reference["properties"].keys() - {"reply_to"}
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": BULK}
    assert ours["content-type"] == "application/json"
    headers = ours["headers"]
    job = campaigns.row_job_id(report.campaign_id, number(7))
    assert headers["id"] == headers["root_id"] == ours["properties"]["correlation_id"] == job
    assert headers[CAMPAIGN_HEADER] == report.campaign_id and headers[DEADLINE_HEADER] > 1e9
    assert number(7) not in json.dumps(headers) and "+1********07" in headers["kwargsrepr"]
    args, kwargs, embed = json.loads(base64.b64decode(ours["body"]))
    assert args == [] and kwargs == {"destination": number(7), "brand_name": BRAND,
                                     "source": SOURCE}  # fmt: skip
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def test_template_survives_awkward_text() -> None:
    kwargs = {"destination": number(1), "brand_name": 'Ex"am%ple\\', "source": "100%"}
    text = send_message(
        "j", json.dumps(kwargs), json.dumps(repr(kwargs)), deadline=5.0, campaign="c",
        origin_json=json.dumps(origin()),
    )  # fmt: skip
    message = json.loads(text)
    assert json.loads(base64.b64decode(message["body"]))[1] == kwargs
    assert message["headers"]["kwargsrepr"] == repr(kwargs)


def test_redis_key_names_never_hold_numbers(campaigns: Campaigns, r: redis.Redis) -> None:
    custom = [{"destination": number(1), "reference_id": f"ref-{number(1)}"}, *rows(3, 2)]
    campaigns.start(custom, brand_name=BRAND, source=SOURCE)
    names = [key.decode() for key in r.keys("*")]
    assert any(name.startswith(keys.REF_PREFIX) for name in names)
    assert not [name for name in names if re.search(r"\d{7}", name.replace("-", ""))
                and not re.search(r"[0-9a-f]{32}|\d{4}-\d\d-\d\d", name)]  # fmt: skip
    assert not any("4255550" in name for name in names)
    # Nor a digest anyone can recompute: the md5 reference id, the uuid5 of the number.
    cid = campaign_id(BRAND, SOURCE)
    guessable = [generate_ref_id(number(i), BRAND, SOURCE) for i in range(1, 5)]
    guessable += [str(uuid.uuid5(uuid.UUID(cid), number(i))) for i in range(1, 5)]
    values = b" ".join(v for k in r.scan_iter("*") if r.type(k) == b"hash"
                       for v in r.hgetall(k).values())  # fmt: skip
    for digest in guessable:
        assert not any(digest in name for name in names)
        assert digest.encode() not in values
    assert b"ref-+1********01" in values  # a caller's own id, as given but for the number
    # Nor the numbers themselves: a campaign keeps them sealed (for `export --unmasked`).
    assert not any(number(i)[1:].encode() in values for i in range(1, 5))


def test_without_otp_keys_a_campaign_keeps_masked_numbers_only(redis_url: str) -> None:
    import io

    from otpq_core.settings import ConfigError

    plain = Campaigns(Settings.from_env({"REDIS_URL": redis_url, "OTPQ_SEND_RATE": "0"}))
    try:
        report = plain.start(rows(2, 1), brand_name=BRAND, source=SOURCE)
        masked = io.StringIO()
        assert plain.export(report.campaign_id, masked) == 2
        assert "+1********01" in masked.getvalue() and number(1) not in masked.getvalue()
        with pytest.raises(ConfigError, match="masked numbers only"):
            plain.export(report.campaign_id, io.StringIO(), unmasked=True)
    finally:
        plain.close()


def test_ledger_settles_once_and_counts_each_numbers_first_valid_answer(
    campaigns: Campaigns, r: redis.Redis
) -> None:
    report = campaigns.start(rows(3), brand_name=BRAND, source=SOURCE)
    cid, ledger = report.campaign_id, CampaignLedger(r)
    jobs = [ledger.row_job_id(cid, number(i)) for i in range(3)]
    assert ledger.settle(cid, jobs[0], "sent") and not ledger.settle(cid, jobs[0], "sent")
    assert ledger.settle(cid, jobs[1], keys.state_for(reason_of(str(Cancelled("x")))))
    assert ledger.settle(cid, jobs[2], keys.state_for("rejected"))
    ref = {i: generate_ref_id(number(i), BRAND, SOURCE) for i in range(3)}
    assert ledger.answer(ref[0], number(0), False) == cid  # wrong code first
    assert ledger.answer(ref[0], number(0), True) == cid  # then right
    assert ledger.answer(ref[0], number(0), True) == cid  # again: counted once
    assert ledger.answer(ref[1], number(1), False) == cid
    assert ledger.answer("0" * 32, number(1), True) is None  # not a campaign's
    status = campaigns.status(cid)
    assert (status.sent, status.cancelled_rows, status.failed, status.queued) == (
        1, 1, {"rejected": 1}, 0
    )  # fmt: skip
    assert (status.verified, status.rejected) == (1, 1)
    out = io.StringIO()
    assert campaigns.export(cid, out) == 3
    lines = sorted(out.getvalue().splitlines()[1:])
    assert [line.split(",")[4:] for line in lines] == [
        ["sent", "", "verified"], ["cancelled", "", "rejected"], ["failed", "rejected", ""]
    ]  # fmt: skip
    assert number(0) not in out.getvalue() and "+1********00" in out.getvalue()
    assert ref[0] not in out.getvalue() and f"{ref[0][:4]}\u2026" in out.getvalue()
    full = io.StringIO()
    campaigns.export(cid, full, unmasked=True)
    assert number(0) in full.getvalue()


def test_memory_does_not_grow_with_the_input(
    campaigns: Campaigns, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks keep this quick under tracemalloc; the bench measures a million rows.
    monkeypatch.setattr("producer.campaign.start.CHUNK_ROWS", 100)

    def generated(n: int, offset: int) -> Iterator[dict[str, str]]:
        return ({"destination": number(offset + i)} for i in range(n))

    def peak(n: int, offset: int, name: str) -> int:
        tracemalloc.start()
        report = campaigns.start(generated(n, offset), brand_name=BRAND, source=SOURCE,
                                 name=name)  # fmt: skip
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.enqueued == n
        return top

    small, large = peak(300, 0, "small"), peak(1_800, 1_000, "large")
    # Holding the extra 1,500 rows (or their messages, ~1.3 KB each) would cost MBs.
    assert large < small + 250_000, (small, large)


def test_progress_bar_draws_on_its_stream() -> None:
    assert "[###############---------------]  50% 5/10" in render("queueing", 5, 10, 1.0)
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar("checking", 10, None)
    bar("queueing", 10, 10)
    bar.close()
    assert "checking" in stream.getvalue() and "100% 10/10" in stream.getvalue()


def test_batch_messages_carry_rows_with_their_own_job_ids(
    campaigns: Campaigns, r: redis.Redis
) -> None:
    report = campaigns.start(rows(7), brand_name=BRAND, source=SOURCE, name="b", batch_size=3)
    assert report.enqueued == 7 and r.llen(BULK) == 3  # 3 + 3 + 1 rows
    messages = [json.loads(raw) for raw in r.lrange(BULK, 0, -1)]
    jobs = []
    for message in messages:
        headers = message["headers"]
        assert (
            headers["task"] == "otp.send_batch" and headers[CAMPAIGN_HEADER] == report.campaign_id
        )
        assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": BULK}
        assert "4255550" not in headers["kwargsrepr"] and "+1********0" in headers["kwargsrepr"]
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert args == [] and list(kwargs) == ["rows"] and 1 <= len(kwargs["rows"]) <= 3
        jobs += [row["job_id"] for row in kwargs["rows"]]
        assert all(row["kwargs"]["brand_name"] == BRAND for row in kwargs["rows"])
    assert sorted(jobs) == sorted(
        campaigns.row_job_id(report.campaign_id, number(i)) for i in range(7)
    )
    again = campaigns.start(rows(9), brand_name=BRAND, source=SOURCE, name="b", batch_size=3)
    assert (again.enqueued, again.skipped_existing, r.llen(BULK)) == (2, 7, 4)
