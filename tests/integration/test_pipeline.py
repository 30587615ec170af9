"""The whole pipeline, really: synthetic landing files → Dagster run (raw → dbt → Python) on PostgreSQL.

One module-scoped run over a small generated data set (with 1% malformed lines) backs several
assertions; the expected figures are recomputed here from the landing files themselves.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml

from nexus_pipelines.lib.config import load_settings

from .pipeline_runner import pipeline_run, rows

START = dt.date(2026, 3, 1)
DAYS = 8


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, server_url):
    """Generate, then materialize every asset for every partition in one Dagster run."""
    with pipeline_run(
        server_url,
        tmp_path_factory.mktemp("pipeline"),
        seed=7,
        start=START,
        days=DAYS,
        stores=2,
        skus=4,
        users=120,
        bad_rows=0.01,
    ) as result:
        yield result


def data_lines(path: Path) -> int:
    """Non-blank lines after the header (flat files) or non-blank lines (JSON lines); 1 per JSON report."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = [line for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    if path.suffix == ".json":
        return -1
    if ".jsonl" in path.name:
        return len(lines)
    return len(lines) - 1


def test_run_succeeds_over_every_partition(pipeline):
    outcome = pipeline["outcome"]
    assert outcome.success, outcome.failed_steps
    # the generator writes files for START .. START + DAYS - 1 (returns/updates may add later days)
    assert outcome.start == START
    assert outcome.end >= START + dt.timedelta(days=DAYS - 1)


def test_every_file_rows_in_equal_rows_loaded_plus_quarantined(pipeline):
    manifest = rows(
        pipeline["url"],
        """
        select distinct on (source, file_path) source, file_path, rows_read, rows_loaded, rows_quarantined, status
        from ops.load_manifest order by source, file_path, load_id desc""",
    )
    landing = pipeline["landing"]
    checked = 0
    for source, file_path, read, loaded, quarantined, status in manifest:
        assert status == "loaded", file_path
        assert read == loaded + quarantined, file_path
        expected = data_lines(landing / file_path)
        if expected >= 0 and source != "stores":
            assert read == expected, file_path
            checked += 1
    assert checked > 30
    # the generator damaged known lines: exactly those are quarantined, file by file
    injected = pipeline["truth"]["counts"]["bad_lines_by_file"]
    assert sum(injected.values()) > 0
    quarantined_by_file = {f: q for _s, f, _r, _l, q, _st in manifest if q}
    assert quarantined_by_file == injected


def independent_sales(landing: Path, quarantined: set[tuple[str, int]]) -> dict[tuple[str, dt.date], Decimal]:
    """Σ item-price of the newest version of every non-cancelled order line, by store and local purchase date."""
    stores = yaml.safe_load((landing / "stores.yaml").read_text())
    stores = stores["stores"] if isinstance(stores, dict) else stores
    zones = {s["store_id"]: ZoneInfo(s["timezone"]) for s in stores}
    newest: dict[tuple[str, str, str], tuple] = {}
    for path in sorted(landing.glob("amazon/*/orders/*.txt")):
        relative = path.relative_to(landing).as_posix()
        store = relative.split("/")[1]
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="\t")
        for line_number, row in enumerate(reader, start=2):
            if (relative, line_number) in quarantined:
                continue
            key = (store, row["amazon-order-id"], row["sku"])
            version = (row["last-updated-date"], path.name, line_number)
            if key not in newest or version > newest[key][0]:
                newest[key] = (version, row)
    sales: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for (store, _order, _sku), (_version, row) in newest.items():
        if row["order-status"] == "Cancelled" or row.get("item-status") == "Cancelled":
            continue
        local_day = dt.datetime.fromisoformat(row["purchase-date"]).astimezone(zones[store]).date()
        sales[(store, local_day)] += Decimal(row["item-price"] or "0")
    return sales


