"""Campaign rows: the CSV format, and one row checked with the same `SendRequest` model
a single send uses.

CSV: a header line naming the columns (any order, case-insensitive), then one number a
line. `destination` is required; `language`, `code_length`, `validity_period` and
`reference_id` are optional, per row (an empty cell means the default). Lines are
numbered as in the file: the header is line 1.

A file is data to clean, not an API call: each number is canonicalised
(`producer.requests.canonical_number`: `+1 (425) 555-0142`, `+1 1 425 555 0142` and
fullwidth digits all become `+14255550142`) before its row id is made, so the
campaign dedupes spellings of one number and texts it once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otpq_core.numbers import canonical_number
from otpq_core.outcomes import InvalidRequest
from otpq_core.redaction import redact_text
from producer.requests import SendRequest

#: Columns a row may have. Brand, source and the sending identity are the campaign's.
COLUMNS = ("destination", "language", "code_length", "validity_period", "reference_id")
INTEGER_COLUMNS = frozenset({"code_length", "validity_period"})


#: Longest line a campaign file may have, in characters. A row is a number and a few
#: short options; without a bound, one huge line is read whole, then split into cells
#: (a 10 MB line cost ~300 MB of memory).
MAX_LINE = 4096
#: Longest record (a quoted cell may span lines): csv's own field_size_limit is one
#: setting for the whole process, so the record is bounded here instead.
MAX_RECORD = 4 * MAX_LINE


class BadFile(ValueError):
    """The file cannot be a campaign (no header, unknown or missing columns, a line or
    record over the size limit)."""


class _BoundedLines:
    """The file's lines, each read with a bounded `readline`, and the characters read
    since the current record began: memory stays bounded whatever the file holds."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.line = 0
        self.record = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        text = self.handle.readline(MAX_LINE + 1)
        if not text:
            raise StopIteration
        self.line += 1
        if len(text) > MAX_LINE:
            raise BadFile(
                f"line {self.line} is too long: a campaign line holds a number and a few "
                "short options"
            )
        self.record += len(text)
        if self.record > MAX_RECORD:
            raise BadFile(f"the record that ends on line {self.line} is too long")
        return text


@dataclass(frozen=True)
class InvalidRow:
    """A row that was not queued: its line, the field at fault and why (never the value)."""

    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.problem}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "problem": self.problem}


def numbered(rows: Iterable[Mapping[str, Any]], first: int = 1) -> Iterator[tuple[int, Any]]:
    """Rows from Python code, numbered from `first`."""
    return enumerate(rows, start=first)


def read_csv(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) for each data row of a campaign CSV, streamed. Raises `BadFile` for a
    header without `destination` or with a column otpq does not know (a typo would
    otherwise silently drop a setting for every row)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        lines = _BoundedLines(handle)
        reader = csv.reader(lines)
        header = _next_record(reader, lines)
        if header is None:
            raise BadFile("the file is empty: expected a header line naming the columns")
        names = [name.strip().lower() for name in header]
        unknown = [name for name in names if name not in COLUMNS]
        if unknown:
            raise BadFile(
                # A file without a header has a number as its first cell: masked.
                f"unknown column {redact_text(unknown[0][:40])!r} on line 1 "
                f"(known: {', '.join(COLUMNS)})"
            )
        if "destination" not in names:
            raise BadFile("no 'destination' column on line 1")
        if len(set(names)) != len(names):
            raise BadFile("a column is named twice on line 1")
        width = len(names)
        while True:
            line = reader.line_num + 1  # where the record starts (a quoted cell may span lines)
            cells = _next_record(reader, lines)
            if cells is None:
                return
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            row: dict[str, Any] = dict(zip(names, cells, strict=False))
            if len(cells) > width:
                row[""] = cells[width]  # reported as too many cells
            yield line, row


def _next_record(reader: Iterator[list[str]], lines: _BoundedLines) -> list[str] | None:
    """The next record's cells, or None at the end; a malformed one is a `BadFile`."""
    lines.record = 0
    try:
        return next(reader, None)
    except csv.Error:
        raise BadFile(f"line {lines.line} is not valid CSV") from None


def parse_row(line: int, row: Any, brand_name: str, source: str) -> SendRequest | InvalidRow:
    """The row as a send request, or why it cannot be one."""
    if not isinstance(row, Mapping):
        return InvalidRow(line, "row", "must be a mapping of column to value")
    options: dict[str, Any] = {}
    for key, value in row.items():
        if key == "":
            return InvalidRow(line, "row", "has more cells than the header has columns")
        if key not in COLUMNS:
            shown = str(key)[:40] if isinstance(key, str) else type(key).__name__
            return InvalidRow(line, shown, "is not a campaign column")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
            if key in INTEGER_COLUMNS and value.isascii() and value.isdigit():
                value = int(value)
        elif value is None:
            continue
        options[key] = value
    if "destination" not in options:
        return InvalidRow(line, "destination", "is required")
    try:
        options["destination"] = canonical_number(options["destination"])
        return SendRequest(brand_name=brand_name, source=source, **options)
    except InvalidRequest as exc:
        return InvalidRow(line, exc.field, exc.problem)


#: Longest header line `check_header` reads: the column names and some spaces.
HEADER_MAX = 1024


def check_header(path: str | Path) -> None:
    """Read only the header line (at most `HEADER_MAX` characters): a file that cannot be
    a campaign is refused before anything connects to Redis. Raises `BadFile` (or
    OSError, UnicodeDecodeError)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        first = handle.readline(HEADER_MAX + 1)
    if not first:
        raise BadFile("the file is empty: expected a header line naming the columns")
    if len(first) > HEADER_MAX:
        raise BadFile("line 1 is too long for a header line naming the columns")
    try:
        header_names(next(csv.reader([first]), None))
    except csv.Error:
        raise BadFile("line 1 is not valid CSV") from None


def header_names(header: list[str] | None) -> list[str]:
    """The header's column names, lower-cased; `BadFile` if it is not a campaign header.

    A first line with a digit in an unknown cell is taken for a data row (a number
    where the header should be): the message then shows no cell, as any could be a
    phone number."""
    if header is None:
        raise BadFile("the file is empty: expected a header line naming the columns")
    if not any(cell.strip() for cell in header):
        raise BadFile("line 1 is blank: expected a header line naming the columns")
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if any(any(ch.isdigit() for ch in name) for name in unknown):
        raise BadFile("line 1 has no header; expected a `destination` column")
    if unknown:
        raise BadFile(f"unknown column {unknown[0][:40]!r} on line 1 (known: {', '.join(COLUMNS)})")
    if "destination" not in names:
        raise BadFile("no 'destination' column on line 1")
    if len(set(names)) != len(names):
        raise BadFile("a column is named twice on line 1")
    return names
