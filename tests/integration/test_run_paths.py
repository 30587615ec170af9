"""One path for every run: the schedule, the sensor and `nexus run` over the same window.

A generated landing folder of four days (2026-03-01 .. 03-04). Each path runs in its own database:

* the schedule: its tick at 2026-03-05 06:00 UTC (Dagster's ``build_schedule_context``) requests
  the latest complete day and the three lookback days before it, i.e. the four days; the run
  request is executed as the daemon would launch it (the same job, the request's tags);
* the sensor: its first tick (``build_sensor_context``) sees every landing file as new;
* the CLI: `nexus run --from 2026-03-01 --to 2026-03-04` in a subprocess, with its own Dagster
  instance in PostgreSQL.

Every marts and analytics table must be equal across the three (build-time columns aside), and
the BI role must be able to read every one of them, on every path, and nothing in raw.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.warehouse.bi import READER as BI_ROLE
from nexus_pipelines.lib.warehouse.bi import STORE_READER
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database

FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 4)
TIME_COLUMNS = ("calculated_at", "computed_at", "fitted_at")
ROOT = Path(__file__).resolve().parents[2]


def tables(url: str) -> dict[str, list[str]]:
    """Every marts and analytics table as sorted JSON rows, build-time columns left out."""
    drop = " - ".join(f"'{c}'" for c in TIME_COLUMNS)
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'analytics') and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": [
                r[0]
                for r in conn.execute(
                    f'select (to_jsonb(x) - {drop})::text from "{s}"."{t}" as x order by 1'
                ).fetchall()
            ]
            for s, t in names
        }


def unreadable_by_bi(url: str) -> tuple[int, list[str], bool]:
    """(tables in marts/analytics, those the BI role cannot SELECT, whether it can read raw.amazon_orders)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select table_schema || '.' || table_name, "
            "has_table_privilege(%s, quote_ident(table_schema) || '.' || quote_ident(table_name), 'SELECT') "
            "from information_schema.tables where table_schema in ('marts', 'analytics')",
            (BI_ROLE,),
        ).fetchall()
        raw = conn.execute(
            "select has_table_privilege(%s, 'raw.amazon_orders', 'SELECT')", (BI_ROLE,)
        ).fetchone()[0]
    return len(rows), sorted(name for name, readable in rows if not readable), raw


def _exports_after(defs, instance: DagsterInstance):
    """The export sensor's request after the instance's latest run, executed as the daemon would."""
    from tests.test_export_job import export_sensor_tick

    request = export_sensor_tick(instance, instance.get_runs(limit=1)[0])
    result = defs.resolve_job_def("export_files").execute_in_process(instance=instance, tags=request.tags)
    return request.tags, result.success


def export_files(home: Path) -> dict[str, bytes]:
    """Every export file under ``home`` (relative path -> bytes), the manifests aside (they hold
    the time they were written)."""
    root = home / "exports"
    return {
        str(f.relative_to(root)): f.read_bytes()
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != "manifest.json"
    }


