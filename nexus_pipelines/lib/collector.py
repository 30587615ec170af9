"""The event collector's core: Segment-spec events in, durable landing lines out (FastAPI-free).

``Collector.collect`` takes the events of one request (one event of ``/v1/track`` and the like,
or the items of ``/v1/batch``), completes each as Segment's collector does, checks it with the
landing-file parser itself and appends the accepted ones to the landing file of the day they
were received. What lands is exactly what the loader reads back later: every event is checked
as the line it is written as, against the file it is written to (``formats.events``), so an event
accepted here is never quarantined by the loader for a reason the collector could have seen.

Completing an event (Segment's HTTP tracking API):

* ``receivedAt`` is the server's clock (UTC, milliseconds), whatever the event says;
* ``type`` is the route's (``/v1/track`` stores a track); in a batch each item names its own,
  one of ``EVENT_TYPES``;
* ``messageId`` is made (a random UUID) when the event has none, as Segment does: such an event
  cannot be told from a re-send of it, an event with its own messageId can;
* a batch's ``context`` and ``integrations`` are merged into each item's (the item's keys win),
  and its ``sentAt`` is the item's when the item has none (for the clock-skew correction of
  events without ``timestamp``);
* ``writeKey`` is removed: a credential is never written to a landing file.

Beyond the parser's rules an event is refused when it is larger than ``MAX_EVENT_BYTES`` as
compact JSON, when a track has no ``event``, a group no ``groupId`` or an alias no
``previousId`` (Segment's required fields), or when a batch item's type is not one of the six.

Where: ``<landing>/events/<YYYY-MM-DD>.jsonl``, the UTC date of ``receivedAt`` (the folder and
name the ``events`` source globs, ``formats.SOURCES``). All events of a request share one
``receivedAt``, so a request lands whole in one file and the day's rotation never splits one.

Durability: the accepted lines of a request are one ``os.write`` to a file opened with
``O_APPEND``, under one lock for the whole process, followed by ``os.fsync`` (and an ``fsync`` of
the folder when the file is new) before ``collect`` returns. Lines of concurrent requests never
interleave, and a request is acknowledged only once its lines are on disk: a crash between
requests loses nothing acknowledged. A crash in the middle of a write can leave a partial last
line (never acknowledged); the next append starts on a new line, so that the partial line stays
one line of its own (which the loader quarantines) and never spoils the next event.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from .files import FILE_MODE, private_dir
from .formats import SOURCES
from .formats.base import Rejected
from .formats.common import plausible_instants, unstorable_text

# The per-line check of the landing parser: the same function the loader runs on every line.
from .formats.events import EventWindow, check_line

UTC = dt.UTC
MAX_EVENT_BYTES = 32 * 1024  # one event, as compact JSON (and the body of a single-event route)
MAX_BATCH_BYTES = 500 * 1024  # the body of one /v1/batch request
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# Segment's required field of a type, besides userId or anonymousId (the parser's rule)
REQUIRED_FIELDS = {"track": "event", "group": "groupId", "alias": "previousId"}
_BATCH_MERGED = ("context", "integrations")

_EVENTS_GLOB = SOURCES["events"].landing_glob  # events/*.jsonl*
EVENTS_FOLDER = PurePosixPath(_EVENTS_GLOB).parent.as_posix()


def landing_name(day: dt.date) -> str:
    """The landing path (relative to the landing folder) of the events received on ``day`` (UTC)."""
    name = f"{EVENTS_FOLDER}/{day.isoformat()}.jsonl"
    assert fnmatchcase(name, _EVENTS_GLOB), f"{name} does not match the events glob {_EVENTS_GLOB}"
    return name


@dataclass(frozen=True)
class RejectedEvent:
    """An event of a request that was not written: its index in the request and why."""

    index: int
    field: str | None  # the event's key at fault, None when it is the event as a whole
    message: str
    too_large: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Collected:
    """What ``Collector.collect`` did with the events of one request."""

    written: int  # events appended (and synced to disk)
    rejected: list[RejectedEvent] = field(default_factory=list)
    path: Path | None = None  # the landing file written, None when nothing was
    received_at: str = ""


class EventRejected(ValueError):
    def __init__(self, field: str | None, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.too_large = too_large


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


class Collector:
    """Checks the events of a request and appends the accepted ones to the day's landing file."""

    def __init__(self, landing_dir: Path, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.landing_dir = Path(landing_dir)
        self.clock = clock
        self.log = EventLog(self.landing_dir)
        self._windows: dict[dt.date, EventWindow] = {}

    def collect(
        self,
        events: Sequence[Any],
        *,
        event_type: str | None = None,
        batch: Mapping[str, Any] | None = None,
    ) -> Collected:
        """Check ``events`` (each completed as the module docstring says) and append the good ones.

        ``event_type`` is the route's type (None for a batch: each item names its own); ``batch``
        is the batch request's body, for the ``context``, ``integrations`` and ``sentAt`` it
        gives every item. Raises OSError when the lines cannot be written: nothing of the
        request is acknowledged then.
        """
        received = self.clock()
        received = received.replace(tzinfo=UTC) if received.tzinfo is None else received.astimezone(UTC)
        received_text = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        day = received.date()
        window = self._window(day)
        defaults = _batch_defaults(batch)
        lines: list[bytes] = []
        rejected: list[RejectedEvent] = []
        for index, event in enumerate(events):
            try:
                lines.append(
                    event_line(event, received_text, window, event_type=event_type, defaults=defaults)
                )
            except EventRejected as exc:
                rejected.append(RejectedEvent(index, exc.field, exc.message, exc.too_large))
        if not lines:
            return Collected(0, rejected, None, received_text)
        path = self.log.append(day, b"".join(lines))
        return Collected(len(lines), rejected, path, received_text)

    def _window(self, day: dt.date) -> EventWindow:
        window = self._windows.get(day)
        if window is None:
            if len(self._windows) > 8:
                self._windows.clear()
            window = self._windows[day] = EventWindow(day, *plausible_instants(day))
        return window


def _batch_defaults(batch: Mapping[str, Any] | None) -> dict[str, Any]:
    if not batch:
        return {}
    return {key: batch[key] for key in (*_BATCH_MERGED, "sentAt") if batch.get(key) is not None}


def event_line(
    event: Any,
    received_at: str,
    window: EventWindow,
    *,
    event_type: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> bytes:
    """The landing line (JSON and ``\\n``) of one event; raises EventRejected naming the field."""
    if type(event) is not dict:
        raise EventRejected(None, f"expected a JSON object, got {_json_type(event)}")
    size = len(orjson.dumps(event))
    if size > MAX_EVENT_BYTES:
        raise EventRejected(
            None, f"the event is {size:,} bytes, over the limit of {MAX_EVENT_BYTES:,}", too_large=True
        )
    event = dict(event)  # the caller's dict is left as it was
    event.pop("writeKey", None)
    if event_type is not None:
        event["type"] = event_type
    if event.get("messageId") is None:
        event["messageId"] = str(uuid.uuid4())
    for key, value in (defaults or {}).items():
        if key == "sentAt":
            event.setdefault("sentAt", value)
        elif type(value) is dict:
            own = event.get(key)
            if own is None:
                event[key] = value
            elif type(own) is dict:
                event[key] = {**value, **own}
    event["receivedAt"] = received_at
    line = orjson.dumps(event)
    result = check_line(1, line, window, 0, 0)
    if isinstance(result, Rejected):
        raise EventRejected(_field_of(result.reason, event), result.reason)
    kind = event["type"]
    if kind not in EVENT_TYPES:
        raise EventRejected("type", f"type: {kind!r} is not one of {', '.join(EVENT_TYPES)}")
    required = REQUIRED_FIELDS.get(kind)
    if required is not None and not event.get(required):
        raise EventRejected(required, f"{required}: missing (a {kind} needs one)")
    return line + b"\n"


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# A parser reason starts with the key at fault: "timestamp: ...", "context: expected an object",
# "timestamp (receivedAt - (sentAt - originalTimestamp)): ..."
_REASON_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::| \()")


def _field_of(reason: str, event: dict[str, Any]) -> str | None:
    """The event's key a parser rejection is about (None: the event as a whole)."""
    if reason.startswith("neither userId nor anonymousId"):
        return "userId"
    match = _REASON_KEY.match(reason)
    if match and match[1] in event:
        return match[1]
    for key, value in event.items():  # text PostgreSQL cannot store: the top-level key holding it
        if unstorable_text(key) is not None or unstorable_text(value) is not None:
            return key
    return match[1] if match else None


# One lock for the whole process: every EventLog appends under it, whatever its folder.
_APPEND_LOCK = threading.Lock()
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class EventLog:
    """Appends whole lines to ``<landing>/events/<date>.jsonl``: one write and one fsync per call."""

    def __init__(self, landing_dir: Path) -> None:
        self.landing_dir = Path(landing_dir)

    def path_for(self, day: dt.date) -> Path:
        return self.landing_dir / landing_name(day)

    def append(self, day: dt.date, data: bytes) -> Path:
        """Append ``data`` (whole lines) to the file of ``day`` and fsync it; returns the file.

        Raises OSError (naming the file) when the bytes cannot all be written; a part written
        is cut off again, so that the file ends with whole lines.
        """
        path = self.path_for(day)
        with _APPEND_LOCK:
            fd, created = self._open(path)
            try:
                self._write(fd, path, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_folder(path.parent)
        return path

    def _open(self, path: Path) -> tuple[int, bool]:
        try:
            return os.open(path, _OPEN_FLAGS), False
        except FileNotFoundError:
            pass
        folder_existed = path.parent.is_dir()
        private_dir(path.parent)
        if not folder_existed:
            _fsync_folder(path.parent.parent)
        return os.open(path, _OPEN_FLAGS | os.O_CREAT, FILE_MODE), True

    @staticmethod
    def _write(fd: int, path: Path, data: bytes) -> None:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a partial line left by a crash: keep it a line of its own
        written = os.write(fd, data)
        if written != len(data):
            if os.fstat(fd).st_size == size + written:  # nobody appended after it: cut it off
                os.ftruncate(fd, size)
            raise OSError(f"{path}: only {written} of {len(data)} bytes could be written")


def _fsync_folder(folder: Path) -> None:
    """Make a new entry of ``folder`` durable (a new file survives a crash of the machine)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder
    finally:
        os.close(fd)
