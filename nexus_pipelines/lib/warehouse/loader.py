"""Load landing files into raw tables with COPY, one transaction per source and window.

Loading a file first deletes what an earlier load of the same file put into ``raw.<source>``
and ``quarantine.<source>``, then COPYs the parsed rows, then records the load in
``ops.load_manifest``. The changed files of one window load in one transaction, each file in its
own savepoint, so a crash leaves the previous contents and a bad file is rolled back alone —
never half of a file. A file whose sha256 matches its last successful load is
skipped unless ``force`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_dumps

from ..formats.base import ParseContext, ParsedRow, Rejected, SourceSpec, UnreadableFile
from . import changes, locks
from .connection import scalar
from .ddl import (
    EXTRA_INDEXES,
    LINEAGE_COLUMNS,
    QUARANTINE_SCHEMA,
    RAW_SCHEMA,
    ensure_raw_table,
    ensure_schemas,
)

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
    found = scalar(
        conn,
        """select count(*) from information_schema.columns
           where table_schema = %s and table_name = %s and column_name = any(%s)""",
        (RAW_SCHEMA, spec.name, names),
    )
    others = scalar(
        conn,
        "select to_regclass('ops.pending_changes') is not null and to_regclass('ops.load_manifest') is not null "
        "and exists (select 1 from information_schema.columns where table_schema = %s and table_name = %s "
        "and column_name = 'row_data')",
        (QUARANTINE_SCHEMA, spec.name),
    )
    indexes = [f"{RAW_SCHEMA}.{spec.name}_{suffix}_idx" for suffix in EXTRA_INDEXES.get(spec.name, {})]
    indexed = all(scalar(conn, "select to_regclass(%s) is not null", (name,)) for name in indexes)
    return found == len(names) and others and indexed


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


def _copy_rejects(
    conn, spec: SourceSpec, ctx: ParseContext, batch_id: uuid.UUID, rejected: list[Rejected]
) -> None:
    if not rejected:
        return
    statement = sql.SQL(
        "copy {} (_partition_date, _source_file, _row_number, raw_text, reason, _batch_id) from stdin"
    ).format(sql.Identifier(QUARANTINE_SCHEMA, spec.name))
    partition = ctx.partition_date if spec.partitioned else None
    with conn.cursor().copy(statement) as copy:
        for r in rejected:
            copy.write_row(
                (partition, ctx.relative_path, r.line, r.raw.replace("\x00", ""), r.reason, batch_id)
            )


def _delete_previous(conn, spec: SourceSpec, relative_path: str) -> None:
    for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA):
        if spec.partitioned:
            conn.execute(
                sql.SQL("delete from {} where _source_file = %s").format(sql.Identifier(schema, spec.name)),
                (relative_path,),
            )
        else:  # an unpartitioned source is one file that replaces the whole table
            conn.execute(sql.SQL("truncate {}").format(sql.Identifier(schema, spec.name)))


@contextmanager
def loader_connection(
    url: str, spec: SourceSpec, *, on_wait: Callable[[str], None] | None = None
) -> Iterator[psycopg.Connection]:
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


def _last_loaded_shas(conn: psycopg.Connection, source: str, file_paths: list[str]) -> dict[str, str]:
    """file -> sha256 of its last load, for the files whose last load succeeded (one query)."""
    rows = conn.execute(
        """select distinct on (file_path) file_path, sha256, status from ops.load_manifest
           where source = %s and file_path = any(%s) order by file_path, load_id desc""",
        (source, file_paths),
    ).fetchall()
    return {path: sha for path, sha, status in rows if status == "loaded"}


@dataclass
class _Pending:
    ctx: ParseContext
    sha: str
    size: int
    started: dt.datetime
    seconds: float  # this file's own time: hashing, parsing and its COPY
    loaded: int = 0
    rejected: int = 0
    error: UnreadableFile | None = None


def load_files(
    conn: psycopg.Connection, spec: SourceSpec, contexts: list[ParseContext], *, force: bool = False
) -> tuple[list[LoadResult], list[tuple[str, UnreadableFile]]]:
    """Replace what each changed file of ``contexts`` contributed to ``raw.<spec.name>``.

    All changed files load in one transaction, each inside its own savepoint: a file that cannot
    be read is rolled back alone (its earlier rows stay) and recorded as failed, every other file
    replaces its rows, and the bookkeeping a load needs (change capture, the re-sent-event
    reconciliation, the manifest) runs once for the batch instead of once per file. A crash
    leaves the previous contents of every file. Unchanged files (same sha256 as their last
    successful load) are skipped unless ``force``. Returns the per-file results and the
    unreadable files with their relative paths. ``conn`` comes from ``loader_connection`` (autocommit, tables prepared).
    """
    if not contexts:
        return [], []
    hashed = []
    for ctx in contexts:
        t0 = time.perf_counter()
        hashed.append((ctx, file_sha256(ctx.path), ctx.path.stat().st_size, time.perf_counter() - t0))
    last = {} if force else _last_loaded_shas(conn, spec.name, [ctx.relative_path for ctx, *_ in hashed])
    results: list[LoadResult] = []
    pending: list[_Pending] = []
    for ctx, sha, size, seconds in hashed:
        partition = ctx.partition_date if spec.partitioned else None
        if last.get(ctx.relative_path) == sha:
            results.append(LoadResult(spec.name, ctx.relative_path, partition, 0, 0, 0, seconds, True, sha))
        else:
            pending.append(_Pending(ctx, sha, size, dt.datetime.now(dt.UTC), seconds))
    if not pending:
        return results, []
    batch_id = uuid.uuid4()
    files = (sql.SQL("_source_file = any(%s)"), ([p.ctx.relative_path for p in pending],))
    with conn.transaction():
        # what the old rows point at (a file that turns out unreadable keeps its rows: recording
        # its dates as changed too only costs a rebuild of dates that did not change)
        changes.capture(conn, spec.name, *files)
        if spec.name == "events":
            _touch_messages(conn, *files)
        for item in pending:
            t0 = time.perf_counter()
            try:
                with conn.transaction():  # a savepoint: an unreadable file is undone alone
                    _delete_previous(conn, spec, item.ctx.relative_path)
                    item.loaded, rejected = _copy_rows(conn, spec, item.ctx, batch_id)
                    _copy_rejects(conn, spec, item.ctx, batch_id, rejected)
                    item.rejected = len(rejected)
            except UnreadableFile as exc:
                item.error = exc
            item.seconds += time.perf_counter() - t0
        loaded_files = (
            sql.SQL("_source_file = any(%s)"),
            ([p.ctx.relative_path for p in pending if not p.error],),
        )
        changes.capture(conn, spec.name, *loaded_files)  # and what the new ones point at
        conflicts: dict[str, int] = {}
        if spec.name == "events":  # re-decide the first copy of every message the batch touched
            _touch_messages(conn, *loaded_files)
            conflicts = _reconcile_events(conn, batch_id)
        with conn.cursor().copy(
            """copy ops.load_manifest (batch_id, source, file_path, partition_date, sha256, size_bytes, rows_read,
                   rows_loaded, rows_quarantined, status, error, started_at, duration_seconds) from stdin"""
        ) as copy:
            for item in pending:
                ctx = item.ctx
                partition = ctx.partition_date if spec.partitioned else None
                if item.error is not None:
                    copy.write_row(
                        (
                            batch_id,
                            spec.name,
                            ctx.relative_path,
                            partition,
                            item.sha,
                            item.size,
                            None,
                            None,
                            None,
                            "failed",
                            str(item.error),
                            item.started,
                            item.seconds,
                        )
                    )
                    continue
                moved = conflicts.get(ctx.relative_path, 0)
                loaded, quarantined = item.loaded - moved, item.rejected + moved
                copy.write_row(
                    (
                        batch_id,
                        spec.name,
                        ctx.relative_path,
                        partition,
                        item.sha,
                        item.size,
                        loaded + quarantined,
                        loaded,
                        quarantined,
                        "loaded",
                        None,
                        item.started,
                        item.seconds,
                    )
                )
                results.append(
                    LoadResult(
                        spec.name,
                        ctx.relative_path,
                        partition,
                        loaded + quarantined,
                        loaded,
                        quarantined,
                        item.seconds,
                        False,
                        item.sha,
                    )
                )
    return results, [(p.ctx.relative_path, p.error) for p in pending if p.error is not None]


def record_unloadable(
    conn: psycopg.Connection, spec: SourceSpec, path: Path, relative_path: str, problem: str
) -> bool:
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


def remove_missing_files(
    conn: psycopg.Connection, spec: SourceSpec, start: dt.date, end: dt.date, present: list[str]
) -> int:
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
    conn.execute(
        "create temp table if not exists touched_messages (message_id text primary key) on commit drop"
    )
    conn.execute(
        sql.SQL("insert into touched_messages select distinct message_id from raw.events where ")
        + predicate
        + sql.SQL(" on conflict do nothing"),
        params,
    )


# Re-sent events are loaded once: every copy of a messageId stays in raw (staging keeps the first
# received), but a copy whose content differs from the first copy's is set aside in
# quarantine.events with the file, line and reason, its typed row kept in row_data. The event
# time is part of the content even when it was derived from receivedAt (timestamp_source
# skew_corrected or receivedAt, see formats/events.py): two deliveries of such a message differ
# in it, and a copy left in raw with another time (perhaps another date) would break the rule
# below and staging's choice within (event_date, event_type, event_name, message_id). Such a
# copy is set aside like any other, with a reason saying that only its derived time differs.
# Which copy is first depends only on the files (received_at, then partition date, file and
# line), never on the order in which they were loaded: each load first puts back the set-aside
# copies of the messages it touches, then decides again.
#
# What staging shows can change only for the touched messages, and only through rows that were
# deleted or inserted by the load (captured by the loader) or moved between raw and quarantine
# here: a copy that stays in raw either is the first copy or equals it, so its dates are those of
# a captured row. Both statements therefore record the dates of the rows they move.
_CAPTURE_MOVED = """
changed as (
    insert into ops.pending_changes (source, object_id, business_date)
    select distinct 'events', null::text, (event_timestamp at time zone 'UTC')::date
    from {rows} where event_timestamp is not null
    union
    select distinct 'events', anonymous_id, null::date from {rows} where anonymous_id is not null and user_id is not null
)
"""

_RESTORE_SET_ASIDE = (
    """
