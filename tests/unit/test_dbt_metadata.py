"""The metadata added to dbt models' materializations (defs/dbt/metadata.py, lib/warehouse/mart_charts.py),
without a database: a stand-in connection returns the rows a query would."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from nexus_pipelines.defs.dbt import metadata
from nexus_pipelines.defs.dbt.metadata import date_column, in_database, model_metadata
from nexus_pipelines.lib.analytics.charts import PNG_SIGNATURE
from nexus_pipelines.lib.warehouse import mart_charts
from nexus_pipelines.lib.warehouse.mart_charts import money_formatter


class Rows:
    """A connection whose every query returns ``rows`` (or raises ``error``); it counts the queries."""

    def __init__(self, rows: list[tuple], error: Exception | None = None):
        self.rows, self.error, self.queries = rows, error, 0

    def execute(self, _query, _params=None):
        self.queries += 1
        if self.error:
            raise self.error
        return self

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


def node(name: str, columns: dict[str, str | None], materialized: str = "table") -> dict:
    return {
        "name": name,
        "alias": name,
        "schema": "marts",
        "resource_type": "model",
        "config": {"materialized": materialized},
        "columns": {c: {"name": c, "data_type": t} for c, t in columns.items()},
    }


def test_the_date_column_is_the_first_preferred_date_typed_one_else_the_first_date_typed_one():
    both = node("m", {"week_start": "date", "order_date": "DATE ", "date_day": "text"})
    assert date_column(both) == "order_date"  # preferred over week_start; date_day is not a date
    assert date_column(node("m", {"amount": "numeric", "first_seen_date": "date"})) == "first_seen_date"
    assert date_column(node("m", {"store_id": "text", "day": None})) is None
    assert date_column({"name": "undocumented"}) is None


def test_in_database_moves_every_relation_and_leaves_the_manifest_alone():
    manifest = {
        "metadata": {"adapter_type": "postgres"},
        "nodes": {
            "model.p.a": {"database": "nexus", "schema": "marts", "relation_name": '"nexus"."marts"."a"'},
            "test.p.t": {"database": "nexus", "schema": "dbt_test__audit", "relation_name": None},
        },
        "sources": {"source.p.raw.x": {"database": "nexus", "relation_name": '"nexus"."raw"."x"'}},
    }
    before = copy.deepcopy(manifest)
    moved = in_database(manifest, 'test"db')
    assert manifest == before
    assert moved["metadata"] == manifest["metadata"]
    assert moved["nodes"]["model.p.a"] == {
        "database": 'test"db',
        "schema": "marts",
        "relation_name": '"test""db"."marts"."a"',
    }
    assert moved["nodes"]["test.p.t"]["database"] == 'test"db'
    assert moved["nodes"]["test.p.t"]["relation_name"] is None
    assert moved["sources"]["source.p.raw.x"]["relation_name"] == '"test""db"."raw"."x"'
    assert in_database(manifest, "nexus")["nodes"]["model.p.a"] is manifest["nodes"]["model.p.a"]


def test_date_range_and_chart_of_a_model():
    warnings: list[str] = []
    rows = Rows([(dt.date(2026, 3, 1), dt.date(2026, 3, 9))])
    meta = model_metadata(rows, node("fct_x", {"order_date": "date"}), warnings.append)
    assert {k: v.value for k, v in meta.items()} == {
        "date_range": "2026-03-01 .. 2026-03-09",
        "date_column": "order_date",
    }
    empty = model_metadata(Rows([(None, None)]), node("fct_x", {"order_date": "date"}), warnings.append)
    assert empty["date_range"].value == "empty"
    assert warnings == []


def test_views_cost_no_query():
    rows = Rows([(dt.date(2026, 3, 1), dt.date(2026, 3, 9))])
    assert model_metadata(rows, node("stg_x", {"order_date": "date"}, "view"), print) == {}
    assert rows.queries == 0


def test_a_failing_query_or_chart_is_a_warning_and_leaves_the_entry_out(monkeypatch):
    def broken(_conn, _schema, _table):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(metadata.CHARTS, "fct_x", ("trend", "a trend", broken))
    warnings: list[str] = []
    meta = model_metadata(
        Rows([], psycopg.errors.QueryCanceled("timeout")), node("fct_x", {"d": "date"}), warnings.append
    )
    assert meta == {}
    assert warnings == [
        "fct_x: date range of d not reported: QueryCanceled: timeout",
        "fct_x: chart trend not drawn: ZeroDivisionError: division by zero",
    ]
    monkeypatch.setitem(metadata.CHARTS, "fct_x", ("trend", "a trend", lambda *_: None))
    warnings.clear()
    assert model_metadata(Rows([]), node("fct_x", {}), warnings.append) == {}
    assert warnings == ["fct_x: chart trend not drawn: no rows to chart"]


def test_a_chart_is_a_markdown_png(monkeypatch):
    rows = Rows([("Product Viewed", 1)])
    monkeypatch.setitem(metadata.CHARTS, "fct_x", ("funnel", "a funnel", lambda *_: PNG_SIGNATURE + b"..."))
    meta = model_metadata(rows, node("fct_x", {}), print)
    assert meta["funnel"].value.startswith("![a funnel](data:image/png;base64,")


@pytest.mark.parametrize(
    ("currency", "value", "text"),
    [
        ("USD", 1234.4, "$1,234"),  # whole units on the axis
        ("EUR", 950, "€950"),
        ("usd", 2.5, "$2.50"),
        ("SEK", 12000, "12,000 SEK"),
        (None, 1500, "1,500"),
        ("USD", -20, "-$20"),
    ],
)
def test_money_ticks(currency, value, text):
    assert money_formatter(currency)(value, 0) == text


D = dt.date


@pytest.mark.parametrize(
    ("chart", "rows"),
    [
        (
            mart_charts.sales_trend,
            [
                ("s1", "USD", D(2026, 3, 1), Decimal("120.50")),
                ("s1", "USD", D(2026, 3, 4), Decimal("99.99")),
                ("s2", "EUR", D(2026, 3, 2), Decimal("80.00")),
            ],
        ),
        (
            mart_charts.inventory_cover,
            [
                ("s1", "SKU-A", Decimal("3.2"), 14, D(2026, 3, 9), 3, 2),
                ("s1", "SKU-B", Decimal("4000.0"), 14, D(2026, 3, 9), 3, 2),
                ("s1", "SKU-C", None, 14, D(2026, 3, 9), 3, 2),
            ],
        ),
        (mart_charts.return_reasons, [("DEFECTIVE", 12), ("UNWANTED_ITEM", 3)]),
        (
            mart_charts.funnel,
            [
                ("ecommerce", "ordered", Decimal("14.00"), 1, "Product Viewed", 100),
                ("ecommerce", "ordered", Decimal("14.00"), 2, "Order Completed", 9),
            ],
        ),
        (
            mart_charts.funnel,
            [
                ("a", "ordered", Decimal("7"), 1, "Viewed", 50),
                ("a", "ordered", Decimal("7"), 2, "Added", 20),
                ("b", "any", None, 1, "Viewed", 40),
            ],
        ),
    ],
)
def test_each_chart_renders_its_rows_and_has_nothing_to_draw_without_rows(chart, rows):
    png = chart(Rows(rows), "marts", "t")
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert chart(Rows([]), "marts", "t") is None
