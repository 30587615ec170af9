"""The Great Expectations checks in a real run: a blocking failure stops what reads the bad table.

A negative ``afn-fulfillable-quantity`` passes the parser (it is an integer) but no warehouse
holds minus four units: ``raw/amazon_inventory``'s ``gx_critical`` check fails with ERROR, so the
Amazon dbt chain and the analytics on its marts do not run, while the product chain (events,
marketing) and its analytics still do. Once the file is fixed, the next run builds everything.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterEventType, DagsterInstance

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.quality.validate import data_docs_index
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, query

START = dt.date(2026, 3, 1)
DAYS = 8


def _exists(url: str, relation: str) -> bool:
    return query(url, "select to_regclass(%s) is not null", (relation,))[0][0]


def _set_field(path, line_no: int, column: str, value: str) -> str:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    cells = lines[line_no - 1].split("\t")
    old = cells[header.index(column)]
    cells[header.index(column)] = value
    lines[line_no - 1] = "\t".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")
    return old


def _evaluation(instance, run_id: str, asset: str, check: str):
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.asset_check_evaluation_data
        if data.asset_key.to_user_string() == asset and data.check_name == check:
            return data
    raise AssertionError(f"no evaluation of {asset}:{check} in run {run_id}")


@pytest.fixture
def run_env(server_url, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    generate(landing, start=START, days=DAYS, stores=1, skus=4, users=150, events_per_day=120)
    name = create_database(server_url, "nexus_gates")
    url = with_database(server_url, name)
    monkeypatch.setenv("NEXUS_DATABASE_URL", url)
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(landing))
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEXUS_PARTITIONS_START", START.isoformat())
    yield url, landing, tmp_path / "home"
    drop_database(server_url, name)


def test_a_blocking_failure_stops_the_amazon_chain_and_the_product_chain_still_runs(run_env):
    from nexus_pipelines.defs.runner import run_window

    url, landing, home = run_env
    bad_file = landing / "amazon" / "store-us" / "inventory" / f"{START + dt.timedelta(days=DAYS - 1)}.txt"
    old = _set_field(bad_file, 3, "afn-fulfillable-quantity", "-4")
    # a report saved into a misspelled folder: not loaded, and said so
    stray = landing / "amazon" / "store-us" / "order" / f"{START}.txt"
    stray.parent.mkdir()
    stray.write_text("amazon-order-id\tsku\n", encoding="utf-8")

    end = START + dt.timedelta(days=DAYS - 1)
    with DagsterInstance.ephemeral() as instance:
        outcome = run_window(START, end, instance=instance, settings=load_settings())
        assert not outcome.success
        assert "raw/amazon_inventory:gx_critical (ERROR)" in outcome.failed_checks
        # the check names the expectation, the count, the file and the line, and the observed value
        evaluation = _evaluation(instance, outcome.run_id, "raw/amazon_inventory", "gx_critical")
        assert evaluation.severity.value == "ERROR" and not evaluation.passed
        failures = evaluation.metadata["failures"].value
        relative = bad_file.relative_to(landing).as_posix()
        assert "afn_fulfillable_quantity is at least 0" in failures
        assert "1 unexpected" in failures
        assert f"{relative}, line 3" in failures
        assert evaluation.metadata["unexpected_rows"].value == 1
        # the check's step is the one that failed; dbt_amazon did not start
        assert list(outcome.errors) == ["gx_raw_amazon_inventory"]
        assert "blocking asset check failed" in outcome.errors["gx_raw_amazon_inventory"]
        # the warehouse identity no longer holds on that row either: a warning, not a blocker
        assert "raw/amazon_inventory:gx_warning (WARN)" in outcome.failed_checks
        # nothing read the bad table: no Amazon mart, no analytics on them
        assert not _exists(url, "marts.fct_inventory_daily")
        assert not _exists(url, "marts.fct_daily_sales")
        # the raw rows are there (the load itself was right), quarantine is empty for that file
        assert query(
            url,
            "select count(*) from raw.amazon_inventory where afn_fulfillable_quantity = -4",
        ) == [(1,)]
        # the stray file is named on every Amazon source it may have been meant for, not on events
        for source in ("amazon_orders", "amazon_inventory", "amazon_returns"):
            assert f"raw/{source}:landing_files_recognised (WARN)" in outcome.failed_checks
        assert "raw/events:landing_files_recognised" in outcome.passed_checks
        unmatched = _evaluation(instance, outcome.run_id, "raw/amazon_orders", "landing_files_recognised")
        assert unmatched.metadata["unmatched_files"].value == 1
        assert "`amazon/store-us/order/2026-03-01.txt`: matches no source: unknown folder" in (
            unmatched.metadata["files"].value
        )
        # the product chain and its analytics ran
        assert query(url, "select count(*) > 0 from marts.fct_sessions") == [(True,)]
        assert _exists(url, "analytics.cohort_retention")
        # the Data Docs were rebuilt at the end of the run
        assert data_docs_index(home).exists()

        _set_field(bad_file, 3, "afn-fulfillable-quantity", old)
        stray.unlink()
        fixed = run_window(START, end, instance=instance, settings=load_settings())
        assert fixed.success, fixed.errors
        assert not [c for c in fixed.failed_checks if "gx_critical" in c or "landing_files" in c]
        assert query(url, "select count(*) from raw.amazon_inventory where afn_fulfillable_quantity < 0") == [
            (0,)
        ]
        assert query(url, "select count(*) > 0 from marts.fct_inventory_daily") == [(True,)]
        assert query(url, "select count(*) > 0 from marts.fct_daily_sales") == [(True,)]
