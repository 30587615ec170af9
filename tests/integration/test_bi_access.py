"""BI access over TCP with passwords, on an embedded server of its own that listens on TCP.

One real run of the whole job builds the marts of a small two-store data set; BI users are then
created with the `nexus bi` commands and connect as a BI tool does, over TCP with their password
(through SQLAlchemy, as Superset and most BI tools do, and through psycopg). Expected row counts
come from the superuser's own per-store counts, never from the access code.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from click.testing import CliRunner
from dagster import DagsterInstance
from psycopg import sql

from nexus_pipelines import cli
from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse import embedded
from nexus_pipelines.lib.warehouse.connection import dagster_storage_url, warehouse_url

from .dbt_runner import run_dbt

DB = "nexus_bi"
FORBIDDEN_SCHEMAS = ("raw", "quarantine", "ops", "staging", "intermediate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nexus(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli.main, list(args), prog_name="nexus", env=env)


@pytest.fixture(scope="module")
def bi(tmp_path_factory):
    # outside pytest's private basetemp: the server runs as its own system user under root
    home = Path(tempfile.mkdtemp(prefix="nexus-bi-"))
    port = free_port()
    env = {
        "NEXUS_HOME": str(home),
        "NEXUS_DB_NAME": DB,
        "NEXUS_DB_LISTEN": f"127.0.0.1:{port}",
        "NEXUS_LANDING_DIR": str(home / "landing"),
    }
    patch = pytest.MonkeyPatch()
    for name in ("NEXUS_DATABASE_URL", "NEXUS_DAGSTER_DATABASE_URL", "NEXUS_BI_PASSWORD"):
        patch.delenv(name, raising=False)
    for name, value in env.items():
        patch.setenv(name, value)
    settings = load_settings()
    generate(home / "landing", days=4, stores=2, skus=4, users=120)
    from nexus_pipelines.defs.runner import run_window

    try:
        url = warehouse_url(settings)
        dagster_url = dagster_storage_url(settings)  # the Dagster database exists, as under `nexus dev`
        with DagsterInstance.ephemeral() as instance:
            outcome = run_window(instance=instance, settings=settings)
        assert outcome.success, outcome.errors
        yield {
            "url": url,
            "port": port,
            "home": home,
            "dagster_db": psycopg.conninfo.conninfo_to_dict(dagster_url)["dbname"],
            "tmp": tmp_path_factory.mktemp("bi"),
        }
    finally:
        patch.undo()
        embedded.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


def add_user(name: str, *scope: str) -> str:
    result = nexus("bi", "add-user", name, *scope)
    assert result.exit_code == 0, result.output
    assert "created BI user" in result.stdout
    return result.stdout.strip().splitlines()[-1]


def tcp(bi, user: str, password: str | None, database: str = DB) -> psycopg.Connection:
    kwargs = {"password": password} if password is not None else {}
    return psycopg.connect(host="127.0.0.1", port=bi["port"], user=user, dbname=database, **kwargs)


def store_keyed(url: str) -> dict[str, str]:
    """marts/analytics tables with a store_id column -> "schema.name" (from the catalog)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select table_schema, table_name from information_schema.columns c"
            " join information_schema.tables t using (table_schema, table_name)"
            " where column_name = 'store_id' and table_schema in ('marts', 'analytics')"
            " and t.table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
    return {f"{s}.{t}": f"{s}.{t}" for s, t in rows}


def all_tables(url: str, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema = any(%s) order by 1, 2",
            (list(schemas),),
        ).fetchall()


def counts_by_store(url: str, tables: list[str]) -> dict[str, dict[str, int]]:
    with psycopg.connect(url) as conn:
        return {
            table: dict(
                conn.execute(
                    sql.SQL("select store_id::text, count(*) from {} group by 1").format(
                        sql.Identifier(*table.split("."))
                    )
                ).fetchall()
            )
            for table in tables
        }


