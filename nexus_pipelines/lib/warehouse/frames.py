"""DataFrames in and out of the warehouse: SQL aggregates in, COPY out.

Only for inputs that SQL has already aggregated (one row per customer, cohort cell, ...):
never read a raw event table through here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from .bi import secure_new_relation
from .connection import scalar

_PG_TYPES = {
    "b": "boolean",
    "i": "bigint",
    "u": "bigint",
    "f": "double precision",
    "M": "timestamptz",
}


READ_CHUNK_ROWS = 50_000


def read_frame(
    url: str, query: str | sql.SQL | sql.Composed, params: tuple | dict | None = None
) -> pd.DataFrame:
    """The result of ``query`` as a DataFrame, fetched in chunks from a server-side cursor.

    Rows arrive as tuples, which cost several times the memory of the values they hold; the
    values are moved into one list per column chunk by chunk, so the tuples of the whole result
    never exist at once (the frame is then built from the columns, with the same type inference
    as from the rows).
    """
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor(name="read_frame") as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description or ()]
        columns: list[list] = [[] for _ in names]
        while rows := cur.fetchmany(READ_CHUNK_ROWS):
            for column, values in zip(columns, zip(*rows)):
                column.extend(values)
            del rows
        if len(set(names)) < len(names):  # repeated column names: a frame from rows keeps them all
            return pd.DataFrame(list(zip(*columns)), columns=names)
        return pd.DataFrame(dict(zip(names, columns)), columns=names)


def infer_pg_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    if kind in _PG_TYPES:
        return _PG_TYPES[kind]
    sample = series.dropna()
    first = sample.iloc[0] if len(sample) else None
    if isinstance(first, dt.datetime):
        return "timestamptz"
    if isinstance(first, dt.date):
        return "date"
    if isinstance(first, Decimal):
        return "numeric"
    if isinstance(first, (bool, np.bool_)):
        return "boolean"
    return "text"


def _clean(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _column_values(series: pd.Series) -> list:
    """A column as plain Python values, missing ones as None (vectorised; no per-value checks)."""
    if series.dtype.kind in "iub":
        return series.tolist()
    if series.dtype.kind == "f":
        return series.astype(object).where(series.notna(), None).tolist()
    if series.dtype.kind == "M":
        return [None if v is pd.NaT else v.to_pydatetime() for v in series]
    return [_clean(v) for v in series.tolist()]


def copy_frame(conn: psycopg.Connection, ident: sql.Identifier, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into the existing table ``ident`` on ``conn`` (in the caller's transaction)."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        ident, sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    columns = [_column_values(frame[c]) for c in frame.columns]
    with conn.cursor().copy(statement) as copy:
        for row in zip(*columns):
            copy.write_row(row)
    return len(frame)


def ensure_indexes(
    conn: psycopg.Connection, schema: str, table: str, indexes: Sequence[Sequence[str]]
) -> None:
    """Create the (non-unique) indexes on ``indexes``' column lists that do not exist yet."""
    for columns in indexes:
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(f"{table}__{'__'.join(columns)}_idx"[:63]),
                sql.Identifier(schema, table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
            )
        )


def ensure_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    types: dict[str, str],
    indexes: Sequence[Sequence[str]] = (),
) -> None:
    """Create ``schema.table`` with ``types`` (column -> PostgreSQL type) if missing, add the
    columns a newer version brings, and its indexes (in the caller's transaction). A table it
    creates gets the BI groups' grants and row-level security in the same transaction."""
    ident = sql.Identifier(schema, table)
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    existed = scalar(conn, "select to_regclass(%s) is not null", (ident.as_string(conn),))
    conn.execute(
        sql.SQL("create table if not exists {} ({})").format(
            ident,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in types.items()
            ),
        )
    )
    for column, pg_type in types.items():  # a newer version of an asset may add columns
        conn.execute(
            sql.SQL("alter table {} add column if not exists {} {}").format(
                ident, sql.Identifier(column), sql.SQL(pg_type)
            )
        )
    ensure_indexes(conn, schema, table, indexes)
    if not existed:
        secure_new_relation(conn, schema, table)


def replace_table(
    url: str,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    column_types: dict[str, str] | None = None,
    *,
    where: tuple[str, tuple] | None = None,
    indexes: Sequence[Sequence[str]] = (),
) -> int:
    """Replace ``schema.table`` (or only the rows matching ``where``) with ``frame``, via COPY, in one transaction.

    ``where`` is a SQL condition with %s placeholders and its parameters, e.g.
    ``("run_date = %s", (day,))``: then only those rows are replaced and the table keeps the rest.
    ``indexes`` are column lists to index (what BI tools filter by), created once.
    """
    types = {c: (column_types or {}).get(c) or infer_pg_type(frame[c]) for c in frame.columns}
    ident = sql.Identifier(schema, table)
    with psycopg.connect(url) as conn, conn.transaction():
        ensure_table(conn, schema, table, types, indexes)
        if where is None:
            conn.execute(sql.SQL("truncate {}").format(ident))
        else:
            conn.execute(sql.SQL("delete from {} where ").format(ident) + sql.SQL(where[0]), where[1])
        copy_frame(conn, ident, frame)
        conn.execute(sql.SQL("analyze {}").format(ident))  # statistics for BI right away
    return len(frame)
