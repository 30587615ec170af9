"""The HTTP API (`nexus api`, nexus_pipelines/api) over hand-made mart rows and the real metrics
engine: every endpoint through FastAPI's TestClient, with figures worked out by hand below for
store 101 over the ISO week 2026-10-05 (Monday) .. 2026-10-11 (Sunday); every error status with
its JSON body; one real uvicorn server started by `nexus api --port`; and the key commands.

The mart tables are created from the column types of their dbt contracts (the `_*.yml` files);
rows outside the week, of store 202, or of another breakdown are planted to be left out. Keys:
``only_101`` reads store 101, ``every`` reads every store, ``write`` is a collector key and
``revoked`` was revoked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from psycopg import sql

from nexus_pipelines.api.app import create_app
from nexus_pipelines.api.ratelimit import RateLimiter
from nexus_pipelines.cli_api import api
from nexus_pipelines.lib.config import PROJECT_ROOT
from nexus_pipelines.lib.warehouse import api_keys
from nexus_pipelines.lib.warehouse.api_keys import KeyCache

from .dbt_runner import create_database, drop_database

WEEK = "start=2026-10-05&end=2026-10-11"
STORE_ENDPOINTS = [
    "metrics",
    "comparison",
    "inventory/health",
    "inventory/stock-at-risk",
    "returns",
    "funnels/ecommerce",
    "cohorts",
    "active-users",
    "attribution",
    "clv/segments",
    "experiments",
]
MARTS = [
    "dim_store",
    "fct_daily_store_performance",
    "fct_daily_sales",
    "fct_inventory_health",
    "fct_returns",
    "fct_funnel_steps",
    "fct_active_users",
    "fct_user_lifecycle",
    "fct_sessions",
]
ANALYTICS = """
create schema if not exists analytics;
create table analytics.cohort_retention (
    period_grain text, mode text, cohort_start date, period_offset bigint, period_start date,
    cohort_size bigint, retained bigint, retention_rate float8, churn_rate float8,
    period_churn float8, is_complete boolean);
create table analytics.channel_attribution_daily (
    day date, channel text, model text, conversions float8, revenue float8, spend float8, roas float8);
create table analytics.customer_ltv (
    user_id text, churn_risk text, clv_12m float8, p_alive float8, expected_purchases_90d float8,
    total_revenue float8, observation_end date, fitted_at timestamptz);
create table analytics.experiment_results (
    experiment_id text, variation_id text, is_control boolean, metric text, engine text,
    first_exposed_at timestamptz, last_exposed_at timestamptz, error text, users bigint, mean float8,
    control_mean float8, abs_lift float8, lift float8, ci_low float8, ci_high float8, p_value float8,
    chance_to_win float8, risk float8, cuped_lift float8, srm_p_value float8);