def count_all(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    return {
        table: conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split(".")))
        ).fetchone()[0]
        for table in tables
    }


def test_status_reports_the_tcp_listener(bi):
    status = nexus("db", "status")
    assert status.exit_code == 0, status.output
    assert f"tcp 127.0.0.1:{bi['port']} (scram-sha-256 passwords, BI users only)" in status.stdout


def test_a_bi_user_connects_over_tcp_with_its_password_and_nobody_else_does(bi):
    password = add_user("metabase", "--all-stores")
    assert len(password) >= 24
    engine = sqlalchemy.create_engine(
        sqlalchemy.engine.URL.create(
            "postgresql+psycopg",
            username="metabase",
            password=password,
            host="127.0.0.1",
            port=bi["port"],
            database=DB,
        )
    )
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("select current_user")).scalar() == "metabase"
    engine.dispose()
    with tcp(bi, "metabase", password) as conn:
        assert conn.execute("select current_user, inet_server_port()").fetchone() == ("metabase", bi["port"])

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tcp(bi, "metabase", password + "x")
    with pytest.raises(
        psycopg.OperationalError, match=r"no password supplied|password authentication failed"
    ):
        tcp(bi, "metabase", None)
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        tcp(bi, "postgres", None)  # the superuser has no way in over TCP
    with psycopg.connect(bi["url"], autocommit=True) as conn:
        conn.execute("create role analyst login password 'analyst-password-1'")
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        tcp(bi, "analyst", "analyst-password-1")  # a login role that is not a BI user
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        tcp(bi, "metabase", password, database=bi["dagster_db"])
    with psycopg.connect(bi["url"]) as conn:
        assert conn.execute(
            "select has_database_privilege('metabase', %s, 'connect')", (bi["dagster_db"],)
        ).fetchone() == (False,)
        # stored as a SCRAM verifier only
        verifier = conn.execute("select rolpassword from pg_authid where rolname = 'metabase'").fetchone()[0]
        assert verifier.startswith("SCRAM-SHA-256$") and password not in verifier


