"""Freshness on a real PostgreSQL: dbt's source freshness, lib/freshness.py, the Dagster
``freshness`` checks of the raw assets, the sensor of the mart freshness checks and `nexus status`.

dbt and lib/freshness.py both read ``ops.load_manifest`` (one row per file load), never the raw
rows. Time is simulated by passing ``now`` to ``source_freshness``, by writing manifest rows that
ended some hours before the server's clock, or by moving ``started_at`` back in the manifest; the
expected statuses follow from the hours alone (warn after 36, error after 60 unless overridden).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from dagster import (
    AssetCheckSeverity,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    build_sensor_context,
    materialize,
)

from nexus_pipelines import cli
from nexus_pipelines.definitions import defs
from nexus_pipelines.defs.ingestion.assets import raw_assets
from nexus_pipelines.defs.ingestion.freshness import (
    MART_ASSET_KEYS,
    mart_freshness_checks,
    raw_freshness_checks,
)
from nexus_pipelines.defs.partitions import range_tags
from nexus_pipelines.defs.resources import WarehouseResource
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import STORAGE_URL_ENV, prepare_dagster_home
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.freshness import Status, Thresholds, source_freshness
from nexus_pipelines.lib.ingestion import IngestionFailed, ingest
from nexus_pipelines.lib.warehouse.connection import dbt_env
from nexus_pipelines.lib.warehouse.ddl import ensure_raw_table, ensure_schemas
from nexus_pipelines.lib.warehouse.run_failures import record_run_failure
from nexus_pipelines.lib.windows import Window

from .dbt_runner import DBT_PROJECT, query
from .seller_files import RETURNS_HEADER
from .test_loader import GOOD, write_orders

HOUR = dt.timedelta(hours=1)
DAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clean_env(monkeypatch):
    """No NEXUS_* variable from the caller (a freshness override there would change every status)."""
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    return monkeypatch


def create_raw_tables(url: str) -> None:
    with psycopg.connect(url) as conn:
        ensure_schemas(conn)
        for spec in SOURCES.values():
            ensure_raw_table(conn, spec)


def landing_path(source: str, store: str | None, partition: str | None) -> str:
    """A file path of ``source`` as the loader records it: amazon/<store>/orders/<date>.txt, ..."""
    glob = SOURCES[source].landing_glob
    if store:
        glob = glob.replace("*", store, 1)
    return glob.replace("*", partition or "file", 1).replace("*", "")


def add_load(
    url: str,
    source: str,
    hours_ago: float = 0.0,
    *,
    store: str | None = None,
    partition: str | None = None,
    rows: int = 1,
    status: str = "loaded",
    ended_at: dt.datetime | None = None,
    duration: float = 1800.0,
) -> dt.datetime:
    """One row of ops.load_manifest: a load of a file of ``source`` (of ``store``) that took
    ``duration`` seconds and ended ``hours_ago`` hours before the server's now(), or at ``ended_at``.
    Returns when it ended."""
    with psycopg.connect(url) as conn:
        ensure_schemas(conn)
        (ended,) = conn.execute(
            """insert into ops.load_manifest (batch_id, source, file_path, partition_date, rows_read,
                   rows_loaded, rows_quarantined, status, started_at, duration_seconds)
               values (gen_random_uuid(), %(source)s, %(path)s, %(partition)s::date, %(rows)s, %(rows)s, 0,
                       %(status)s,
                       coalesce(%(ended)s::timestamptz, now() - make_interval(secs => %(ago)s))
                           - make_interval(secs => %(duration)s),
                       %(duration)s)
               returning started_at + make_interval(secs => duration_seconds)""",
            {
                "source": source,
                "path": landing_path(source, store, partition),
                "partition": partition,
                "rows": rows if status == "loaded" else None,
                "status": status,
                "ended": ended_at,
                "ago": hours_ago * 3600,
                "duration": duration,
            },
        ).fetchone()
    return ended


def add_rows(url: str, table: str, hours_ago: float, *, partition: str, rows: int = 1) -> None:
    """``rows`` lineage-only rows in raw.<table>, loaded ``hours_ago`` hours before the server's now()
    (without a manifest row: freshness must not see them)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            f"insert into raw.{table} (_source_file, _row_number, _batch_id, _loaded_at, _partition_date) "
            "select %s, g, gen_random_uuid(), now() - make_interval(secs => %s), %s::date "
            "from generate_series(1, %s) g",
            (f"{table}/{partition}.txt", hours_ago * 3600, partition, rows),
        )


