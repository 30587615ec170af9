"""The metrics engine (lib/metrics) over hand-made mart and analytics rows.

The period checked is P = Monday 2 to Sunday 8 March 2026 (7 days) for store 101. Its previous
period is 23 February .. 1 March 2026 and its last-year period 2 .. 8 March 2025. Store 101's
data spans 2025-03-01 .. 2026-03-10 (first and last day of fct_daily_store_performance). Rows of
other stores, other days and other grains are planted to be left out. Every expected number is
worked out by hand in the comments beside it.
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql

from nexus_pipelines.lib.metrics import (
    CATALOG,
    AnalyticsRequest,
    DataValidationError,
    MetricCalculationError,
    MetricsEngine,
    UnknownMetric,
    UnknownStore,
)
from nexus_pipelines.lib.metrics.common import shift_years
from nexus_pipelines.lib.metrics.connection import ReadOnlyPool

D = dt.date
P_START, P_END = D(2026, 3, 2), D(2026, 3, 8)
DE, US = "A1PA6795UKMFR9", "ATVPDKIKX0DER"

SETUP = """
create schema marts; create schema analytics; create schema ops;
create table marts.dim_store (store_id text, store_name text, marketplace text, currency text);
create table marts.fct_daily_store_performance (
    store_id text, date_day date, ordered_product_sales numeric(18, 2), units_ordered bigint, orders bigint,
    order_items bigint, sessions integer, page_views integer, buy_box_percentage numeric(9, 2),
    units_refunded bigint, refunds_amount numeric(18, 2), item_promotion_discount numeric(18, 2),
    net_sales numeric(18, 2));
create table marts.fct_daily_sales (
    store_id text, sku text, order_date date, asin text, ordered_product_sales numeric(18, 2),
    units_ordered bigint, orders bigint, order_items bigint, item_promotion_discount numeric(18, 2));
create table marts.fct_returns (
    store_id text, return_date date, sku text, asin text, order_date date, quantity integer,
    detailed_disposition text, reason text, refund_amount numeric(18, 2));
create table marts.fct_inventory_health (
    store_id text, sku text, snapshot_date date, asin text, fulfillable_quantity integer,
    reserved_quantity integer, unsellable_quantity integer, inbound_quantity integer,
    on_hand_quantity integer, units_sold_t7 numeric, units_sold_t30 numeric, units_sold_t90 numeric,
    average_daily_units_t30 numeric(18, 4), days_of_supply numeric(18, 2), weeks_of_cover_t30 numeric(18, 2),
    weeks_of_cover_t90 numeric(18, 2), sell_through_rate_90d numeric(18, 4), in_stock_rate_30d numeric(9, 2),
    stockout_days_30d bigint, excess_units numeric, aged_0_90_units numeric, aged_91_180_units numeric,
    aged_181_270_units numeric, aged_271_365_units numeric, aged_365_plus_units numeric,
    lead_time_days integer, safety_stock numeric(18, 2), reorder_point integer,
    suggested_reorder_qty integer, stockout_risk boolean);
create table marts.fct_funnel_steps (
    funnel_name text, funnel_mode text, window_days numeric(9, 2), step_number integer, step_name text,
    breakdown_type text, breakdown_value text, users_entered_funnel integer, users_entering_step integer,
    users_converted integer, users_dropped_off integer, conversion_rate_from_start numeric(9, 4),
    conversion_rate_from_previous numeric(9, 4), median_seconds_to_convert numeric(18, 1));
create table marts.fct_active_users (
    activity_date date, dau integer, wau integer, mau integer, stickiness numeric(9, 4));
create table marts.fct_user_lifecycle (
    week_start date, new_users integer, returning_users integer, resurrecting_users integer,
    dormant_users integer, active_users integer, is_complete_week boolean);
create table marts.fct_sessions (
    session_id text, user_key text, session_date date, started_at timestamptz, ended_at timestamptz);
create table analytics.cohort_retention (
    period_grain text, mode text, cohort_start date, period_offset integer, period_start date,
    cohort_size bigint, retained bigint, retention_rate double precision, churn_rate double precision,
    period_churn double precision, is_complete boolean);
create table analytics.channel_attribution_daily (
    day date, channel text, model text, conversions double precision, revenue double precision,
    spend double precision);
create table analytics.customer_ltv (
    user_id text, churn_risk text, clv_12m double precision, p_alive double precision,
    expected_purchases_90d double precision, total_revenue double precision, observation_end date,
    fitted_at timestamptz);
create table analytics.experiment_results (
    experiment_id text, variation_id text, is_control boolean, metric text, engine text,
    first_exposed_at timestamptz, last_exposed_at timestamptz, error text, users bigint,
    mean double precision, control_mean double precision, abs_lift double precision,
    lift double precision, ci_low double precision, ci_high double precision, p_value double precision,
    chance_to_win double precision, risk double precision, cuped_lift double precision,
    srm_p_value double precision);
create table ops.load_manifest (
    load_id bigserial, source text, file_path text, partition_date date, rows_loaded integer,
    status text, started_at timestamptz, duration_seconds double precision);
