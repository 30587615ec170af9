"""What is in quarantine: the rejected rows of every ``quarantine.<source>`` table, read-only.

Every raw source has a quarantine table (``ddl.py``) with the file, line, raw text and reason of
each line its parser rejected; a load of a file first deletes what an earlier load of that file
put there, so a fixed file leaves nothing behind. Three views over all of them (``nexus
quarantine list|summary|show``):

* ``files``: per source and file, the number of rows, first and last line, partition date and
  the file's latest successful load (``ops.load_manifest``);
* ``summary``: per source, the number of rows and files per reason, or per field (the text
  before the first ``:`` of the reason, e.g. ``quantity``);
* ``show``: the rows of one file, by line, from every source it feeds (one Sales and Traffic
  report feeds two tables).

A table that does not exist yet (a source never loaded) is simply empty. Table names come from
``SOURCES`` only and every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from ..formats import SOURCES
from .ddl import QUARANTINE_SCHEMA

GroupBy = Literal["reason", "field"]
GROUP_BY: tuple[GroupBy, ...] = ("reason", "field")


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    file: str
    rows: int
    first_line: int
    last_line: int
    partition_date: dt.date | None  # None for an unpartitioned source (stores)
    last_loaded_at: dt.datetime | None  # the file's latest successful load in ops.load_manifest


@dataclass(frozen=True)
class ReasonCount:
    source: str
    reason: str  # the whole reason, or its field when grouped by field
    rows: int
    files: int


@dataclass(frozen=True)
class QuarantinedRow:
    source: str
    line: int
    reason: str
    raw_text: str | None


def _check_source(source: str | None) -> list[str]:
    if source is None:
        return list(SOURCES)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
    return [source]


def quarantine_tables(conn: psycopg.Connection, sources: Iterable[str] | None = None) -> list[str]:
    """The sources (of ``sources``, default all) whose quarantine table exists, in SOURCES order."""
    wanted = [name for name in (SOURCES if sources is None else sources) if name in SOURCES]
    present = {
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_name = any(%s)",
            (QUARANTINE_SCHEMA, wanted),
        ).fetchall()
    }
    return [name for name in wanted if name in present]


def _manifest_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('ops.load_manifest') is not null").fetchone() == (True,)


def _union(tables: list[str], columns: list[str]) -> tuple[sql.Composable, list[object]]:
    """``select <source> as source, <columns>`` over every table as one UNION ALL, and its parameters."""
    select = sql.SQL(", ").join(map(sql.Identifier, columns))
    parts = [
        sql.SQL("select %s::text as source, {} from {}").format(
            select, sql.Identifier(QUARANTINE_SCHEMA, name)
        )
        for name in tables
    ]
    return sql.SQL(" union all ").join(parts), [*tables]


def files(conn: psycopg.Connection, source: str | None = None) -> list[QuarantinedFile]:
    """Per source and file: rows, first/last line, partition date, latest load; by source and file."""
    tables = quarantine_tables(conn, _check_source(source))
    if not tables:
        return []
    rows, params = _union(tables, ["_source_file", "_row_number", "_partition_date"])
    if _manifest_exists(conn):
        loads = sql.SQL(
            """select source, file_path, max(started_at) as loaded_at from ops.load_manifest
               where status = 'loaded' and source = any(%s) group by source, file_path"""
        )
        params = [*params, tables]
    else:
        loads = sql.SQL(
            "select null::text as source, null::text as file_path, null::timestamptz as loaded_at"
        )
    query = sql.SQL(
        """select q.source, q._source_file, count(*), min(q._row_number), max(q._row_number),
                  min(q._partition_date), max(m.loaded_at)
           from ({rows}) as q
           left join ({loads}) as m on m.source = q.source and m.file_path = q._source_file
           group by q.source, q._source_file order by q.source, q._source_file"""
    ).format(rows=rows, loads=loads)
    return [QuarantinedFile(*row) for row in conn.execute(query, params).fetchall()]


def summary(conn: psycopg.Connection, source: str | None = None, by: GroupBy = "reason") -> list[ReasonCount]:
    """Rows and files per source and reason (``by="field"``: the reason's text before its first ``:``).

    Ordered by source, then the most frequent reason first (ties by the reason's text).
    """
    if by not in GROUP_BY:
        raise ValueError(f"by must be 'reason' or 'field', not {by!r}")
    tables = quarantine_tables(conn, _check_source(source))
    if not tables:
        return []
    rows, params = _union(tables, ["_source_file", "reason"])
    # a reason without a ':' is its own field
    key = sql.SQL("split_part(reason, ':', 1)" if by == "field" else "reason")
    query = sql.SQL(
        """select source, {key} as grouped, count(*) as n, count(distinct _source_file)
           from ({rows}) as q group by source, grouped
           order by source, n desc, grouped"""
    ).format(key=key, rows=rows)
    return [ReasonCount(*row) for row in conn.execute(query, params).fetchall()]


def show(
    conn: psycopg.Connection, file: str, limit: int | None = None, source: str | None = None
) -> list[QuarantinedRow]:
    """The quarantined rows of ``file`` (its path in the landing folder) by line, then source.

    Every source's table is read unless ``source`` is given; ``limit`` None means all rows.
    """
    tables = quarantine_tables(conn, _check_source(source))
    if not tables:
        return []
    rows, params = _union(tables, ["_source_file", "_row_number", "reason", "raw_text"])
    query = sql.SQL(
        """select source, _row_number, reason, raw_text from ({}) as q
           where _source_file = %s order by _row_number, source limit %s"""
    ).format(rows)
    return [QuarantinedRow(*row) for row in conn.execute(query, [*params, file, limit]).fetchall()]


def known_files(conn: psycopg.Connection, source: str | None = None) -> set[str]:
    """Every file with quarantined rows or that a load recorded (ops.load_manifest), of ``source``."""
    sources = _check_source(source)
    found = {f.file for f in files(conn, source)}
    if _manifest_exists(conn):
        found.update(
            path
            for (path,) in conn.execute(
                "select distinct file_path from ops.load_manifest where source = any(%s)", (sources,)
            ).fetchall()
        )
    return found