"""


def contract_ddl(name: str) -> sql.Composable:
    """``create table marts.<name>`` with the columns and types of the mart's dbt contract."""
    for path in (PROJECT_ROOT / "dbt_project" / "models" / "marts").rglob("_*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            if model["name"] == name:
                columns = [
                    sql.SQL("{} {}").format(sql.Identifier(c["name"]), sql.SQL(c["data_type"]))
                    for c in model["columns"]
                ]
                return sql.SQL("create table {} ({})").format(
                    sql.Identifier("marts", name), sql.SQL(", ").join(columns)
                )
    raise LookupError(f"no contract for marts.{name}")


def insert(conn: psycopg.Connection, table: str, columns: str, rows: list[tuple]) -> None:
    names = [c.strip() for c in columns.split(",")]
    query = sql.SQL("insert into {} ({}) values ({})").format(
        sql.Identifier(*table.split(".")),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    conn.cursor().executemany(query, rows)


def plant(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema marts")
        for name in MARTS:
            conn.execute(contract_ddl(name))
        conn.execute(ANALYTICS)
        insert(
            conn,
            "marts.dim_store",
            "store_id, store_name, marketplace, currency",
            [("101", "Trail Co", "amazon.de", "EUR"), ("202", "Other", "amazon.com", "USD")],
        )
        perf = (
            "store_id, date_day, ordered_product_sales, units_ordered, orders, order_items, sessions, "
            "page_views, buy_box_percentage, units_refunded, refunds_amount, item_promotion_discount, net_sales"
        )
        insert(
            conn,
            "marts.fct_daily_store_performance",
            perf,
            [
                # the week before (the comparison's previous period) and the store's first day
                ("101", "2026-09-28", 100.00, 4, 4, 4, 50, 60, 100.00, 0, 0, 0, 100.00),
                ("101", "2026-10-05", 300.00, 10, 8, 9, 200, 400, 90.00, 1, 30.00, 10.00, 260.00),
                ("101", "2026-10-06", 150.50, 5, 4, 4, 100, 100, 80.00, 0, 0, 0, 150.50),
                # no traffic report that day: its units count in sales, not in unit session %
                ("101", "2026-10-11", 49.50, 1, 1, 1, None, None, None, 0, 0, 0, 49.50),
                ("101", "2026-10-12", 999.00, 99, 99, 99, 999, 999, 99.00, 9, 99.00, 0, 900.00),  # after
                ("202", "2026-10-06", 777.00, 7, 7, 7, 70, 70, 70.00, 0, 0, 0, 777.00),  # other store
            ],
        )
        insert(
            conn,
            "marts.fct_daily_sales",
            "store_id, sku, order_date, asin, ordered_product_sales, units_ordered, orders, order_items, "
            "item_promotion_discount",
            [
                ("101", "A", "2026-10-05", "B0A", 100.00, 2, 2, 2, 0),
                ("101", "A", "2026-10-11", "B0A", 50.50, 1, 1, 1, 0),
                ("101", "B", "2026-10-07", "B0B", 300.00, 6, 5, 5, 0),
                ("101", "C", "2026-10-04", "B0C", 999.00, 9, 9, 9, 0),  # the Sunday before
                ("101", "C", "2026-10-12", "B0C", 999.00, 9, 9, 9, 0),  # the Monday after
                ("202", "A", "2026-10-06", "B0A", 500.00, 5, 5, 5, 0),  # another store
            ],
        )
        insert(
            conn,
            "marts.fct_inventory_health",
            "store_id, sku, snapshot_date, asin, fulfillable_quantity, inbound_quantity, units_sold_t30, "
            "days_of_supply, lead_time_days, reorder_point, suggested_reorder_qty, stockout_risk",
            [
                ("101", "A", "2026-10-11", "B0A", 5, 0, 30, 5.00, 14, 20, 15, True),
                ("101", "B", "2026-10-11", "B0B", 100, 10, 15, 200.00, 14, 10, 0, False),
                ("202", "Z", "2026-10-11", "B0Z", 1, 0, 90, 0.33, 14, 50, 49, True),  # other store
            ],
        )
        insert(
            conn,
            "marts.fct_returns",
            "store_id, return_date, order_date, sku, asin, reason, detailed_disposition, quantity, refund_amount",
            [
                ("101", "2026-10-06", "2026-10-05", "A", "B0A", "DEFECTIVE", "DAMAGED", 2, 20.00),
                ("101", "2026-10-08", "2026-10-06", "A", "B0A", "DEFECTIVE", "DAMAGED", 1, 10.00),
                ("101", "2026-10-09", "2026-09-28", "B", "B0B", "UNWANTED_ITEM", "SELLABLE", 1, 5.00),
                # returned after the week, of an order of the week: in the cohort rate only
                ("101", "2026-10-12", "2026-10-06", "A", "B0A", "DEFECTIVE", "DAMAGED", 5, 50.00),
                ("202", "2026-10-06", "2026-10-05", "A", "B0A", "DEFECTIVE", "DAMAGED", 7, 70.00),
            ],
        )
        insert(
            conn,
            "marts.fct_funnel_steps",
            "funnel_name, funnel_mode, window_days, step_number, step_name, breakdown_type, breakdown_value, "
            "users_entered_funnel, users_entering_step, users_converted, users_dropped_off, "
            "conversion_rate_from_start, conversion_rate_from_previous",
            [
                ("ecommerce", "ordered", 7, 1, "Product Viewed", "all", "All", 100, 100, 100, 0, 1.0, 1.0),
                ("ecommerce", "ordered", 7, 2, "Order Completed", "all", "All", 100, 100, 25, 75, 0.25, 0.25),
                ("ecommerce", "ordered", 7, 1, "Product Viewed", "channel", "Email", 60, 60, 60, 0, 1.0, 1.0),
            ],
        )
        insert(
            conn,
            "marts.fct_active_users",
            "activity_date, dau, wau, mau, stickiness",
            [
                ("2026-10-01", 99, 99, 99, 1.0),  # before the week
                ("2026-10-05", 10, 30, 90, 0.1111),
                ("2026-10-06", 20, 40, 100, 0.2000),
                ("2026-10-20", 99, 99, 99, 1.0),  # after
            ],
        )
        insert(
            conn,
            "marts.fct_user_lifecycle",
            "week_start, new_users, returning_users, resurrecting_users, dormant_users, active_users, "
            "is_complete_week",
            [("2026-10-05", 5, 3, 1, 2, 9, True), ("2026-10-19", 9, 9, 9, 9, 27, False)],
        )
        insert(
            conn,
            "marts.fct_sessions",
            "session_id, user_key, session_date, started_at, ended_at",
            [
                ("s1", "u1", "2026-10-05", "2026-10-05 10:00+00", "2026-10-05 10:20+00"),
                ("s2", "u1", "2026-10-06", "2026-10-06 10:00+00", "2026-10-06 10:20+00"),
                ("s3", "u2", "2026-10-07", "2026-10-07 10:00+00", "2026-10-07 10:20+00"),
                ("s4", "u3", "2026-10-20", "2026-10-20 10:00+00", "2026-10-20 10:20+00"),  # after
            ],
        )
        insert(
            conn,
            "analytics.cohort_retention",
            "period_grain, mode, cohort_start, period_offset, period_start, cohort_size, retained, "
            "retention_rate, churn_rate, period_churn, is_complete",
            [
                ("week", "first_time", "2026-10-05", 0, "2026-10-05", 8, 8, 1.0, 0.0, 0.0, True),
                ("week", "first_time", "2026-10-05", 1, "2026-10-12", 8, 2, 0.25, 0.75, 0.75, True),
                ("week", "first_time", "2026-09-28", 0, "2026-09-28", 5, 5, 1.0, 0.0, 0.0, True),  # before
                ("month", "first_time", "2026-10-01", 0, "2026-10-01", 30, 30, 1.0, 0.0, 0.0, False),
            ],
        )
        insert(
            conn,
            "analytics.channel_attribution_daily",
            "day, channel, model, conversions, revenue, spend, roas",
            [
                ("2026-10-05", "Paid Search", "linear", 1.5, 60.0, 20.0, 3.0),
                ("2026-10-06", "Paid Search", "linear", 0.5, 20.0, 10.0, 2.0),
                ("2026-10-07", "Email", "linear", 1.0, 40.0, None, None),
                ("2026-10-12", "Email", "linear", 9.0, 900.0, None, None),  # after the week
                ("2026-10-05", "Paid Search", "last_touch", 2.0, 90.0, 20.0, 4.5),
            ],
        )
        insert(
            conn,
            "analytics.customer_ltv",
            "user_id, churn_risk, clv_12m, p_alive, expected_purchases_90d, total_revenue, observation_end, "
            "fitted_at",
            [
                ("u1", "active", 100.0, 0.9, 1.0, 200.0, "2026-10-11", "2026-10-12 03:00+00"),
                ("u2", "active", 50.0, 0.8, 0.5, 80.0, "2026-10-11", "2026-10-12 03:00+00"),
                ("u3", "churned", 1.5, 0.1, 0.0, 20.0, "2026-10-11", "2026-10-12 03:00+00"),
            ],
        )
        insert(
            conn,
            "analytics.experiment_results",
            "experiment_id, variation_id, is_control, metric, engine, first_exposed_at, last_exposed_at, "
            "users, mean, control_mean, lift, p_value",
            [
                ("checkout", "A", True, "conversion", "frequentist", "2026-10-01 00:00+00", "2026-10-10 00:00+00",
                 100, 0.10, 0.10, None, None),
                ("checkout", "B", False, "conversion", "frequentist", "2026-10-01 00:00+00", "2026-10-10 00:00+00",
                 100, 0.12, 0.10, 0.2, 0.04),
                # exposures ended before the week: left out
                ("banner", "B", False, "conversion", "frequentist", "2026-09-01 00:00+00", "2026-09-20 00:00+00",
                 50, 0.5, 0.4, 0.25, 0.3),
            ],
        )  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(server_url, tmp_path_factory):
    from nexus_pipelines.lib.warehouse.connection import with_database

    name = create_database(server_url)
    url = with_database(server_url, name)
    plant(url)
    tokens = {
        "only_101": api_keys.add_key(url, "read", stores=["101"], label="store 101")[1],
        "every": api_keys.add_key(url, "read")[1],
        "write": api_keys.add_key(url, "write")[1],
    }
    revoked, tokens["revoked"] = api_keys.add_key(url, "read", stores=["101"])
    assert api_keys.revoke(url, revoked.key_id)
    yield {"url": url, "tokens": tokens, "landing": tmp_path_factory.mktemp("landing")}
    drop_database(server_url, name)


def make_app(warehouse, limiter: RateLimiter | None = None):
    # no caching of key checks: a revocation shows at once; no rate limit unless asked for
    return create_app(
        url=warehouse["url"],
        landing_dir=warehouse["landing"],
        key_cache=KeyCache(warehouse["url"], ttl=0),
        limiter=limiter or RateLimiter(0),
    )


@pytest.fixture(scope="module")
def client(warehouse):
    with TestClient(make_app(warehouse)) as c:
        yield c


def auth(warehouse, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {warehouse['tokens'][key]}"}


def get(client, warehouse, path: str, key: str = "only_101") -> dict:
    response = client.get(path, headers=auth(warehouse, key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def error(response, status: int, code: str, field: str | None = None) -> str:
    """The message of a JSON error body, after checking its status, code and field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "field"}
    assert (body["error"]["status"], body["error"]["code"], body["error"]["field"]) == (status, code, field)
    assert body["error"]["message"]
    return body["error"]["message"]


# ---------------------------------------------------------------- figures, endpoint by endpoint
def test_health_needs_no_key(client):
    body = client.get("/health").json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    # the newest day of store 101's performance rows
    assert body["freshness"]["stores"]["101"]["data_through"] == "2026-10-12"


def test_the_catalog_lists_the_metrics_with_their_endpoints(client, warehouse):
    metrics = {m["name"]: m for m in get(client, warehouse, "/v1/metrics/catalog")["metrics"]}
    assert metrics["average_order_value"]["endpoint"] == "metrics"
    assert metrics["average_order_value"]["source_table"] == "marts.fct_daily_store_performance"
    assert metrics["days_of_supply"]["unit"] == "days"


def test_a_key_lists_only_its_stores(client, warehouse):
    stores = get(client, warehouse, "/v1/stores")["stores"]
    assert [s["store_id"] for s in stores] == ["101"]
    # first and last day of its performance rows
    assert (stores[0]["store_name"], stores[0]["data_from"], stores[0]["data_through"]) == (
        "Trail Co",
        "2026-09-28",
        "2026-10-12",
    )
    assert [s["store_id"] for s in get(client, warehouse, "/v1/stores", "every")["stores"]] == ["101", "202"]


def test_sales_metrics_of_the_week(client, warehouse):
    body = get(client, warehouse, f"/v1/stores/101/metrics?{WEEK}&grain=day")
    totals = body["metrics"]["totals"]
    # sales 300.00 + 150.50 + 49.50 = 500.00; orders 8 + 4 + 1 = 13; units 10 + 5 + 1 = 16
    assert (totals["ordered_product_sales"], totals["orders"], totals["units_ordered"]) == (500.0, 13, 16)
    assert totals["average_order_value"] == 38.46  # 500 / 13 = 38.4615
    assert totals["average_selling_price"] == 31.25  # 500 / 16
    # sessions of the days with traffic: 200 + 100; their units 10 + 5 -> 15 × 100 / 300
    assert (totals["sessions"], totals["unit_session_percentage"]) == (300, 5.0)
    assert totals["buy_box_percentage"] == 88.0  # (90 × 400 + 80 × 100) / 500 page views
    assert totals["refund_rate"] == 6.25  # 1 unit refunded × 100 / 16
    assert totals["net_sales"] == 460.0  # 260.00 + 150.50 + 49.50
    series = body["metrics"]["series"]
    assert [row["period_start"] for row in series][:2] == ["2026-10-05", "2026-10-06"] and len(series) == 7
    assert (series[0]["ordered_product_sales"], series[3]["ordered_product_sales"]) == (300.0, 0.0)
    assert body["period"]["start"] == "2026-10-05" and body["period"]["end"] == "2026-10-11"
    # the same week as one ISO week; the filters and the metric list pass through
    weekly = get(client, warehouse, f"/v1/stores/101/metrics?{WEEK}&grain=week&metrics=orders,net_sales")
    assert weekly["metrics"]["series"] == [
        {"period_start": "2026-10-05", "period_end": "2026-10-11", "orders": 13, "net_sales": 460.0}
    ]
    # SKU A: 100.00 + 50.50 sales, refunds of its returns dated in the week 20.00 + 10.00
    sku = get(
        client, warehouse, f"/v1/stores/101/metrics?{WEEK}&sku=A&metrics=ordered_product_sales,net_sales"
    )
    assert sku["metrics"]["totals"] == {"ordered_product_sales": 150.5, "net_sales": 120.5}


def test_comparison_with_the_week_before_and_last_year(client, warehouse):
    metrics = get(
        client, warehouse, f"/v1/stores/101/comparison?{WEEK}&metrics=ordered_product_sales,orders"
    )["metrics"]
    # the week before holds only 2026-09-28: sales 100.00, 4 orders; last year is before the data
    assert metrics["ordered_product_sales"] == {
        "value": 500.0,
        "previous": 100.0,
        "change": 400.0,
        "change_pct": 400.0,
        "last_year": None,
        "yoy_change": None,
        "yoy_change_pct": None,
    }
    assert (metrics["orders"]["previous"], metrics["orders"]["change"]) == (4, 9)
    assert metrics["orders"]["change_pct"] == 225.0  # 9 / 4


def test_inventory_health_and_stock_at_risk(client, warehouse):
    q = "metrics=fulfillable_quantity,units_sold_t30,days_of_supply,stockout_risk"
    health = get(client, warehouse, f"/v1/stores/101/inventory/health?{WEEK}&{q}")["metrics"]
    # A 5 + B 100 fulfillable, 30 + 15 sold in 30 days: 105 × 30 / 45 = 70 days of supply
    assert health["totals"] == {
        "skus": 2,
        "skus_at_risk": 1,
        "fulfillable_quantity": 105,
        "units_sold_t30": 45,
        "days_of_supply": 70.0,
    }
    assert [s["sku"] for s in health["skus"]] == ["A", "B"]
    risk = get(client, warehouse, f"/v1/stores/101/inventory/stock-at-risk?{WEEK}")["metrics"]
    assert [(s["sku"], s["suggested_reorder_qty"]) for s in risk["skus"]] == [("A", 15)]
    assert risk["totals"]["skus_at_risk"] == 1


def test_returns_of_the_week(client, warehouse):
    metrics = get(client, warehouse, f"/v1/stores/101/returns?{WEEK}")["metrics"]
    totals = metrics["totals"]
    # units ordered in the week: A 2 + A 1 + B 6 = 9; returned in it: 2 + 1 + 1 = 4 in 3 lines
    assert (totals["units_ordered"], totals["return_lines"], totals["units_returned"]) == (9, 3, 4)
    assert totals["return_rate"] == 44.44  # 4 × 100 / 9
    # returns of the week's orders, whenever returned: 2 + 1 + 5 = 8 -> 8 × 100 / 9
    assert (totals["cohort_units_returned"], totals["cohort_return_rate"]) == (8, 88.89)
    assert totals["resellable_share"] == 25.0 and totals["refunds_amount"] == 35.0
    reasons = {r["reason"]: r for r in metrics["reasons"]}
    assert (reasons["DEFECTIVE"]["units_returned"], reasons["DEFECTIVE"]["share_of_returns"]) == (3, 75.0)
    assert reasons["UNWANTED_ITEM"]["resellable_share"] == 100.0


def test_web_shop_endpoints(client, warehouse):
    base = "/v1/stores/101"
    funnel = get(client, warehouse, f"{base}/funnels/ecommerce?{WEEK}")["metrics"]
    assert [(s["step_name"], s["users_converted"]) for s in funnel["steps"]] == [
        ("Product Viewed", 100),
        ("Order Completed", 25),
    ]
    email = get(client, warehouse, f"{base}/funnels/ecommerce?{WEEK}&channel=Email")["metrics"]
    assert [s["users_entering_step"] for s in email["steps"]] == [60]
    cohorts = get(client, warehouse, f"{base}/cohorts?{WEEK}")["metrics"]["cohorts"]
    assert [(c["cohort_start"], c["period_offset"], c["retained"]) for c in cohorts] == [
        ("2026-10-05", 0, 8),
        ("2026-10-05", 1, 2),
    ]
    active = get(client, warehouse, f"{base}/active-users?{WEEK}")["metrics"]
    # DAU (10 + 20) / 2 days; users u1 and u2 had sessions in the week
    assert active["totals"] == {"average_dau": 15.0, "period_active_users": 2}
    assert [w["active_users"] for w in active["lifecycle"]] == [9]
    attribution = get(client, warehouse, f"{base}/attribution?{WEEK}&model=linear")["metrics"]
    # linear: 1.5 + 0.5 + 1.0 conversions, 60 + 20 + 40 revenue over 20 + 10 spend
    assert attribution["models"] == [
        {"model": "linear", "conversions": 3.0, "revenue": 120.0, "spend": 30.0, "roas": 4.0}
    ]
    assert [(c["channel"], c["roas"]) for c in attribution["channels"]] == [
        ("Paid Search", 2.6667),  # 80 / 30
        ("Email", None),  # no spend
    ]
    clv = get(client, warehouse, f"{base}/clv/segments?{WEEK}")["metrics"]
    assert [(s["churn_risk"], s["customers"], s["total_clv_12m"]) for s in clv["segments"]] == [
        ("active", 2, 150.0),
        ("churned", 1, 1.5),
    ]
    assert clv["totals"]["average_clv_12m"] == 50.5  # 151.5 / 3
    results = get(client, warehouse, f"{base}/experiments?{WEEK}")["metrics"]["results"]
    assert [(r["experiment_id"], r["variation_id"]) for r in results] == [
        ("checkout", "A"),
        ("checkout", "B"),
    ]
    assert (results[1]["lift"], results[1]["p_value"]) == (0.2, 0.04)


def test_web_shop_figures_are_the_same_for_every_store(client, warehouse):
    mine = get(client, warehouse, f"/v1/stores/101/clv/segments?{WEEK}")["metrics"]
    other = get(client, warehouse, f"/v1/stores/202/clv/segments?{WEEK}", "every")["metrics"]
    assert mine == other


# ---------------------------------------------------------------- errors
ALL_ROUTES = ["/v1/metrics/catalog", "/v1/stores"] + [f"/v1/stores/101/{e}?{WEEK}" for e in STORE_ENDPOINTS]


@pytest.mark.parametrize("path", ALL_ROUTES)
def test_no_key_is_401(client, path):
    response = client.get(path)
    assert "Authorization: Bearer" in error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nxk_000000000000_" + "x" * 43,  # well formed, no such key
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",  # not a bearer token
        "Bearer ",
    ],
)
def test_a_bad_key_is_401(client, header):
    error(client.get("/v1/stores", headers={"Authorization": header}), 401, "unauthorized")


def test_a_revoked_key_is_401_and_a_write_key_403(client, warehouse):
    message = error(client.get("/v1/stores", headers=auth(warehouse, "revoked")), 401, "unauthorized")
    assert "revoked" in message
    message = error(client.get("/v1/stores", headers=auth(warehouse, "write")), 403, "forbidden")
    assert "write key" in message


@pytest.mark.parametrize("endpoint", STORE_ENDPOINTS)
def test_another_store_is_403_on_every_store_endpoint(client, warehouse, endpoint):
    response = client.get(f"/v1/stores/202/{endpoint}?{WEEK}", headers=auth(warehouse, "only_101"))
    assert "202" in error(response, 403, "forbidden", "store_id")
    # a store that does not exist is refused the same way: the key learns nothing of other stores
    error(
        client.get(f"/v1/stores/999/{endpoint}?{WEEK}", headers=auth(warehouse, "only_101")),
        403,
        "forbidden",
        "store_id",
    )
    # a key of every store may ask: 404
    response = client.get(f"/v1/stores/999/{endpoint}?{WEEK}", headers=auth(warehouse, "every"))
    assert "999" in error(response, 404, "not_found", "store_id")


def test_unknown_funnel_and_route_are_404(client, warehouse):
    response = client.get(f"/v1/stores/101/funnels/nope?{WEEK}", headers=auth(warehouse, "only_101"))
    assert "ecommerce" in error(response, 404, "not_found", "name")  # the message lists the funnels
    assert "/v1/nowhere" in error(client.get("/v1/nowhere"), 404, "not_found")
    error(client.delete("/v1/stores"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("start=2026-13-01&end=2026-10-11", "start", "date"),
        ("start=2026-10-05&end=yesterday", "end", "date"),
        ("end=2026-10-11", "start", "required"),
        ("start=2026-10-11&end=2026-10-05", "end", "before start"),
        ("start=2020-01-01&end=2026-10-11", "end", "longer than 3 years"),
        ("start=2027-01-01&end=2027-01-31", "start", "2026-09-28 .. 2026-10-12"),  # outside the data
        (f"{WEEK}&grain=year", "grain", "'day', 'week' or 'month'"),
        (f"{WEEK}&metrics=orders,profit", "metrics", "average_order_value"),  # lists the valid ones
        (f"{WEEK}&channel=Email", "channel", "cannot be applied"),
    ],
)
def test_bad_parameters_are_422(client, warehouse, query, field, words):
    response = client.get(f"/v1/stores/101/metrics?{query}", headers=auth(warehouse, "only_101"))
    assert words in error(response, 422, "invalid_parameter", field)


def test_an_unknown_attribution_model_or_cohort_grain_is_422(client, warehouse):
    h = auth(warehouse, "only_101")
    error(
        client.get(f"/v1/stores/101/attribution?{WEEK}&model=magic", headers=h),
        422,
        "invalid_parameter",
        "model",
    )
    error(
        client.get(f"/v1/stores/101/cohorts?{WEEK}&grain=day", headers=h), 422, "invalid_parameter", "grain"
    )


def test_over_the_rate_limit_is_429_with_retry_after(warehouse):
    # 6 a minute (a token every 10 s), bursts of 2: the third request at once waits ~10 s
    with TestClient(make_app(warehouse, RateLimiter(6, burst=2))) as limited:
        h = auth(warehouse, "only_101")
        assert [limited.get("/v1/stores", headers=h).status_code for _ in range(2)] == [200, 200]
        response = limited.get("/v1/stores", headers=h)
        assert "6 a minute" in error(response, 429, "rate_limited")
        assert response.headers["retry-after"] in ("10", "9")
        # another key has its own bucket; /health is never limited
        assert limited.get("/v1/stores", headers=auth(warehouse, "every")).status_code == 200
        assert all(limited.get("/health").status_code == 200 for _ in range(3))
        # failed attempts are limited per client: the third bad key in a row is 429, not 401
        bad = {"Authorization": "Bearer nxk_000000000000_" + "y" * 43}
        assert [limited.get("/v1/stores", headers=bad).status_code for _ in range(3)] == [401, 401, 429]


def test_an_engine_failure_is_500_with_the_body_and_no_details(warehouse):
    class Broken:
        def stores(self):
            raise RuntimeError("secret connection string in here")

    app = create_app(
        url=warehouse["url"],
        landing_dir=warehouse["landing"],
        engine=Broken(),  # type: ignore[arg-type]
        key_cache=KeyCache(warehouse["url"], ttl=0),
        limiter=RateLimiter(0),
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/v1/stores", headers=auth(warehouse, "only_101"))
        assert "secret" not in error(response, 500, "internal")


def test_a_database_that_cannot_be_reached_is_503(tmp_path):
    down = "postgresql://nexus@127.0.0.1:1/nexus"  # nothing listens on port 1: refused at once
    app = create_app(url=down, landing_dir=tmp_path, limiter=RateLimiter(0))
    with TestClient(app) as c:
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert health.json()["error"]["code"] == "internal"
        # the reason names the server's address: in the log, not in the answer to a caller with no key
        assert health.json()["database"] == "unreachable" and "127.0.0.1" not in health.text
        response = c.get("/v1/stores", headers={"Authorization": "Bearer nxk_000000000000_" + "z" * 43})
        assert "unavailable" in error(response, 503, "internal")


def test_one_json_line_per_request_without_the_key(client, warehouse, capsys):
    capsys.readouterr()
    client.get(f"/v1/stores/101/metrics?{WEEK}&grain=week", headers=auth(warehouse, "only_101"))
    client.get(f"/v1/stores/202/returns?{WEEK}", headers=auth(warehouse, "only_101"))
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert len(lines) == 2
    ok, refused = lines
    assert set(ok) == {
        "timestamp",
        "level",
        "module",
        "store_id",
        "operation",
        "duration_ms",
        "status",
        "error",
        "context",
    }
    assert (ok["level"], ok["status"], ok["store_id"], ok["operation"], ok["error"]) == (
        "INFO",
        200,
        "101",
        "sales_metrics",
        None,
    )
    assert ok["module"] == "nexus_pipelines.api.app" and ok["duration_ms"] > 0
    assert ok["context"]["path"] == "/v1/stores/101/metrics" and "grain=week" in ok["context"]["query"]
    assert ok["context"]["key_id"] == warehouse["tokens"]["only_101"].split("_")[1]
    assert (refused["level"], refused["status"], refused["store_id"]) == ("WARNING", 403, "202")
    assert "may not read store" in refused["error"]
    assert warehouse["tokens"]["only_101"].split("_", 2)[2] not in err


def test_the_openapi_description_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"/v1/stores/{{store_id}}/{e.replace('ecommerce', '{name}')}" for e in STORE_ENDPOINTS} <= set(
        paths
    )
    assert {"/health", "/v1/stores", "/v1/metrics/catalog", "/v1/track", "/v1/batch"} <= set(paths)
    assert client.get("/docs").status_code == 200


# ---------------------------------------------------------------- a real server, and the key commands
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nexus_api_serves_over_a_socket(warehouse, tmp_path):
    port = free_port()
    env = {**os.environ, "NEXUS_DATABASE_URL": warehouse["url"], "NEXUS_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-c", "from nexus_pipelines.cli_api import api; api()", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        response = httpx.get(
            f"{base}/v1/stores/101/metrics?{WEEK}&metrics=orders",
            headers=auth(warehouse, "only_101"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["metrics"]["totals"] == {"orders": 13}  # 8 + 4 + 1
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=20)
    # uvicorn shuts down, then dies of the signal it caught, as the shell expects
    assert server.returncode == -signal.SIGTERM and "Traceback" not in err, err
    assert f"NEXUS API on http://127.0.0.1:{port}" in err
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(r["operation"], r["status"]) for r in logged] == [("health", 200), ("sales_metrics", 200)]


def nexus_api(warehouse, *args: str):
    return CliRunner().invoke(
        api, list(args), env={"NEXUS_DATABASE_URL": warehouse["url"]}, prog_name="nexus api"
    )


def test_add_key_prints_a_token_that_authenticates_and_revoke_ends_it(client, warehouse):
    result = nexus_api(warehouse, "add-key", "--stores", "101,202", "--label", "dashboard")
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert token.startswith("nxk_") and result.output.rstrip("\n").splitlines()[-1] == token
    key_id = token.split("_")[1]
    assert f"created read key {key_id} (101, 202, label 'dashboard')" in result.stdout
    h = {"Authorization": f"Bearer {token}"}
    assert [s["store_id"] for s in client.get("/v1/stores", headers=h).json()["stores"]] == ["101", "202"]

    listed = nexus_api(warehouse, "list-keys")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "kind", "scope", "label", "created", "revoked"]
    mine = next(r for r in rows if r.startswith(key_id))
    assert "101, 202" in mine and "dashboard" in mine and mine.rstrip().endswith("-")
    # no secret of any key is shown
    for t in [token, *warehouse["tokens"].values()]:
        assert t.split("_", 2)[2] not in listed.output

    revoked = nexus_api(warehouse, "revoke", key_id)
    assert revoked.exit_code == 0 and f"revoked key {key_id}" in revoked.stdout
    error(client.get("/v1/stores", headers=h), 401, "unauthorized")
    row = next(r for r in nexus_api(warehouse, "list-keys").stdout.splitlines() if r.startswith(key_id))
    assert row.rstrip().endswith("UTC")  # the revocation time


def test_add_key_all_stores_and_write(client, warehouse):
    every = nexus_api(warehouse, "add-key", "--all-stores")
    assert every.exit_code == 0 and "(all stores)" in every.stdout
    h = {"Authorization": f"Bearer {every.stdout.splitlines()[-1]}"}
    assert client.get("/v1/stores/202/returns?" + WEEK, headers=h).status_code == 200
    write = nexus_api(warehouse, "add-key", "--write")
    assert write.exit_code == 0 and write.stdout.splitlines()[-1].startswith("nxw_")
    unknown = nexus_api(warehouse, "add-key", "--stores", "101,303")
    assert unknown.exit_code == 0 and "warning: the warehouse has no store 303" in unknown.stderr


def test_revoking_an_unknown_key_exits_1(warehouse):
    result = nexus_api(warehouse, "revoke", "ffffffffffff")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no API key 'ffffffffffff'; `nexus api list-keys` shows them"


def test_a_database_that_cannot_be_reached_is_a_one_line_error():
    result = CliRunner().invoke(
        api, ["list-keys"], env={"NEXUS_DATABASE_URL": "postgresql://nexus@127.0.0.1:1/x"}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the warehouse database cannot be reached: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["add-key"], "exactly one of --stores S1,S2, --all-stores and --write"),
        (["add-key", "--stores", "101", "--write"], "exactly one of"),
        (["add-key", "--all-stores", "--write"], "exactly one of"),
        (["add-key", "--stores", "101,,202"], "store ids separated by commas"),
        (["--port", "0"], "0 is not in the range 1<=x<=65535"),
        (["revoke"], "Missing argument 'KEY_ID'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_arguments_are_a_one_line_error_with_exit_2(warehouse, args, words):
    result = nexus_api(warehouse, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Usage: nexus api") and lines[-1].startswith("Error: ") and words in lines[-1]
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_every_api_command_and_option_has_help():
    for command in [api, *api.commands.values()]:
        assert (command.help or "").strip(), command.name
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert (param.help or "").strip(), f"{command.name} {param.opts[0]}"
    result = CliRunner().invoke(api, ["--help"], prog_name="nexus api")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.split("Commands:\n")[1].splitlines()] == [
        "add-key",
        "list-keys",
        "revoke",
    ]


def test_serving_without_a_subcommand_passes_host_and_port_to_uvicorn(warehouse, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    result = nexus_api(warehouse, "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"], seen["access_log"]) == ("0.0.0.0", 8123, False)
    assert "http://0.0.0.0:8123" in result.stderr and "TLS" in result.stderr
    assert Path(seen["app"].openapi_url or "").name == "openapi.json"