create table ops.dbt_builds (chain text, built_at timestamptz);
"""

N = None
ROWS: dict[str, list[tuple]] = {
    "marts.dim_store": [
        ("101", "Trail Co", DE, "EUR"),
        ("202", "Other", US, "USD"),
        ("303", "Empty", DE, "EUR"),  # configured, no data yet
    ],
    # store, day, sales, units, orders, items, sessions, page views, buy box %, units refunded,
    # refunds, discount, net sales (= sales - discount - refunds)
    "marts.fct_daily_store_performance": [
        ("101", D(2025, 3, 1), 1, 1, 1, 1, 10, 10, 50, 0, 0, 0, 1),  # first day of the span, before LY
        ("101", D(2025, 3, 3), 300.00, 10, 8, 10, N, N, N, 1, 30.00, 0, 270.00),  # last year
        ("101", D(2025, 3, 7), 100.00, 5, 2, 5, N, N, N, 0, 0, 20.00, 80.00),  # last year
        ("101", D(2026, 2, 24), 200.00, 5, 4, 5, 100, 150, 95.50, 0, 0, 10.00, 190.00),  # previous
        ("101", D(2026, 3, 2), 100.00, 4, 3, 4, 50, 80, 90.00, 1, 20.00, 5.00, 75.00),  # P
        ("101", D(2026, 3, 3), 250.50, 6, 5, 6, N, N, N, 0, 0, 0, 250.50),  # P, no traffic report
        ("101", D(2026, 3, 5), 49.99, 2, 2, 3, 30, 20, 80.00, 2, 40.00, 0, 9.99),  # P
        ("101", D(2026, 3, 9), 0, 0, 0, 0, N, N, N, 1, 41.75, 0, -41.75),  # after P
        ("101", D(2026, 3, 10), 500.00, 10, 9, 10, 70, 90, 99.00, 0, 0, 0, 500.00),  # last day of the span
        ("202", D(2026, 3, 3), 999.00, 9, 9, 9, 9, 9, 9, 9, 9, 9, 981.00),  # another store
        ("202", D(2027, 2, 28), 50.00, 2, 2, 2, 10, 20, 50.00, 0, 0, 0, 50.00),
        ("202", D(2028, 2, 29), 80.00, 4, 2, 4, 20, 40, 75.00, 0, 0, 0, 80.00),
    ],
    # store, sku, day, asin, sales, units, orders, items, discount: the SKUs of the days above
    "marts.fct_daily_sales": [
        ("101", "A", D(2026, 3, 2), "B0A", 60.00, 2, 2, 2, 5.00),
        ("101", "B", D(2026, 3, 2), "B0B", 40.00, 2, 1, 2, 0),
        ("101", "A", D(2026, 3, 3), "B0A", 250.50, 6, 5, 6, 0),
        ("101", "B", D(2026, 3, 5), "B0B", 49.99, 2, 2, 3, 0),
        ("101", "A", D(2026, 2, 24), "B0A", 200.00, 5, 4, 5, 10.00),
        ("101", "A", D(2025, 3, 3), "B0A", 300.00, 10, 8, 10, 0),
        ("101", "B", D(2025, 3, 7), "B0B", 100.00, 5, 2, 5, 20.00),
        ("101", "A", D(2026, 3, 10), "B0A", 500.00, 10, 9, 10, 0),
        ("202", "A", D(2026, 3, 3), "B0A", 999.00, 9, 9, 9, 9),
    ],
    # store, return day, sku, asin, order day, units, disposition, reason, refund
    "marts.fct_returns": [
        ("101", D(2026, 3, 2), "B", "B0B", D(2026, 3, 2), 1, "SELLABLE", "UNWANTED_ITEM", 20.00),  # r1
        ("101", D(2026, 3, 5), "A", "B0A", D(2026, 2, 24), 1, "DAMAGED", "DEFECTIVE", 40.00),  # r2
        ("101", D(2026, 3, 5), "B", "B0B", N, 1, "SELLABLE", "UNWANTED_ITEM", N),  # r3: order unknown
        ("101", D(2026, 3, 9), "A", "B0A", D(2026, 3, 3), 1, "SELLABLE", "DEFECTIVE", 41.75),  # r4: after P
        ("101", D(2025, 3, 3), "A", "B0A", D(2025, 3, 3), 1, "DAMAGED", "DEFECTIVE", 30.00),  # last year
        ("202", D(2026, 3, 3), "A", "B0A", D(2026, 3, 3), 9, "SELLABLE", "DEFECTIVE", 9),  # another store
    ],
}
# every metric column of fct_inventory_health, in the table's order after store, sku, snapshot, asin
INVENTORY = [
    # sku, snapshot, asin, fulfillable, reserved, unsellable, inbound, on hand, t7, t30, t90,
    # avg daily t30, days of supply, woc t30, woc t90, sell-through, in-stock %, stockout days,
    # excess, aged 0-90, 91-180, 181-270, 271-365, 365+, lead time, safety stock, reorder point,
    # suggested qty, stockout risk
    ("A", D(2026, 3, 8), "B0A", 5, 1, 0, 10, 6, 3, 15, 40, 0.5, 10.00, 1.71, 1.93, 0.8889, 96.67, 1, 0, 6, 0, 0, 0, 0, 14, 2.50, 10, 0, True),
    ("B", D(2026, 3, 8), "B0B", 100, 0, 2, 0, 100, 1, 6, 20, 0.2, 500.00, 71.43, 64.29, 0.2000, 100.00, 0, 82, 60, 40, 0, 0, 0, 14, 1.25, 4, 0, False),
    ("C", D(2026, 2, 1), "B0C", 0, 0, 0, 0, 0, 0, 0, 0, 0, N, N, N, 0, 0.00, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, False),
    ("D", D(2026, 3, 8), "B0D", 2, 0, 0, 0, 2, 7, 30, 90, 1.0, 2.00, 0.29, 0.29, 1.5, 50.00, 3, 0, 2, 0, 0, 0, 0, 14, 3.75, 18, 16, True),
]  # fmt: skip


def _insert(conn, table: str, rows: list[tuple]) -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    conn.cursor().executemany(f"insert into {table} values ({marks})", rows)


def plant(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP)
        for table, rows in ROWS.items():
            _insert(conn, table, rows)
        _insert(conn, "marts.fct_inventory_health", [("101", *r) for r in INVENTORY])
        _insert(
            conn,
            "marts.fct_inventory_health",
            [("202", "A", D(2026, 3, 8), "B0A", *([9] * 21), 14, 9, 9, 9, True)],
        )
        _insert(
            conn,
            "marts.fct_funnel_steps",
            [
                ("ecommerce", "ordered", 14, 1, "Product Viewed", "all", "All", 100, 100, 100, 0, 1, 1, 0),
                ("ecommerce", "ordered", 14, 2, "Order Completed", "all", "All", 100, 100, 25, 75, 0.25, 0.25, 3600.5),
                ("ecommerce", "ordered", 14, 1, "Product Viewed", "channel", "Email", 40, 40, 40, 0, 1, 1, 0),
                ("ecommerce", "ordered", 14, 2, "Order Completed", "channel", "Email", 40, 40, 10, 30, 0.25, 0.25, 1800),
                ("ecommerce", "ordered", 14, 1, "Product Viewed", "channel", "Paid Search", 60, 60, 60, 0, 1, 1, 0),
                ("ecommerce", "ordered", 14, 2, "Order Completed", "channel", "Paid Search", 60, 60, 15, 45, 0.25, 0.25, 7200),
                ("ecommerce", "ordered", 14, 1, "Product Viewed", "device", "mobile", 70, 70, 70, 0, 1, 1, 0),
                ("signup", "any", 7, 1, "Signed Up", "all", "All", 50, 50, 50, 0, 1, 1, 0),
            ],
        )  # fmt: skip
        _insert(
            conn,
            "marts.fct_active_users",
            [(D(2026, 2, 20), 1, 1, 1, 1)]  # first day of web data
            + [
                (P_START + dt.timedelta(days=i), dau, 20 + i, 40, round(dau / 40, 4))
                for i, dau in enumerate([10, 12, 8, 9, 11, 5, 4])
            ]
            + [(D(2026, 3, 10), 3, 20, 40, 0.075)],  # last day of web data
        )
        _insert(
            conn,
            "marts.fct_user_lifecycle",
            [
                (D(2026, 2, 23), 1, 1, 1, 1, 3, True),  # ends 1 March: before P
                (D(2026, 3, 2), 5, 7, 1, 3, 13, True),  # P's week
                (D(2026, 3, 9), 2, 2, 2, 2, 6, False),  # after P
            ],
        )
        _insert(
            conn,
            "marts.fct_sessions",
            [
                ("s1", "u1", D(2026, 3, 1), "2026-03-01 23:50+00", "2026-03-02 00:20+00"),  # ends in P
                ("s2", "u2", D(2026, 3, 3), "2026-03-03 10:00+00", "2026-03-03 10:30+00"),
                ("s3", "u2", D(2026, 3, 5), "2026-03-05 10:00+00", "2026-03-05 10:30+00"),  # u2 again
                ("s4", "u3", D(2026, 3, 9), "2026-03-09 00:00+00", "2026-03-09 00:10+00"),  # after P
                ("s5", "u4", D(2026, 2, 28), "2026-02-28 12:00+00", "2026-02-28 12:30+00"),  # before P
                ("s6", "u5", D(2026, 3, 8), "2026-03-08 23:59+00", "2026-03-09 00:05+00"),
                # 00:30 on 9 March in UTC+2 is 22:30 on 8 March in UTC: inside P
                ("s7", "u6", D(2026, 3, 8), "2026-03-09 00:30+02", "2026-03-09 00:45+02"),
                # 1 March in UTC, but already 2 March in Tokyo, the database's time zone: before P
                ("s8", "u7", D(2026, 3, 1), "2026-03-01 20:00+00", "2026-03-01 20:10+00"),
            ],
        )
        _insert(
            conn,
            "analytics.cohort_retention",
            [
                ("week", "first_time", D(2026, 3, 2), 0, D(2026, 3, 2), 10, 10, 1.0, 0.0, N, True),
                # 1 - 4 / 10 in floating point is 0.6000000000000001
                ("week", "first_time", D(2026, 3, 2), 1, D(2026, 3, 9), 10, 4, 0.4, 0.6000000000000001, 0.6000000000000001, False),
                ("week", "first_time", D(2026, 2, 23), 0, D(2026, 2, 23), 5, 5, 1.0, 0.0, N, True),  # before P
                ("week", "recurring", D(2026, 3, 2), 0, D(2026, 3, 2), 3, 1, 1 / 3, 2 / 3, N, True),
                ("month", "first_time", D(2026, 3, 1), 0, D(2026, 3, 1), 30, 30, 1.0, 0.0, N, False),
            ],
        )  # fmt: skip
        _insert(
            conn,
            "analytics.channel_attribution_daily",
            [
                (D(2026, 3, 2), "Paid Search", "linear", 1.5, 60.0, 20.0),
                (D(2026, 3, 4), "Paid Search", "linear", 0.5, 20.0, 10.0),
                (D(2026, 3, 3), "Email", "linear", 1.0, 40.0, N),
                (D(2026, 3, 5), "Email", "linear", 0.1, 0.1, N),  # 0.1 + 0.2 != 0.3 in floating point
                (D(2026, 3, 6), "Email", "linear", 0.2, 0.2, N),
                (D(2026, 3, 9), "Email", "linear", 9.0, 900.0, N),  # after P
                (D(2026, 3, 2), "Paid Search", "last_touch", 2.0, 80.0, 20.0),
                (D(2026, 3, 4), "Paid Search", "last_touch", 0.0, 0.0, 10.0),
                (D(2026, 3, 3), "Email", "last_touch", 1.0, 40.0, N),
            ],
        )
        fit = (D(2026, 3, 8), "2026-03-09 06:00+00")
        _insert(
            conn,
            "analytics.customer_ltv",
            [
                ("u1", "active", 100.0, 0.9, 1.5, 200.0, *fit),
                ("u2", "active", 50.5, 0.8, 0.5, 80.0, *fit),
                ("u3", "churned", 1.25, 0.1, 0.05, 30.0, *fit),
                ("u4", "at_risk", 20.0, 0.5, 0.3, 60.0, *fit),
            ],
        )
        exposed = ("2026-03-01 09:00+00", "2026-03-07 18:00+00")
        _insert(
            conn,
            "analytics.experiment_results",
            [
                ("exp1", "control", True, "conversion", "frequentist", *exposed, N, 100, 0.1, 0.1, N, N, N, N, N, N, N, N, 0.9),
                # 0.12 - 0.1 in floating point is 0.019999999999999997
                ("exp1", "treatment", False, "conversion", "frequentist", *exposed, N, 102, 0.12, 0.1, 0.12 - 0.1, 0.2, -0.1, 0.5, 0.04567, N, N, 0.18, 0.9),
                ("exp1", "treatment", False, "conversion", "bayesian", *exposed, N, 102, 0.12, 0.1, 0.02, 0.19, -0.08, 0.48, N, 0.96123, 0.00412, N, 0.9),
                # exposed only before P
                ("old", "treatment", False, "conversion", "frequentist", "2026-01-01 00:00+00", "2026-02-01 00:00+00", N, 5, 1, 1, 0, 0, 0, 0, 1, N, N, N, 1),
            ],
        )  # fmt: skip
        _insert(
            conn,
            "ops.load_manifest",
            [
                (1, "amazon_orders", "amazon/101/orders/2026-03-08.txt", D(2026, 3, 8), 7, "loaded", "2026-03-09 05:00+00", 120.0),
                (2, "amazon_orders", "amazon/101/orders/2026-03-09.txt", D(2026, 3, 9), 0, "failed", "2026-03-09 07:00+00", 1.0),
            ],
        )  # fmt: skip
        _insert(conn, "ops.dbt_builds", [("amazon", "2026-03-09 06:00+00")])


@pytest.fixture(scope="module")
def db(server_url):
    from nexus_pipelines.lib.warehouse.connection import with_database

    from .dbt_runner import create_database, drop_database

    name = create_database(server_url)
    with psycopg.connect(server_url, autocommit=True) as conn:
        # sessions of the engine run in a time zone ahead of UTC: days must still be UTC days
        conn.execute(sql.SQL("alter database {} set timezone to 'Asia/Tokyo'").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    plant(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def engine(db):
    with MetricsEngine(db, pool_size=2) as e:
        yield e


def req(start=P_START, end=P_END, store="101", filters=None, metrics=None) -> AnalyticsRequest:
    return AnalyticsRequest(store, start, end, filters, metrics or [])


# ------------------------------------------------------------------ stores and catalog
def test_stores_list_every_store_with_its_span(engine):
    assert engine.stores() == [
        {"store_id": "101", "store_name": "Trail Co", "marketplace": DE, "currency": "EUR",
         "data_from": "2025-03-01", "data_through": "2026-03-10"},
        {"store_id": "202", "store_name": "Other", "marketplace": US, "currency": "USD",
         "data_from": "2026-03-03", "data_through": "2028-02-29"},
        {"store_id": "303", "store_name": "Empty", "marketplace": DE, "currency": "EUR",
         "data_from": None, "data_through": None},
    ]  # fmt: skip


def test_every_catalog_metric_is_served_by_its_endpoint(engine):
    """Each endpoint's full response holds every metric the catalog lists for it."""

    def names(value) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {n for v in value.values() for n in names(v)}
        if isinstance(value, list):
            return {n for v in value for n in names(v)}
        return set()

    served = {
        "metrics": engine.get_sales_metrics(req()),
        "comparison": engine.get_performance_comparison(req()),
        "inventory/health": engine.get_inventory_health(req()),
        "returns": engine.get_returns(req()),
        "funnels": engine.get_funnel("ecommerce", req()),
        "cohorts": engine.get_cohorts(req()),
        "active-users": engine.get_active_users(req()),
        "attribution": engine.get_attribution(req()),
        "clv/segments": engine.get_clv_segments(req()),
        "experiments": engine.get_experiments(req()),
    }
    for endpoint, response in served.items():
        catalog = {m.name for m in CATALOG if endpoint in m.endpoints}
        assert catalog, endpoint
        assert catalog <= names(response.metrics), (endpoint, catalog - names(response.metrics))
    entries = engine.catalog()
    assert len(entries) == len(CATALOG) and len({(e["endpoint"], e["name"]) for e in entries}) == len(CATALOG)
    sessions = next(e for e in entries if e["name"] == "sessions")
    assert sessions["unit"] == "count" and sessions["source_table"] == "marts.fct_daily_store_performance"
    assert sessions["endpoints"] == ["metrics", "comparison"]
    assert all(e["definition"] and e["grain"] and e["unit"] for e in entries)


