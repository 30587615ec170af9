"""Exports (`nexus export`, lib/exports) over hand-made mart rows: every file is opened with an
independent reader (pandas, openpyxl, pdfplumber, pypdfium2) and its figures are checked against
sums worked out by hand below for store 101, ISO week 2026-W41 (Monday 5 to Sunday 11 October
2026). Rows outside the week or of another store are planted to be left out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import openpyxl
import pandas as pd
import pdfplumber
import psycopg
import pypdfium2
import pytest
from click.testing import CliRunner

from nexus_pipelines.cli import main

METRICS = [
    "ordered_product_sales",
    "orders",
    "units_ordered",
    "average_order_value",
    "sessions",
    "unit_session_percentage",
    "refunds_amount",
    "units_refunded",
    "net_sales",
]
# value, previous, change %, last year, change vs last year %: as fct_period_comparison has them
WEEK = {
    "ordered_product_sales": ("1234.50", "1000.00", "23.45", "1100.00", "12.23"),
    "orders": ("40", "50", "-20.00", None, None),
    "units_ordered": ("55", "50", "10.00", "44", "25.00"),
    "average_order_value": ("30.86", "20.00", "54.30", None, None),
    "sessions": ("800", "1000", "-20.00", None, None),
    "unit_session_percentage": ("6.88", "5.00", "37.60", None, None),
    "refunds_amount": ("100.00", "50.00", "100.00", None, None),
    "units_refunded": ("3", "2", "50.00", None, None),
    "net_sales": ("1134.50", "950.00", "19.42", None, None),
}

SETUP = """
create schema if not exists marts; create schema if not exists analytics;
create table marts.dim_store (store_id text, store_name text, currency text);
create table marts.dim_product (store_id text, sku text, product_name text);
create table marts.fct_period_comparison (
    store_id text, period_grain text, period_start date, period_end date, days_in_period int,
    days_covered int, is_complete boolean, {cols});
create table marts.fct_daily_store_performance (
    store_id text, date_day date, ordered_product_sales numeric, units_ordered int, orders int,
    sessions int, unit_session_percentage numeric, refunds_amount numeric, net_sales numeric);
create table marts.fct_daily_sales (
    store_id text, sku text, order_date date, asin text, ordered_product_sales numeric(18, 2),
    units_ordered int, orders int);
create table marts.fct_inventory_health (
    store_id text, sku text, snapshot_date date, asin text, fulfillable_quantity int,
    inbound_quantity int, units_sold_t30 numeric, days_of_supply numeric, lead_time_days int,
    reorder_point int, suggested_reorder_qty int, stockout_risk boolean);
create table marts.fct_returns (
    store_id text, return_date date, sku text, reason text, detailed_disposition text, quantity int);
create table marts.fct_sku_return_profile (
    store_id text, sku text, window_start date, window_end date, units_sold_90d numeric,
    units_returned_90d int, return_rate_90d numeric, is_high_return boolean,
    resellable_share numeric, days_to_return_median numeric);
create table marts.fct_funnel_steps (
    funnel_name text, step_number int, step_name text, breakdown_type text,
    users_entering_step bigint, users_converted bigint, conversion_rate_from_start numeric,
    conversion_rate_from_previous numeric);
create table marts.fct_orders_web (order_id text, currency text);
create table analytics.cohort_retention (
    period_grain text, mode text, cohort_start date, period_offset int, period_start date,
    cohort_size bigint, retained bigint, retention_rate float8);
create table analytics.channel_attribution_daily (
    day date, channel text, model text, conversions float8, revenue float8, spend float8, roas float8);