@pytest.fixture(scope="module")
def paths(server_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paths")
    landing = tmp / "landing"
    generate(landing, start=FIRST, days=4, stores=1, skus=6, users=150)
    names = {path: create_database(server_url, f"nexus_{path}") for path in ("schedule", "sensor", "cli")}
    urls = {path: with_database(server_url, name) for path, name in names.items()}
    patch = pytest.MonkeyPatch()
    patch.setenv("NEXUS_LANDING_DIR", str(landing))
    patch.setenv("NEXUS_PARTITIONS_START", "2026-01-01")
    from nexus_pipelines.definitions import defs

    job = defs.resolve_job_def("refresh_all")
    outcomes = {}
    try:
        # the schedule's tick, executed as the daemon launches it
        patch.setenv("NEXUS_DATABASE_URL", urls["schedule"])
        patch.setenv("NEXUS_HOME", str(tmp / "home-schedule"))
        with DagsterInstance.ephemeral() as instance:
            tick = dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)
            request = (
                defs.resolve_schedule_def("daily_refresh_schedule")
                .evaluate_tick(build_schedule_context(instance=instance, scheduled_execution_time=tick))
                .run_requests[0]
            )
            outcomes["schedule"] = (
                request.tags,
                job.execute_in_process(instance=instance, tags=request.tags).success,
            )
            # the daemon's next step: the run-status sensor sees the success and requests the export
            outcomes["schedule_exports"] = _exports_after(defs, instance)
        # the sensor's first tick
        patch.setenv("NEXUS_DATABASE_URL", urls["sensor"])
        patch.setenv("NEXUS_HOME", str(tmp / "home-sensor"))
        with DagsterInstance.ephemeral() as instance:
            request = (
                defs.resolve_sensor_def("landing_file_sensor")
                .evaluate_tick(build_sensor_context(instance=instance))
                .run_requests[0]
            )
            outcomes["sensor"] = (
                request.tags,
                job.execute_in_process(instance=instance, tags=request.tags).success,
            )
        # the CLI, as a user types it
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAGSTER_"))}
        env.update(
            NEXUS_DATABASE_URL=urls["cli"],
            NEXUS_LANDING_DIR=str(landing),
            NEXUS_HOME=str(tmp / "home-cli"),
            NEXUS_PARTITIONS_START="2026-01-01",
            NEXUS_EXPORT_FORMATS="csv,json",
        )
        done = subprocess.run(
            [str(Path(sys.executable).with_name("nexus")), "run", "--from", str(FIRST), "--to", str(LAST)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        outcomes["cli"] = (done.stdout, done.stderr, done.returncode)
        yield {
            "urls": urls,
            "outcomes": outcomes,
            "tables": {path: tables(url) for path, url in urls.items()},
            "homes": {path: tmp / f"home-{path}" for path in urls},
        }
    finally:
        patch.undo()
        for name in names.values():
            drop_database(server_url, name)
        drop_database(server_url, f"{names['cli']}_dagster")


def test_each_path_runs_the_same_window(paths):
    window = {
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": "2026-03-04",
    }
    for path in ("schedule", "sensor"):
        tags, success = paths["outcomes"][path]
        assert {k: tags[k] for k in window} == window, path
        assert success, path
    stdout, stderr, code = paths["outcomes"]["cli"]
    assert code == 0, stdout[-3000:] + stderr[-3000:]
    assert "partitions 2026-03-01 .. 2026-03-04" in stdout
    # the compact view: one line per finished step, from the run's events
    assert "done  dbt_amazon" in stderr and "done  raw__amazon_orders" in stderr


def test_schedule_sensor_and_cli_leave_identical_tables(paths):
    by_path = paths["tables"]
    assert len(by_path["cli"]) >= 20 and sum(len(rows) for rows in by_path["cli"].values()) > 500
    for path in ("schedule", "sensor"):
        assert by_path[path].keys() == by_path["cli"].keys(), path
        different = [name for name in by_path["cli"] if by_path[path][name] != by_path["cli"][name]]
        assert different == [], (path, different)


def test_the_daemon_and_nexus_run_export_the_same_files_after_the_refresh(paths):
    tags, success = paths["outcomes"]["schedule_exports"]
    assert success
    assert tags["dagster/asset_partition_range_start"] == "2026-03-01"
    assert tags["dagster/asset_partition_range_end"] == "2026-03-04"
    stdout = paths["outcomes"]["cli"][0]
    assert "exports (CSV, JSON, Excel, PDF report per store):" in stdout
    daemon, cli = export_files(paths["homes"]["schedule"]), export_files(paths["homes"]["cli"])
    # as of Wednesday 4 March: that day, and February (ends before the first day of data) left out;
    # the ISO week 2026-W09 (23 Feb .. 1 Mar) holds the first day
    folders = {name.rsplit("/", 1)[0] for name in cli}
    stores = {name.split("/")[0] for name in cli}
    assert len(stores) == 1
    assert {f.split("/", 1)[1] for f in folders} == {"day/2026-03-04", "week/2026-W09"}
    assert sorted(daemon) == sorted(cli) and len(cli) == 2 * 2 * 10
    assert [n for n in cli if daemon[n] != cli[n]] == []


def test_every_path_grants_the_bi_role_the_marts_and_analytics_only(paths):
    for path, url in paths["urls"].items():
        count, unreadable, raw = unreadable_by_bi(url)
        assert count >= 20 and unreadable == [] and raw is False, (path, unreadable, raw)


def store_scoping(url: str) -> dict[str, tuple[bool, bool, bool]]:
    """Per marts/analytics table: (has a store_id column, row-level security on, readable by store-limited users)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select n.nspname || '.' || c.relname,"
            " exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'store_id'"
            "   and not a.attisdropped),"
            " c.relrowsecurity, has_table_privilege(%s, c.oid, 'SELECT')"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname in ('marts', 'analytics') and c.relkind = 'r'",
            (STORE_READER,),
        ).fetchall()
    return {name: (keyed, rls, readable) for name, keyed, rls, readable in rows}


def test_every_path_secures_store_keyed_tables_for_store_limited_users(paths):
    """Tables with a store_id: row-level security and readable; the others: not granted at all."""
    for path, url in paths["urls"].items():
        scoping = store_scoping(url)
        keyed = sorted(name for name, (has_store, _, _) in scoping.items() if has_store)
        assert "marts.fct_daily_sales" in keyed and "marts.fct_sessions" not in keyed, keyed
        wrong = {name: flags for name, flags in scoping.items() if flags != (flags[0], flags[0], flags[0])}
        assert wrong == {}, (path, wrong)


def test_every_mart_and_analytics_table_is_analyzed_after_its_build(paths):
    """BI gets sane plans right away: no table waits for autovacuum's next pass for its statistics."""
    with psycopg.connect(paths["urls"]["schedule"]) as conn:
        rows = conn.execute(
            "select schemaname || '.' || relname, last_analyze is not null from pg_stat_user_tables "
            "where schemaname in ('marts', 'analytics')"
        ).fetchall()
    assert len(rows) >= 20
    assert [name for name, analyzed in rows if not analyzed] == []


def test_sessions_are_stored_in_date_order(paths):
    """A 30-day rollup on fct_sessions reads the pages of those days: the table is in session_date order."""
    with psycopg.connect(paths["urls"]["cli"]) as conn:
        (correlation,) = conn.execute(
            "select correlation from pg_stats where schemaname = 'marts' and tablename = 'fct_sessions' "
            "and attname = 'session_date'"
        ).fetchone()
        (sessions,) = conn.execute("select count(*) from marts.fct_sessions").fetchone()
    assert sessions > 100 and correlation > 0.95, (sessions, correlation)
