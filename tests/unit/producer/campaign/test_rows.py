"""Campaign files at the edges: a line or record too long to be a row is refused by line
number before it costs memory; `export --unmasked` never writes full numbers into a file
others may read. A real redis-server."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from otpq_core.sealing import generate_key
from otpq_core.settings import Settings
from producer import cli
from producer.campaign import Campaigns
from producer.campaign.rows import MAX_LINE, BadFile, read_csv

#: The deployment's key: the campaign's numbers rest sealed under it.
OTP_KEY = generate_key()
BRAND, SOURCE = "ExampleCorp", "FilesIT"
NUMBER = "+14255550199"


@pytest.fixture
def campaigns(redis_url: str) -> Iterator[Campaigns]:
    env = {"REDIS_URL": redis_url, "OTPQ_SEND_RATE": "0", "OTPQ_OTP_KEYS": OTP_KEY}
    c = Campaigns(Settings.from_env(env))
    yield c
    c.close()


def test_a_huge_line_is_refused_by_its_number(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w") as file:
        file.write(f"destination\n{NUMBER}\n")
        file.write("+1" + "4" * 10_000_000 + "\n")  # line 3: 10 MB, no newline in it
    rows = read_csv(path)
    assert next(rows) == (2, {"destination": NUMBER})
    with pytest.raises(BadFile, match=r"^line 3 is too long") as refused:
        next(rows)
    assert "4444" not in str(refused.value)


def test_a_huge_quoted_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    cell = "\n".join(["x" * (MAX_LINE - 100)] * 8)  # each line short, the record not
    path.write_text(f'destination,language\n{NUMBER},"{cell}"\n')
    with pytest.raises(BadFile, match="the record that ends on line"):
        list(read_csv(path))


def test_rows_up_to_the_limit_are_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(f"destination,reference_id\n{NUMBER},{'r' * (MAX_LINE - 40)}\n")
    assert [line for line, _ in read_csv(path)] == [2]


def test_an_unmasked_export_into_an_existing_file_is_private(
    campaigns: Campaigns, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = campaigns.start([{"destination": NUMBER}], brand_name=BRAND, source=SOURCE)
    out = tmp_path / "full.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("OTPQ_SEND_RATE", "0")
    monkeypatch.setenv("OTPQ_OTP_KEYS", OTP_KEY)
    argv = ["campaign", "export", report.campaign_id, str(out), "--unmasked"]
    assert cli.main(argv) == 0
    assert NUMBER in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.csv"]  # no temporary left