def move_loads_back(url: str, source: str, hours: float, store: str | None = None) -> None:
    """Move the manifest's loads of ``source`` (of one store) ``hours`` into the past."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "update ops.load_manifest set started_at = started_at - make_interval(secs => %s) "
            "where source = %s" + (" and split_part(file_path, '/', 2) = %s" if store else ""),
            (hours * 3600, source, store) if store else (hours * 3600, source),
        )


def manifest_rows(url: str, source: str) -> int:
    return query(url, "select count(*) from ops.load_manifest where source = %s", (source,))[0][0]


def last_manifest_load(url: str, source: str, store: str | None = None) -> dt.datetime:
    """When the newest successful load of ``source`` (of one store) ended, read from the manifest."""
    (ended,) = query(
        url,
        "select max(started_at + make_interval(secs => duration_seconds)) from ops.load_manifest "
        "where source = %s and status = 'loaded'"
        + (" and split_part(file_path, '/', 2) = %s" if store else ""),
        (source, store) if store else (source,),
    )[0]
    return ended


# ---------------------------------------------------------------- dbt source freshness
def dbt_source_freshness(url: str, target: Path, env: dict[str, str], *select: str) -> tuple[int, dict]:
    """`dbt source freshness` (exits 1 when a source is in error); returns (exit code, sources.json)."""
    target.mkdir(parents=True, exist_ok=True)
    shared_parse = DBT_PROJECT / "target" / "partial_parse.msgpack"
    if shared_parse.exists() and not (target / "partial_parse.msgpack").exists():
        shutil.copy(shared_parse, target / "partial_parse.msgpack")
    command = [
        str(Path(sys.executable).with_name("dbt")),
        "source",
        "freshness",
        *[arg for name in select for arg in ("--select", f"source:raw.{name}")],
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_FRESHNESS_")}
    done = subprocess.run(
        command,
        cwd=DBT_PROJECT,
        env={**base, **dbt_env(url), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "deprecat" not in done.stdout.lower(), done.stdout
    sources = target / "sources.json"
    assert sources.exists(), f"dbt wrote no sources.json:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    return done.returncode, json.loads(sources.read_text())


def by_table(sources_json: dict) -> dict[str, dict]:
    return {r["unique_id"].rsplit(".", 1)[-1]: r for r in sources_json["results"]}


def test_dbt_source_freshness_reads_the_manifest_warns_after_36_and_errors_after_60_hours(fresh_db, tmp_path):
    create_raw_tables(fresh_db)
    add_load(fresh_db, "amazon_orders", 1, store="s1", partition="2026-03-02", rows=3)
    add_load(fresh_db, "amazon_orders", 65, store="s2", partition="2026-03-01")
    # a header-only returns file: no row in raw.amazon_returns, yet a load
    add_load(fresh_db, "amazon_returns", 2, store="s1", partition="2026-03-02", rows=0)
    add_load(fresh_db, "events", 40, partition="2026-03-01")
    add_load(fresh_db, "events", 1, partition="2026-03-02", status="failed")  # a failure is no load
    add_rows(fresh_db, "events", 1, partition="2026-03-02")  # rows without a recorded load: not read
    add_load(fresh_db, "marketing_spend", 70, partition="2026-02-28")

    tables = ("amazon_orders", "amazon_returns", "events", "marketing_spend")
    code, sources = dbt_source_freshness(fresh_db, tmp_path / "t1", {}, *tables)
    results = by_table(sources)
    assert code == 1  # an error makes dbt's command fail
    assert {name: r["status"] for name, r in results.items()} == {
        "amazon_orders": "pass",  # dbt judges the table by its freshest store (s1, 1 h)
        "amazon_returns": "pass",
        "events": "warn",
        "marketing_spend": "error",
    }
    assert results["events"]["criteria"]["warn_after"] == {"count": 36, "period": "hour"}
    assert results["events"]["criteria"]["error_after"] == {"count": 60, "period": "hour"}
    # the age dbt measured is that of the newest successful load's end (40 h), not of the rows (1 h)
    ages = {name: r["max_loaded_at_time_ago_in_s"] / 3600 for name, r in results.items()}
    assert ages == {
        "amazon_orders": pytest.approx(1, abs=0.05),
        "amazon_returns": pytest.approx(2, abs=0.05),
        "events": pytest.approx(40, abs=0.05),
        "marketing_spend": pytest.approx(70, abs=0.05),
    }

    # lib/freshness.py, at dbt's snapshot time, finds the same last load of each table
    snapshot = dt.datetime.fromisoformat(results["events"]["snapshotted_at"].replace("Z", "+00:00"))
    with psycopg.connect(fresh_db) as conn:
        rows = source_freshness(conn, snapshot, load_settings({}), tables)
    for name, result in results.items():
        dbt_last = dt.datetime.fromisoformat(result["max_loaded_at"].replace("Z", "+00:00"))
        ours = max(r.last_loaded_at for r in rows if r.source == name and r.last_loaded_at)
        assert abs((ours - dbt_last).total_seconds()) < 1, name
    # ... and judges each store alone: s2 (65 h) is an error there
    assert [(r.source, r.store_id, r.status) for r in rows] == [
        ("amazon_orders", "s1", Status.PASS),
        ("amazon_orders", "s2", Status.ERROR),
        ("amazon_returns", "s1", Status.PASS),
        ("events", None, Status.WARN),
        ("marketing_spend", None, Status.ERROR),
    ]


def test_dbt_source_freshness_reads_the_overrides_and_leaves_stores_alone_by_default(fresh_db, tmp_path):
    create_raw_tables(fresh_db)
    add_load(fresh_db, "events", 40, partition="2026-03-01")
    add_load(fresh_db, "marketing_spend", 70, partition="2026-02-28")
    add_load(fresh_db, "stores", 70)

    # stores (reference data) has no freshness: dbt does not check it
    code, sources = dbt_source_freshness(fresh_db, tmp_path / "t0", {}, "stores")
    assert (code, sources["results"]) == (0, [])

    env = {
        "NEXUS_FRESHNESS_HOURS_EVENTS": "41,90",  # 40 h: within the source's own warn hours
        "NEXUS_FRESHNESS_ERROR_HOURS": "80",  # 70 h: beyond 36, within 80 -> warn
        "NEXUS_FRESHNESS_HOURS_STORES": " 1, 2 ",  # opted in: 70 h -> error
    }
    code, sources = dbt_source_freshness(
        fresh_db, tmp_path / "t2", env, "events", "marketing_spend", "stores"
    )
    results = by_table(sources)
    assert code == 1
    assert {name: r["status"] for name, r in results.items()} == {
        "events": "pass",
        "marketing_spend": "warn",
        "stores": "error",
    }
    assert results["events"]["criteria"]["warn_after"]["count"] == 41
    assert results["events"]["criteria"]["error_after"]["count"] == 90
    assert results["marketing_spend"]["criteria"]["warn_after"]["count"] == 36
    assert results["marketing_spend"]["criteria"]["error_after"]["count"] == 80
    assert results["stores"]["criteria"]["error_after"]["count"] == 2


# ---------------------------------------------------------------- lib/freshness.py
def load_orders(url: str, landing: Path, store: str = "s1", lines: list[str] = GOOD) -> dt.datetime:
    """Load one orders file of ``store`` with the real loader; returns when its load ended (manifest)."""
    write_orders(landing, store, DAY.isoformat(), lines)
    before = query(url, "select now()")[0][0]
    ingest(url, SOURCES["amazon_orders"], landing, DAY, DAY)
    ended = last_manifest_load(url, "amazon_orders", store)
    assert before <= ended <= before + dt.timedelta(minutes=2)
    return ended


def orders(url: str, now: dt.datetime, settings=None, source: str = "amazon_orders"):
    with psycopg.connect(url) as conn:
        return source_freshness(conn, now, settings or load_settings({}), [source])


def test_a_load_passes_for_36_hours_warns_after_and_errors_after_60(fresh_db, tmp_path):
    loaded_at = load_orders(fresh_db, tmp_path)

    (one_hour,) = orders(fresh_db, loaded_at + HOUR)
    assert (one_hour.source, one_hour.store_id, one_hour.files, one_hour.rows) == (
        "amazon_orders",
        "s1",
        1,
        3,
    )
    assert one_hour.last_loaded_at == loaded_at
    assert one_hour.last_partition == DAY
    assert one_hour.age_hours == pytest.approx(1.0)
    assert one_hour.thresholds == Thresholds(36, 60)
    assert one_hour.status is Status.PASS
    # dbt's rule: stale only when strictly older than the threshold
    assert orders(fresh_db, loaded_at + 36 * HOUR)[0].status is Status.PASS
    late = orders(fresh_db, loaded_at + 37 * HOUR)[0]
    assert (late.status, late.age_hours) == (Status.WARN, pytest.approx(37.0))
    assert orders(fresh_db, loaded_at + 60 * HOUR)[0].status is Status.WARN
    assert orders(fresh_db, loaded_at + 61 * HOUR)[0].status is Status.ERROR


def test_the_last_load_is_the_end_of_the_newest_successful_file_load(fresh_db):
    # hand-written manifest rows, each taking half an hour; the clock is NOW
    add_load(fresh_db, "events", ended_at=NOW - 40 * HOUR, partition="2026-03-08", rows=5)
    add_load(fresh_db, "events", ended_at=NOW - 90 * HOUR, partition="2026-03-06", rows=2)
    add_load(fresh_db, "events", ended_at=NOW - HOUR, partition="2026-03-09", status="failed")
    (events,) = orders(fresh_db, NOW, source="events")
    # 40 h since the newest successful load ended (40.5 h since it started; the failure 1 h ago is no load)
    assert (events.store_id, events.last_loaded_at, events.age_hours) == (None, NOW - 40 * HOUR, 40.0)
    assert (events.last_partition, events.files, events.rows) == (dt.date(2026, 3, 8), 2, 7)
    assert events.status is Status.WARN
    assert orders(fresh_db, NOW - 4 * HOUR, source="events")[0].age_hours == 36.0  # not yet stale
    assert orders(fresh_db, NOW - 4 * HOUR, source="events")[0].status is Status.PASS
    assert orders(fresh_db, NOW + 21 * HOUR, source="events")[0].status is Status.ERROR  # 61 h


def test_a_header_only_file_keeps_its_source_fresh(fresh_db, tmp_path):
    spec = SOURCES["amazon_returns"]
    header_only = "\t".join(RETURNS_HEADER) + "\n"  # a day without returns
    first = tmp_path / "amazon" / "s1" / "returns" / f"{DAY.isoformat()}.txt"
    first.parent.mkdir(parents=True)
    first.write_text(header_only, encoding="utf-8")
    ingest(fresh_db, spec, tmp_path, DAY, DAY)
    assert query(fresh_db, "select count(*) from raw.amazon_returns") == [(0,)]
    ended = last_manifest_load(fresh_db, "amazon_returns")
    (returns,) = orders(fresh_db, ended + HOUR, source="amazon_returns")
    assert (returns.store_id, returns.files, returns.rows, returns.last_partition) == ("s1", 1, 0, DAY)
    assert (returns.age_hours, returns.status) == (pytest.approx(1.0), Status.PASS)

    # that file came 30 h ago; the next day's report, again without returns, arrives now
    move_loads_back(fresh_db, "amazon_returns", 30)
    assert orders(fresh_db, ended + HOUR, source="amazon_returns")[0].age_hours == pytest.approx(31.0)
    next_day = DAY + dt.timedelta(days=1)
    first.with_name(f"{next_day.isoformat()}.txt").write_text(header_only, encoding="utf-8")
    ingest(fresh_db, spec, tmp_path, DAY, next_day)
    ended = last_manifest_load(fresh_db, "amazon_returns")
    (returns,) = orders(fresh_db, ended + HOUR, source="amazon_returns")
    assert (returns.files, returns.rows, returns.last_partition) == (2, 0, next_day)
    assert (returns.age_hours, returns.status) == (pytest.approx(1.0), Status.PASS)
    assert query(fresh_db, "select count(*) from raw.amazon_returns") == [(0,)]

    # the same files again: skipped, not recorded, the last load does not move
    ingest(fresh_db, spec, tmp_path, DAY, next_day)
    assert manifest_rows(fresh_db, "amazon_returns") == 2
    stale = orders(fresh_db, ended + 37 * HOUR, source="amazon_returns")[0]
    assert (stale.last_loaded_at, stale.status) == (ended, Status.WARN)


def test_every_source_is_listed_and_unloaded_ones_are_never_loaded(fresh_db, tmp_path):
    loaded_at = load_orders(fresh_db, tmp_path)
    with psycopg.connect(fresh_db) as conn:
        rows = source_freshness(conn, loaded_at + HOUR, load_settings({}))
    assert [(r.source, r.store_id, r.status) for r in rows] == [
        ("amazon_orders", "s1", Status.PASS),
        *[(name, None, Status.NEVER_LOADED) for name in SOURCES if name != "amazon_orders"],
    ]
    assert all(r.files == 0 and r.rows == 0 and r.age_hours is None for r in rows[1:])
    with pytest.raises(ValueError, match="aware"):
        orders(fresh_db, (loaded_at + HOUR).replace(tzinfo=None))


def test_an_empty_database_has_every_source_never_loaded(fresh_db):
    # no ops.load_manifest at all yet
    assert query(fresh_db, "select to_regclass('ops.load_manifest')") == [(None,)]
    with psycopg.connect(fresh_db) as conn:
        rows = source_freshness(conn, NOW, load_settings({}))
    assert [(r.source, r.store_id, r.last_loaded_at, r.status) for r in rows] == [
        (name, None, None, Status.NEVER_LOADED) for name in SOURCES
    ]


def test_each_store_is_judged_alone(fresh_db, tmp_path):
    create_raw_tables(fresh_db)
    load_orders(fresh_db, tmp_path, "s1")
    load_orders(fresh_db, tmp_path, "s2", GOOD[:2])
    move_loads_back(fresh_db, "amazon_orders", 40, store="s2")
    # a later failed load of s2's file does not make s2 fresh, nor does it drop the rows it kept
    add_load(fresh_db, "amazon_orders", 0, store="s2", partition=DAY.isoformat(), status="failed")
    # a store whose every load failed has no successful load: it is not listed
    add_load(fresh_db, "amazon_orders", 0, store="s3", partition=DAY.isoformat(), status="failed")
    # another source's loads do not count for this one
    add_load(fresh_db, "amazon_returns", 0, store="s2", partition=DAY.isoformat())
    now = query(fresh_db, "select now()")[0][0]
    rows = orders(fresh_db, now)
    assert [(r.store_id, r.files, r.rows, r.status) for r in rows] == [
        ("s1", 1, 3, Status.PASS),
        ("s2", 1, 2, Status.WARN),
    ]
    assert rows[1].age_hours == pytest.approx(40.0, abs=0.05)


def test_a_reloaded_file_counts_once_with_the_rows_of_its_latest_successful_load(fresh_db, tmp_path):
    load_orders(fresh_db, tmp_path, "s1")
    move_loads_back(fresh_db, "amazon_orders", 10)
    changed = load_orders(fresh_db, tmp_path, "s1", GOOD[:1])  # the file changed: loaded again
    (row,) = orders(fresh_db, changed + HOUR)
    assert (row.files, row.rows, row.last_loaded_at, row.age_hours) == (1, 1, changed, pytest.approx(1.0))

    # a broken new version fails: the file keeps its rows and its last good load
    write_orders(tmp_path, "s1", DAY.isoformat(), GOOD, header="garbage")
    with pytest.raises(IngestionFailed):
        ingest(fresh_db, SOURCES["amazon_orders"], tmp_path, DAY, DAY)
    assert manifest_rows(fresh_db, "amazon_orders") == 3
    (row,) = orders(fresh_db, changed + HOUR)
    assert (row.files, row.rows, row.last_loaded_at) == (1, 1, changed)
    assert query(fresh_db, "select count(*) from raw.amazon_orders") == [(1,)]


def test_per_source_and_global_overrides_from_the_environment(fresh_db, tmp_path):
    loaded_at = load_orders(fresh_db, tmp_path)
    own = load_settings({"NEXUS_FRESHNESS_HOURS_AMAZON_ORDERS": "2,4", "NEXUS_FRESHNESS_WARN_HOURS": "30"})
    assert [orders(fresh_db, loaded_at + h * HOUR, own)[0].status for h in (1, 3, 5)] == [
        Status.PASS,
        Status.WARN,
        Status.ERROR,
    ]
    assert orders(fresh_db, loaded_at + HOUR, own)[0].thresholds == Thresholds(2, 4)
    # the global hours apply where no source override is set
    other = load_settings({"NEXUS_FRESHNESS_HOURS_EVENTS": "2,4", "NEXUS_FRESHNESS_WARN_HOURS": "10"})
    assert [orders(fresh_db, loaded_at + h * HOUR, other)[0].status for h in (9, 11, 61)] == [
        Status.PASS,
        Status.WARN,
        Status.ERROR,
    ]


# ---------------------------------------------------------------- the Dagster checks
def raw_asset_and_check(source: str):
    """The raw asset of ``source`` and its ``freshness`` check, as registered in the definitions."""
    asset = next(a for a in raw_assets if a.key.path == ["raw", source])
    check = next(c for c in raw_freshness_checks if next(iter(c.check_keys)).asset_key == asset.key)
    return asset, check


def evaluations(result) -> list:
    return [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def test_the_dagster_check_passes_after_a_load_and_fails_once_the_load_is_too_old(
    fresh_db, tmp_path, clean_env
):
    write_orders(tmp_path, "s1", DAY.isoformat(), GOOD)
    asset, check = raw_asset_and_check("amazon_orders")
    resources = {"warehouse": WarehouseResource(database_url=fresh_db, landing_dir=str(tmp_path))}
    with DagsterInstance.ephemeral() as instance:
        # the check runs right after its raw asset materializes
        loaded = materialize(
            [asset, check], resources=resources, partition_key=DAY.isoformat(), instance=instance
        )
        (fresh,) = evaluations(loaded)
        assert (fresh.check_name, fresh.passed) == ("freshness", True)
        assert query(fresh_db, "select count(*) from raw.amazon_orders") == [(3,)]

        only_check = AssetSelection.checks(check)
        move_loads_back(fresh_db, "amazon_orders", 37)
        (warned,) = evaluations(
            materialize([asset, check], resources=resources, instance=instance, selection=only_check)
        )
        assert (warned.passed, warned.severity) == (False, AssetCheckSeverity.WARN)

        move_loads_back(fresh_db, "amazon_orders", 24)  # 61 h in all
        result = materialize([asset, check], resources=resources, instance=instance, selection=only_check)
        assert result.success  # not blocking: a stale source fails the check, not the run
        (stale,) = evaluations(result)
        assert (stale.passed, stale.severity) == (False, AssetCheckSeverity.ERROR)
        metadata = {key: value.value for key, value in stale.metadata.items()}
        assert metadata["max_age_hours"] == pytest.approx(61.0, abs=0.05)
        assert (metadata["warn_after_hours"], metadata["error_after_hours"]) == (36, 60)
        # store, last load, last partition, files, rows, age, status
        assert f"| s1 | {stale_load(fresh_db)} | 2026-03-02 | 1 | 3 | 61.0 | error |" in metadata["stores"]
        assert stale.description.startswith("s1: error (61.0 h since the last load)")

        # a per-source override from the environment moves the thresholds of the check too
        clean_env.setenv("NEXUS_FRESHNESS_HOURS_AMAZON_ORDERS", "70,90")
        resources = {"warehouse": WarehouseResource(database_url=fresh_db, landing_dir=str(tmp_path))}
        (relaxed,) = evaluations(
            materialize([asset, check], resources=resources, instance=instance, selection=only_check)
        )
        assert relaxed.passed is True
        assert relaxed.metadata["warn_after_hours"].value == 70


def stale_load(url: str) -> str:
    return last_manifest_load(url, "amazon_orders").astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def test_the_mart_freshness_sensor_runs_the_checks_that_are_due():
    sensor = defs.resolve_sensor_def("mart_freshness_sensor")
    assert sensor.default_status is DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 300
    mart_checks = {key for c in mart_freshness_checks for key in c.check_keys}
    assert {key.asset_key for key in mart_checks} == set(MART_ASSET_KEYS.values())

    def tick(instance):
        return sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))

    with DagsterInstance.ephemeral() as instance:
        # never evaluated: all six are due
        (request,) = tick(instance).run_requests
        assert set(request.asset_check_keys) == mart_checks
        # run what it asked for, one mart having been built just now
        instance.report_runless_asset_event(AssetMaterialization(MART_ASSET_KEYS["fct_daily_sales"]))
        ran = materialize(
            list(mart_freshness_checks),
            instance=instance,
            selection=AssetSelection.checks(*request.asset_check_keys),
        )
        passed = {e.asset_key.path[-1]: e.passed for e in evaluations(ran)}
        assert passed == {name: name == "fct_daily_sales" for name in MART_ASSET_KEYS}
        # the passing one cannot be overdue for 60 h, the failing ones wait for a build
        again = tick(instance)
        assert again.run_requests == [] and again.skip_message
        # a failed mart that gets built is checked again
        instance.report_runless_asset_event(AssetMaterialization(MART_ASSET_KEYS["fct_returns"]))
        (request,) = tick(instance).run_requests
        assert [key.asset_key for key in request.asset_check_keys] == [MART_ASSET_KEYS["fct_returns"]]


# ---------------------------------------------------------------- nexus status
@pytest.fixture
def status_env(clean_env, fresh_db, tmp_path):
    clean_env.setenv("NEXUS_HOME", str(tmp_path / "home"))
    clean_env.setenv("NEXUS_LANDING_DIR", str(tmp_path / "landing"))
    clean_env.setenv("NEXUS_DATABASE_URL", fresh_db)
    clean_env.setenv("NEXUS_DAGSTER_DATABASE_URL", fresh_db)
    return fresh_db


def minute(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def nexus_status(*args: str):
    return CliRunner().invoke(cli.main, ["status", *args], prog_name="nexus")


def test_status_when_nothing_was_ever_loaded(status_env):
    result = nexus_status()
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("freshness at ")
    assert out[1:] == [
        "",
        "sources",
        "  nothing loaded yet: drop files in the landing folder and run `nexus run`",
        "",
        "marts",
        "  never built by a run of this Dagster instance",
        "",
        "last run",
        "  no run yet",
        "",
        "recent failed runs (ops.run_failures)",
        "  none",
    ]
    document = json.loads(nexus_status("--json").stdout)
    assert {row["status"] for row in document["sources"]} == {"never-loaded"}
    assert len(document["sources"]) == len(SOURCES)
    assert document["last_run"] is None and document["recent_failures"] == []


def test_status_shows_each_source_and_store_the_last_run_its_failed_checks_and_failures(status_env):
    url = status_env
    create_raw_tables(url)
    stores = add_load(url, "stores", 100, rows=2)
    s1 = add_load(url, "amazon_orders", 2, store="s1", partition="2026-03-04", rows=3)
    s2 = add_load(url, "amazon_orders", 40, store="s2", partition="2026-03-02", rows=2)
    # a header-only returns file: no row, yet the source is fresh
    returns = add_load(url, "amazon_returns", 1, store="s1", partition="2026-03-04", rows=0)
    events = add_load(url, "events", 70, partition="2026-03-01", rows=5)
    add_load(url, "events", 90, partition="2026-02-27", rows=2)  # an older load: the newest one counts
    record_run_failure(url, "run-old", "refresh_all", "raw__events: disk full\nmore detail", {})

    # the last run: the real freshness check of raw/events, in the instance `nexus status` opens
    events_asset, events_check = raw_asset_and_check("events")
    prepare_dagster_home(load_settings())
    with DagsterInstance.get() as instance:
        instance.report_runless_asset_event(AssetMaterialization("fct_daily_sales"))
        run = materialize(
            [events_asset, events_check],
            selection=AssetSelection.checks(events_check),
            resources={"warehouse": WarehouseResource(database_url=url)},
            instance=instance,
            tags=range_tags(Window(dt.date(2026, 3, 1), dt.date(2026, 3, 3))),
        )

    result = nexus_status()
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    start = out.index("sources") + 1
    end = out.index("marts") - 1
    header, *rows = out[start:end]
    assert header.split() == [
        "source",
        "store",
        "last",
        "loaded",
        "last",
        "partition",
        "age",
        "warn/error",
        "status",
    ]
    # columns are two or more spaces apart; empty cells (never loaded: no partition, no age) vanish
    assert [re.split(r"\s{2,}", row.strip()) for row in rows] == [
        ["amazon_orders", "s1", minute(s1), "2026-03-04", "2.0 h", "36/60 h", "pass"],
        ["amazon_orders", "s2", minute(s2), "2026-03-02", "40.0 h", "36/60 h", "warn"],
        ["amazon_sales_traffic_by_date", "-", "never", "36/60 h", "never-loaded"],
        ["amazon_sales_traffic_by_asin", "-", "never", "36/60 h", "never-loaded"],
        ["amazon_inventory", "-", "never", "36/60 h", "never-loaded"],
        ["amazon_returns", "s1", minute(returns), "2026-03-04", "1.0 h", "36/60 h", "pass"],
        ["events", "-", minute(events), "2026-03-01", "70.0 h", "36/60 h", "error"],
        ["marketing_spend", "-", "never", "36/60 h", "never-loaded"],
        ["stores", "-", minute(stores), "100.0 h", "-", "not-checked"],
    ]
    marts = out[out.index("marts") + 1 : out.index("last run") - 1]
    assert marts[0].split() == ["mart", "last", "built", "age", "warn/error", "status"]
    built = re.split(r"\s{2,}", marts[1].strip())
    assert (built[0], built[2:]) == ("marts.fct_daily_sales", ["0.0 h", "36/60 h", "pass"])
    assert [line.split()[0] for line in marts[2:]] == [
        "marts.fct_daily_store_performance",
        "marts.fct_inventory_daily",
        "marts.fct_returns",
        "marts.fct_sessions",
        "marts.fct_orders_web",
    ]
    assert all(line.split()[-1] == "never-built" for line in marts[2:])
    last_run = out[out.index("last run") + 1 : out.index("recent failed runs (ops.run_failures)") - 1]
    assert last_run[0].split() == [run.run_id, "__ephemeral_asset_job__", "SUCCESS"]
    assert last_run[1].endswith("window 2026-03-01 .. 2026-03-03")
    assert last_run[2:] == ["  checks that did not pass (1 of 1):", "    raw/events:freshness (ERROR)"]
    failures = out[out.index("recent failed runs (ops.run_failures)") + 1 :]
    assert len(failures) == 1 and failures[0].endswith("  run-old  refresh_all: raw__events: disk full")

    document = json.loads(nexus_status("--json").stdout)
    s2_ended = s2
    s2 = next(r for r in document["sources"] if (r["source"], r["store_id"]) == ("amazon_orders", "s2"))
    assert (s2["files"], s2["rows"], s2["status"], s2["last_partition"]) == (1, 2, "warn", "2026-03-02")
    assert s2["age_hours"] == pytest.approx(40.0, abs=0.05)
    assert (s2["warn_after_hours"], s2["error_after_hours"]) == (36, 60)
    assert dt.datetime.fromisoformat(s2["last_loaded_at"]) == s2_ended
    rows = {(r["source"], r["store_id"]): (r["files"], r["rows"], r["status"]) for r in document["sources"]}
    assert rows[("events", None)] == (2, 7, "error")
    assert rows[("amazon_returns", "s1")] == (1, 0, "pass")
    assert rows[("stores", None)] == (1, 2, "not-checked")
    assert document["last_run"]["failed_checks"] == ["raw/events:freshness (ERROR)"]
    assert document["recent_failures"][0]["message"] == "raw__events: disk full\nmore detail"
