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
from typing import Callable, Iterator

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_dumps

from ..formats.base import ParseContext, ParsedRow, Rejected, SourceSpec, UnreadableFile
from . import changes, locks
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
    """Create the schemas and tables ``spec`` needs (idempotent; call under the ``ddl`` lock)."""
    ensure_schemas(conn)
    ensure_raw_table(conn, spec)


def _tables_ready(conn: psycopg.Connection, spec: SourceSpec) -> bool:
    """True when ``spec``'s tables exist with every column (no DDL, hence no lock, needed)."""
    names = [c.name for c in spec.columns] + [name for name, _ in LINEAGE_COLUMNS]
    found = conn.execute(
        """select count(*) from information_schema.columns
           where table_schema = %s and table_name = %s and column_name = any(%s)""",
        (RAW_SCHEMA, spec.name, names),
    ).fetchone()[0]
    others = conn.execute(
        "select to_regclass('ops.pending_changes') is not null and to_regclass('ops.load_manifest') is not null "
        "and exists (select 1 from information_schema.columns where table_schema = %s and table_name = %s "
        "and column_name = 'row_data')",
        (QUARANTINE_SCHEMA, spec.name),
    ).fetchone()[0]
    return found == len(names) and others


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
def loader_connection(url: str, spec: SourceSpec, *,
                      on_wait: Callable[[str], None] | None = None) -> Iterator[psycopg.Connection]:
    """An autocommit connection with ``spec``'s tables in place: each ``conn.transaction()`` is a real one.

    The connection holds the advisory lock ``load:<source>`` while it is open, so that two runs
    never load the same source at once (the second waits, then finds the files unchanged).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        set_json_dumps(orjson.dumps, context=conn)  # jsonb columns: orjson is ~5x faster than json.dumps
        with locks.held(conn, f"load:{spec.name}", on_wait=on_wait):
            if not _tables_ready(conn, spec):
                with locks.held(conn, "ddl", on_wait=on_wait), conn.transaction():
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
            this_file = (sql.SQL("_source_file = %s"), (ctx.relative_path,))
            changes.capture(conn, spec.name, *this_file)  # what the old rows pointed at
            if spec.name == "events":
                _touch_messages(conn, *this_file)
            _delete_previous(conn, spec, ctx.relative_path)
            loaded, rejected = _copy_rows(conn, spec, ctx, batch_id)
            _copy_rejects(conn, spec, ctx, batch_id, rejected)
            conflicts = 0
            if spec.name == "events":  # reconciling records every copy of the touched messages
                _touch_messages(conn, *this_file)
                conflicts = _reconcile_events(conn, batch_id).get(ctx.relative_path, 0)
            else:
                changes.capture(conn, spec.name, *this_file)  # and what the new ones point at
            loaded -= conflicts
            quarantined = len(rejected) + conflicts
            duration = time.perf_counter() - t0
            read = loaded + quarantined
            _record(conn, spec, ctx, batch_id, sha, size, started, duration, read, loaded, quarantined, "loaded")
    except UnreadableFile as exc:
        with conn.transaction():
            _record(conn, spec, ctx, batch_id, sha, size, started, time.perf_counter() - t0,
                    None, None, None, "failed", str(exc))
        raise
    return LoadResult(spec.name, ctx.relative_path, partition, read, loaded, quarantined, duration, False, sha)


def record_unloadable(conn: psycopg.Connection, spec: SourceSpec, path: Path, relative_path: str, problem: str) -> bool:
    """Record in ops.load_manifest that a file cannot be loaded at all (e.g. no valid date in its name).

    Recorded once per content: a later run finding the same file unchanged adds no row. Returns
    True when a row was added.
    """
    sha = file_sha256(path)
    row = conn.execute(
        """select sha256, status, error from ops.load_manifest
           where source = %s and file_path = %s order by load_id desc limit 1""",
        (spec.name, relative_path),
    ).fetchone()
    if row == (sha, "failed", problem):
        return False
    with conn.transaction():
        conn.execute(
            """insert into ops.load_manifest (batch_id, source, file_path, partition_date, sha256, size_bytes,
                   status, error, started_at, duration_seconds)
               values (%s, %s, %s, null, %s, %s, 'failed', %s, now(), 0)""",
            (uuid.uuid4(), spec.name, relative_path, sha, path.stat().st_size, problem),
        )
    return True


def remove_missing_files(conn: psycopg.Connection, spec: SourceSpec, start: dt.date, end: dt.date,
                         present: list[str]) -> int:
    """Delete rows of partitions [start, end] whose source file is no longer in the landing folder."""
    removed = 0
    gone = sql.SQL("_partition_date between %s and %s and not (_source_file = any(%s))")
    with conn.transaction():
        changes.capture(conn, spec.name, gone, (start, end, present))
        if spec.name == "events":
            _touch_messages(conn, gone, (start, end, present))
        for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA):
            cur = conn.execute(
                sql.SQL("delete from {} where ").format(sql.Identifier(schema, spec.name)) + gone,
                (start, end, present),
            )
            removed += cur.rowcount if schema == RAW_SCHEMA else 0
        if spec.name == "events" and removed:
            _reconcile_events(conn, uuid.uuid4())
    return removed


def analyze(conn: psycopg.Connection, spec: SourceSpec) -> None:
    """Refresh the planner statistics of ``raw.<spec.name>`` after a load changed it."""
    conn.execute(sql.SQL("analyze {}").format(sql.Identifier(RAW_SCHEMA, spec.name)))


def _touch_messages(conn: psycopg.Connection, predicate: sql.Composable, params: tuple) -> None:
    """Remember (for this transaction) the message ids of the raw events matching ``predicate``."""
    conn.execute("create temp table if not exists touched_messages (message_id text) on commit drop")
    conn.execute(
        sql.SQL("insert into touched_messages select distinct message_id from raw.events where ") + predicate,
        params,
    )


# Re-sent events are loaded once: every copy of a messageId stays in raw (staging keeps the first
# received), but a copy whose content differs from the first copy's is set aside in
# quarantine.events with the file, line and reason, its typed row kept in row_data. Which copy is
# first depends only on the files (received_at, then partition date, file and line), never on
# the order in which they were loaded: each load first puts back the set-aside copies of the
# messages it touches, then decides again.
_RESTORE_SET_ASIDE = """
with restored as (
    delete from quarantine.events as q
    using (select distinct message_id from touched_messages) as t
    where q.row_data is not null and q.row_data ->> 'message_id' = t.message_id
    returning q.row_data
)
insert into raw.events select (jsonb_populate_record(null::raw.events, row_data)).* from restored
"""

_SET_ASIDE_CONFLICTS = """
with copies as (
    select e.ctid as row_ref, e.*,
           row_number() over (partition by e.message_id
                              order by e.received_at nulls last, e._partition_date, e._source_file, e._row_number) as copy_number
    from raw.events as e
    where e.message_id in (select message_id from touched_messages)
),
conflicts as (
    select c.row_ref, k._source_file as first_file, k._row_number as first_line
    from copies as c
    join copies as k on k.message_id = c.message_id and k.copy_number = 1
    where c.copy_number > 1
      and (c.event_type, c.event_name, c.page_name, c.user_id, c.anonymous_id, c.event_timestamp,
           c.context, c.properties, c.traits)
          is distinct from
          (k.event_type, k.event_name, k.page_name, k.user_id, k.anonymous_id, k.event_timestamp,
           k.context, k.properties, k.traits)
),
moved as (
    delete from raw.events as e using conflicts as c
    where e.ctid = c.row_ref
    returning e._partition_date, e._source_file, e._row_number, e.message_id, to_jsonb(e) as row_data,
              c.first_file, c.first_line
)
insert into quarantine.events (_partition_date, _source_file, _row_number, raw_text, reason, _batch_id, row_data)
select _partition_date, _source_file, _row_number, row_data::text,
       'messageId ' || message_id || ' was already loaded from ' || first_file || ' line ' || first_line
           || ' with different content (the first copy wins)',
       %s, row_data
from moved
returning _source_file
"""


def _reconcile_events(conn: psycopg.Connection, batch_id: uuid.UUID) -> dict[str, int]:
    """Re-decide the first copy of every touched message; returns conflicting copies set aside per file.

    Copies of other files may move in either direction, so the dates of every copy of a touched
    message are recorded as changed, before and after.
    """
    touched = (sql.SQL("message_id in (select message_id from touched_messages)"), ())
    changes.capture(conn, "events", *touched)
    conn.execute(_RESTORE_SET_ASIDE)
    moved: dict[str, int] = {}
    for (file_path,) in conn.execute(_SET_ASIDE_CONFLICTS, (batch_id,)).fetchall():
        moved[file_path] = moved.get(file_path, 0) + 1
    changes.capture(conn, "events", *touched)
    conn.execute("truncate touched_messages")
    return moved