def test_mart_revenue_equals_the_non_cancelled_raw_order_lines(pipeline):
    url, landing = pipeline["url"], pipeline["landing"]
    quarantined = {
        (f, n) for f, n in rows(url, "select _source_file, _row_number from quarantine.amazon_orders")
    }
    expected = independent_sales(landing, quarantined)
    outcome = pipeline["outcome"]
    mart = {
        (s, d): v
        for s, d, v in rows(
            url,
            """
        select store_id, order_date, sum(ordered_product_sales) from marts.fct_daily_sales group by 1, 2""",
        )
    }
    in_window = {k: v for k, v in expected.items() if outcome.start <= k[1] <= outcome.end}
    assert len(in_window) >= DAYS
    assert mart == in_window


def test_python_asset_summarises_the_mart(pipeline):
    url = pipeline["url"]
    summary = {
        (s, d): float(v)
        for s, d, v in rows(url, "select store_id, day, sales from analytics.store_daily_summary")
    }
    mart = {
        (s, d): float(v)
        for s, d, v in rows(
            url,
            """
        select store_id, order_date, sum(ordered_product_sales) from marts.fct_daily_sales group by 1, 2""",
        )
    }
    for key, value in mart.items():
        assert summary[key] == pytest.approx(value)


def test_rerunning_one_partition_leaves_identical_tables(pipeline):
    url = pipeline["url"]
    snapshot = "select * from marts.fct_daily_sales order by store_id, sku, order_date"
    raw_counts = "select _partition_date, count(*) from raw.amazon_orders group by 1 order by 1"
    before, raw_before = rows(url, snapshot), rows(url, raw_counts)
    day = START + dt.timedelta(days=3)
    outcome = pipeline["run_window"](
        day, day, force=True, instance=pipeline["instance"], settings=load_settings()
    )
    assert outcome.success, outcome.failed_steps
    assert rows(url, snapshot) == before
    assert rows(url, raw_counts) == raw_before


def test_dbt_unit_tests_pass_against_the_built_warehouse(pipeline, tmp_path):
    """Runs build models and their data tests only; the SQL's unit tests run here, every one of them."""
    import json

    from nexus_pipelines.defs.dbt.project import nexus_dbt_project

    from .dbt_runner import run_dbt

    manifest = json.loads(nexus_dbt_project.manifest_path.read_text())
    unit_tests = len(manifest.get("unit_tests", {}))
    assert unit_tests >= 10
    output = run_dbt(pipeline["url"], "test", "--select", "test_type:unit", target_dir=tmp_path / "dbt")
    assert f"PASS={unit_tests} " in output, output[-2000:]


def test_every_mart_and_analytics_table_bi_filters_is_indexed(pipeline):
    """BI filters by store and date: every table of marts and analytics with a store_id, a date or
    a user key has an index starting with one of them (fct_funnel_steps, a few rows per funnel
    step, has none of these columns)."""
    keys = ("store_id", "user_key", "user_id", "conversion_id", "experiment_id", "channel")
    with psycopg.connect(pipeline["url"]) as conn:
        tables = conn.execute(
            """select c.table_schema, c.table_name,
                      bool_or(c.column_name = any(%s) or c.data_type = 'date') as filterable
               from information_schema.columns as c join information_schema.tables as t using (table_schema, table_name)
               where c.table_schema in ('marts', 'analytics') and t.table_type = 'BASE TABLE'
               group by 1, 2""",
            (list(keys),),
        ).fetchall()
        leading = {
            (r[0], r[1])
            for r in conn.execute(
                """select n.nspname, t.relname from pg_index as i
               join pg_class as t on t.oid = i.indrelid join pg_namespace as n on n.oid = t.relnamespace
               join pg_attribute as a on a.attrelid = t.oid and a.attnum = i.indkey[0]
               join information_schema.columns as c
                 on c.table_schema = n.nspname and c.table_name = t.relname and c.column_name = a.attname
               where n.nspname in ('marts', 'analytics') and (a.attname = any(%s) or c.data_type = 'date'
                     or a.attname in ('cohort_start', 'period_grain', 'fitted_at', 'week_start'))""",
                (list(keys),),
            ).fetchall()
        }
    unindexed = sorted(f"{s}.{t}" for s, t, filterable in tables if filterable and (s, t) not in leading)
    assert len(tables) > 25
    assert unindexed == []
