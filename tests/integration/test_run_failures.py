"""ops.run_failures (lib/warehouse/run_failures.py) on a real PostgreSQL database.

``record_run_failure`` creates the table on first use (under the ``ddl`` advisory lock), stores
one row per failed run and ignores a second report of the same run; the run-failure sensor of
defs/automation.py writes what Dagster reports about a failed run.
"""

from __future__ import annotations

import datetime as dt
import threading
import types

import psycopg
import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, job, op

from nexus_pipelines.lib.warehouse.locks import held
from nexus_pipelines.lib.warehouse.run_failures import RUN_FAILURES_DDL, record_run_failure

from .dbt_runner import query


def failures(url: str) -> list[tuple]:
    return query(url, "select run_id, job_name, message, tags from ops.run_failures order by run_id")


def test_the_first_failure_creates_the_table_and_stores_the_run(fresh_db):
    assert query(fresh_db, "select to_regclass('ops.run_failures')") == [(None,)]
    with psycopg.connect(fresh_db) as conn:
        before = conn.execute("select now()").fetchone()[0]

    record_run_failure(
        fresh_db,
        "run-1",
        "refresh_all",
        "raw_amazon_orders: UniqueViolation: duplicate key",
        {"dagster/partition_range_start": "2026-03-01", "nexus/pid": "4242"},
    )

    assert failures(fresh_db) == [
        (
            "run-1",
            "refresh_all",
            "raw_amazon_orders: UniqueViolation: duplicate key",
            {"dagster/partition_range_start": "2026-03-01", "nexus/pid": "4242"},
        )
    ]
    (failed_at,) = query(fresh_db, "select failed_at from ops.run_failures")[0]
    assert failed_at.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= failed_at <= before + dt.timedelta(minutes=1)
    # the columns the DDL promises, in order, with their types
    assert query(
        fresh_db,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'ops' and table_name = 'run_failures' order by ordinal_position",
    ) == [
        ("run_id", "text"),
        ("job_name", "text"),
        ("failed_at", "timestamp with time zone"),
        ("message", "text"),
        ("tags", "jsonb"),
    ]


def test_a_second_report_of_the_same_run_is_ignored_and_other_runs_are_added(fresh_db):
    record_run_failure(fresh_db, "run-a", "refresh_all", "first report", {"k": "1"})
    record_run_failure(fresh_db, "run-a", "refresh_all", "second report", {"k": "2"})
    record_run_failure(fresh_db, "run-b", "weekly_full_check", "other run", {})

    assert failures(fresh_db) == [
        ("run-a", "refresh_all", "first report", {"k": "1"}),
        ("run-b", "weekly_full_check", "other run", {}),
    ]


def test_tags_may_be_any_mapping(fresh_db):
    # Dagster hands run tags over as a read-only mapping, not a dict
    tags = types.MappingProxyType({"a": "1", "b": "two"})
    record_run_failure(fresh_db, "run-m", "refresh_all", "x", tags)
    assert query(fresh_db, "select tags ->> 'b', jsonb_typeof(tags) from ops.run_failures") == [
        ("two", "object")
    ]


def test_an_existing_table_needs_no_ddl_lock(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(RUN_FAILURES_DDL)
    done = threading.Event()
    with psycopg.connect(fresh_db, autocommit=True) as other, held(other, "ddl"):
        worker = threading.Thread(
            target=lambda: (record_run_failure(fresh_db, "run-x", "j", "m", {}), done.set())
        )
        worker.start()
        # another session holds the ddl lock the whole time: the insert must not wait for it
        assert done.wait(timeout=20)
        worker.join()
    assert [row[0] for row in failures(fresh_db)] == ["run-x"]


def test_creating_the_table_waits_for_the_ddl_lock(fresh_db):
    done = threading.Event()
    errors: list[BaseException] = []

    def record() -> None:
        try:
            record_run_failure(fresh_db, "run-y", "j", "m", {})
        except BaseException as exc:  # reported below
            errors.append(exc)
        done.set()

    with psycopg.connect(fresh_db, autocommit=True) as other:
        with held(other, "ddl"):
            worker = threading.Thread(target=record)
            worker.start()
            assert not done.wait(timeout=1.0), "created the table while another session held the ddl lock"
            assert query(fresh_db, "select to_regclass('ops.run_failures')") == [(None,)]
        assert done.wait(timeout=20)
        worker.join()
    assert errors == []
    assert [row[0] for row in failures(fresh_db)] == ["run-y"]


def test_concurrent_first_failures_all_land(fresh_db):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def record(i: int) -> None:
        barrier.wait()
        try:
            record_run_failure(fresh_db, f"run-{i}", "refresh_all", f"failure {i}", {"i": str(i)})
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert errors == []
    assert [(r[0], r[2], r[3]) for r in failures(fresh_db)] == [
        (f"run-{i}", f"failure {i}", {"i": str(i)}) for i in range(4)
    ]


@op
def explode():
    raise ValueError("disk full")


@job
def broken():
    explode()


def test_the_run_failure_sensor_records_dagsters_failure(fresh_db, monkeypatch):
    from nexus_pipelines.defs.automation import record_run_failures

    monkeypatch.setenv("NEXUS_DATABASE_URL", fresh_db)
    with DagsterInstance.ephemeral() as instance:
        result = broken.execute_in_process(
            instance=instance, raise_on_error=False, tags={"nexus/origin": "sensor-test"}
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name="record_run_failures",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
        record_run_failures(context)
        # the daemon may evaluate the sensor again for the same run: still one row
        record_run_failures(context)

    rows = failures(fresh_db)
    assert len(rows) == 1
    run_id, job_name, message, tags = rows[0]
    assert (run_id, job_name) == (result.run_id, "broken")
    assert message == "Execution of run for \"broken\" failed. Steps failed: ['explode']."
    assert tags == dict(run.tags)
    assert tags["nexus/origin"] == "sensor-test"


@pytest.mark.parametrize("message", ["", "línea\nsegunda línea ' \" ; drop table x"])
def test_messages_are_stored_verbatim(fresh_db, message):
    record_run_failure(fresh_db, "run-q", "refresh_all", message, {})
    assert query(fresh_db, "select message from ops.run_failures") == [(message,)]