# ------------------------------------------------------------------ sales
# P's totals: days 2, 3 and 5 March (4, 6, 7, 8 March count as zero)
P_TOTALS = {
    "ordered_product_sales": 400.49,  # 100.00 + 250.50 + 49.99
    "units_ordered": 12,  # 4 + 6 + 2
    "orders": 10,  # 3 + 5 + 2
    "order_items": 13,  # 4 + 6 + 3
    "average_order_value": 40.05,  # 400.49 / 10 = 40.049
    "average_selling_price": 33.37,  # 400.49 / 12 = 33.374
    "sessions": 80,  # 50 + 30 (3 March has no report)
    "page_views": 100,  # 80 + 20
    "unit_session_percentage": 7.5,  # units of the days with traffic (4 + 2) / 80 × 100
    "order_item_session_percentage": 8.75,  # (4 + 3) / 80 × 100
    "buy_box_percentage": 88.0,  # (90 × 80 + 80 × 20) / 100, weighted by page views
    "units_refunded": 3,  # 1 + 2
    "refund_rate": 25.0,  # 3 / 12 × 100
    "refunds_amount": 60.0,  # 20.00 + 40.00
    "item_promotion_discount": 5.0,
    "net_sales": 335.49,  # 75.00 + 250.50 + 9.99 = 400.49 - 5.00 - 60.00
}


