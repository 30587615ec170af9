"""Load landing files into raw tables with COPY, one transaction per file.

Loading a file first deletes what an earlier load of the same file put into ``raw.<source>``
and ``quarantine.<source>``, then COPYs the parsed rows, then records the load in
``ops.load_manifest`` — all in one transaction, so a crash or a bad file leaves the previous
contents, never half of the new ones. A file whose sha256 matches its last successful load is
skipped unless ``force`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_dumps

from ..formats.base import ParseContext, ParsedRow, Rejected, SourceSpec, UnreadableFile
from .ddl import LINEAGE_COLUMNS, QUARANTINE_SCHEMA, RAW_SCHEMA, ensure_raw_table, ensure_schemas

_COPY_LINEAGE = [name for name, _ in LINEAGE_COLUMNS if name != "_loaded_at"]


@dataclass(frozen=True)
class LoadResult:
    source: str
    file_path: str
    partition_date: dt.date | None
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duration_seconds: float
    skipped: bool = False
    sha256: str = ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(conn: psycopg.Connection, spec: SourceSpec) -> None:
    """Create the schemas and tables ``spec`` needs (idempotent)."""
    ensure_schemas(conn)
    ensure_raw_table(conn, spec)


def _last_loaded_sha(conn: psycopg.Connection, source: str, file_path: str) -> str | None:
    row = conn.execute(
        """select sha256, status from ops.load_manifest
           where source = %s and file_path = %s order by load_id desc limit 1""",
        (source, file_path),
    ).fetchone()
    return row[0] if row and row[1] == "loaded" else None


def _copy_rows(conn, spec: SourceSpec, ctx: ParseContext, batch_id: uuid.UUID) -> tuple[int, list[Rejected]]:
    columns = spec.column_names + _COPY_LINEAGE
    statement = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(RAW_SCHEMA, spec.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    lineage = (ctx.partition_date if spec.partitioned else None, ctx.relative_path)
    loaded = 0
    rejected: list[Rejected] = []
    with conn.cursor().copy(statement) as copy:
        # declaring the types up front spares psycopg a dumper lookup per value (and lets dicts go to jsonb)
        copy.set_types([_base_type(c.pg_type) for c in spec.columns] + ["date", "text", "integer", "uuid"])
        for item in spec.parser(ctx):
            if isinstance(item, ParsedRow):
                copy.write_row((*item.values, *lineage, item.line, batch_id))
                loaded += 1
            else:
                rejected.append(item)
    return loaded, rejected


def _base_type(pg_type: str) -> str:
    """numeric(18,4) -> numeric: the name psycopg knows the type by."""
    return pg_type.split("(")[0].strip()


def _copy_rejects(conn, spec: SourceSpec, ctx: ParseContext, batch_id: uuid.UUID, rejected: list[Rejected]) -> None:
    if not rejected:
        return
    statement = sql.SQL(
        "copy {} (_partition_date, _source_file, _row_number, raw_text, reason, _batch_id) from stdin"
    ).format(sql.Identifier(QUARANTINE_SCHEMA, spec.name))
    partition = ctx.partition_date if spec.partitioned else None
    with conn.cursor().copy(statement) as copy:
        for r in rejected:
            copy.write_row((partition, ctx.relative_path, r.line, r.raw.replace("\x00", ""), r.reason, batch_id))


def _delete_previous(conn, spec: SourceSpec, relative_path: str) -> None:
    for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA):
        if spec.partitioned:
            conn.execute(
                sql.SQL("delete from {} where _source_file = %s").format(sql.Identifier(schema, spec.name)),
                (relative_path,),
            )
        else:  # an unpartitioned source is one file that replaces the whole table
            conn.execute(sql.SQL("truncate {}").format(sql.Identifier(schema, spec.name)))


def _record(conn, spec, ctx, batch_id, sha, size, started, duration, read, loaded, quarantined, status, error=None):
    conn.execute(
        """insert into ops.load_manifest (batch_id, source, file_path, partition_date, sha256, size_bytes,
               rows_read, rows_loaded, rows_quarantined, status, error, started_at, duration_seconds)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (batch_id, spec.name, ctx.relative_path, ctx.partition_date if spec.partitioned else None, sha, size,
         read, loaded, quarantined, status, error, started, duration),
    )


@contextmanager
def loader_connection(url: str, spec: SourceSpec) -> Iterator[psycopg.Connection]:
    """An autocommit connection with ``spec``'s tables in place: each ``conn.transaction()`` is a real one."""
    with psycopg.connect(url, autocommit=True) as conn:
        set_json_dumps(orjson.dumps, context=conn)  # jsonb columns: orjson is ~5x faster than json.dumps
        with conn.transaction():
            prepare(conn, spec)
        yield conn


def load_file(conn: psycopg.Connection, spec: SourceSpec, ctx: ParseContext, *, force: bool = False) -> LoadResult:
    """Replace what ``ctx.path`` contributed to ``raw.<spec.name>``; raise UnreadableFile when it cannot be read.

    ``conn`` comes from ``loader_connection`` (autocommit, tables prepared).
    """
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    sha = file_sha256(ctx.path)
    size = ctx.path.stat().st_size
    batch_id = uuid.uuid4()
    partition = ctx.partition_date if spec.partitioned else None
    if not force and _last_loaded_sha(conn, spec.name, ctx.relative_path) == sha:
        return LoadResult(spec.name, ctx.relative_path, partition, 0, 0, 0, time.perf_counter() - t0, True, sha)
    try:
        with conn.transaction():
            _delete_previous(conn, spec, ctx.relative_path)
            loaded, rejected = _copy_rows(conn, spec, ctx, batch_id)
            _copy_rejects(conn, spec, ctx, batch_id, rejected)
            duration = time.perf_counter() - t0
            read = loaded + len(rejected)
            _record(conn, spec, ctx, batch_id, sha, size, started, duration, read, loaded, len(rejected), "loaded")
    except UnreadableFile as exc:
        with conn.transaction():
            _record(conn, spec, ctx, batch_id, sha, size, started, time.perf_counter() - t0,
                    None, None, None, "failed", str(exc))
        raise
    return LoadResult(spec.name, ctx.relative_path, partition, read, loaded, len(rejected), duration, False, sha)


def remove_missing_files(conn: psycopg.Connection, spec: SourceSpec, start: dt.date, end: dt.date,
                         present: list[str]) -> int:
    """Delete rows of partitions [start, end] whose source file is no longer in the landing folder."""
    removed = 0
    with conn.transaction():
        for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA):
            cur = conn.execute(
                sql.SQL(
                    "delete from {} where _partition_date between %s and %s and not (_source_file = any(%s))"
                ).format(sql.Identifier(schema, spec.name)),
                (start, end, present),
            )
            removed += cur.rowcount if schema == RAW_SCHEMA else 0
    return removed


def analyze(conn: psycopg.Connection, spec: SourceSpec) -> None:
    """Refresh the planner statistics of ``raw.<spec.name>`` after a load changed it."""
    conn.execute(sql.SQL("analyze {}").format(sql.Identifier(RAW_SCHEMA, spec.name)))
