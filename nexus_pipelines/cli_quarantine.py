"""`nexus quarantine list|summary|show FILE`: the landing lines that were rejected, and why.

The rows come from the ``quarantine.<source>`` tables (``lib/warehouse/quarantine.py``); the
commands only read. ``--source`` keeps one raw source, ``--json`` prints one JSON document
instead of the aligned text.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import psycopg
from tabulate import tabulate

from .lib.config import Settings, load_settings
from .lib.formats import SOURCES
from .lib.warehouse import quarantine as q

RAW_TEXT_SHOWN = 200  # characters of a rejected line shown in the text output (--json has all)
NOTHING = "nothing is quarantined"


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _connect(settings: Settings) -> Iterator[psycopg.Connection]:
    from .lib.warehouse.connection import warehouse_url

    with psycopg.connect(warehouse_url(settings)) as conn:
        conn.read_only = True
        yield conn


def _echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[str] = ()) -> None:
    """Aligned plain columns; the cells as given (no number parsing), ``numeric`` ones right-aligned."""
    align = ["right" if h in numeric else "left" for h in headers]
    click.echo(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True, colalign=align))


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _jsonable(record: Any) -> dict[str, Any]:
    """A record's fields, dates and times in ISO 8601 (times in UTC)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).isoformat()
        return value.isoformat() if isinstance(value, dt.date) else value

    return {key: plain(value) for key, value in asdict(record).items()}


def _printable(text: str | None) -> str:
    """A rejected line on one terminal line: backslashes, tabs and line breaks escaped, long ones cut."""
    if text is None:
        return ""
    flat = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= RAW_TEXT_SHOWN else flat[: RAW_TEXT_SHOWN - 3] + "..."


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _nothing(source: str | None) -> str:
    return f"{NOTHING} for source {source}" if source else NOTHING


source_option = click.option(
    "--source", type=click.Choice(list(SOURCES)), default=None, help="Only this raw source."
)
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")


@click.group(help="The landing lines that were rejected (quarantine.<source>): list|summary|show FILE.")
def quarantine() -> None:
    pass


@quarantine.command(
    "list",
    short_help="Quarantined rows per source and file.",
    help="Per source and file: quarantined rows, first and last line, partition date and the "
    "file's latest load (UTC).",
)
@source_option
@json_option
def list_command(source: str | None, as_json: bool) -> None:
    with _connect(_settings()) as conn:
        found = q.files(conn, source)
    if as_json:
        _echo_json([_jsonable(f) for f in found])
        return
    if not found:
        click.echo(_nothing(source))
        return
    rows = [
        (
            f.source,
            f.file,
            f.rows,
            f"{f.first_line}..{f.last_line}",
            f.partition_date or "-",
            _when(f.last_loaded_at),
        )
        for f in found
    ]
    _echo_table(("source", "file", "rows", "lines", "partition", "loaded"), rows, numeric=("rows",))
    total = sum(f.rows for f in found)
    click.echo(f"{total} row(s) quarantined from {len({f.file for f in found})} file(s)")


@quarantine.command(
    short_help="Quarantined rows per reason.",
    help="Quarantined rows and files per source and reason (--by field: the reason's text before "
    "its first ':', e.g. quantity).",
)
@source_option
@click.option(
    "--by",
    type=click.Choice(q.GROUP_BY),
    default="reason",
    show_default=True,
    help="Group by the whole reason or by its field.",
)
@json_option
def summary(source: str | None, by: q.GroupBy, as_json: bool) -> None:
    with _connect(_settings()) as conn:
        counts = q.summary(conn, source, by=by)
    if as_json:
        _echo_json([{"source": c.source, by: c.reason, "rows": c.rows, "files": c.files} for c in counts])
        return
    if not counts:
        click.echo(_nothing(source))
        return
    _echo_table(
        ("source", by, "rows", "files"),
        [(c.source, c.reason, c.rows, c.files) for c in counts],
        numeric=("rows", "files"),
    )


def _relative(file: str, landing_dir: Path) -> str:
    """FILE as the loads record it: relative to the landing folder, with forward slashes."""
    path = Path(file)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(landing_dir.resolve()).as_posix()
        except ValueError:
            return file
    text = file.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


@quarantine.command(
    short_help="The quarantined rows of one file.",
    help="The quarantined rows of one landing file (its path in the landing folder, or absolute), "
    "by line, from every source it feeds.",
)
@click.argument("file")
@source_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Rows shown at most."
)
@json_option
def show(file: str, source: str | None, limit: int, as_json: bool) -> None:
    settings = _settings()
    relative = _relative(file, settings.landing_dir)
    with _connect(settings) as conn:
        known = q.known_files(conn, source)
        if relative not in known:
            close = difflib.get_close_matches(relative, sorted(known), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            where = f" for source {source}" if source else ""
            raise click.BadParameter(f"no load of {relative} is recorded{where}{hint}", param_hint="'FILE'")
        total = sum(f.rows for f in q.files(conn, source) if f.file == relative)
        rows = q.show(conn, relative, limit, source=source)
    if as_json:
        _echo_json({"file": relative, "rows_quarantined": total, "rows": [_jsonable(r) for r in rows]})
        return
    if not rows:
        click.echo(f"{relative}: {_nothing(source)}")
        return
    shown = f", the first {len(rows)} shown" if len(rows) < total else ""
    click.echo(f"{relative}: {total} quarantined row(s){shown}")
    _echo_table(
        ("source", "line", "reason", "raw_text"),
        [(r.source, r.line, r.reason, _printable(r.raw_text)) for r in rows],
        numeric=("line",),
    )
