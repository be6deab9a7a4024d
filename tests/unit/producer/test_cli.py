"""The CLI's rough edges, one small function each: versions, masked URLs, receipts,
rates that mean something, headers checked before Redis, the LICENSE text."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import pytest

from producer.campaign.progress import Watch, eta_text, rate_of, render
from producer.campaign.rows import BadFile, check_header
from producer.cli import build_parser, main, mask_url, version
from producer.known_jobs import PRIORITY_SEP, lane_keys, looks_like_job_id
from producer.receipts import JobId
from tests.helpers import ROOT

#: md5 of https://www.apache.org/licenses/LICENSE-2.0.txt, the unmodified text.
APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"


def test_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    assert version() == "0.1.0"
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "otpq 0.1.0"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:s3cret@h:6380/1?ssl_cert_reqs=required", "rediss://user:***@h:6380/1?ssl_cert_reqs=required"),
        ("redis://s3cret@h/0", "redis://***@h/0"),
        ("redis://h/0?password=s3cret&db=1", "redis://h/0?password=***&db=1"),
        ("sentinel://:a@h1:26379;sentinel://:b@h2:26379/0", "sentinel://:***@h1:26379;sentinel://:***@h2:26379/0"),
    ],
)  # fmt: skip
def test_redis_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cret" not in mask_url(url)


def test_a_job_id_is_a_str_that_says_whether_it_was_deduplicated() -> None:
    first, repeat = JobId("abc"), JobId("abc", deduplicated=True)
    assert first == repeat == "abc" and isinstance(repeat, str)
    assert not first.deduplicated and repeat.deduplicated
    assert {"abc": 1}[repeat] == 1
    assert pickle.loads(pickle.dumps(repeat)).deduplicated


def test_job_ids_are_uuids_and_every_priority_list_is_searched() -> None:
    assert looks_like_job_id("8f0c6a0e-7f47-4c11-9d52-2b8e6d0f3a10")
    assert not looks_like_job_id("queued")
    assert not looks_like_job_id("8f0c6a0e-7f47-4c11-9d52-2b8e6d0f3a10x")
    keys = lane_keys(("otp.bulk",))
    assert keys == ["otp.bulk", *(f"otp.bulk{PRIORITY_SEP}{step}" for step in (3, 6, 9))]


def test_no_rate_until_it_means_something() -> None:
    assert rate_of(5000, 0.0004) is None  # a small file: not "12,500,000 rows/s"
    line = render("queueing", 5000, 5000, 0.0004)
    assert "rows/s" not in line and "ETA" not in line
    assert rate_of(500, 2.0) == 250
    line = render("queueing", 500, 2000, 2.0)
    assert "250 rows/s" in line and "ETA 6s" in line
    assert eta_text(10_000, 100) == "ETA 1m40s"
    assert eta_text(1_000_000, 100) == "ETA 2h46m"
    assert eta_text(10, None) == ""


def test_watch_redraws_one_line_on_a_terminal_and_logs_lines_elsewhere() -> None:
    tty = io.StringIO()
    watch = Watch(tty, tty=True)
    watch.show("0 sent", finished=0, left=100, now=0.0)
    watch.show("50 sent", finished=50, left=50, now=5.0)
    watch.close()
    assert "\n" not in tty.getvalue()[:-1] and tty.getvalue().count("\r") == 2
    assert "50 sent | ETA 5s" in tty.getvalue()

    log = io.StringIO()
    watch = Watch(log, tty=False)
    for now, done in ((0.0, 0), (0.5, 0), (2.0, 20)):
        watch.show(f"{done} sent", finished=done, left=100 - done, now=now)
    assert log.getvalue().splitlines() == ["0 sent", "20 sent | ETA 8s"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("\n+14255550142\n", "blank"),
        ("+14255550142\n+14255550143\n", "line 1 has no header; expected a `destination` column"),
        ("phone,+14255550142\n", "no header"),
        ("Destination,langauge\n+14255550142,en-US\n", "unknown column 'langauge'"),
        ("language\nen-US\n", "no 'destination' column"),
        ("destination" + " " * 2000 + "\n", "line 1 is too long"),
    ],
)
def test_a_bad_header_is_refused_without_showing_a_number(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(BadFile) as refused:
        check_header(path)
    assert problem in str(refused.value)
    assert "4255550142" not in str(refused.value)


def test_a_good_header_passes(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\ufeffDestination, language\n+14255550142,en-US\n")
    check_header(path)


def test_the_license_is_the_unmodified_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == APACHE_2_MD5
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("typed", "flag"),
    [
        (["--code-length", "9"], "--code-length"),
        (["--validity", "99"], "--validity"),
        (["--attempts", "9"], "--attempts"),
        (["--language", "nope nope"], "--language"),
    ],
)
def test_a_bad_send_option_is_named_as_typed(
    typed: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send", "--to", "+14255550142", "--brand", "Example", "--source", "Login", *typed]
    assert main(argv) == 2
    assert capsys.readouterr().err.rstrip().endswith(f"(check {flag})")


def test_a_bad_code_is_named_as_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "12", "--to", "+14255550142", "--brand", "Example", "--source", "Login"]
    assert main(argv) == 2
    assert capsys.readouterr().err.rstrip().endswith("(check the code)")
