"""What is in quarantine: the rejected rows of every ``quarantine.<source>`` table, read-only.

Every raw source has a quarantine table (``ddl.py``) with the file, line, raw text and reason of
each line the parser rejected; a load of a file first deletes what an earlier load of that file
put there. Three views over all of them (``nexus quarantine list|summary|show``):

* ``list_files``: per source and file, the number of rows, first and last line, partition date
  and when they were loaded;
* ``summary``: per source and file, the number of rows per reason, or per field (the text
  before the first ``:`` of the reason, e.g. ``quantity``);
* ``show``: the rows of one file, by line, from every source it feeds (one Sales and Traffic
  report feeds two tables).

A table that does not exist yet (a source never loaded) is simply empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from ..formats import SOURCES
from .ddl import OPS_SCHEMA, QUARANTINE_SCHEMA

GroupBy = Literal["reason", "field"]


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    file: str
    rows: int
    first_line: int
    last_line: int
    partition_date: dt.date | None  # None for an unpartitioned source (stores)
    last_loaded_at: dt.datetime


@dataclass(frozen=True)
class ReasonCount:
    source: str
    file: str
    reason: str  # the whole reason, or its field when grouped by field
    rows: int


@dataclass(frozen=True)
class QuarantinedRow:
    source: str
    line: int
    reason: str
    raw_text: str | None


def quarantine_tables(conn: psycopg.Connection, sources: Iterable[str] | None = None) -> list[str]:
    """The sources (of ``sources``, default all) whose quarantine table exists, in SOURCES order."""
    wanted = list(SOURCES if sources is None else sources)
    present = {
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_name = any(%s)",
            (QUARANTINE_SCHEMA, wanted),
        ).fetchall()
    }
    return [name for name in wanted if name in present]


def _all_rows(tables: list[str], columns: str) -> tuple[sql.Composable, list[str]]:
    """``select <source>, <columns>`` over every table, as one UNION ALL, with its parameters."""
    parts = [
        sql.SQL("select %s::text as source, {} from {}").format(
            sql.SQL(columns), sql.Identifier(QUARANTINE_SCHEMA, name)
        )
        for name in tables
    ]
    return sql.SQL(" union all ").join(parts), list(tables)


def _sources(source: str | None) -> list[str] | None:
    return None if source is None else [source]


def list_files(conn: psycopg.Connection, *, source: str | None = None) -> list[QuarantinedFile]:
    """Per source and file: rows, first/last line, partition date, latest load; by source and file."""
    tables = quarantine_tables(conn, _sources(source))
    if not tables:
        return []
    rows, params = _all_rows(tables, "_source_file, _row_number, _partition_date, _loaded_at")
    query = sql.SQL(
        """select source, _source_file, count(*), min(_row_number), max(_row_number),
                  min(_partition_date), max(_loaded_at)
           from ({}) as q group by source, _source_file order by source, _source_file"""
    ).format(rows)
    return [QuarantinedFile(*row) for row in conn.execute(query, params).fetchall()]


def summary(
    conn: psycopg.Connection, *, source: str | None = None, by: GroupBy = "reason"
) -> list[ReasonCount]:
    """Rows per source, file and reason (``by="field"``: the reason's text before its first ``:``).

    Ordered by source, file, then the most frequent reason first.
    """
    if by not in ("reason", "field"):
        raise ValueError(f"by must be 'reason' or 'field', not {by!r}")
    tables = quarantine_tables(conn, _sources(source))
    if not tables:
        return []
    rows, params = _all_rows(tables, "_source_file, reason")
    # a reason without a ':' is its own field
    key = sql.SQL("split_part(reason, ':', 1)" if by == "field" else "reason")
    query = sql.SQL(
        """select source, _source_file, {key} as grouped, count(*) as n
           from ({rows}) as q group by source, _source_file, grouped
           order by source, _source_file, n desc, grouped"""
    ).format(key=key, rows=rows)
    return [ReasonCount(*row) for row in conn.execute(query, params).fetchall()]


def show(
    conn: psycopg.Connection, file: str, *, source: str | None = None, limit: int | None = None
) -> list[QuarantinedRow]:
    """The quarantined rows of ``file`` (its path in the landing folder) by line, then source."""
    tables = quarantine_tables(conn, _sources(source))
    if not tables:
        return []
    rows, params = _all_rows(tables, "_source_file, _row_number, reason, raw_text")
    query = sql.SQL(
        """select source, _row_number, reason, raw_text from ({}) as q
           where _source_file = %s order by _row_number, source limit %s"""
    ).format(rows)
    return [QuarantinedRow(*row) for row in conn.execute(query, [*params, file, limit]).fetchall()]


def known_files(conn: psycopg.Connection, *, source: str | None = None) -> set[str]:
    """Every file a load ever recorded (ops.load_manifest) or that has quarantined rows."""
    found: set[str] = set()
    manifest = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = 'load_manifest'",
        (OPS_SCHEMA,),
    ).fetchone()
    if manifest:
        found.update(
            path
            for (path,) in conn.execute(
                "select distinct file_path from ops.load_manifest where %s::text is null or source = %s",
                (source, source),
            ).fetchall()
        )
    found.update(f.file for f in list_files(conn, source=source))
    return found
