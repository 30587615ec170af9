"""The read-only role for BI tools: SELECT on marts and analytics only."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

BI_ROLE = "nexus_bi_reader"
BI_SCHEMAS = ("marts", "analytics")


def ensure_bi_reader(url: str, role: str = BI_ROLE, schemas: tuple[str, ...] = BI_SCHEMAS) -> None:
    """Create the role (NOLOGIN: grant it to a BI login role) and grant read access, idempotently.

    Default privileges make tables created later by this user readable too.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        for schema in schemas:
            ident = sql.Identifier(schema)
            conn.execute(sql.SQL("create schema if not exists {}").format(ident))
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(ident, sql.Identifier(role)))
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(ident, sql.Identifier(role))
            )
            conn.execute(
                sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                    ident, sql.Identifier(role)
                )
            )