def test_sales_totals_and_daily_series_of_the_period(engine):
    r = engine.get_sales_metrics(req(), grain="day")
    assert r.metrics["totals"] == P_TOTALS
    for name, value in P_TOTALS.items():  # ints stay ints, other numbers are floats
        assert type(r.metrics["totals"][name]) is type(value), name
    assert r.period == {
        "start": "2026-03-02", "end": "2026-03-08", "grain": "day",
        "data_from": "2025-03-01", "data_through": "2026-03-10",
    }  # fmt: skip
    series = r.metrics["series"]
    assert [s["period_start"] for s in series] == [f"2026-03-0{d}" for d in range(2, 9)]
    assert all(s["period_start"] == s["period_end"] for s in series)
    first = series[0]  # 2 March alone
    assert first == {
        "period_start": "2026-03-02",
        "period_end": "2026-03-02",
        "ordered_product_sales": 100.0,
        "units_ordered": 4,
        "orders": 3,
        "order_items": 4,
        "average_order_value": 33.33,  # 100 / 3
        "average_selling_price": 25.0,  # 100 / 4
        "sessions": 50,
        "page_views": 80,
        "unit_session_percentage": 8.0,  # 4 / 50 × 100
        "order_item_session_percentage": 8.0,
        "buy_box_percentage": 90.0,
        "units_refunded": 1,
        "refund_rate": 25.0,  # 1 / 4 × 100
        "refunds_amount": 20.0,
        "item_promotion_discount": 5.0,
        "net_sales": 75.0,
    }
    # 3 March: sales but no traffic report; 4 March: no row, zero sales and no ratios
    assert series[1]["sessions"] is None and series[1]["unit_session_percentage"] is None
    assert series[1]["ordered_product_sales"] == 250.5
    assert series[2]["ordered_product_sales"] == 0.0 and series[2]["orders"] == 0
    assert series[2]["average_order_value"] is None and series[2]["buy_box_percentage"] is None


def test_weekly_and_monthly_series_clip_their_periods_to_the_range(engine):
    week = engine.get_sales_metrics(req(), grain="week").metrics["series"]
    assert (
        len(week) == 1 and week[0]["period_start"] == "2026-03-02" and week[0]["period_end"] == "2026-03-08"
    )
    assert {k: v for k, v in week[0].items() if k in P_TOTALS} == P_TOTALS
    months = engine.get_sales_metrics(
        req(D(2026, 2, 23), P_END, metrics=["ordered_product_sales", "orders", "sessions"]), grain="month"
    ).metrics
    assert months["series"] == [
        {"period_start": "2026-02-23", "period_end": "2026-02-28", "ordered_product_sales": 200.0, "orders": 4, "sessions": 100},
        {"period_start": "2026-03-01", "period_end": "2026-03-08", "ordered_product_sales": 400.49, "orders": 10, "sessions": 80},
    ]  # fmt: skip
    assert months["totals"] == {"ordered_product_sales": 600.49, "orders": 14, "sessions": 180}


def test_a_range_partly_outside_the_span_sums_the_days_inside_it(engine):
    r = engine.get_sales_metrics(
        req(D(2026, 3, 9), D(2026, 3, 20), metrics=["ordered_product_sales", "net_sales"])
    )
    # 9 March: refunds 41.75; 10 March: 500.00 (the span ends there)
    assert r.metrics["totals"] == {"ordered_product_sales": 500.0, "net_sales": 458.25}
    assert [s["period_start"] for s in r.metrics["series"]] == ["2026-03-09", "2026-03-10"]


def test_sku_asin_and_marketplace_filters(engine):
    a = engine.get_sales_metrics(req(filters={"sku": ["A"]})).metrics["totals"]
    # SKU A in P: 60.00 (2 units, 2 orders, 2 items, 5.00 discount) and 250.50 (6, 5, 6);
    # returns of A dated in P: r2 (1 unit, 40.00); traffic metrics are left out
    assert a == {
        "ordered_product_sales": 310.5,
        "units_ordered": 8,
        "orders": 7,
        "order_items": 8,
        "average_order_value": 44.36,  # 310.50 / 7 = 44.357
        "average_selling_price": 38.81,  # 310.50 / 8 = 38.8125
        "units_refunded": 1,
        "refund_rate": 12.5,  # 1 / 8 × 100
        "refunds_amount": 40.0,
        "item_promotion_discount": 5.0,
        "net_sales": 265.5,  # 310.50 - 5.00 - 40.00
    }
    b = engine.get_sales_metrics(req(filters={"asin": ["B0B"]})).metrics["totals"]
    # B: 40.00 + 49.99 = 89.99, 4 units, 3 orders, 5 items; r1 (20.00) and r3 (no order line)
    assert (b["ordered_product_sales"], b["units_ordered"], b["orders"], b["order_items"]) == (89.99, 4, 3, 5)
    assert (b["units_refunded"], b["refunds_amount"], b["net_sales"]) == (2, 20.0, 69.99)
    assert (b["average_order_value"], b["average_selling_price"]) == (30.0, 22.5)  # 29.9967, 22.4975
    both = engine.get_sales_metrics(req(filters={"sku": ["A"], "asin": ["B0B"]})).metrics["totals"]
    assert both["ordered_product_sales"] == 0.0  # sku and asin must both match
    same = engine.get_sales_metrics(req(filters={"marketplace": [DE, "other"]})).metrics["totals"]
    assert same == P_TOTALS
    other = engine.get_sales_metrics(req(filters={"marketplace": [US]})).metrics["totals"]
    assert other["ordered_product_sales"] == 0.0 and other["sessions"] is None
    compared = engine.get_performance_comparison(
        req(filters={"sku": ["A"]}, metrics=["ordered_product_sales"])
    )
    # A: 310.50 in P, 200.00 on 24 February, 300.00 on 3 March 2025
    assert compared.metrics == {
        "ordered_product_sales": {
            "value": 310.5, "previous": 200.0, "change": 110.5, "change_pct": 55.25,
            "last_year": 300.0, "yoy_change": 10.5, "yoy_change_pct": 3.5,
        }
    }  # fmt: skip


