"""Marketing spend CSV: ``date, channel, campaign, spend, currency``, one row per day and campaign.

Sellers export it from ad platforms or spreadsheets, so it is read like a spreadsheet export:
columns by header name (case-insensitive, any order, BOM tolerated), standard CSV quoting
(a campaign name may contain commas or line breaks), unknown columns ignored. ``campaign`` is
optional; the other four columns are required in the header and in every row, because spend
without its date, channel or currency cannot be attributed or summed.

Line numbers are physical lines; a quoted value spanning lines is reported at its first line.
A record whose date no file of the file's date can hold (``check_plausible_date``) is rejected;
so is, in a UTF-8 file, a record with an invalid UTF-8 byte on one of its lines (such a header
makes the file unreadable).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .base import ParseContext, ParsedRow, ParseResult, Rejected, UnreadableFile
from .columns import MARKETING_SPEND
from .common import (
    BadLine,
    check_header,
    check_plausible_date,
    header_names,
    parse_currency,
    split_physical_lines,
    text_parser,
)

REQUIRED = ("date", "channel", "spend", "currency")
_HEADER_OF = {"spend_date": "date"}  # column -> header name where they differ
_PARSER_OF = {"currency": parse_currency}  # column -> parser where the type's is not enough


@dataclass(frozen=True)
class _Field:
    header: str
    parse: Callable[[str], Any]
    required: bool
    is_date: bool  # checked against the file's date


FIELDS = tuple(
    _Field(
        _HEADER_OF.get(column.name, column.name),
        _PARSER_OF.get(column.name) or text_parser(column.pg_type),
        _HEADER_OF.get(column.name, column.name) in REQUIRED,
        column.pg_type in ("date", "timestamptz"),
    )
    for column in MARKETING_SPEND
)


def parse_marketing_spend(ctx: ParseContext) -> Iterator[ParseResult]:
    """One ParsedRow or Rejected per non-blank record of the CSV file."""
    lines = split_physical_lines(ctx.path.read_bytes())
    # a line with a bad byte is read with it escaped: its quotes still delimit the record
    physical = [line.text if isinstance(line, BadLine) else line for line in lines]
    bad = {number: line for number, line in enumerate(lines, start=1) if isinstance(line, BadLine)}
    reader = csv.reader(physical)
    positions: dict[str, int] | None = None
    end = 0
    for record in _records(ctx, reader):
        start, end = end + 1, reader.line_num
        bad_line = next((bad[n] for n in range(start, end + 1) if n in bad), None) if bad else None
        if bad_line is None and not any(cell.strip() for cell in record):
            continue
        raw = "".join(physical[start - 1 : end]).rstrip("\r\n")
        if positions is None:
            if bad_line is not None:
                raise UnreadableFile(ctx.path, start, f"header row: {bad_line.reason}")
            names = header_names(record)
            check_header(ctx.path, names, REQUIRED, start)
            positions = {name: i for i, name in enumerate(names)}
            continue
        if bad_line is not None:
            yield Rejected(start, raw, bad_line.reason)
            continue
        values, problems = _read_record(record, positions, raw, ctx)
        if problems:
            yield Rejected(start, raw, "; ".join(problems))
        else:
            yield ParsedRow(start, values)
    if positions is None:
        raise UnreadableFile(ctx.path, 1, "file is empty (no header row)")


def _records(ctx: ParseContext, reader: Any) -> Iterator[list[str]]:
    """The reader's records; a CSV syntax error (e.g. a huge unterminated field) ends the file."""
    try:
        yield from reader
    except csv.Error as exc:
        raise UnreadableFile(ctx.path, reader.line_num, f"invalid CSV: {exc}") from exc


def _read_record(
    record: list[str], positions: dict[str, int], raw: str, ctx: ParseContext
) -> tuple[tuple[Any, ...], list[str]]:
    """The typed values of one record, and the problems that prevent loading it."""
    if "\x00" in raw:
        return (), ["line contains a NUL character, which PostgreSQL cannot store"]
    width = len(positions)
    if len(record) > width and any(cell.strip() for cell in record[width:]):
        return (), [f"{len(record)} fields but the header has {width} columns"]
    values, problems = [], []
    for spec in FIELDS:
        index = positions.get(spec.header)
        raw_value = record[index].strip() if index is not None and index < len(record) else ""
        value = None
        if not raw_value:
            if spec.required:
                problems.append(f"{spec.header}: required value is empty")
        else:
            try:
                value = spec.parse(raw_value)
                if spec.is_date:
                    value = check_plausible_date(value, ctx.partition_date)
            except ValueError as exc:
                problems.append(f"{spec.header}: {exc}")
        values.append(value)
    return tuple(values), problems