def test_a_bi_user_reads_the_marts_and_analytics_and_nothing_else(bi):
    password = add_user("superset", "--all-stores")
    readable = all_tables(bi["url"], ("marts", "analytics"))
    assert len(readable) >= 25
    forbidden = all_tables(bi["url"], FORBIDDEN_SCHEMAS)
    assert {schema for schema, _ in forbidden} == set(FORBIDDEN_SCHEMAS)
    with tcp(bi, "superset", password) as conn:
        conn.autocommit = True
        for schema, table in readable:
            conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table)))
        denied = []
        for schema, table in forbidden:
            try:
                conn.execute(sql.SQL("select 1 from {} limit 1").format(sql.Identifier(schema, table)))
            except psycopg.errors.InsufficientPrivilege:
                denied.append((schema, table))
        assert denied == forbidden
        target = sql.Identifier("marts", "fct_daily_sales")
        for statement in (
            sql.SQL("create temp table scratch (x int)"),
            sql.SQL("create table marts.scratch (x int)"),
            sql.SQL("create table public.scratch (x int)"),
            sql.SQL("create schema scratch"),
            sql.SQL("insert into {} (store_id) values ('x')").format(target),
            sql.SQL("update {} set store_id = store_id").format(target),
            sql.SQL("delete from {}").format(target),
            sql.SQL("truncate {}").format(target),
            sql.SQL("drop table {}").format(target),
            sql.SQL("alter table {} disable row level security").format(target),
            sql.SQL("select * from nexus_bi.store_access"),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_a_store_limited_user_reads_exactly_its_stores_rows_before_and_after_a_full_rebuild(bi):
    url = bi["url"]
    keyed = list(store_keyed(url))
    assert {
        "marts.fct_daily_sales",
        "marts.fct_inventory_daily",
        "marts.fct_returns",
        "marts.dim_store",
    } <= set(keyed)
    assert any(t.startswith("analytics.") for t in keyed), keyed
    expected = counts_by_store(url, keyed)
    stores = sorted({store for per_store in expected.values() for store in per_store})
    assert len(stores) == 2, stores
    one, other = stores
    one_password = add_user("tableau_one", "--stores", one)
    both_password = add_user("tableau_both", "--stores", f"{one},{other}")
    unkeyed = [f"{s}.{t}" for s, t in all_tables(url, ("marts", "analytics")) if f"{s}.{t}" not in keyed]
    assert "marts.fct_sessions" in unkeyed
    doc = (Path(__file__).resolve().parents[2] / "docs" / "bi.md").read_text()
    scoped_doc = doc.split("Store-limited users read these tables:")[1].split("Tables without a `store_id`")[
        0
    ]
    unscoped_doc = doc.split("are **not granted** to store-limited users")[1].split("A new table follows")[0]
    assert [t for t in keyed if f"`{t.split('.')[1]}`" not in scoped_doc] == []  # docs/bi.md lists them
    assert [t for t in unkeyed if f"`{t.split('.')[1]}`" not in unscoped_doc] == []

    def check() -> None:
        with tcp(bi, "tableau_one", one_password) as conn:
            seen = count_all(conn, keyed)
            assert seen == {t: expected[t].get(one, 0) for t in keyed}
            assert sum(seen.values()) < sum(sum(v.values()) for v in expected.values())
            leaked = conn.execute(
                "select count(*) from marts.fct_daily_sales where store_id <> %s", (one,)
            ).fetchone()[0]
            assert leaked == 0
            for table in unkeyed:  # no store_id: not granted to store-limited users
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql.SQL("select 1 from {}").format(sql.Identifier(*table.split("."))))
                conn.rollback()
        with tcp(bi, "tableau_both", both_password) as conn:
            assert count_all(conn, keyed) == {t: sum(expected[t].values()) for t in keyed}

    check()
    # dbt re-creates every table mart; the policies come back in the transaction that rebuilds each
    run_dbt(url, "run", "--full-refresh", "--select", "path:models/marts", target_dir=bi["tmp"] / "dbt")
    with psycopg.connect(url) as conn:
        rebuilt = conn.execute(
            "select count(*) from pg_class where relname = 'fct_daily_sales' and relrowsecurity"
        ).fetchone()[0]
    assert rebuilt == 1
    assert counts_by_store(url, keyed) == expected
    check()


def test_bi_commands_list_rotate_and_remove_users(bi):
    stores = sorted(store for store in counts_by_store(bi["url"], ["marts.dim_store"])["marts.dim_store"])
    password = add_user("looker", "--stores", stores[0])
    again = nexus("bi", "add-user", "looker", "--all-stores")  # idempotent: scope updated, password kept
    assert again.exit_code == 0, again.output
    assert "now reads all stores; password unchanged" in again.stdout
    listing = nexus("bi", "list")
    assert listing.exit_code == 0, listing.output
    assert any(line.split() == ["looker", "all", "stores"] for line in listing.stdout.splitlines())
    with tcp(bi, "looker", password) as conn:
        assert conn.execute("select count(*) from marts.fct_sessions").fetchone()[0] >= 0

    rotated = nexus("bi", "rotate-password", "looker")
    assert rotated.exit_code == 0, rotated.output
    new_password = rotated.stdout.strip().splitlines()[-1]
    assert new_password != password
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tcp(bi, "looker", password)
    tcp(bi, "looker", new_password).close()

    given = nexus("bi", "rotate-password", "looker", env={"NEXUS_BI_PASSWORD": "a-chosen-password-42"})
    assert given.exit_code == 0 and "a-chosen-password-42" not in given.stdout, given.output
    tcp(bi, "looker", "a-chosen-password-42").close()

    shown = nexus("bi", "url", "looker")
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert (fields["host"], fields["port"], fields["database"], fields["user"]) == (
        "127.0.0.1",
        str(bi["port"]),
        DB,
        "looker",
    )
    assert fields["url"] == f"postgresql://looker@127.0.0.1:{bi['port']}/{DB}"

    removed = nexus("bi", "remove", "looker")
    assert (removed.exit_code, removed.stdout) == (0, "removed BI user looker\n")
    with pytest.raises(psycopg.OperationalError):
        tcp(bi, "looker", "a-chosen-password-42")
    assert "looker" not in nexus("bi", "list").stdout