# ------------------------------------------------------------------ comparison
# metric: (previous, change, change %, last year, YoY change, YoY change %), from P_TOTALS,
# previous = 24 February alone (200.00, 5 units, 4 orders, 5 items, 100 sessions, 150 page
# views, buy box 95.50, discount 10.00) and last year = 3 and 7 March 2025 (no traffic report)
COMPARISON = {
    "ordered_product_sales": (200.0, 200.49, 100.25, 400.0, 0.49, 0.12),  # 200.49 / 200 = 100.245 %; 0.1225 %
    "units_ordered": (5, 7, 140.0, 15, -3, -20.0),
    "orders": (4, 6, 150.0, 10, 0, 0.0),
    "order_items": (5, 8, 160.0, 15, -2, -13.33),
    "average_order_value": (50.0, -9.95, -19.9, 40.0, 0.05, 0.13),  # 200 / 4; 400 / 10; 0.05 / 40 = 0.125 %
    "average_selling_price": (40.0, -6.63, -16.58, 26.67, 6.7, 25.12),  # 400 / 15 = 26.667; 6.70 / 26.67
    "sessions": (100, -20, -20.0, None, None, None),
    "page_views": (150, -50, -33.33, None, None, None),
    "unit_session_percentage": (5.0, 2.5, 50.0, None, None, None),  # 5 / 100 × 100
    "order_item_session_percentage": (5.0, 3.75, 75.0, None, None, None),
    "buy_box_percentage": (95.5, -7.5, -7.85, None, None, None),  # -7.5 / 95.5 = -7.853 %
    "units_refunded": (0, 3, None, 1, 2, 200.0),  # no change % from 0
    "refund_rate": (0.0, 25.0, None, 6.67, 18.33, 274.81),  # 1 / 15 × 100; 18.33 / 6.67 = 274.81 %
    "refunds_amount": (0.0, 60.0, None, 30.0, 30.0, 100.0),
    "item_promotion_discount": (10.0, -5.0, -50.0, 20.0, -15.0, -75.0),
    "net_sales": (190.0, 145.49, 76.57, 350.0, -14.51, -4.15),  # 145.49 / 190 = 76.574 %; -14.51 / 350
}


def test_comparison_of_every_metric_with_the_previous_period_and_last_year(engine):
    r = engine.get_performance_comparison(req())
    assert list(r.metrics) == list(COMPARISON)
    for name, (prev, change, pct, ly, yoy, yoy_pct) in COMPARISON.items():
        assert r.metrics[name] == {
            "value": P_TOTALS[name],
            "previous": prev,
            "change": change,
            "change_pct": pct,
            "last_year": ly,
            "yoy_change": yoy,
            "yoy_change_pct": yoy_pct,
        }, name
    assert r.period == {
        "start": "2026-03-02", "end": "2026-03-08", "grain": "range",
        "previous_start": "2026-02-23", "previous_end": "2026-03-01",
        "last_year_start": "2025-03-02", "last_year_end": "2025-03-08",
        "data_from": "2025-03-01", "data_through": "2026-03-10",
    }  # fmt: skip


def test_comparison_on_29_february_and_periods_outside_the_span(engine):
    r = engine.get_performance_comparison(
        req(
            D(2028, 2, 29),
            D(2028, 2, 29),
            store="202",
            metrics=["ordered_product_sales", "units_ordered", "sessions"],
        )
    )
    # last year of 29 February 2028 is 28 February 2027 (50.00, 2 units, 10 sessions); the day
    # before, 28 February 2028, is in store 202's span without a row: zero sales, no sessions
    assert r.period["previous_start"] == r.period["previous_end"] == "2028-02-28"
    assert r.period["last_year_start"] == r.period["last_year_end"] == "2027-02-28"
    assert r.metrics["ordered_product_sales"] == {
        "value": 80.0, "previous": 0.0, "change": 80.0, "change_pct": None,
        "last_year": 50.0, "yoy_change": 30.0, "yoy_change_pct": 60.0,
    }  # fmt: skip
    assert r.metrics["units_ordered"]["yoy_change_pct"] == 100.0  # (4 - 2) / 2
    assert r.metrics["sessions"] == {
        "value": 20, "previous": None, "change": None, "change_pct": None,
        "last_year": 10, "yoy_change": 10, "yoy_change_pct": 100.0,
    }  # fmt: skip
    # store 101's span starts 1 March 2025: the year before 2025-03-01 .. 03-02 has no data at all
    early = engine.get_performance_comparison(req(D(2025, 3, 1), D(2025, 3, 2), metrics=["orders"]))
    assert early.metrics["orders"] == {
        "value": 1, "previous": None, "change": None, "change_pct": None,
        "last_year": None, "yoy_change": None, "yoy_change_pct": None,
    }  # fmt: skip
    # a negative base: the change in percent divides by its absolute value. 10 March: net sales
    # 500.00; 9 March: -41.75 (a refund only). (500 + 41.75) / 41.75 × 100 = 1297.6048
    net = engine.get_performance_comparison(req(D(2026, 3, 10), D(2026, 3, 10), metrics=["net_sales"]))
    assert net.metrics["net_sales"]["previous"] == -41.75
    assert (net.metrics["net_sales"]["change"], net.metrics["net_sales"]["change_pct"]) == (541.75, 1297.6)
    assert shift_years(D(2028, 2, 29), -1) == D(2027, 2, 28)
    assert shift_years(D(2026, 3, 1), -1) == D(2025, 3, 1)


# ------------------------------------------------------------------ inventory
def test_inventory_health_lists_every_sku_with_totals(engine):
    r = engine.get_inventory_health(req())
    skus = r.metrics["skus"]
    assert [s["sku"] for s in skus] == ["A", "B", "C", "D"]  # store 202's SKU is left out
    a = skus[0]
    assert a == {
        "sku": "A", "asin": "B0A", "snapshot_date": "2026-03-08",
        "fulfillable_quantity": 5, "reserved_quantity": 1, "unsellable_quantity": 0, "inbound_quantity": 10,
        "on_hand_quantity": 6, "units_sold_t7": 3, "units_sold_t30": 15, "units_sold_t90": 40,
        "average_daily_units_t30": 0.5, "days_of_supply": 10.0, "weeks_of_cover_t30": 1.71,
        "weeks_of_cover_t90": 1.93, "sell_through_rate_90d": 0.8889, "in_stock_rate_30d": 96.67,
        "stockout_days_30d": 1, "excess_units": 0, "aged_0_90_units": 6, "aged_91_180_units": 0,
        "aged_181_270_units": 0, "aged_271_365_units": 0, "aged_365_plus_units": 0, "lead_time_days": 14,
        "safety_stock": 2.5, "reorder_point": 10, "suggested_reorder_qty": 0, "stockout_risk": True,
    }  # fmt: skip
    assert skus[2]["days_of_supply"] is None and skus[2]["snapshot_date"] == "2026-02-01"
    t = r.metrics["totals"]
    assert (t["skus"], t["skus_at_risk"]) == (4, 2)  # A and D
    assert t["fulfillable_quantity"] == 107  # 5 + 100 + 0 + 2
    assert t["on_hand_quantity"] == 108  # 6 + 100 + 0 + 2
    assert t["units_sold_t30"] == 51  # 15 + 6 + 0 + 30
    assert t["average_daily_units_t30"] == 1.7  # 0.5 + 0.2 + 0 + 1.0
    assert t["days_of_supply"] == 62.94  # 107 / (51 / 30) = 62.941, not a mean of the SKUs'
    assert t["excess_units"] == 82 and t["aged_91_180_units"] == 40 and t["suggested_reorder_qty"] == 16
    assert "sell_through_rate_90d" not in t and "reorder_point" not in t  # not additive
    assert r.period["snapshot_date"] == "2026-03-08" and r.period["grain"] == "latest snapshot"
    one = engine.get_inventory_health(req(filters={"asin": ["B0B"]}, metrics=["days_of_supply"])).metrics
    assert one == {
        "totals": {"skus": 1, "days_of_supply": 500.0},  # 100 / (6 / 30)
        "skus": [{"sku": "B", "asin": "B0B", "snapshot_date": "2026-03-08", "days_of_supply": 500.0}],
    }


