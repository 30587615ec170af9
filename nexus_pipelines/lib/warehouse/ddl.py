"""DDL of the tables the ingestion layer owns: raw.*, quarantine.* and ops.load_manifest.

Tables are created on first use and gain columns added to a source's spec later (never drop
or retype a column here: that is a migration a person decides).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ..formats.base import SourceSpec
from .changes import CHANGES_DDL

RAW_SCHEMA = "raw"
QUARANTINE_SCHEMA = "quarantine"
OPS_SCHEMA = "ops"

LINEAGE_COLUMNS = (
    ("_partition_date", "date"),
    ("_source_file", "text not null"),
    ("_row_number", "integer not null"),
    ("_batch_id", "uuid not null"),
    ("_loaded_at", "timestamptz not null default now()"),
)

# Expression indexes that the dbt models' filters can use (name suffix -> indexed expression).
# Partitioned product facts filter events on their UTC date, not on the file's partition date.
# Each value is the index's column list in parentheses, optionally followed by a WHERE clause.
# identity_link: the change capture's "is this device linked earlier by other rows" lookup.
EXTRA_INDEXES = {
    "events": {
        "event_date": "(((event_timestamp at time zone 'UTC')::date))",
        "message_id": "((message_id))",
        "identity_link": "(anonymous_id, event_timestamp) where anonymous_id is not null and user_id is not null",
    },
}

# Columns added to a table that may already hold rows loaded without them, with the value every
# such row had (source -> column -> value). events.timestamp_source: before the column existed,
# an event without `timestamp` was rejected, so every loaded event took its time from `timestamp`.
# The column is added with that value as its default, which PostgreSQL records once instead of
# rewriting the table, and the default is dropped right away (every load writes the value).
BACKFILLED_COLUMNS = {
    "events": {"timestamp_source": "timestamp"},
}

MANIFEST_DDL = """
create table if not exists ops.load_manifest (
    load_id bigserial primary key,
    batch_id uuid not null,
    source text not null,
    file_path text not null,
    partition_date date,
    sha256 text,
    size_bytes bigint,
    rows_read integer,
    rows_loaded integer,
    rows_quarantined integer,
    status text not null check (status in ('loaded', 'failed')),
    error text,
    started_at timestamptz not null,
    duration_seconds double precision
);
create index if not exists load_manifest_file_idx on ops.load_manifest (source, file_path, load_id desc);
"""


def ensure_schemas(conn: psycopg.Connection) -> None:
    for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA, OPS_SCHEMA):
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    conn.execute(MANIFEST_DDL)
    conn.execute(CHANGES_DDL)


def ensure_raw_table(conn: psycopg.Connection, spec: SourceSpec) -> None:
    table = sql.Identifier(RAW_SCHEMA, spec.name)
    columns = [(c.name, c.pg_type) for c in spec.columns] + list(LINEAGE_COLUMNS)
    conn.execute(
        sql.SQL("create table if not exists {} ({})").format(
            table,
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns),
        )
    )
    backfilled = BACKFILLED_COLUMNS.get(spec.name, {})
    existing = {
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (RAW_SCHEMA, spec.name),
        )
    }
    for name, pg_type in columns:
        if name in existing:
            continue
        column_type = sql.SQL(pg_type.replace(" not null", ""))
        if name in backfilled:
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {} default {}").format(
                    table, sql.Identifier(name), column_type, sql.Literal(backfilled[name])
                )
            )
            conn.execute(
                sql.SQL("alter table {} alter column {} drop default").format(table, sql.Identifier(name))
            )
        else:
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    table, sql.Identifier(name), column_type
                )
            )
    for column in ("_source_file", "_partition_date"):
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(f"{spec.name}{column}_idx"), table, sql.Identifier(column)
            )
        )
    for suffix, expression in EXTRA_INDEXES.get(spec.name, {}).items():
        conn.execute(
            sql.SQL("create index if not exists {} on {} {}").format(
                sql.Identifier(f"{spec.name}_{suffix}_idx"), table, sql.SQL(expression)
            )
        )
    conn.execute(
        sql.SQL(
            """create table if not exists {} (
                _partition_date date,
                _source_file text not null,
                _row_number integer not null,
                raw_text text,
                reason text not null,
                _batch_id uuid not null,
                _loaded_at timestamptz not null default now()
            )"""
        ).format(sql.Identifier(QUARANTINE_SCHEMA, spec.name))
    )
    # a valid row set aside (e.g. an event whose messageId was first loaded with other content),
    # kept typed so that it can be put back when the first copy goes away
    conn.execute(
        sql.SQL("alter table {} add column if not exists row_data jsonb").format(
            sql.Identifier(QUARANTINE_SCHEMA, spec.name)
        )
    )
