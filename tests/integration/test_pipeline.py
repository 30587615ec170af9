"""The whole pipeline, really: synthetic landing files → Dagster run (raw → dbt → Python) on PostgreSQL.

One module-scoped run over a small generated data set (with 1% malformed lines) backs several
assertions; the expected figures are recomputed here from the landing files themselves.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml
from dagster import AssetKey

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
        export_formats="csv,json,xlsx,pdf",
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


def _newest_order_lines(landing: Path, quarantined: set[tuple[str, int]]) -> list[tuple[str, dt.date, dict]]:
    """(store, local purchase date, row) of the newest version of every non-cancelled order line."""
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
    lines = []
    for (store, _order, _sku), (_version, row) in newest.items():
        if row["order-status"] == "Cancelled" or row.get("item-status") == "Cancelled":
            continue
        local_day = dt.datetime.fromisoformat(row["purchase-date"]).astimezone(zones[store]).date()
        lines.append((store, local_day, row))
    return lines


def independent_sales(landing: Path, quarantined: set[tuple[str, int]]) -> dict[tuple[str, dt.date], Decimal]:
    """Σ item-price of the newest version of every non-cancelled order line, by store and local purchase date."""
    sales: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for store, day, row in _newest_order_lines(landing, quarantined):
        sales[(store, day)] += Decimal(row["item-price"] or "0")
    return sales


def independent_orders(
    landing: Path, quarantined: set[tuple[str, int]]
) -> dict[tuple[str, dt.date], set[str]]:
    """The order ids with a non-cancelled line, by store and local purchase date."""
    orders: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for store, day, row in _newest_order_lines(landing, quarantined):
        orders[(store, day)].add(row["amazon-order-id"])
    return orders


def test_store_daily_summary_counts_an_order_of_several_skus_once(pipeline):
    url, landing = pipeline["url"], pipeline["landing"]
    quarantined = {
        (f, n) for f, n in rows(url, "select _source_file, _row_number from quarantine.amazon_orders")
    }
    expected = {key: len(ids) for key, ids in independent_orders(landing, quarantined).items()}
    lines = defaultdict(int)
    for store, day, _row in _newest_order_lines(landing, quarantined):
        lines[(store, day)] += 1
    assert any(lines[key] > n for key, n in expected.items())  # some order has several SKUs
    summary = {
        (s, d): n for s, d, n in rows(url, "select store_id, day, orders from analytics.store_daily_summary")
    }
    assert {k: v for k, v in summary.items() if k in expected} == expected
    assert all(summary[k] == 0 for k in summary.keys() - expected.keys())  # days without orders


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


def test_the_run_exports_each_store_day_and_week_with_the_landing_files_sales(pipeline):
    """seller_exports as of the last day (Sunday 8 March): that day and ISO week 2026-W10 (2-8
    March) per store, every format; February ends before the first day of data: not exported."""
    import pandas as pd
    import pdfplumber

    url, landing = pipeline["url"], pipeline["landing"]
    quarantined = {
        (f, n) for f, n in rows(url, "select _source_file, _row_number from quarantine.amazon_orders")
    }
    expected = independent_sales(landing, quarantined)
    exports = pipeline["home"] / "exports"
    stores = sorted({store for store, _day in expected})
    assert sorted(p.name for p in exports.iterdir()) == stores
    for store in stores:
        assert sorted(p.name for p in (exports / store).iterdir()) == ["day", "week"]
        week = exports / store / "week" / "2026-W10"
        manifest = json.loads((week / "manifest.json").read_text())
        assert {f"{store}_2026-W10.xlsx", f"{store}_2026-W10_report.pdf", "sales_by_sku.csv"} <= {
            f["name"] for f in manifest["files"]
        }
        by_sku = pd.read_csv(week / "sales_by_sku.csv")
        week_sales = sum(v for (s, d), v in expected.items() if s == store and march(2) <= d <= march(8))
        assert Decimal(str(round(by_sku["ordered_product_sales"].sum(), 2))) == week_sales
        day = pd.read_csv(exports / store / "day" / "2026-03-08" / "sales_by_sku.csv")
        assert Decimal(str(round(day["ordered_product_sales"].sum(), 2))) == expected[(store, march(8))]
        with pdfplumber.open(week / f"{store}_2026-W10_report.pdf") as pdf:
            assert "2026-W10" in pdf.pages[0].extract_text()
    # written by the export run that followed the refresh, over the refresh's partitions
    outcome = pipeline["outcome"]
    event = pipeline["instance"].get_latest_materialization_event(AssetKey("seller_exports"))
    assert event is not None and outcome.export_run_id is not None
    assert event.run_id == outcome.export_run_id != outcome.run_id
    export_run = pipeline["instance"].get_run_by_id(outcome.export_run_id)
    assert export_run.job_name == "export_files"
    assert export_run.tags["nexus/after_run"] == outcome.run_id
    assert export_run.tags["dagster/asset_partition_range_end"] == "2026-03-08"
    assert event.asset_materialization.metadata["folders"].value == 2 * len(stores)


# Input of the hand-worked store_daily_summary case: (store, sku, day of March 2026, sales, units).
# s1: sales on 13 of 15 days (no row at all on days 4 and 11), two SKUs on days 2, 5 and 15.
# s2: a zero first week (explicit zero rows on days 1 and 5, nothing on the other days).
# s3: seven days of sales, then nothing (days 8-13 missing, explicit zero rows on days 14, 15).
SUMMARY_INPUT = [
    ("s1", "A", 1, "10.00", 1),
    ("s1", "A", 2, "15.00", 1),
    ("s1", "B", 2, "5.00", 1),
    ("s1", "A", 3, "30.00", 1),
    ("s1", "A", 5, "25.50", 1),
    ("s1", "B", 5, "14.50", 1),
    ("s1", "A", 6, "50.00", 1),
    ("s1", "A", 7, "60.00", 1),
    ("s1", "A", 8, "70.00", 1),
    ("s1", "A", 9, "80.00", 1),
    ("s1", "A", 10, "90.00", 1),
    ("s1", "A", 12, "100.00", 1),
    ("s1", "A", 13, "110.00", 1),
    ("s1", "A", 14, "120.00", 1),
    ("s1", "A", 15, "60.25", 1),
    ("s1", "B", 15, "69.75", 1),
    ("s2", "A", 1, "0.00", 1),
    ("s2", "A", 5, "0.00", 1),
    ("s2", "A", 8, "35.00", 1),
    ("s2", "A", 14, "14.00", 1),
    ("s2", "A", 15, "21.00", 1),
    *[("s3", "A", day, "7.00", 1) for day in range(1, 8)],
    ("s3", "A", 14, "0.00", 1),
    ("s3", "A", 15, "0.00", 1),
]

# Expected rows, worked out by hand, one list per store indexed by day 1..15 (None = NULL).
# Daily sales (store and day summed over SKUs; a day without a row counts 0):
#   s1: 10, 20, 30, 0, 40, 50, 60, 70, 80, 90, 0, 100, 110, 120, 130
#   s2: 0, 0, 0, 0, 0, 0, 0, 35, 0, 0, 0, 0, 0, 14, 21
#   s3: 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0
# sales_7d(d) = sales of days d-6..d, NULL while fewer than 7 calendar days are observed (d < 7):
#   s1 d7 = 10+20+30+0+40+50+60 = 210; each next day adds day d and drops day d-7:
#      d8 = 210+70-10 = 270, d9 = 270+80-20 = 330, d10 = 330+90-30 = 390, d11 = 390+0-0 = 390,
#      d12 = 390+100-40 = 450, d13 = 450+110-50 = 510, d14 = 510+120-60 = 570, d15 = 570+130-70 = 630
#   s2 d7 = 0; d8..d13 hold day 8 only = 35; d14 = 35+14 = 49; d15 = 14+21 = 35 (day 8 dropped)
#   s3 d7 = 7*7 = 49, then 7 less a day: 42, 35, 28, 21, 14, 7 (d13), 0 (d14), 0 (d15)
# sales_7d_prev(d) = sales_7d(d-7), so only d14 and d15 have one:
#   s1: 210, 270; s2: 0, 35; s3: 49, 42
# sales_wow_pct = (sales_7d / sales_7d_prev - 1) * 100, NULL when sales_7d_prev is 0:
#   s1 d14 = (570/210 - 1)*100 = 360/210*100 = 1200/7 = 171.428571...
#   s1 d15 = (630/270 - 1)*100 = 360/270*100 = 400/3 = 133.333...
#   s2 d14: previous week 0 -> NULL (no division by zero); s2 d15 = (35/35 - 1)*100 = 0
#   s3 d14 = (0/49 - 1)*100 = -100; s3 d15 = (0/42 - 1)*100 = -100
_ = None
EXPECTED_SUMMARY = {
    "s1": {
        "sales": [10, 20, 30, 0, 40, 50, 60, 70, 80, 90, 0, 100, 110, 120, 130],
        "sales_7d": [_, _, _, _, _, _, 210, 270, 330, 390, 390, 450, 510, 570, 630],
        "sales_7d_prev": [_] * 13 + [210, 270],
        "sales_wow_pct": [_] * 13 + [1200 / 7, 400 / 3],
        # units: 1, 2, 1, 0, 2, 1, 1, 1, 1, 1, 0, 1, 1, 1, 2 -> d7 = 1+2+1+0+2+1+1 = 8, then
        # +1-1 = 8, +1-2 = 7, +1-1 = 7, +0-0 = 7, +1-2 = 6, +1-1 = 6, +1-1 = 6, +2-1 = 7
        "units_7d": [_, _, _, _, _, _, 8, 8, 7, 7, 7, 6, 6, 6, 7],
        # one order a day with sales rows (two SKUs on days 2, 5 and 15), none on days 4 and 11
        "orders": [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1],
    },
    "s2": {
        "sales": [0, 0, 0, 0, 0, 0, 0, 35, 0, 0, 0, 0, 0, 14, 21],
        "sales_7d": [_, _, _, _, _, _, 0, 35, 35, 35, 35, 35, 35, 49, 35],
        "sales_7d_prev": [_] * 13 + [0, 35],
        "sales_wow_pct": [_] * 13 + [_, 0],
    },
    "s3": {
        "sales": [7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0],
        "sales_7d": [_, _, _, _, _, _, 49, 42, 35, 28, 21, 14, 7, 0, 0],
        "sales_7d_prev": [_] * 13 + [49, 42],
        "sales_wow_pct": [_] * 13 + [-100, -100],
    },
}


def march(day: int) -> dt.date:
    return dt.date(2026, 3, day)


def test_python_asset_summarises_the_mart(fresh_db):
    """store_daily_summary, run for real on a hand-made fct_daily_sales, against hand-worked figures."""
    from dagster import materialize

    from nexus_pipelines.defs.analytics.store_summary import store_daily_summary
    from nexus_pipelines.defs.resources import WarehouseResource

    with psycopg.connect(fresh_db) as conn:
        conn.execute("create schema marts")
        conn.execute(
            """create table marts.fct_daily_sales (
                   store_id text, sku text, order_date date, ordered_product_sales numeric(18, 2),
                   units_ordered bigint, orders bigint)"""
        )
        with conn.cursor().copy("copy marts.fct_daily_sales from stdin") as copy:
            for store, sku, day, sales, units in SUMMARY_INPUT:
                copy.write_row((store, sku, march(day), sales, units, units))
        # the store-day's distinct orders: one order holds both SKUs of s1's days 2, 5 and 15
        conn.execute(
            "create table marts.fct_daily_store_performance (store_id text, date_day date, orders bigint)"
        )
        conn.execute(
            "insert into marts.fct_daily_store_performance "
            "select distinct store_id, order_date, 1 from marts.fct_daily_sales"
        )
    result = materialize(
        [store_daily_summary], resources={"warehouse": WarehouseResource(database_url=fresh_db)}
    )
    assert result.success
    columns = ("sales", "sales_7d", "sales_7d_prev", "sales_wow_pct", "units_7d", "orders")
    got = {
        (store, day): dict(zip(columns, values))
        for store, day, *values in rows(
            fresh_db,
            f"select store_id, day, {', '.join(columns)} from analytics.store_daily_summary",
        )
    }
    # every calendar day of every store, gap days included, and nothing else
    assert set(got) == {(store, march(day)) for store in EXPECTED_SUMMARY for day in range(1, 16)}
    for store, expected_columns in EXPECTED_SUMMARY.items():
        for column, expected in expected_columns.items():
            actual = [got[(store, march(day))][column] for day in range(1, 16)]
            assert actual == [e if e is None else pytest.approx(e, rel=1e-12, abs=1e-9) for e in expected], (
                store,
                column,
            )


def test_python_asset_on_the_pipeline_run_sums_seven_calendar_days(pipeline):
    """On the generated data: each store-day's sales and trailing 7-day sales, by date arithmetic."""
    url = pipeline["url"]
    daily: dict[tuple[str, dt.date], float] = defaultdict(float)
    for store, day, sales in rows(
        url, "select store_id, order_date, ordered_product_sales::float8 from marts.fct_daily_sales"
    ):
        daily[(store, day)] += sales
    first = {}
    for store, day in daily:
        first[store] = min(first.get(store, day), day)
    summary = rows(url, "select store_id, day, sales, sales_7d from analytics.store_daily_summary")
    assert {(s, d) for s, d, _, _ in summary} >= set(daily)
    with_window = 0
    for store, day, sales, sales_7d in summary:
        assert sales == pytest.approx(daily.get((store, day), 0.0)), (store, day)
        if (day - first[store]).days < 6:
            assert sales_7d is None, (store, day)
            continue
        window = [day - dt.timedelta(days=k) for k in range(7)]
        assert sales_7d == pytest.approx(sum(daily.get((store, d), 0.0) for d in window)), (store, day)
        with_window += 1
    assert with_window >= 2


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
