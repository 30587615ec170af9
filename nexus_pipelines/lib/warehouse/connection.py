"""Connections to the warehouse: one URL, whichever server is behind it.

``warehouse_url(settings)`` starts the embedded server when no NEXUS_DATABASE_URL is configured,
creates the project's databases if they are missing, and returns a libpq URL. ``dbt_env`` turns
that URL into the environment variables the dbt profile reads (no credentials in files).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import Settings
from . import embedded

DAGSTER_DB_SUFFIX = "_dagster"


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            # another process may create it between our check and our create
            with suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def warehouse_url(settings: Settings) -> str:
    """URL of the analytics database, starting the embedded server when needed."""
    if settings.database_url:
        return settings.database_url
    server = embedded.start(settings)
    _ensure_database(server.url("postgres"), settings.db_name)
    return server.url(settings.db_name)


def dagster_database_name(settings: Settings, base: str | None = None) -> str:
    """The name of the database that holds Dagster's storage (on its own server, maybe)."""
    if settings.dagster_database_url:
        return str(conninfo_to_dict(settings.dagster_database_url).get("dbname") or "")
    params = conninfo_to_dict(base or warehouse_url(settings))
    return f"{params.get('dbname') or settings.db_name}{DAGSTER_DB_SUFFIX}"


def same_server_dagster_database(settings: Settings, base: str) -> str | None:
    """The Dagster database's name when it is on the warehouse's server and used by the same
    user (the default), so its ``CONNECT`` can be kept from BI users; None otherwise."""
    if not settings.dagster_database_url:
        return dagster_database_name(settings, base)
    warehouse, dagster = conninfo_to_dict(base), conninfo_to_dict(settings.dagster_database_url)
    same = all(str(warehouse.get(k) or "") == str(dagster.get(k) or "") for k in ("host", "port", "user"))
    return str(dagster.get("dbname") or "") or None if same else None


def dagster_storage_url(settings: Settings) -> str:
    """URL of the database that holds Dagster's runs, schedules and event logs."""
    if settings.dagster_database_url:
        return settings.dagster_database_url
    base = warehouse_url(settings)
    name = dagster_database_name(settings, base)
    _ensure_database(base, name)
    if settings.embedded:
        _relax_commits(base, name)
    return with_database(base, name)


def _relax_commits(admin_url: str, name: str) -> None:
    """``synchronous_commit = off`` for the embedded server's Dagster database.

    A run writes hundreds of small event-log rows, each its own commit; without waiting for the
    WAL flush each costs a fraction of a millisecond instead of several. The trade-off: after an
    operating-system crash or power loss (not a process crash), the last few hundred milliseconds
    of Dagster's run history may be missing. The warehouse database keeps synchronous commits, so
    no loaded or built data is at risk.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        current = scalar(
            conn,
            "select coalesce((select option_value from pg_db_role_setting s "
            "join pg_database d on d.oid = s.setdatabase, pg_options_to_table(s.setconfig) "
            "where d.datname = %s and s.setrole = 0 and option_name = 'synchronous_commit'), '')",
            (name,),
        )
        if current != "off":
            conn.execute(
                sql.SQL("alter database {} set synchronous_commit = off").format(sql.Identifier(name))
            )


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URL form, as SQLAlchemy needs it)."""
    if "://" not in url:  # a libpq key=value string
        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def dbt_env(url: str) -> dict[str, str]:
    """Environment variables read by dbt_project/profiles.yml."""
    params = conninfo_to_dict(url)
    return {
        "NEXUS_PG_HOST": str(params.get("host") or "localhost"),
        "NEXUS_PG_PORT": str(params.get("port") or 5432),
        "NEXUS_PG_USER": str(params.get("user") or "postgres"),
        "NEXUS_PG_PASSWORD": str(params.get("password") or ""),
        "NEXUS_PG_DATABASE": str(params.get("dbname") or "postgres"),
        "NEXUS_PG_SSLMODE": str(params.get("sslmode") or "prefer"),
    }


def missing_relations(url: str, relations: list[tuple[str, str]]) -> list[str]:
    """Those of the (schema, name) tables or views that do not exist, as "schema.name"."""
    with psycopg.connect(url) as conn:
        present = set(
            conn.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
    return [f"{schema}.{name}" for schema, name in relations if (schema, name) not in present]


def one_row(conn: psycopg.Connection, query: Any, params: Any = None) -> tuple[Any, ...]:
    """The single row ``query`` returns (an aggregate, ``exists``, ``to_regclass``): never none."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"the query returned no row: {query!r}")
    return tuple(row)


def scalar(conn: psycopg.Connection, query: Any, params: Any = None) -> Any:
    """The first column of the single row ``query`` returns."""
    return one_row(conn, query, params)[0]