def test_stock_at_risk_lists_the_skus_below_their_lead_time_fewest_days_first(engine):
    r = engine.get_stock_at_risk(req())
    assert r.metrics["totals"] == {"skus_at_risk": 2, "suggested_reorder_qty": 16}  # 0 + 16
    assert r.metrics["skus"] == [
        {"sku": "D", "asin": "B0D", "snapshot_date": "2026-03-08", "fulfillable_quantity": 2,
         "inbound_quantity": 0, "units_sold_t30": 30, "average_daily_units_t30": 1.0, "days_of_supply": 2.0,
         "lead_time_days": 14, "reorder_point": 18, "suggested_reorder_qty": 16},
        {"sku": "A", "asin": "B0A", "snapshot_date": "2026-03-08", "fulfillable_quantity": 5,
         "inbound_quantity": 10, "units_sold_t30": 15, "average_daily_units_t30": 0.5, "days_of_supply": 10.0,
         "lead_time_days": 14, "reorder_point": 10, "suggested_reorder_qty": 0},
    ]  # fmt: skip
    only_b = engine.get_stock_at_risk(req(filters={"sku": ["B"]}))
    assert only_b.metrics["skus"] == [] and only_b.metrics["totals"]["skus_at_risk"] == 0


# ------------------------------------------------------------------ returns
def test_returns_rates_reasons_and_dispositions(engine):
    r = engine.get_returns(req())
    # returned in P: r1 (B, 1 SELLABLE, 20.00), r2 (A, 1 DAMAGED, 40.00), r3 (B, 1 SELLABLE, no order)
    assert r.metrics["totals"] == {
        "units_ordered": 12,  # 2 + 2 + 6 + 2 (fct_daily_sales)
        "return_lines": 3,
        "units_returned": 3,
        "return_rate": 25.0,  # 3 / 12 × 100
        "cohort_units_returned": 2,  # of orders placed in P: r1 (2 March) and r4 (returned 9 March)
        "cohort_return_rate": 16.67,  # 2 / 12 × 100
        "resellable_share": 66.67,  # 2 SELLABLE / 3
        "refunds_amount": 60.0,  # 20.00 + 40.00
    }
    assert r.metrics["reasons"] == [
        {"reason": "UNWANTED_ITEM", "return_lines": 2, "units_returned": 2, "share_of_returns": 66.67,
         "resellable_share": 100.0, "refunds_amount": 20.0},
        {"reason": "DEFECTIVE", "return_lines": 1, "units_returned": 1, "share_of_returns": 33.33,
         "resellable_share": 0.0, "refunds_amount": 40.0},
    ]  # fmt: skip
    assert r.metrics["dispositions"] == [
        {"detailed_disposition": "SELLABLE", "return_lines": 2, "units_returned": 2, "share_of_returns": 66.67,
         "resellable_share": 100.0, "refunds_amount": 20.0},
        {"detailed_disposition": "DAMAGED", "return_lines": 1, "units_returned": 1, "share_of_returns": 33.33,
         "resellable_share": 0.0, "refunds_amount": 40.0},
    ]  # fmt: skip
    b = engine.get_returns(req(filters={"sku": ["B"]}, metrics=["return_rate", "cohort_return_rate"]))
    # B: 4 units ordered in P; r1 and r3 returned (2 units); r1 of an order placed in P
    assert b.metrics == {"totals": {"return_rate": 50.0, "cohort_return_rate": 25.0}}


# ------------------------------------------------------------------ web shop
def test_funnel_steps_with_and_without_a_channel_filter(engine):
    r = engine.get_funnel("ecommerce", req())
    assert (r.metrics["funnel"], r.metrics["mode"], r.metrics["window_days"]) == ("ecommerce", "ordered", 14)
    assert r.metrics["steps"] == [
        {"breakdown_type": "all", "breakdown_value": "All", "step_number": 1, "step_name": "Product Viewed",
         "users_entered_funnel": 100, "users_entering_step": 100, "users_converted": 100, "users_dropped_off": 0,
         "conversion_rate_from_start": 1.0, "conversion_rate_from_previous": 1.0, "median_seconds_to_convert": 0.0},
        {"breakdown_type": "all", "breakdown_value": "All", "step_number": 2, "step_name": "Order Completed",
         "users_entered_funnel": 100, "users_entering_step": 100, "users_converted": 25, "users_dropped_off": 75,
         "conversion_rate_from_start": 0.25, "conversion_rate_from_previous": 0.25,
         "median_seconds_to_convert": 3600.5},
    ]  # fmt: skip
    email = engine.get_funnel("ecommerce", req(filters={"channel": ["Email"]}, metrics=["users_converted"]))
    assert email.metrics["steps"] == [
        {"breakdown_type": "channel", "breakdown_value": "Email", "step_number": 1, "step_name": "Product Viewed", "users_converted": 40},
        {"breakdown_type": "channel", "breakdown_value": "Email", "step_number": 2, "step_name": "Order Completed", "users_converted": 10},
    ]  # fmt: skip
    assert engine.funnels() == ["ecommerce", "signup"]
    assert r.period["grain"] == "all tracked history"


def test_the_cohorts_whose_period_overlaps_the_range(engine):
    r = engine.get_cohorts(req(), grain="week")
    assert r.metrics["cohorts"] == [
        {"mode": "first_time", "cohort_start": "2026-03-02", "period_offset": 0, "period_start": "2026-03-02",
         "cohort_size": 10, "retained": 10, "retention_rate": 1.0, "churn_rate": 0.0, "period_churn": None,
         "is_complete": True},
        {"mode": "first_time", "cohort_start": "2026-03-02", "period_offset": 1, "period_start": "2026-03-09",
         "cohort_size": 10, "retained": 4, "retention_rate": 0.4, "churn_rate": 0.6, "period_churn": 0.6,
         "is_complete": False},
        {"mode": "recurring", "cohort_start": "2026-03-02", "period_offset": 0, "period_start": "2026-03-02",
         "cohort_size": 3, "retained": 1, "retention_rate": 0.3333, "churn_rate": 0.6667, "period_churn": None,
         "is_complete": True},
    ]  # fmt: skip
    # the March cohort starts on the 1st, before P, but its month overlaps P
    months = engine.get_cohorts(req(), grain="month").metrics["cohorts"]
    assert [(c["cohort_start"], c["cohort_size"]) for c in months] == [("2026-03-01", 30)]


