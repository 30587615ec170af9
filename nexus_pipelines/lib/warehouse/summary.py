"""What is in the warehouse: per schema, each table's rows and date range (for `nexus run`).

Views are listed but not counted: counting one runs its whole query over the whole history
(the inventory aging view alone takes longer than a one-day run), so a run's summary would cost
more than the run. Their rows are those of the tables below them.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .connection import one_row

SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "analytics", "ops")

_TABLES_SQL = """
select t.table_schema, t.table_name, t.table_type,
       (select c.column_name from information_schema.columns c
         where c.table_schema = t.table_schema and c.table_name = t.table_name
           and c.data_type in ('date', 'timestamp with time zone', 'timestamp without time zone')
           and c.column_name not like '\\_%%'
         order by (c.data_type = 'date') desc, c.ordinal_position limit 1) as date_column
from information_schema.tables t
where t.table_schema = any(%s)
order by array_position(%s::text[], t.table_schema::text), t.table_name
"""


@dataclass(frozen=True)
class TableSummary:
    schema: str
    name: str
    kind: str
    rows: int | None  # None for a view (not counted)
    first: str | None
    last: str | None


def summarize(url: str, schemas: tuple[str, ...] = SCHEMAS) -> list[TableSummary]:
    out = []
    with psycopg.connect(url) as conn:
        for schema, name, kind, date_column in conn.execute(
            _TABLES_SQL, (list(schemas), list(schemas))
        ).fetchall():
            if kind == "VIEW":
                out.append(TableSummary(schema, name, "view", None, None, None))
                continue
            table = sql.Identifier(schema, name)
            if date_column:
                query = sql.SQL(
                    "select count(*), min({c})::date::text, max({c})::date::text from {t}"
                ).format(c=sql.Identifier(date_column), t=table)
            else:
                query = sql.SQL("select count(*), null, null from {t}").format(t=table)
            rows, first, last = one_row(conn, query)
            out.append(TableSummary(schema, name, "table", rows, first, last))
    return out


def format_summary(tables: list[TableSummary]) -> str:
    lines = []
    current = None
    for t in tables:
        if t.schema != current:
            current = t.schema
            lines.append(f"\n{t.schema}")
        dates = f"{t.first} .. {t.last}" if t.first else ""
        rows = "(not counted)" if t.rows is None else f"{t.rows:>12,} rows"
        lines.append(f"  {t.name:<42} {t.kind:<5} {rows:>17}  {dates}")
    return "\n".join(lines).lstrip("\n")
