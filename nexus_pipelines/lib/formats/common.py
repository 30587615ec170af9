"""Helpers shared by the landing-file parsers: decoding, line splitting and typed values.

Every ``parse_*`` function takes the text of one field and returns a python value or raises
``ValueError`` with a message that quotes the bad text; the caller prefixes the column name,
so a quarantined row says exactly which field was wrong and why.

Values are also checked against the PostgreSQL column they are loaded into (integer range,
numeric precision, no NUL characters): such a value would abort the ``COPY`` of the whole file,
so it must reject its own row here instead.

Encoding: a file is UTF-8 (with or without BOM) or, when it is not UTF-8 anywhere (no single
well-formed multi-byte sequence), cp1252. A UTF-8 file is never re-read as cp1252 because of a
few bad bytes: the lines holding them are rejected with the byte offset of the first one, and
a file read as one document (JSON, YAML) is unreadable.

Dates: ``check_plausible_date`` rejects a date or timestamp no file dated ``partition_date``
can hold (before 1995, or more than two days after the file's date).
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import UnreadableFile

UTC = dt.UTC
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMERIC_TYPE = re.compile(r"numeric\((\d+),\s*(\d+)\)")
_CURRENCY = re.compile(r"[A-Z]{3}")
_D = TypeVar("_D", bound=dt.date)
_BOOLEANS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}


BOM = b"\xef\xbb\xbf"
# one well-formed multi-byte UTF-8 sequence (no overlong forms, no encoded UTF-16 surrogates)
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}"
    rb"|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def _cp1252_table() -> dict[int, int]:
    """cp1252 byte by byte, with Latin-1 for the five byte values cp1252 leaves undefined."""
    table = {}
    for byte in range(256):
        try:
            table[byte] = ord(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            table[byte] = byte
    return table


_CP1252 = _cp1252_table()


def utf8_reason(file_offset: int, line_offset: int, data: bytes = b"", index: int = -1) -> str:
    """The reason for a line or document with an invalid UTF-8 byte, offsets 0-based.

    ``data[index]`` is the bad byte when given: an encoded UTF-16 surrogate (0xED 0xA0-0xBF)
    is named as such, because some JSON encoders write one.
    """
    reason = f"invalid UTF-8 at byte {file_offset} (byte {line_offset} of the line)"
    if 0 <= index < len(data) - 1 and data[index] == 0xED and 0xA0 <= data[index + 1] <= 0xBF:
        reason += ": an encoded UTF-16 surrogate"
    return reason


class InvalidUtf8(ValueError):
    """A UTF-8 document with an invalid byte: the first one, located in the file."""

    def __init__(self, data: bytes, offset: int):
        self.offset = offset  # 0-based byte offset in the file
        self.line = data.count(b"\n", 0, offset) + 1
        self.line_offset = offset - (data.rfind(b"\n", 0, offset) + 1)
        self.reason = utf8_reason(offset, self.line_offset, data, offset)
        super().__init__(self.reason)


def is_utf8(data: bytes) -> bool:
    """Whether a file that does not decode as UTF-8 is still UTF-8, with a few bad bytes.

    It is when it starts with a BOM or holds one well-formed multi-byte sequence: a legacy
    Windows file (cp1252) has none, as its accented letters are single bytes.
    """
    return data.startswith(BOM) or _UTF8_MULTIBYTE.search(data) is not None


def decode_bytes(data: bytes) -> str:
    """Decode a landing file: UTF-8 (BOM stripped) or, for a file that is not UTF-8 anywhere, cp1252.

    Older Seller Central downloads are cp1252 (a superset of Latin-1 for printable text);
    cp1252 leaves five byte values undefined, which are read as Latin-1, so such a file is
    never unreadable because of its encoding. A UTF-8 file with an invalid byte is never read
    as cp1252 (that would turn every ``ü`` into ``Ã¼``): ``InvalidUtf8`` names the first bad
    byte, and line-based readers reject only the lines that hold one (``read_lines``).
    """
    start = len(BOM) if data.startswith(BOM) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if is_utf8(data):
            raise InvalidUtf8(data, start + exc.start) from None
    return codecs.charmap_decode(data, "strict", _CP1252)[0]


def decode_document(path: Path, data: bytes) -> str:
    """``decode_bytes`` for a file read as one document: an invalid UTF-8 byte makes it unreadable."""
    try:
        return decode_bytes(data)
    except InvalidUtf8 as exc:
        raise UnreadableFile(path, exc.line, exc.reason) from None


@dataclass(frozen=True)
class BadLine:
    """A physical line of a UTF-8 file that holds an invalid UTF-8 byte."""

    text: str  # the line decoded with its bad bytes as \x.. escapes (what quarantine shows)
    offset: int  # 0-based byte offset of the first bad byte in the file
    line_offset: int  # the same, from the start of the line
    reason: str


def _decode_line(piece: bytes, start: int) -> str | BadLine:
    """One line of a UTF-8 file that has bad lines; ``start`` is its byte offset in the file."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = piece.decode("utf-8", errors="backslashreplace")
        reason = utf8_reason(start + exc.start, exc.start, piece, exc.start)
        return BadLine(text, start + exc.start, exc.start, reason)