create table analytics.customer_ltv (user_id text, churn_risk text, clv_12m float8, p_alive float8);
""".format(
    cols=", ".join(
        f"{m} numeric, {m}_previous numeric, {m}_change_pct numeric, {m}_last_year numeric, "
        f"{m}_yoy_change_pct numeric"
        for m in METRICS
    )
)


def _insert(conn, table: str, rows: list[tuple]) -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    conn.cursor().executemany(f"insert into {table} values ({marks})", rows)


def plant(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP)
        _insert(conn, "marts.dim_store", [("101", "Trail Co", "EUR"), ("202", "Other", "USD")])
        _insert(conn, "marts.dim_product", [("101", "A", "Alpha Tent"), ("101", "B", "Beta Stove")])
        week_row = ["101", "week", "2026-10-05", "2026-10-11", 7, 7, True]
        for m in METRICS:
            week_row += list(WEEK[m])
        other = ["101", "week", "2026-10-12", "2026-10-18", 7, 2, False] + ["1"] * (5 * len(METRICS))
        _insert(conn, "marts.fct_period_comparison", [tuple(week_row), tuple(other)])
        _insert(
            conn,
            "marts.fct_daily_store_performance",
            [
                ("101", "2026-09-13", 1, 1, 1, 1, 1, 0, 1),  # 29 days before the week's end: out
                ("101", "2026-09-14", 10.00, 1, 1, 20, 5.00, 0, 10.00),  # first of the 28 days
                ("101", "2026-10-11", 200.00, 4, 3, 90, 4.44, 20.00, 180.00),
                ("202", "2026-10-10", 999, 9, 9, 9, 9, 9, 999),  # another store
            ],
        )
        _insert(
            conn,
            "marts.fct_daily_sales",
            [
                ("101", "A", "2026-10-05", "B0A", 100.00, 2, 2),
                ("101", "A", "2026-10-11", "B0A", 50.50, 1, 1),
                ("101", "B", "2026-10-07", "B0B", 300.00, 6, 5),
                ("101", "C", "2026-10-04", "B0C", 999.00, 9, 9),  # the Sunday before
                ("101", "C", "2026-10-12", "B0C", 999.00, 9, 9),  # the Monday after
                ("202", "A", "2026-10-06", "B0A", 500.00, 5, 5),  # another store
            ],
        )
        _insert(
            conn,
            "marts.fct_inventory_health",
            [
                ("101", "A", "2026-10-11", "B0A", 5, 0, 30, 5.00, 14, 20, 15, True),
                ("101", "B", "2026-10-11", "B0B", 100, 10, 15, 200.00, 14, 10, 0, False),
                ("101", "A", "2026-10-20", "B0A", 1, 0, 30, 1.00, 14, 20, 19, True),  # after the week
            ],
        )
        _insert(
            conn,
            "marts.fct_returns",
            [
                ("101", "2026-10-06", "A", "DEFECTIVE", "DAMAGED", 2),
                ("101", "2026-10-08", "A", "DEFECTIVE", "DAMAGED", 1),
                ("101", "2026-10-09", "B", "UNWANTED_ITEM", "SELLABLE", 1),
                ("101", "2026-10-12", "A", "DEFECTIVE", "DAMAGED", 5),  # after the week
                ("202", "2026-10-06", "A", "DEFECTIVE", "DAMAGED", 7),  # another store
            ],
        )
        _insert(
            conn,
            "marts.fct_sku_return_profile",
            [("101", "A", "2026-07-14", "2026-10-11", 90, 9, 10.00, True, 33.33, 7.0)],
        )
        _insert(
            conn,
            "marts.fct_funnel_steps",
            [
                ("ecommerce", 1, "Product Viewed", "all", 100, 100, 1.0, 1.0),
                ("ecommerce", 2, "Order Completed", "all", 100, 25, 0.25, 0.25),
                ("ecommerce", 1, "Product Viewed", "channel", 60, 60, 1.0, 1.0),  # a breakdown
            ],
        )
        _insert(conn, "marts.fct_orders_web", [("o1", "USD"), ("o2", "USD"), ("o3", "EUR")])
        _insert(
            conn,
            "analytics.cohort_retention",
            [
                ("week", "first_time", "2026-09-28", 0, "2026-09-28", 10, 10, 1.0),
                ("week", "first_time", "2026-09-28", 1, "2026-10-05", 10, 4, 0.4),
                ("week", "first_time", "2026-09-28", 2, "2026-10-12", 10, 3, 0.3),  # after the week
                ("week", "first_time", "2026-10-05", 0, "2026-10-05", 8, 8, 1.0),
                ("week", "first_time", "2026-07-13", 0, "2026-07-13", 5, 5, 1.0),  # 13 weeks back
                ("week", "recurring", "2026-10-05", 0, "2026-10-05", 50, 50, 1.0),
            ],
        )
        _insert(
            conn,
            "analytics.channel_attribution_daily",
            [
                ("2026-10-05", "Paid Search", "linear", 1.5, 60.0, 20.0, 3.0),
                ("2026-10-06", "Paid Search", "linear", 0.5, 20.0, 10.0, 2.0),
                ("2026-10-07", "Email", "linear", 1.0, 40.0, None, None),
                ("2026-10-12", "Email", "linear", 9.0, 900.0, None, None),  # after the week
                ("2026-10-05", "Paid Search", "last_touch", 2.0, 90.0, 20.0, 4.5),
            ],
        )
        _insert(
            conn,
            "analytics.customer_ltv",
            [("u1", "active", 100.0, 0.9), ("u2", "active", 50.0, 0.8), ("u3", "churned", 1.5, 0.1)],
        )


@pytest.fixture(scope="module")
def exported(server_url, tmp_path_factory):
    """The warehouse with the rows above and one `nexus export` of 2026-W41 in every format."""
    from nexus_pipelines.lib.warehouse.connection import with_database

    from .dbt_runner import create_database, drop_database

    name = create_database(server_url)
    url = with_database(server_url, name)
    home = tmp_path_factory.mktemp("export-home")
    plant(url)
    # the formats of a deployment that has not set NEXUS_EXPORT_FORMATS (the suite's default is csv,json)
    env = {"NEXUS_DATABASE_URL": url, "NEXUS_HOME": str(home), "NEXUS_EXPORT_FORMATS": None}
    result = CliRunner().invoke(main, ["export", "--store", "101", "--week", "2026-W41"], env=env)
    assert result.exit_code == 0, result.output
    folder = home / "exports" / "101" / "week" / "2026-W41"
    yield {"url": url, "home": home, "env": env, "folder": folder, "output": result.output}
    drop_database(server_url, name)


def test_the_folder_holds_every_file_and_a_manifest_with_their_hashes(exported):
    folder = exported["folder"]
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    tables = [
        "store_performance",
        "sales_trend",
        "sales_by_sku",
        "inventory_health",
        "returns_by_reason",
        "sku_return_profile",
        "funnel",
        "retention",
        "attribution",
        "ltv_segments",
    ]
    assert names == {f"{t}.csv" for t in tables} | {f"{t}.json" for t in tables} | {
        "101_2026-W41.xlsx",
        "101_2026-W41_report.pdf",
    }
    assert {p.name for p in folder.iterdir()} == names | {"manifest.json"}
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest()
    rows = {f["name"]: f["rows"] for f in manifest["files"]}
    assert rows["sales_by_sku.csv"] == 2 and rows["returns_by_reason.json"] == 2
    assert manifest["store_id"] == "101" and manifest["period"] == "2026-W41"
    assert "2026-W41" in exported["output"]
    # no temporary files are left beside the folder
    assert [p.name for p in folder.parent.iterdir()] == ["2026-W41"]


def test_csv_values_are_the_sums_worked_out_by_hand(exported):
    folder = exported["folder"]
    sku = pd.read_csv(folder / "sales_by_sku.csv", dtype={"sku": str})
    # A: 100.00 + 50.50 = 150.50 (3 units, 3 orders); B: 300.00; total 450.50
    assert sku["sku"].tolist() == ["B", "A"]
    assert sku["ordered_product_sales"].tolist() == [300.00, 150.50]
    assert sku["units_ordered"].tolist() == [6, 3] and sku["orders"].tolist() == [5, 3]
    assert sku["product_name"].tolist() == ["Beta Stove", "Alpha Tent"]
    assert sku["share_of_sales"].tolist() == [0.6659, 0.3341]  # 300 / 450.5, 150.5 / 450.5
    text = (folder / "sales_by_sku.csv").read_text(encoding="utf-8")
    assert (
        text.splitlines()[0]
        == "sku,asin,product_name,ordered_product_sales,units_ordered,orders,share_of_sales"
    )
    assert "150.50" in text

    perf = pd.read_csv(folder / "store_performance.csv").set_index("metric")
    assert perf.loc["ordered_product_sales", "value"] == 1234.50
    assert perf.loc["ordered_product_sales", "previous"] == 1000.00
    assert perf.loc["ordered_product_sales", "change_pct"] == 23.45
    assert perf.loc["ordered_product_sales", "yoy_change_pct"] == 12.23
    assert perf.loc["net_sales", "value"] == 1134.50 and perf.loc["orders", "change_pct"] == -20.0
    assert pd.isna(perf.loc["orders", "last_year"])
    assert perf.index.tolist() == METRICS

    trend = pd.read_csv(folder / "sales_trend.csv")
    assert trend["date_day"].tolist() == ["2026-09-14", "2026-10-11"]  # the 28 days up to 11 Oct
    assert trend["ordered_product_sales"].tolist() == [10.0, 200.0]

    returns = pd.read_csv(folder / "returns_by_reason.csv")
    # DEFECTIVE/DAMAGED: 2 lines, 2 + 1 units; UNWANTED_ITEM/SELLABLE: 1 line, 1 unit (of 4)
    assert returns.to_dict("list") == {
        "reason": ["DEFECTIVE", "UNWANTED_ITEM"],
        "detailed_disposition": ["DAMAGED", "SELLABLE"],
        "return_lines": [2, 1],
        "units_returned": [3, 1],
        "share_of_units": [0.75, 0.25],
    }

    stock = pd.read_csv(folder / "inventory_health.csv")
    assert stock["snapshot_date"].unique().tolist() == ["2026-10-11"]  # not the later snapshot
    assert stock["sku"].tolist() == ["A", "B"]  # at risk first
    assert stock["suggested_reorder_qty"].tolist() == [15, 0]
    assert stock["stockout_risk"].tolist() == [True, False]

    retention = pd.read_csv(folder / "retention.csv")
    assert list(
        zip(retention["cohort_start"], retention["period_offset"], retention["retention_rate"], strict=True)
    ) == [
        ("2026-09-28", 0, 1.0),
        ("2026-09-28", 1, 0.4),
        ("2026-10-05", 0, 1.0),
    ]


def test_json_has_iso_dates_and_exact_numbers(exported):
    folder = exported["folder"]
    attribution = pd.read_json(folder / "attribution.json", dtype={"channel": str}, precise_float=True)
    linear = attribution[attribution["model"] == "linear"].set_index("channel")
    # Paid Search: 1.5 + 0.5 conversions, 60 + 20 revenue, 20 + 10 spend, ROAS 80 / 30
    assert linear.loc["Paid Search", "conversions"] == 2.0
    assert linear.loc["Paid Search", "revenue"] == 80.0
    assert linear.loc["Paid Search", "spend"] == 30.0
    assert linear.loc["Paid Search", "roas"] == 2.6667
    assert linear.loc["Email", "revenue"] == 40.0 and pd.isna(linear.loc["Email", "spend"])
    assert attribution[attribution["model"] == "last_touch"]["roas"].tolist() == [4.5]

    ltv = pd.read_json(folder / "ltv_segments.json", precise_float=True).set_index("churn_risk")
    assert ltv.loc["active", "customers"] == 2 and ltv.loc["active", "average_clv_12m"] == 75.0
    assert ltv.loc["active", "total_clv_12m"] == 150.0 and ltv.loc["active", "average_p_alive"] == 0.85
    assert ltv.loc["churned", "total_clv_12m"] == 1.5

    raw = json.loads((folder / "store_performance.json").read_text())
    assert raw[0]["metric"] == "ordered_product_sales" and raw[0]["value"] == 1234.5
    text = (folder / "sales_trend.json").read_text()
    assert '"2026-09-14"' in text
    assert "0000000" not in (folder / "attribution.json").read_text()  # no float noise


def test_the_workbook_has_a_typed_sheet_per_table(exported):
    folder = exported["folder"]
    path = folder / "101_2026-W41.xlsx"
    sheets = pd.read_excel(path, sheet_name=None)
    assert {"sales_by_sku", "store_performance", "attribution", "retention"} <= set(sheets)
    book = openpyxl.load_workbook(path)
    sku = book["sales_by_sku"]
    assert sku.freeze_panes == "A2"
    headings = [c.value for c in sku[1]]
    money = sku.cell(row=2, column=headings.index("ordered product sales") + 1)
    assert money.value == 300 and "EUR" in money.number_format
    share = sku.cell(row=2, column=headings.index("share of sales") + 1)
    assert abs(share.value - 0.6659) < 1e-9 and "%" in share.number_format
    attribution = book["attribution"]
    headings = [c.value for c in attribution[1]]
    revenue = [
        attribution.cell(row=r, column=headings.index("revenue") + 1)
        for r in range(2, attribution.max_row + 1)
    ]
    assert all("USD" in c.number_format for c in revenue)  # the web shop's currency
    trend = book["sales_trend"]
    assert trend.cell(row=2, column=1).value.date() == dt.date(2026, 9, 14)


def test_the_report_shows_the_hand_figures_and_every_page_has_content(exported):
    path = exported["folder"] / "101_2026-W41_report.pdf"
    with pdfplumber.open(path) as pdf:
        first = pdf.pages[0].extract_text()
        rest = "\n".join(page.extract_text() or "" for page in pdf.pages[1:])
        pages = len(pdf.pages)
    assert "Trail Co" in first and "2026-W41" in first
    assert "EUR 1,234.50" in first and "EUR 1,000.00" in first
    assert "23.45" in first and "20.00" in first
    assert "EUR 1,134.50" in first
    assert "A" in rest and "15" in rest  # the at-risk SKU's reorder quantity
    assert pages >= 2
    document = pypdfium2.PdfDocument(str(path))
    for index in range(len(document)):
        image = document[index].render(scale=0.5).to_pil().convert("L")
        dark = sum(1 for value in image.getdata() if value < 200)
        assert dark / (image.width * image.height) > 0.01, f"page {index + 1} is (nearly) blank"
    document.close()


def test_bad_arguments_get_one_line_and_exit_2(exported):
    env = exported["env"]
    cases = [
        (["export", "--store", "999", "--week", "2026-W41"], "unknown store '999'"),
        (["export", "--store", "101", "--week", "2026-41"], "2026-41"),
        (["export", "--store", "101", "--day", "2026-02-30"], "2026-02-30"),
        (["export", "--store", "101", "--week", "2026-W41", "--day", "2026-10-05"], "one of"),
        (["export", "--store", "101", "--week", "2026-W41", "--format", "csv,docx"], "docx"),
    ]
    for args, words in cases:
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and "Traceback" not in result.output


def test_a_killed_export_leaves_the_previous_files_intact(exported, tmp_path):
    """SIGKILL while the next export writes: the folder keeps the earlier files, byte for byte."""
    folder = exported["folder"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    env = {k: v for k, v in {**os.environ, **exported["env"]}.items() if v is not None}
    command = [sys.executable, "-m", "nexus_pipelines.cli", "export", "--store", "101", "--week", "2026-W41"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    staging = []
    while time.monotonic() < deadline and not staging:
        staging = [p for p in folder.parent.iterdir() if p.name != folder.name]
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert staging, "the export never started writing"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # the next export clears what the killed one left and publishes a complete folder
    result = CliRunner().invoke(
        main, ["export", "--store", "101", "--week", "2026-W41", "--format", "csv"], env=exported["env"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in folder.parent.iterdir()] == ["2026-W41"]


def test_an_export_removes_folders_older_than_the_retention(exported):
    old = exported["home"] / "exports" / "101" / "day" / "2025-01-01"
    old.mkdir(parents=True)
    written = dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
    (old / "manifest.json").write_text(json.dumps({"generated_at": written.isoformat(), "files": []}))
    result = CliRunner().invoke(
        main, ["export", "--store", "101", "--day", "2026-10-05", "--format", "csv"], env=exported["env"]
    )
    assert result.exit_code == 0, result.output
    assert not old.exists() and "older than 90 days" in result.output
    assert (exported["home"] / "exports" / "101" / "day" / "2026-10-05" / "manifest.json").exists()
