"""Segment-spec events: JSON lines, plain (``.jsonl``) or gzip-compressed (``.jsonl.gz``).

This is the hot path of ingestion (millions of lines a day), so a line costs one
``orjson.loads`` of its bytes, a few dict lookups and ``datetime.fromisoformat``; everything
slower runs only for lines that already look wrong.

Mapping: ``messageId, type, event, name, userId, anonymousId, timestamp, receivedAt, sentAt,
context, properties, traits`` fill their columns (``event`` → event_name and ``name`` →
page_name whatever the type, so a screen's name is kept too); any other key goes into
``extra_fields`` (``originalTimestamp`` included, also when it is used below). Every ``type``
is kept (screen, alias, group...). Duplicate ``messageId``s are all returned: re-sends are
removed later, where all files of a day are seen together. Event names are kept as sent; dbt
staging matches them to the Segment spec names (docs/events.md).

When is the event (event_timestamp)? Segment's collector and RudderStack's add ``timestamp``;
an SDK's own payload (and an export of it) may carry only the device's ``originalTimestamp``
and ``sentAt`` and the collector's ``receivedAt``. The first rule below that the line's fields
allow is used, and ``timestamp_source`` says which:

* ``timestamp``          the line's ``timestamp``;
* ``skew_corrected``     ``receivedAt - (sentAt - originalTimestamp)``: the device's time of the
                         event corrected for its clock's error (Segment's rule, all three needed);
* ``originalTimestamp``  the device's clock as it was (no ``sentAt`` or no ``receivedAt``);
* ``receivedAt``         when the collector received it (no ``originalTimestamp`` either).

A value present but not ISO-8601 rejects the line (it is not replaced by the next one).

A line is rejected when it is not a JSON object, lacks ``messageId``/``type``, has none of
``timestamp``/``originalTimestamp``/``receivedAt``, has neither ``userId`` nor
``anonymousId``, has a timestamp that is not ISO-8601 or that no file of its date can hold
(the event's time or ``receivedAt`` before 1995 or more than two days after the file's date;
older ones are normal, e.g. re-sends; ``sentAt`` and ``originalTimestamp`` are the device's
clock, which may be reset to 1970, so they are only parsed, and only the event time derived
from them is checked), has ``context``/``properties``/``traits`` that are not objects, or holds
text PostgreSQL cannot store. Timestamps without an offset are taken as UTC.

JSON is UTF-8: a line with an invalid UTF-8 byte is rejected with the byte's offset in the file
(in the decompressed data of a ``.gz`` file); there is no fallback to another encoding.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from collections.abc import Iterator
from typing import IO, Any, NamedTuple, NoReturn

import orjson

from .base import ParseContext, ParsedRow, ParseResult, Rejected, UnreadableFile
from .common import UTC, check_plausible_date, plausible_instants, unstorable_text, utf8_reason

_fromisoformat = dt.datetime.fromisoformat


class _BadEvent(ValueError):
    """Raised with the reason an event line cannot be loaded."""


def parse_events(ctx: ParseContext) -> Iterator[ParseResult]:
    """One ParsedRow or Rejected per non-blank line; the line number is the physical line.

    A damaged or truncated gzip stream makes the file unreadable at the line where it breaks.
    """
    line_number = 0
    offset = 0  # of the line in the (decompressed) file
    window = EventWindow(ctx.partition_date, *plausible_instants(ctx.partition_date))
    try:
        with _open(ctx) as lines:
            for line_number, raw in enumerate(lines, start=1):
                size = len(raw)
                skipped = 0  # bytes of the line before ``raw``: the BOM
                if line_number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                    skipped = len(_BOM)
                result = check_line(line_number, raw, window, offset, skipped)
                if result is not None:
                    yield result
                offset += size
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise UnreadableFile(ctx.path, line_number + 1, f"damaged gzip data: {exc}") from exc


_BOM = b"\xef\xbb\xbf"


class EventWindow(NamedTuple):
    """The timestamps a file can hold (``check_plausible_date``), computed once per file."""

    partition_date: dt.date
    start: dt.datetime  # the first plausible instant
    end: dt.datetime  # the first instant after them


def check_line(
    line_number: int, raw: bytes, window: EventWindow, offset: int, skipped: int
) -> ParseResult | None:
    """The row of one line, its rejection, or None for a blank line.

    ``offset`` is the line's byte offset in the file, ``skipped`` the bytes before ``raw`` on it.
    """
    try:
        values = _event_values(orjson.loads(raw), window)
        if _may_be_unstorable(raw):
            _check_storable(values)
    except _BadEvent as exc:
        return Rejected(line_number, _line_text(raw), str(exc))
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        if not raw.strip():
            return None
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            at = skipped + bad.start  # in the line
            return Rejected(line_number, _line_text(raw), utf8_reason(offset + at, at, raw, bad.start))
        return Rejected(line_number, _line_text(raw), f"not valid JSON: {exc}")
    return ParsedRow(line_number, values)


def _open(ctx: ParseContext) -> IO[bytes]:
    if ctx.path.name.endswith(".gz"):
        return gzip.GzipFile(ctx.path, "rb")  # type: ignore[return-value]  # a binary file object
    return open(ctx.path, "rb")


def _event_values(event: Any, window: EventWindow) -> tuple[Any, ...]:
    """The EVENTS column values of one decoded line; raises _BadEvent with the reason.

    The mapped keys are popped, so what is left of the dict is ``extra_fields`` without a
    copy. Each check tests the common case inline and calls a helper only to convert or to
    word a rejection: this function runs once per event.
    """
    if type(event) is not dict:
        raise _BadEvent(f"expected a JSON object, got {type(event).__name__}")
    pop = event.pop
    message_id = pop("messageId", None)
    event_type = pop("type", None)
    event_name = pop("event", None)
    page_name = pop("name", None)
    user_id = pop("userId", None)
    anonymous_id = pop("anonymousId", None)
    timestamp = pop("timestamp", None)
    received_at = pop("receivedAt", None)
    sent_at = pop("sentAt", None)
    context = pop("context", None)
    properties = pop("properties", None)
    traits = pop("traits", None)

    if type(message_id) is not str or not message_id:
        _reject_required_text(message_id, "messageId")
    if type(event_type) is not str or not event_type:
        _reject_required_text(event_type, "type")
    if event_name is not None and type(event_name) is not str:
        event_name = _number_as_text(event_name, "event")
    if page_name is not None and type(page_name) is not str:
        page_name = _number_as_text(page_name, "name")
    if user_id is not None and type(user_id) is not str:
        user_id = _number_as_text(user_id, "userId")
    if anonymous_id is not None and type(anonymous_id) is not str:
        anonymous_id = _number_as_text(anonymous_id, "anonymousId")
    if not user_id and not anonymous_id:
        raise _BadEvent("neither userId nor anonymousId is set")
    for value, key in ((context, "context"), (properties, "properties"), (traits, "traits")):
        if value is not None and type(value) is not dict:
            raise _BadEvent(f"{key}: expected an object, got {type(value).__name__}")
    sent_timestamp = None if timestamp is None else _timestamp(timestamp, "timestamp", window)
    received = None if received_at is None else _timestamp(received_at, "receivedAt", window)
    sent = None if sent_at is None else _timestamp(sent_at, "sentAt", None)
    if sent_timestamp is not None:
        event_timestamp, source = sent_timestamp, "timestamp"
    else:  # originalTimestamp stays in the dict (extra_fields), as sent
        event_timestamp, source = _derived_timestamp(event.get("originalTimestamp"), sent, received, window)
    return (
        message_id,
        event_type,
        event_name or None,
        page_name or None,
        user_id or None,
        anonymous_id or None,
        event_timestamp,
        received,
        sent,
        context,
        properties,
        traits,
        event or None,
        source,
    )


# how a skew-corrected event time is named in a rejection
_CORRECTED = "timestamp (receivedAt - (sentAt - originalTimestamp))"


def _derived_timestamp(
    original: Any, sent: dt.datetime | None, received: dt.datetime | None, window: EventWindow
) -> tuple[dt.datetime, str]:
    """The event time of a line without ``timestamp`` and its ``timestamp_source`` (module docstring)."""
    if original is not None:
        device_time = _timestamp(original, "originalTimestamp", None)
        if sent is None or received is None:
            return _within(device_time, "originalTimestamp", window), "originalTimestamp"
        try:
            corrected = received - (sent - device_time)
        except OverflowError:  # a device clock near year 1 or 9999
            raise _BadEvent(f"{_CORRECTED}: outside the years 1 to 9999") from None
        return _within(corrected, _CORRECTED, window), "skew_corrected"
    if received is not None:
        return received, "receivedAt"  # already checked against the window
    raise _BadEvent("timestamp: missing, and neither originalTimestamp nor receivedAt is set to take it from")


def _reject_required_text(value: Any, key: str) -> NoReturn:
    if value is None or value == "":
        raise _BadEvent(f"{key}: missing")
    raise _BadEvent(f"{key}: expected a string, got {type(value).__name__}")


def _number_as_text(value: Any, key: str) -> str:
    """Numbers are kept as text (some SDKs send ``userId: 42``); other types reject the line."""
    if type(value) is int:
        return str(value)
    raise _BadEvent(f"{key}: expected a string, got {type(value).__name__}")


def _timestamp(value: Any, key: str, window: EventWindow | None) -> dt.datetime:
    """``datetime.fromisoformat`` (``Z`` included); a value without offset is taken as UTC.

    A timestamp the file cannot hold rejects the line; the window is tested inline and
    ``check_plausible_date`` only words the rejection.
    """
    try:
        parsed = _fromisoformat(value)
    except (TypeError, ValueError):
        raise _BadEvent(f"{key}: {value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if window is None or window.start <= parsed < window.end:
        return parsed
    return _within(parsed, key, window)


def _within(value: dt.datetime, key: str, window: EventWindow) -> dt.datetime:
    """``value`` when the file can hold it, else _BadEvent naming ``key`` and why."""
    if window.start <= value < window.end:
        return value
    try:
        return check_plausible_date(value, window.partition_date)  # outside the window: raises
    except ValueError as exc:
        raise _BadEvent(f"{key}: {exc}") from None


def _may_be_unstorable(raw: bytes) -> bool:
    """Cheap byte test for text PostgreSQL rejects: NUL and lone UTF-16 surrogates.

    They arrive escaped (``\\u0000``, ``\\ud800``) or, as UTF-8-encoded surrogates (lead byte 0xED), which orjson refuses as invalid UTF-8. Most lines have none of
    these bytes and skip the walk through the decoded values.
    """
    if b"\\u" in raw and (b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw):
        return True
    return b"\xed" in raw


def _check_storable(values: tuple[Any, ...]) -> None:
    for value in values:
        problem = unstorable_text(value)
        if problem is not None:
            raise _BadEvent(problem)


def _line_text(raw: bytes) -> str:
    """The line as quarantine text: invalid bytes as ``\\x..`` escapes, without its line ending."""
    return raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n").replace("\x00", "\\u0000")