def test_active_users_series_lifecycle_and_totals(engine):
    r = engine.get_active_users(req())
    assert r.metrics["totals"] == {
        "average_dau": 8.43,  # (10 + 12 + 8 + 9 + 11 + 5 + 4) / 7 = 59 / 7 = 8.4286
        "period_active_users": 4,  # u1 (session ends 2 March), u2 (twice), u5, u6 (22:30 UTC, 8 March); not u7
    }
    series = r.metrics["series"]
    assert [s["dau"] for s in series] == [10, 12, 8, 9, 11, 5, 4]
    assert series[0] == {"activity_date": "2026-03-02", "dau": 10, "wau": 20, "mau": 40, "stickiness": 0.25}
    assert series[-1]["stickiness"] == 0.1  # 4 / 40
    assert r.metrics["lifecycle"] == [
        {"week_start": "2026-03-02", "is_complete_week": True, "new_users": 5, "returning_users": 7,
         "resurrecting_users": 1, "dormant_users": 3, "active_users": 13},
    ]  # fmt: skip
    later = engine.get_active_users(req(D(2026, 3, 4), D(2026, 3, 10), metrics=["new_users"])).metrics
    assert later == {
        "lifecycle": [
            {"week_start": "2026-03-02", "is_complete_week": True, "new_users": 5},
            {"week_start": "2026-03-09", "is_complete_week": False, "new_users": 2},
        ]
    }


def test_attribution_per_model_and_channel(engine):
    r = engine.get_attribution(req())
    assert r.metrics["models"] == [
        # 2.0 + 1.0; 80 + 40; spend 20 + 10 of Paid Search; 120 / 30
        {"model": "last_touch", "conversions": 3.0, "revenue": 120.0, "spend": 30.0, "roas": 4.0},
        # 1.5 + 0.5 + 1.0 + 0.1 + 0.2; 60 + 20 + 40 + 0.1 + 0.2; 120.3 / 30
        {"model": "linear", "conversions": 3.3, "revenue": 120.3, "spend": 30.0, "roas": 4.01},
    ]
    assert r.metrics["channels"] == [
        {"model": "last_touch", "channel": "Paid Search", "conversions": 2.0, "revenue": 80.0, "spend": 30.0, "roas": 2.6667},
        {"model": "last_touch", "channel": "Email", "conversions": 1.0, "revenue": 40.0, "spend": None, "roas": None},
        {"model": "linear", "channel": "Paid Search", "conversions": 2.0, "revenue": 80.0, "spend": 30.0, "roas": 2.6667},
        {"model": "linear", "channel": "Email", "conversions": 1.3, "revenue": 40.3, "spend": None, "roas": None},
    ]  # fmt: skip
    email = engine.get_attribution(req(filters={"channel": ["Email"]}), model="linear")
    assert email.metrics["models"] == [
        {"model": "linear", "conversions": 1.3, "revenue": 40.3, "spend": None, "roas": None}
    ]
    assert email.period["model"] == "linear"


def test_clv_segments_of_the_latest_fit(engine):
    r = engine.get_clv_segments(req())
    assert r.metrics["segments"] == [
        {"churn_risk": "active", "customers": 2, "total_clv_12m": 150.5, "average_clv_12m": 75.25,
         "average_p_alive": 0.85, "average_expected_purchases_90d": 1.0, "total_revenue": 280.0},
        {"churn_risk": "at_risk", "customers": 1, "total_clv_12m": 20.0, "average_clv_12m": 20.0,
         "average_p_alive": 0.5, "average_expected_purchases_90d": 0.3, "total_revenue": 60.0},
        {"churn_risk": "churned", "customers": 1, "total_clv_12m": 1.25, "average_clv_12m": 1.25,
         "average_p_alive": 0.1, "average_expected_purchases_90d": 0.05, "total_revenue": 30.0},
    ]  # fmt: skip
    assert r.metrics["totals"] == {
        "customers": 4,
        "total_clv_12m": 171.75,  # 100 + 50.5 + 1.25 + 20
        "average_clv_12m": 42.94,  # 171.75 / 4 = 42.9375
        "average_p_alive": 0.575,  # (0.9 + 0.8 + 0.1 + 0.5) / 4
        "average_expected_purchases_90d": 0.5875,  # (1.5 + 0.5 + 0.05 + 0.3) / 4
        "total_revenue": 370.0,
    }
    assert r.period["observation_end"] == "2026-03-08"
    assert r.period["fitted_at"] == "2026-03-09T06:00:00+00:00"


def test_experiments_exposed_during_the_range(engine):
    results = engine.get_experiments(req()).metrics["results"]
    assert [(x["experiment_id"], x["variation_id"], x["engine"]) for x in results] == [
        ("exp1", "treatment", "bayesian"),
        ("exp1", "control", "frequentist"),
        ("exp1", "treatment", "frequentist"),
    ]  # "old" was exposed only before P
    assert results[2] == {
        "experiment_id": "exp1", "variation_id": "treatment", "is_control": False, "metric": "conversion",
        "engine": "frequentist", "first_exposed_at": "2026-03-01T09:00:00+00:00",
        "last_exposed_at": "2026-03-07T18:00:00+00:00", "error": None, "users": 102, "mean": 0.12,
        "control_mean": 0.1, "abs_lift": 0.02, "lift": 0.2, "ci_low": -0.1, "ci_high": 0.5,
        "p_value": 0.0457, "chance_to_win": None, "risk": None, "cuped_lift": 0.18, "srm_p_value": 0.9,
    }  # fmt: skip
    assert (results[0]["chance_to_win"], results[0]["risk"]) == (0.9612, 0.0041)