with restored as (
    delete from quarantine.events as q
    using touched_messages as t
    where q.row_data is not null and q.row_data ->> 'message_id' = t.message_id
    returning q.row_data
),
back as (
    -- a copy set aside before raw.events had timestamp_source took its time from `timestamp`
    -- (ddl.BACKFILLED_COLUMNS); a key of row_data wins over this default
    insert into raw.events
    select (jsonb_populate_record(null::raw.events, '{"timestamp_source": "timestamp"}'::jsonb || row_data)).*
    from restored
    returning event_timestamp, user_id, anonymous_id
),
"""
    + _CAPTURE_MOVED.format(rows="back")
    + """
select count(*) from back
"""
)

_SET_ASIDE_CONFLICTS = (
    """
with repeated as (  -- only a message with two or more copies has a copy to set aside
    select e.message_id from raw.events as e join touched_messages as t using (message_id)
    group by e.message_id having count(*) > 1
),
copies as (
    select e.ctid as row_ref, e.*,
           row_number() over (partition by e.message_id
                              order by e.received_at nulls last, e._partition_date, e._source_file, e._row_number) as copy_number
    from raw.events as e join repeated using (message_id)
),
conflicts as (
    select c.row_ref, k._source_file as first_file, k._row_number as first_line,
           -- only the time differs, and one of the two was derived from the collector's receivedAt,
           -- which is not the same for two deliveries of one message
           (c.event_type, c.event_name, c.page_name, c.user_id, c.anonymous_id, c.context, c.properties, c.traits)
               is not distinct from
               (k.event_type, k.event_name, k.page_name, k.user_id, k.anonymous_id, k.context, k.properties, k.traits)
           and (c.timestamp_source in ('skew_corrected', 'receivedAt')
                or k.timestamp_source in ('skew_corrected', 'receivedAt')) as derived_time_differs
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
    returning e._partition_date, e._source_file, e._row_number, e.message_id, e.event_timestamp, e.user_id,
              e.anonymous_id, to_jsonb(e) as row_data, c.first_file, c.first_line, c.derived_time_differs
),
"""
    + _CAPTURE_MOVED.format(rows="moved")
    + """
insert into quarantine.events (_partition_date, _source_file, _row_number, raw_text, reason, _batch_id, row_data)
select _partition_date, _source_file, _row_number, row_data::text,
       'messageId ' || message_id || ' was already loaded from ' || first_file || ' line ' || first_line
           || case when derived_time_differs
                   then ' with the same content but another event time: a time derived from receivedAt'
                        || ' differs between deliveries (the first copy wins)'
                   else ' with different content (the first copy wins)'
              end,
       %s, row_data
from moved
returning _source_file
"""
)


def _reconcile_events(conn: psycopg.Connection, batch_id: uuid.UUID) -> dict[str, int]:
    """Re-decide the first copy of every touched message; returns conflicting copies set aside per file.

    Copies of other files may move in either direction; the dates of every row moved are
    recorded as changed.
    """
    conn.execute("analyze touched_messages")  # a temp table has no statistics until analyzed
    conn.execute(_RESTORE_SET_ASIDE)
    moved: dict[str, int] = {}
    for (file_path,) in conn.execute(_SET_ASIDE_CONFLICTS, (batch_id,)).fetchall():
        moved[file_path] = moved.get(file_path, 0) + 1
    conn.execute("truncate touched_messages")
    return moved
