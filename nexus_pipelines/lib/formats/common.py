"""Helpers shared by the landing-file parsers: decoding, line splitting and typed values.

Every ``parse_*`` function takes the text of one field and returns a python value or raises
``ValueError`` with a message that quotes the bad text; the caller prefixes the column name,
so a quarantined row says exactly which field was wrong and why.

Values are also checked against the PostgreSQL column they are loaded into (integer range,
numeric precision, no NUL characters): such a value would abort the ``COPY`` of the whole file,
so it must reject its own row here instead.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import UnreadableFile

UTC = dt.UTC
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMERIC_TYPE = re.compile(r"numeric\((\d+),\s*(\d+)\)")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BOOLEANS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}


def decode_bytes(data: bytes) -> str:
    """Decode a landing file: UTF-8 (BOM stripped) first, then the legacy Windows encodings.

    Older Seller Central downloads are cp1252 (a superset of Latin-1 for printable text).
    cp1252 leaves five byte values undefined, so Latin-1, which maps every byte, is the last
    resort: a file is never unreadable because of its encoding.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_lines(path: Path) -> list[str]:
    """The decoded physical lines of a text file, without line endings (``\\n`` or ``\\r\\n``).

    ``str.splitlines`` is not used because it also splits on characters such as ``\\x0b`` or
    ``\\u2028`` that can occur inside a product name, which would shift every line number after
    them.
    """
    text = decode_bytes(path.read_bytes())
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def is_blank(line: str) -> bool:
    """True for an empty line or one with only whitespace or tabs (an empty spreadsheet row)."""
    return not line.strip()


def header_names(cells: list[str]) -> list[str]:
    """Header names, matched case-insensitively and without surrounding whitespace.

    Empty names at the end are dropped: spreadsheets and some report versions end the header
    with a separator.
    """
    names = [cell.strip().lower() for cell in cells]
    while names and not names[-1]:
        names.pop()
    return names


def check_header(path: Path, names: list[str], required: Sequence[str], line: int) -> None:
    """Raise UnreadableFile for a header that cannot be mapped: every row would be meaningless."""
    unnamed = [str(i + 1) for i, name in enumerate(names) if not name]
    if unnamed:
        raise UnreadableFile(path, line, f"header column(s) {', '.join(unnamed)} have no name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UnreadableFile(path, line, f"duplicate column(s): {', '.join(duplicates)}")
    missing = [name for name in required if name not in names]
    if missing:
        raise UnreadableFile(path, line, f"missing required column(s): {', '.join(missing)}")


def parse_text(value: str) -> str:
    return value


def parse_int(value: str) -> int:
    if not _INTEGER.fullmatch(value):
        raise ValueError(f"{value!r} is not an integer")
    return check_int32(int(value))


def check_int32(number: int) -> int:
    """PostgreSQL ``integer`` is 32-bit; a larger value would fail the whole COPY."""
    if not INT32_MIN <= number <= INT32_MAX:
        raise ValueError(f"{number} is out of range for an integer column")
    return number


def parse_decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite() or "_" in value:
        raise ValueError(f"{value!r} is not a decimal number")
    return number


def parse_bool(value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        expected = "expected Yes/No, true/false or Y/N"
        raise ValueError(f"{value!r} is not a boolean ({expected})") from None


def parse_timestamp(value: str) -> dt.datetime:
    """ISO-8601 timestamp as a timezone-aware datetime.

    Accepts offsets (``+00:00``, ``-07:00``), ``Z`` and plain dates (midnight). A value without
    an offset is taken as UTC, the zone Amazon and Segment use when they omit one.
    """
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date (YYYY-MM-DD)") from None


def parse_currency(value: str) -> str:
    """ISO 4217 code, upper-cased (``usd`` → ``USD``)."""
    code = value.upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"{value!r} is not a three-letter currency code")
    return code


def parse_timezone(value: str) -> str:
    """IANA time zone name; checked because day boundaries are computed in it downstream."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone name") from None
    return value


def check_numeric(number: Decimal, pg_type: str) -> Decimal:
    """Reject a value with more integer digits than a ``numeric(p,s)`` column can hold."""
    match = _NUMERIC_TYPE.fullmatch(pg_type)
    if match is not None:
        precision, scale = int(match[1]), int(match[2])
        if abs(number) >= Decimal(10) ** (precision - scale):
            raise ValueError(f"{number} is too large for {pg_type}")
    return number


def text_parser(pg_type: str) -> Callable[[str], Any]:
    """The function that turns a non-empty text field into a value of a column of this type."""
    if pg_type.startswith("numeric"):
        return lambda value: check_numeric(parse_decimal(value), pg_type)
    try:
        return _PARSERS_BY_TYPE[pg_type]
    except KeyError:
        raise ValueError(f"no text parser for column type {pg_type!r}") from None


_PARSERS_BY_TYPE: dict[str, Callable[[str], Any]] = {
    "text": parse_text,
    "integer": parse_int,
    "boolean": parse_bool,
    "date": parse_date,
    "timestamptz": parse_timestamp,
}


def unstorable_text(value: Any) -> str | None:
    """Why PostgreSQL could not store this JSON value as text/jsonb, or None when it can.

    JSON may carry ``\\u0000`` and unpaired UTF-16 surrogates (``\\ud800``); PostgreSQL rejects
    both, and one such value would abort the load of the whole file.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired UTF-16 surrogate, which is not valid UTF-8"
        return None
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        problem = unstorable_text(child)
        if problem is not None:
            return problem
    return None