def test_responses_are_json_ready_without_float_noise(engine):
    for response in (
        engine.get_sales_metrics(req()),
        engine.get_performance_comparison(req()),
        engine.get_attribution(req()),
        engine.get_cohorts(req()),
        engine.get_experiments(req()),
    ):
        text = json.dumps(response.to_dict())
        assert "0000000" not in text and "9999999" not in text, text
        body = json.loads(text)
        assert body["store_id"] == "101" and body["period"]["start"] == "2026-03-02"
        assert dt.datetime.fromisoformat(body["generated_at"]).tzinfo is not None


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("call", "error", "field", "message"),
    [
        (lambda e: e.get_sales_metrics(req(store="999")), UnknownStore, "store_id", "unknown store '999'"),
        (lambda e: e.get_funnel("ecommerce", req(store="999")), UnknownStore, "store_id", "unknown store '999'"),
        (lambda e: e.get_sales_metrics(req(metrics=["orders", "profit"])), UnknownMetric, "metrics",
         "unknown metric(s) for metrics: 'profit'; valid metrics: ordered_product_sales, units_ordered, orders"),
        (lambda e: e.get_stock_at_risk(req(metrics=["dau"])), UnknownMetric, "metrics",
         "unknown metric(s) for inventory/stock-at-risk: 'dau'; valid metrics: fulfillable_quantity,"),
        (lambda e: e.get_sales_metrics(req(P_END, P_START)), DataValidationError, "end",
         "end (2026-03-02) is before start (2026-03-08)"),
        (lambda e: e.get_sales_metrics(req(D(2025, 3, 1), D(2028, 3, 1))), DataValidationError, "end",
         "the range 2025-03-01 .. 2028-03-01 is longer than 3 years"),
        (lambda e: e.get_sales_metrics(req(D(2026, 3, 11), D(2026, 3, 20))), DataValidationError, "start",
         "the range 2026-03-11 .. 2026-03-20 is outside the data of store 101, which covers 2025-03-01 .. 2026-03-10"),
        (lambda e: e.get_returns(req(D(2024, 1, 1), D(2025, 2, 28))), DataValidationError, "end",
         "is outside the data of store 101, which covers 2025-03-01 .. 2026-03-10"),
        (lambda e: e.get_sales_metrics(req(store="303")), DataValidationError, "start", "store 303 has no data yet"),
        (lambda e: e.get_active_users(req(D(2027, 1, 1), D(2027, 1, 31))), DataValidationError, "start",
         "is outside the data of the web shop, which covers 2026-02-20 .. 2026-03-10"),
        (lambda e: e.get_sales_metrics(req(filters={"channel": ["Email"]})), DataValidationError, "channel",
         "filter channel cannot be applied to metrics: it applies to web-shop data with a channel"),
        (lambda e: e.get_funnel("ecommerce", req(filters={"sku": ["A"]})), DataValidationError, "sku",
         "filter sku cannot be applied to funnels: it applies to SKU-level Amazon data"),
        (lambda e: e.get_cohorts(req(filters={"marketplace": [DE]})), DataValidationError, "marketplace",
         "filter marketplace cannot be applied to cohorts"),
        (lambda e: e.get_returns(req(filters={"color": ["red"]})), DataValidationError, "color",
         "unknown filter 'color'; filters: sku, asin, marketplace, channel"),
        (lambda e: e.get_returns(req(filters={"sku": ["A", " "]})), DataValidationError, "sku",
         "filter sku has an empty or non-text value"),
        (lambda e: e.get_sales_metrics(req(filters={"sku": ["A"]}, metrics=["orders", "sessions"])),
         DataValidationError, "sku", "filter sku cannot be applied to sessions: the Sales and Traffic report"),
        (lambda e: e.get_sales_metrics(req(), grain="year"), DataValidationError, "grain",
         "grain must be one of day, week, month, got 'year'"),
        (lambda e: e.get_cohorts(req(), grain="day"), DataValidationError, "grain",
         "grain must be one of week, month, got 'day'"),
        (lambda e: e.get_attribution(req(), model="first_click"), DataValidationError, "model",
         "unknown attribution model 'first_click'; models: first_touch, last_touch"),
        (lambda e: e.get_funnel("checkout", req()), UnknownMetric, "name",
         "unknown funnel 'checkout'; funnels: ecommerce, signup"),
    ],
)  # fmt: skip
def test_invalid_requests_raise_errors_naming_the_problem(engine, call, error, field, message):
    with pytest.raises(error) as raised:
        call(engine)
    assert type(raised.value) is error
    assert raised.value.field == field
    assert message in str(raised.value)


def test_the_boundaries_of_a_valid_range_are_accepted(engine):
    # exactly 3 years less a day, overlapping the span by its last day; a one-day range at each end
    longest = engine.get_sales_metrics(req(D(2023, 3, 11), D(2026, 3, 10), metrics=["orders"]))
    assert longest.metrics["totals"] == {
        "orders": 1 + 8 + 2 + 4 + 3 + 5 + 2 + 9  # every day of store 101
    }
    first_day = engine.get_sales_metrics(req(D(2025, 3, 1), D(2025, 3, 1), metrics=["orders"]))
    assert first_day.metrics["totals"] == {"orders": 1}


def test_a_missing_table_is_a_calculation_error(db):
    with MetricsEngine(db, analytics_schema="nope") as e, pytest.raises(MetricCalculationError) as raised:
        e.get_cohorts(req())
    assert "nope.cohort_retention does not exist yet" in str(raised.value)


# ------------------------------------------------------------------ safety
def test_connections_are_read_only(engine, db):
    with engine.connection() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("insert into marts.dim_store values ('x', 'x', 'x', 'x')")
    with engine.connection() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("create table marts.intruder (x int)")
    # the pool hands out a working connection again after the failed statement
    assert len(engine.stores()) == 3


def test_the_pool_reuses_waits_for_and_replaces_connections(engine, db):
    pool = ReadOnlyPool(db, 1, wait_seconds=0.2)
    with (
        pool.connection() as first,
        pytest.raises(MetricCalculationError, match=r"no free database connection after 0\.2 s"),
        pool.connection(),
    ):
        pass
    with pool.connection() as again:
        assert again is first  # reused, its transaction rolled back
        again.close()  # broken while borrowed: dropped when it comes back
    with pool.connection() as fresh:
        assert fresh is not first and fresh.execute("select 1").fetchone() == (1,)
    pool.close()
    # many threads through an engine of two connections get the same figures
    with ThreadPoolExecutor(8) as threads:
        totals = list(threads.map(lambda _: engine.get_sales_metrics(req()).metrics["totals"], range(16)))
    assert all(t == P_TOTALS for t in totals)


def test_sql_injection_in_store_metric_filter_and_schema_is_harmless(engine, db):
    with pytest.raises(UnknownStore):
        engine.get_sales_metrics(req(store="101' or '1'='1"))
    with pytest.raises(UnknownStore):
        engine.get_sales_metrics(req(store="101'; drop table marts.dim_store; --"))
    with pytest.raises(UnknownMetric):
        engine.get_sales_metrics(req(metrics=["orders; drop table marts.dim_store"]))
    with pytest.raises(UnknownMetric):
        engine.get_funnel("x' or '1'='1", req())
    totals = engine.get_sales_metrics(req(filters={"sku": ["A' or '1'='1"]})).metrics["totals"]
    assert totals["ordered_product_sales"] == 0.0
    evil = 'analytics"; drop table marts.dim_store; --'
    with MetricsEngine(db, analytics_schema=evil) as e, pytest.raises(MetricCalculationError):
        e.get_experiments(req())
    with psycopg.connect(db) as conn:
        assert conn.execute("select count(*) from marts.dim_store").fetchone() == (3,)


# ------------------------------------------------------------------ health
def test_health_reports_the_database_runs_and_freshness(engine):
    h = engine.health()
    assert h["database"] == "ok"
    assert (
        h["last_successful_load"] == "2026-03-09T05:02:00+00:00"
    )  # 05:00 + 120 s; the failed load is not counted
    assert h["last_dbt_build"] == "2026-03-09T06:00:00+00:00"
    assert h["last_successful_run"] == "2026-03-09T06:00:00+00:00"  # the later of the two
    f = h["freshness"]
    assert f["stores"] == {"101": {"data_through": "2026-03-10"}, "202": {"data_through": "2028-02-29"}}
    assert f["web"] == {"data_through": "2026-03-10"}
    orders = [s for s in f["sources"] if s["source"] == "amazon_orders"]
    assert orders == [
        {"source": "amazon_orders", "store_id": "101", "status": "error",
         "last_loaded_at": "2026-03-09T05:02:00+00:00", "age_hours": orders[0]["age_hours"]},
    ]  # fmt: skip
    assert orders[0]["age_hours"] > 24 and f["status"] == "error"


def test_health_of_an_unreachable_database():
    with MetricsEngine("postgresql://nobody@127.0.0.1:1/none") as e:
        h = e.health()
        assert h["database"].startswith("unreachable: ")
        assert h["last_successful_run"] is None
        with pytest.raises(MetricCalculationError) as raised:
            e.get_sales_metrics(req())
        assert "sales metrics: the database failed" in str(raised.value)