def read_lines(path: Path) -> list[str | BadLine]:
    """The decoded physical lines of a text file, without line endings (``\\n`` or ``\\r\\n``).

    ``str.splitlines`` is not used because it also splits on characters such as ``\\x0b`` or
    ``\\u2028`` that can occur inside a product name, which would shift every line number after
    them. In a UTF-8 file, a line with an invalid byte is a ``BadLine`` and the others decode.
    """
    return split_lines(path.read_bytes())


def split_lines(data: bytes) -> list[str | BadLine]:
    """``read_lines`` of the bytes of a file."""
    try:
        text = decode_bytes(data)
    except InvalidUtf8:
        return _split_bad_utf8(data)
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _split_bad_utf8(data: bytes) -> list[str | BadLine]:
    start = len(BOM) if data.startswith(BOM) else 0
    body = data[start:-1] if data.endswith(b"\n") else data[start:]
    lines: list[str | BadLine] = []
    for piece in body.split(b"\n"):
        line = piece[:-1] if piece.endswith(b"\r") else piece
        lines.append(_decode_line(line, start))
        start += len(piece) + 1
    return lines


def split_physical_lines(data: bytes) -> list[str | BadLine]:
    """The physical lines of a file with their line endings (``\\n``, ``\\r\\n`` or a lone ``\\r``),
    as a CSV reader takes them; in a UTF-8 file, a line with an invalid byte is a ``BadLine``
    whose text keeps its line ending too."""
    try:
        text = decode_bytes(data)
    except InvalidUtf8:
        pass
    else:
        decoded: list[str | BadLine] = [*io.StringIO(text, newline="")]
        return decoded
    start = len(BOM) if data.startswith(BOM) else 0
    lines: list[str | BadLine] = []
    for piece in data[start:].splitlines(keepends=True):  # bytes split on \n, \r and \r\n only
        lines.append(_decode_line(piece, start))
        start += len(piece)
    return lines


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


EARLIEST_PLAUSIBLE_DATE = dt.date(1995, 1, 1)  # older than any seller data (Amazon opened in 1995)
MAX_DAYS_AFTER_FILE_DATE = 2  # a file holds nothing dated later than this after its own date


def plausible_dates(partition_date: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last date (inclusive) a file dated ``partition_date`` can hold."""
    try:
        last = partition_date + dt.timedelta(days=MAX_DAYS_AFTER_FILE_DATE)
    except OverflowError:  # a file dated at the end of the calendar: no upper limit
        last = dt.date.max
    return EARLIEST_PLAUSIBLE_DATE, last


@functools.lru_cache(maxsize=256)
def plausible_instants(partition_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``plausible_dates`` for timestamps: the first plausible instant and the first one after.

    Instants are compared by their date in UTC. With no upper limit (a file dated in the last
    days of year 9999) the end is the last representable instant.
    """
    first, last = plausible_dates(partition_date)
    start = dt.datetime.combine(first, dt.time(), UTC)
    if last == dt.date.max:
        return start, dt.datetime.max.replace(tzinfo=UTC)
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC)


def check_plausible_date(value: _D, partition_date: dt.date) -> _D:
    """``value`` when a file dated ``partition_date`` can hold it, else ValueError saying why.

    A date or timestamp is impossible before ``EARLIEST_PLAUSIBLE_DATE`` or more than
    ``MAX_DAYS_AFTER_FILE_DATE`` days after the file's date (a timestamp by its date in UTC).
    Anything older is possible: reports and re-sent events carry dates long past.
    """
    if isinstance(value, dt.datetime):
        start, end = plausible_instants(partition_date)
        too_early, too_late = value < start, value >= end
    else:
        first, last = plausible_dates(partition_date)
        too_early, too_late = value < first, value > last
    if too_early:
        raise ValueError(f"{_described(value)} is before {EARLIEST_PLAUSIBLE_DATE.isoformat()}")
    if too_late:
        after = f"the file's date {partition_date.isoformat()} + {MAX_DAYS_AFTER_FILE_DATE} days"
        raise ValueError(f"{_described(value)} is after {after}")
    return value


def _described(value: dt.date) -> str:
    """The value as ISO text; a timestamp not in UTC also gives its date in UTC (what is compared)."""
    text = value.isoformat()
    if isinstance(value, dt.datetime) and value.utcoffset():
        with contextlib.suppress(OverflowError):  # in UTC it falls outside years 1-9999
            text += f" ({value.astimezone(UTC).date().isoformat()} in UTC)"
    return text


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
