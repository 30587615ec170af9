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

from .lib.config import Settings, load_settings
from .lib.formats import SOURCES
from .lib.warehouse import quarantine as q

RAW_TEXT_SHOWN = 200  # characters of a rejected line shown in the text output (--json has all)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _connect(settings: Settings) -> Iterator[psycopg.Connection]:
    from .lib.warehouse.connection import warehouse_url

    with psycopg.connect(warehouse_url(settings), autocommit=True) as conn:
        yield conn


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _jsonable(record: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        for key, value in asdict(record).items()
    }


def _printable(text: str | None) -> str:
    """A rejected line on one terminal line: tabs and line breaks escaped, long ones cut."""
    if text is None:
        return ""
    flat = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= RAW_TEXT_SHOWN else flat[: RAW_TEXT_SHOWN - 3] + "..."


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


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
    help="Per source and file: quarantined rows, first and last line, partition date, last load (UTC).",
)
@source_option
@json_option
def list_command(source: str | None, as_json: bool) -> None:
    with _connect(_settings()) as conn:
        files = q.list_files(conn, source=source)
    if as_json:
        _echo_json([_jsonable(f) for f in files])
        return
    if not files:
        click.echo("no quarantined rows")
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
        for f in files
    ]
    for line in _table(("source", "file", "rows", "lines", "partition", "loaded"), rows):
        click.echo(line)
    total = sum(f.rows for f in files)
    click.echo(f"{total} row(s) from {len({f.file for f in files})} file(s)")


@quarantine.command(
    short_help="Quarantined rows per reason.",
    help="Quarantined rows per source, file and reason (or field: the reason's text before ':').",
)
@source_option
@click.option(
    "--by",
    type=click.Choice(["reason", "field"]),
    default="reason",
    show_default=True,
    help="Group by the whole reason or by its field.",
)
@json_option
def summary(source: str | None, by: q.GroupBy, as_json: bool) -> None:
    with _connect(_settings()) as conn:
        counts = q.summary(conn, source=source, by=by)
    if as_json:
        _echo_json([{(by if key == "reason" else key): v for key, v in _jsonable(c).items()} for c in counts])
        return
    if not counts:
        click.echo("no quarantined rows")
        return
    for line in _table(
        ("source", "file", "rows", by), [(c.source, c.file, c.rows, c.reason) for c in counts]
    ):
        click.echo(line)


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
    help="The quarantined rows of one landing file (its path in the landing folder), by line, from "
    "every source it feeds.",
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
        known = q.known_files(conn, source=source)
        if relative not in known:
            close = difflib.get_close_matches(relative, sorted(known), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            where = f" of source {source}" if source else ""
            raise click.BadParameter(f"{relative} was never loaded{where}{hint}", param_hint="'FILE'")
        total = sum(f.rows for f in q.list_files(conn, source=source) if f.file == relative)
        rows = q.show(conn, relative, source=source, limit=limit)
    if as_json:
        _echo_json({"file": relative, "rows_quarantined": total, "rows": [_jsonable(r) for r in rows]})
        return
    shown = f", the first {len(rows)} shown" if len(rows) < total else ""
    click.echo(f"{relative}: {total} quarantined row(s){shown}")
    if rows:
        table = [(r.source, r.line, r.reason, _printable(r.raw_text)) for r in rows]
        for line in _table(("source", "line", "reason", "raw_text"), table):
            click.echo(line)