def test_bi_commands_refuse_what_they_cannot_do(bi):
    cases = [
        (("bi", "add-user", "x1"), 2, "exactly one of --stores"),
        (("bi", "add-user", "x1", "--all-stores", "--stores", "a"), 2, "exactly one of --stores"),
        (("bi", "add-user", "Bad-Name", "--all-stores"), 2, "not a valid BI user name"),
        (("bi", "add-user", "x1", "--stores", "a,,b"), 2, "separated by commas"),
        (("bi", "add-user", "x1", "--stores", "no-such-store"), 1, "unknown store(s) no-such-store"),
        (("bi", "add-user", "postgres", "--all-stores"), 1, "exists and is not a BI user"),
        (("bi", "remove", "nobody"), 1, "no BI user nobody"),
        (("bi", "rotate-password", "postgres"), 1, "is not a BI user"),
        (("bi", "url", "nobody"), 1, "no BI user nobody"),
        (("db", "start", "--listen", "127.0.0.1:99999"), 2, "port from 1 to 65535"),
    ]
    for args, code, message in cases:
        result = nexus(*args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.output, (args, result.output)
    short = nexus("bi", "rotate-password", "metabase", env={"NEXUS_BI_PASSWORD": "short"})
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    with psycopg.connect(bi["url"]) as conn:
        assert conn.execute("select count(*) from pg_roles where rolname = 'x1'").fetchone() == (0,)


def test_grants_are_idempotent_and_fail_closed_for_tables_created_later(fresh_db):
    """Default privileges keep new tables readable for all-stores users; a new store-keyed table is
    not readable by store-limited users until it is secured (ensure_table does it at creation)."""
    from nexus_pipelines.lib.warehouse.bi import READER, STORE_READER, apply_access
    from nexus_pipelines.lib.warehouse.frames import ensure_table

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create schema raw; create table raw.secret (x int)")
        conn.execute("create schema marts; create table marts.before (store_id text, x int)")
    first = apply_access(fresh_db, ("marts", "analytics"))
    second = apply_access(fresh_db, ("marts", "analytics"))
    assert first.skipped == [] and second.skipped == []
    assert second.relations == {"marts.before": "store rows"}
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create table marts.later (store_id text, x int)")
        with conn.transaction():
            ensure_table(conn, "analytics", "made", {"store_id": "text", "x": "bigint"})
        privilege = "select has_table_privilege(%s, %s, 'select')"
        assert conn.execute(privilege, (READER, "marts.before")).fetchone()[0]
        assert conn.execute(privilege, (READER, "marts.later")).fetchone()[0]
        assert conn.execute(privilege, (STORE_READER, "marts.before")).fetchone()[0]
        assert not conn.execute(privilege, (STORE_READER, "marts.later")).fetchone()[0]
        assert conn.execute(privilege, (STORE_READER, "analytics.made")).fetchone()[0]
        assert not conn.execute(privilege, (READER, "raw.secret")).fetchone()[0]
        assert not conn.execute("select has_schema_privilege(%s, 'raw', 'usage')", (READER,)).fetchone()[0]
        policies = conn.execute(
            "select polrelid::regclass::text, polname from pg_policy order by 1, 2"
        ).fetchall()
    assert policies == [
        ("analytics.made", "nexus_bi_all_stores"),
        ("analytics.made", "nexus_bi_own_stores"),
        ("marts.before", "nexus_bi_all_stores"),
        ("marts.before", "nexus_bi_own_stores"),
    ]
