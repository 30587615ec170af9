"""Every expectation of every suite in ``lib/quality/suites.py``, passing and failing, in PostgreSQL.

Small hand-written landing files (one per source, a few dozen lines at most) are loaded with the
real ingestion into one database for the module. Each raw suite is validated once on them as
they are (everything passes), then once after SQL has broken them: a bad value the parsers would
quarantine can still reach a table by an UPDATE, a migration or a bug, so that is how the failing
rows are made. Every row of a file is named after the expectation it is there to break, and
every expectation is broken on rows of its own, so that one failing validation per suite checks
all its expectations, each with its unexpected count computed by hand below. Where one broken
value necessarily trips a second expectation too, the comment at the mutation says so and the
second expectation's count includes it.

The marts are tables created here with hand-written rows, validated the same way.

Rows outside the window (history for the row-count drift rules, and rows broken on purpose)
are never counted: every element count is the window's rows. A registry records each (suite,
label) that a passing and a failing assertion checked; the last test fails when an expectation,
or a column of ``Suite.column_types``, has no test here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nexus_pipelines.lib.quality.suites import SUITES, Suite
from nexus_pipelines.lib.quality.validate import ExpectationOutcome, SuiteOutcome, validate
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing
from .seller_files import ORDERS_HEADER, RETURNS_HEADER, tsv, write

D = dt.date(2026, 3, 10)  # the day of every landing file and mart row: the window
DS = D.isoformat()
WINDOW = (D, D)


def days(n: int) -> str:
    """``D + n`` as an SQL date literal."""
    return f"date '{(D + dt.timedelta(days=n)).isoformat()}'"


# ------------------------------------------------------------------------------------- labels
# Written out by hand (not taken from Expect.label), so that a renamed rule shows up here.


def not_null(column: str) -> str:
    return f"ExpectColumnValuesToNotBeNull({column})"


def between(column: str) -> str:
    return f"ExpectColumnValuesToBeBetween({column})"


def in_set(column: str) -> str:
    return f"ExpectColumnValuesToBeInSet({column})"


def regex(column: str) -> str:
    return f"ExpectColumnValuesToMatchRegex({column})"


def unique(*columns: str) -> str:
    if len(columns) == 1:
        return f"ExpectColumnValuesToBeUnique({columns[0]})"
    return f"ExpectCompoundColumnsToBeUnique({','.join(columns)})"


def rule(description: str) -> str:
    return f"UnexpectedRowsExpectation: {description}"


def of_type(column: str) -> str:
    return f"ExpectColumnValuesToBeOfType({column})"


ROW_ID = unique("_source_file", "_row_number")
DRIFT_BY_STORE = rule("each day's row count per store is within 3x of its trailing 28-day mean")


def plausible(column: str, loaded: bool = False) -> str:
    what = "the day it was loaded" if loaded else "the file's date"
    return rule(f"{column} is between 1995-01-01 and {what} + 2 days")


# ------------------------------------------------------------------------------ the test data


@dataclass(frozen=True)
class Broken:
    """What one expectation reports: its unexpected count and the rows its sample names."""

    count: int
    rows: frozenset[tuple[Any, ...]] = frozenset()  # (file, line) for raw tables, the key for marts


@dataclass
class Db:
    """SQL helpers on the module's database (autocommit)."""

    conn: psycopg.Connection

    def run(self, statement: str, params: tuple | None = None) -> None:
        self.conn.execute(statement, params)

    def count(self, rows: str) -> int:
        (n,) = self.conn.execute(f"select count(*) from {rows}").fetchall()[0]
        return int(n)

    def copy(self, table: str, where: str, series: str = "", **overrides: str) -> None:
        """Insert copies of ``table``'s rows matching ``where``, some columns replaced by SQL."""
        schema, name = table.split(".")
        columns = [
            r[0]
            for r in self.conn.execute(
                "select column_name from information_schema.columns"
                " where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, name),
            )
        ]
        values = ", ".join(overrides.get(c, c) for c in columns)
        source = f"{table}, {series}" if series else table
        self.run(f"insert into {table} ({', '.join(columns)}) select {values} from {source} where {where}")

    def history(self, table: str, file: RawFile, copies: range) -> None:
        """Copies ``copies`` of the rows of D in each of the 7 days before (files of their own)."""
        stem, ext = file.relative.rsplit("/", 1)[0], file.relative.rsplit(".", 1)[1]
        self.copy(
            table,
            f"_partition_date = {days(0)}",
            f"generate_series(1, 7) as d(d), generate_series({copies.start}, {copies.stop - 1}) as c(c)",
            _partition_date="_partition_date - d",
            _source_file=f"'{stem}/' || (_partition_date - d) || '.{ext}'",
            _row_number="_row_number + 1000 * c",  # copy c of line n is line 1000 c + n
        )


@dataclass
class RawFile:
    """A landing file whose rows are named: ``line(name)`` is the row's line (or array position)."""

    relative: str
    names: list[str]
    first_line: int = 2  # flat files and CSV: the header is line 1

    def line(self, name: str) -> int:
        return self.names.index(name) + self.first_line

    def rows(self, *names: str) -> frozenset[tuple[Any, ...]]:
        return frozenset((self.relative, self.line(n)) for n in names)

    def where(self, name: str) -> str:
        return f"_source_file = '{self.relative}' and _row_number = {self.line(name)}"


@dataclass
class Case:
    suite: str
    passing_rows: int  # the window's rows: what every column expectation counts
    failing_rows: int
    failures: dict[str, Broken]  # every expectation of the suite (column types aside)
    setup: Callable[[Db], None]  # after loading: what is outside the window, more rows
    breaks: Callable[[Db], None]  # what makes every expectation fail
    passing_counts: dict[str, Broken] = field(default_factory=dict)  # passing with a few unexpected
    failing_window: tuple[dt.date, dt.date] | None = WINDOW

    @property
    def spec(self) -> Suite:
        return SUITES[self.suite]

    @property
    def passing_window(self) -> tuple[dt.date, dt.date] | None:
        return WINDOW if self.spec.window_column else None


# Declared type -> (what the failing state turns the column into, what GX then observes). Each
# keeps every operator the row expectations use (comparisons, date + integer, at time zone), so
# that only the column-type expectations see the change.
RETYPED = {
    "TEXT": ("varchar", "VARCHAR"),
    "INTEGER": ("bigint", "BIGINT"),
    "NUMERIC(18, 4)": ("numeric", "NUMERIC"),
    "NUMERIC(18, 2)": ("numeric", "NUMERIC"),
    "JSONB": ("json", "JSON"),
    "DATE": ("public.nexus_day", "nexus_day"),  # a domain over date
    "TIMESTAMP WITH TIME ZONE": ("public.nexus_instant", "nexus_instant"),  # over timestamptz
}


def retype(db: Db, suite: Suite) -> None:
    """Give every column of ``suite.column_types`` another type (see RETYPED; a type missing
    there leaves its column as it is, and the failing test says so)."""
    changes = ", ".join(
        f"alter column {c} type {RETYPED[t][0]} using {c}::{RETYPED[t][0]}"
        for c, t in suite.column_types.items()
        if t in RETYPED
    )
    db.run(f"alter table {suite.schema}.{suite.table} {changes}")


# ---------------------------------------------------------------------------- raw.amazon_orders

ORDERS = RawFile(
    f"amazon/s1/orders/{DS}.txt",
    [
        "dup_source",
        "null_store",
        "null_order_id",
        "null_sku",
        "null_purchase_date",
        "null_order_status",
        "null_quantity",
        "null_currency",
        "null_asin_1",
        "null_asin_2",
        "asin_missing",
        "null_item_price",
        "price_missing_1",
        "price_missing_2",
        "price_missing_3",
        "negative_quantity_1",
        "negative_quantity_2",
        "zero_quantity_shipped",
        "zero_quantity_cancelled",
        "item_price",
        "item_tax",
        "shipping_price",
        "shipping_tax",
        "gift_wrap_price",
        "gift_wrap_tax",
        "item_promotion_discount",
        "ship_promotion_discount",
        "purchase_too_early",
        "updated_too_late",
        "updated_before_purchase",
        "status_unknown",
        "item_status_unknown",
        "channel_unknown",
        "currency_lower",
        "same_line_a",
        "same_line_b",
    ],
)
PENDING = {"order-status": "Pending", "item-status": "Unshipped", "item-price": "", "item-tax": ""}
ORDER_VALUES: dict[str, dict[str, str]] = {  # what differs from the usual line, as the file has it
    "null_currency": {"currency": ""},  # filled with the store's USD from stores.yaml
    "asin_missing": {"asin": ""},  # 1 of 36 (3%): within asin's 5%
    "price_missing_1": PENDING,  # 3 of 36 (8%): within item_price's 10%
    "price_missing_2": PENDING,
    "price_missing_3": PENDING,
    "negative_quantity_2": {"quantity": "3"},
    "zero_quantity_cancelled": {"quantity": "0", "order-status": "Cancelled", "item-status": "Cancelled"},
    "item_price": {"item-price": "999999.99"},  # just below the million
    "item_tax": {"item-tax": "0"},
    "gift_wrap_price": {"gift-wrap-price": "2.50"},
    "gift_wrap_tax": {"gift-wrap-tax": "0.20"},
    "item_promotion_discount": {"item-promotion-discount": "-1000000.00"},  # the lowest allowed
    "ship_promotion_discount": {"ship-promotion-discount": "999999.99"},
    "purchase_too_early": {"purchase-date": "1995-01-01T00:00:00+00:00"},  # the first plausible day
    "updated_too_late": {"last-updated-date": "2026-03-12T23:59:59+00:00"},  # the last plausible second
    "updated_before_purchase": {"last-updated-date": "2026-03-10T10:00:00+00:00"},  # = purchase-date
    "status_unknown": {"order-status": "Canceled", "item-status": "Canceled"},
    "channel_unknown": {"fulfillment-channel": "Merchant"},
    "currency_lower": {"currency": "usd"},  # upper-cased by the parser
    "same_line_a": {"amazon-order-id": "111-0000900", "sku": "SKU-A"},  # two lines of one order
    "same_line_b": {"amazon-order-id": "111-0000900", "sku": "SKU-B"},
}


def orders_file() -> str:
    rows = []
    for n, name in enumerate(ORDERS.names, start=1):
        row = {
            "amazon-order-id": f"111-{n:07d}",
            "purchase-date": "2026-03-10T10:00:00+00:00",
            "last-updated-date": "2026-03-10T12:00:00+00:00",
            "order-status": "Shipped",
            "fulfillment-channel": "Amazon",
            "sales-channel": "Amazon.com",
            "product-name": "Mug",
            "sku": f"SKU-{n}",
            "asin": f"B{n:09d}",
            "item-status": "Shipped",
            "quantity": "1",
            "currency": "USD",
            "item-price": "19.99",
            "item-tax": "1.60",
            "shipping-price": "4.99",
            "shipping-tax": "0.40",
            "gift-wrap-price": "0",
            "gift-wrap-tax": "0",
            "item-promotion-discount": "0",
            "ship-promotion-discount": "0",
        }
        rows.append({**row, **ORDER_VALUES.get(name, {})})
    return tsv(ORDERS_HEADER, rows)


def orders_setup(db: Db) -> None:
    # history: the 36 lines once on each of the 7 days before: a mean of 36 lines a day, and the
    # window's 36 are within 3x of it
    db.history("raw.amazon_orders", ORDERS, range(1, 2))
    # a broken line the day before: outside the window, so nothing fails
    db.run(
        "update raw.amazon_orders set quantity = -2, currency = 'usd', order_status = 'Teleported'"
        f" where _partition_date = {days(-1)} and _row_number = 1002"
    )


def orders_breaks(db: Db) -> None:
    # 3 more copies a day: a trailing mean of 144 lines, over 3 x the window's 36 (the line
    # without a store is a group of its own, so the 37 lines of s1 minus that one are 36)
    db.history("raw.amazon_orders", ORDERS, range(2, 5))
    # a second row with the first line's file and line number (another order, so that only
    # (_source_file, _row_number) repeats)
    db.copy("raw.amazon_orders", ORDERS.where("dup_source"), amazon_order_id="'DUP-1'")
    sets = {
        "null_store": "store_id = null",
        "null_order_id": "amazon_order_id = null",
        "null_sku": "sku = null",
        "null_purchase_date": "purchase_date = null",
        "null_order_status": "order_status = null",
        "null_quantity": "quantity = null",
        "null_currency": "currency = null",
        "null_asin_1": "asin = null",
        "null_asin_2": "asin = null",
        "null_item_price": "item_price = null",
        "negative_quantity_1": "quantity = -2",
        "negative_quantity_2": "quantity = -2",
        "zero_quantity_shipped": "quantity = 0",
        "item_price": "item_price = 1000000",
        "item_tax": "item_tax = -0.01",
        "shipping_price": "shipping_price = -4.99",
        "shipping_tax": "shipping_tax = 1000000.01",
        "gift_wrap_price": "gift_wrap_price = -2.50",
        "gift_wrap_tax": "gift_wrap_tax = 5000000",
        "item_promotion_discount": "item_promotion_discount = -1000000.01",
        "ship_promotion_discount": "ship_promotion_discount = 1000000",
        "purchase_too_early": "purchase_date = '1994-12-31T23:59:59Z'",
        "updated_too_late": "last_updated_date = '2026-03-13T00:00:00Z'",
        "updated_before_purchase": "last_updated_date = purchase_date - interval '1 second'",
        "status_unknown": "order_status = 'Teleported'",
        "item_status_unknown": "item_status = 'Lost'",
        "channel_unknown": "fulfillment_channel = 'Drone'",
        "currency_lower": "currency = 'usd'",
        "same_line_b": "sku = 'SKU-A'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.amazon_orders set {assignment} where {ORDERS.where(name)}")


ORDERS_CASE = Case(
    "raw.amazon_orders",
    passing_rows=36,
    failing_rows=37,
    setup=orders_setup,
    breaks=orders_breaks,
    passing_counts={
        not_null("asin"): Broken(1, ORDERS.rows("asin_missing")),
        not_null("item_price"): Broken(
            3, ORDERS.rows("price_missing_1", "price_missing_2", "price_missing_3")
        ),
    },
    failures={
        ROW_ID: Broken(2, ORDERS.rows("dup_source")),  # the line and its copy
        not_null("store_id"): Broken(1, ORDERS.rows("null_store")),
        not_null("amazon_order_id"): Broken(1, ORDERS.rows("null_order_id")),
        not_null("sku"): Broken(1, ORDERS.rows("null_sku")),
        not_null("purchase_date"): Broken(1, ORDERS.rows("null_purchase_date")),
        not_null("order_status"): Broken(1, ORDERS.rows("null_order_status")),
        not_null("quantity"): Broken(1, ORDERS.rows("null_quantity")),
        not_null("currency"): Broken(1, ORDERS.rows("null_currency")),
        # 3 of 37 (8%) over the 5% allowed; 4 of 37 (11%) over the 10%
        not_null("asin"): Broken(3, ORDERS.rows("asin_missing", "null_asin_1", "null_asin_2")),
        not_null("item_price"): Broken(
            4, ORDERS.rows("price_missing_1", "price_missing_2", "price_missing_3", "null_item_price")
        ),
        rule("quantity is at least 1 on an order line that is not cancelled"): Broken(
            3, ORDERS.rows("negative_quantity_1", "negative_quantity_2", "zero_quantity_shipped")
        ),
        **{
            between(c): Broken(1, ORDERS.rows(c))
            for c in (
                "item_price",
                "item_tax",
                "shipping_price",
                "shipping_tax",
                "gift_wrap_price",
                "gift_wrap_tax",
                "item_promotion_discount",
                "ship_promotion_discount",
            )
        },
        plausible("purchase_date"): Broken(1, ORDERS.rows("purchase_too_early")),
        plausible("last_updated_date"): Broken(1, ORDERS.rows("updated_too_late")),
        rule("last_updated_date is not before purchase_date"): Broken(
            1, ORDERS.rows("updated_before_purchase")
        ),
        in_set("order_status"): Broken(1, ORDERS.rows("status_unknown")),
        in_set("item_status"): Broken(1, ORDERS.rows("item_status_unknown")),
        in_set("fulfillment_channel"): Broken(1, ORDERS.rows("channel_unknown")),
        regex("currency"): Broken(1, ORDERS.rows("currency_lower")),
        unique("_source_file", "amazon_order_id", "sku"): Broken(
            2, ORDERS.rows("same_line_a", "same_line_b")
        ),
        DRIFT_BY_STORE: Broken(1),  # store s1 on D: 36 lines against a mean of 144
    },
)

# ------------------------------------------------------------- raw.amazon_sales_traffic_by_*

SALES_TRAFFIC = f"amazon/s1/sales_traffic/{DS}.json"
BY_DATE = RawFile(
    SALES_TRAFFIC,
    [
        "dup_source",
        "null_store",
        "null_report_date",
        "null_currency",
        "same_date_a",
        "same_date_b",
        "ordered_product_sales",
        "units_ordered",
        "total_order_items",
        "sessions",
        "page_views",
        "units_refunded",
        "buy_box_percentage",
        "refund_rate",
        "unit_session_percentage",
        "date_too_early",
    ],
    first_line=1,  # position in salesAndTrafficByDate
)
BY_ASIN = RawFile(
    SALES_TRAFFIC,
    [
        "dup_source",
        "null_store",
        "null_report_date",
        "null_child_asin",
        "ordered_product_sales",
        "units_ordered",
        "sessions",
        "page_views",
        "buy_box_percentage",
        "date_too_late",
        "same_asin_a",
        "same_asin_b",
    ],
    first_line=1,  # position in salesAndTrafficByAsin
)
REPORT_START = D - dt.timedelta(days=len(BY_DATE.names) - 1)  # one entry a day, the last on D


def money(amount: float) -> dict[str, Any]:
    return {"amount": amount, "currencyCode": "USD"}


def by_date_entry(day: dt.date, name: str) -> dict[str, Any]:
    edge = {  # the lowest or highest value allowed, broken later
        "ordered_product_sales": ("salesByDate", "orderedProductSales", money(0)),
        "refund_rate": ("salesByDate", "refundRate", 0),
        "buy_box_percentage": ("trafficByDate", "buyBoxPercentage", 100),
        "unit_session_percentage": ("trafficByDate", "unitSessionPercentage", 0),
    }
    entry: dict[str, Any] = {
        "date": day.isoformat(),
        "salesByDate": {
            "orderedProductSales": money(238.44),
            "unitsOrdered": 23,
            "totalOrderItems": 22,
            "averageSalesPerOrderItem": money(10.84),
            "averageUnitsPerOrderItem": 1.05,
            "averageSellingPrice": money(10.37),
            "unitsRefunded": 1,
            "refundRate": 4.35,
            "claimsGranted": 0,
            "claimsAmount": money(0),
            "shippedProductSales": money(220.5),
            "unitsShipped": 21,
            "ordersShipped": 20,
        },
        "trafficByDate": {
            "browserPageViews": 1158,
            "mobileAppPageViews": 500,
            "pageViews": 1658,
            "browserSessions": 906,
            "mobileAppSessions": 94,
            "sessions": 1000,
            "buyBoxPercentage": 10.54,
            "orderItemSessionPercentage": 2.21,
            "unitSessionPercentage": 2.54,
            "averageOfferCount": 9686,
            "averageParentItems": 9630,
            "feedbackReceived": 10,
            "negativeFeedbackReceived": 1,
            "receivedNegativeFeedbackRate": 10.0,
        },
    }
    if name in edge:
        part, key, value = edge[name]
        entry[part][key] = value
    return entry


def by_asin_entry(n: int, name: str) -> dict[str, Any]:
    parent = "P-A" if name.startswith("same_asin") else f"P-{n}"
    child = "C-A" if name.startswith("same_asin") else f"C-{n}"
    return {
        "parentAsin": parent,
        "childAsin": child,
        "sku": f"SKU-{n}",  # the two same_asin entries differ by their SKU only
        "salesByAsin": {"unitsOrdered": 1, "orderedProductSales": money(16.79), "totalOrderItems": 1},
        "trafficByAsin": {
            "browserSessions": 13,
            "mobileAppSessions": 5,
            "sessions": 18,
            "browserSessionPercentage": 0.33,
            "mobileAppSessionPercentage": 0.2,
            "sessionPercentage": 0.26,
            "browserPageViews": 21,
            "mobileAppPageViews": 22,
            "pageViews": 43,
            "browserPageViewsPercentage": 0.41,
            "mobileAppPageViewsPercentage": 0.2,
            "pageViewsPercentage": 0.3,
            "buyBoxPercentage": 100 if name == "buy_box_percentage" else 95.24,
            "unitSessionPercentage": 7.69,
        },
    }


def sales_traffic_file() -> str:
    report = {
        "reportSpecification": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
            "dataStartTime": REPORT_START.isoformat(),
            "dataEndTime": DS,
            "marketplaceIds": ["ATVPDKIKX0DER"],
        },
        "salesAndTrafficByDate": [
            by_date_entry(REPORT_START + dt.timedelta(days=i), name) for i, name in enumerate(BY_DATE.names)
        ],
        "salesAndTrafficByAsin": [by_asin_entry(n, name) for n, name in enumerate(BY_ASIN.names, start=1)],
    }
    return json.dumps(report, indent=2)


def copy_to_day_before(db: Db, table: str, file: RawFile, **bad: str) -> None:
    """A broken copy of the file's first row in the day before's file: outside the window."""
    stem, ext = file.relative.rsplit("/", 1)[0], file.relative.rsplit(".", 1)[1]
    db.copy(
        table,
        file.where(file.names[0]),
        _partition_date=days(-1),
        _source_file=f"'{stem}/{(D - dt.timedelta(days=1)).isoformat()}.{ext}'",
        **bad,
    )


def by_date_breaks(db: Db) -> None:
    # another row at the first entry's position, on a day of its own (so that only
    # (_source_file, _row_number) repeats)
    db.copy("raw.amazon_sales_traffic_by_date", BY_DATE.where("dup_source"), report_date="date '2026-02-01'")
    same_day = REPORT_START + dt.timedelta(days=BY_DATE.names.index("same_date_a"))
    sets = {
        "null_store": "store_id = null",
        "null_report_date": "report_date = null",
        "null_currency": "currency = null",
        "same_date_b": f"report_date = date '{same_day.isoformat()}'",
        "ordered_product_sales": "ordered_product_sales = -0.01",
        "units_ordered": "units_ordered = -1",
        "total_order_items": "total_order_items = -1",
        "sessions": "sessions = -1",
        "page_views": "page_views = -1",
        "units_refunded": "units_refunded = -1",
        "buy_box_percentage": "buy_box_percentage = 100.01",
        "refund_rate": "refund_rate = -0.01",
        "unit_session_percentage": "unit_session_percentage = -0.01",
        "date_too_early": "report_date = date '1994-12-31'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.amazon_sales_traffic_by_date set {assignment} where {BY_DATE.where(name)}")


BY_DATE_CASE = Case(
    "raw.amazon_sales_traffic_by_date",
    passing_rows=16,
    failing_rows=17,
    setup=lambda db: copy_to_day_before(db, "raw.amazon_sales_traffic_by_date", BY_DATE, sessions="-5"),
    breaks=by_date_breaks,
    failures={
        ROW_ID: Broken(2, BY_DATE.rows("dup_source")),
        not_null("store_id"): Broken(1, BY_DATE.rows("null_store")),
        not_null("report_date"): Broken(1, BY_DATE.rows("null_report_date")),
        not_null("currency"): Broken(1, BY_DATE.rows("null_currency")),
        unique("store_id", "report_date", "_source_file"): Broken(
            2, BY_DATE.rows("same_date_a", "same_date_b")
        ),
        **{
            between(c): Broken(1, BY_DATE.rows(c))
            for c in (
                "ordered_product_sales",
                "units_ordered",
                "total_order_items",
                "sessions",
                "page_views",
                "units_refunded",
                "buy_box_percentage",
                "refund_rate",
                "unit_session_percentage",
            )
        },
        plausible("report_date", loaded=True): Broken(1, BY_DATE.rows("date_too_early")),
    },
)


def by_asin_breaks(db: Db) -> None:
    db.copy("raw.amazon_sales_traffic_by_asin", BY_ASIN.where("dup_source"), sku="'SKU-DUP'")
    sets = {
        "null_store": "store_id = null",
        "null_report_date": "report_date = null",
        "null_child_asin": "child_asin = null",
        "ordered_product_sales": "ordered_product_sales = -0.01",
        "units_ordered": "units_ordered = -1",
        "sessions": "sessions = -1",
        "page_views": "page_views = -1",
        "buy_box_percentage": "buy_box_percentage = 100.5",
        "date_too_late": "report_date = date '2099-01-01'",  # long after the day it was loaded
        "same_asin_b": "sku = 'SKU-11'",  # same_asin_a's
    }
    for name, assignment in sets.items():
        db.run(f"update raw.amazon_sales_traffic_by_asin set {assignment} where {BY_ASIN.where(name)}")


BY_ASIN_CASE = Case(
    "raw.amazon_sales_traffic_by_asin",
    passing_rows=12,
    failing_rows=13,
    setup=lambda db: copy_to_day_before(db, "raw.amazon_sales_traffic_by_asin", BY_ASIN, units_ordered="-5"),
    breaks=by_asin_breaks,
    failures={
        ROW_ID: Broken(2, BY_ASIN.rows("dup_source")),
        not_null("store_id"): Broken(1, BY_ASIN.rows("null_store")),
        not_null("report_date"): Broken(1, BY_ASIN.rows("null_report_date")),
        not_null("child_asin"): Broken(1, BY_ASIN.rows("null_child_asin")),  # 1 of 13 (8%) > 5%
        **{
            between(c): Broken(1, BY_ASIN.rows(c))
            for c in (
                "ordered_product_sales",
                "units_ordered",
                "sessions",
                "page_views",
                "buy_box_percentage",
            )
        },
        plausible("report_date", loaded=True): Broken(1, BY_ASIN.rows("date_too_late")),
        unique("_source_file", "parent_asin", "child_asin", "sku"): Broken(
            2, BY_ASIN.rows("same_asin_a", "same_asin_b")
        ),
    },
)

# ---------------------------------------------------------------------------- raw.amazon_inventory

INVENTORY = RawFile(
    f"amazon/s1/inventory/{DS}.txt",
    [
        "dup_source",
        "null_store",
        "null_snapshot_date",
        "null_sku",
        "null_fulfillable",
        "afn_warehouse_quantity",
        "afn_fulfillable_quantity",
        "afn_unsellable_quantity",
        "afn_reserved_quantity",
        "afn_total_quantity",
        "afn_inbound_working_quantity",
        "afn_inbound_shipped_quantity",
        "afn_inbound_receiving_quantity",
        "your_price",
        "same_sku_a",
        "same_sku_b",
        "breaks_warehouse",
        "breaks_total",
    ],
)
INVENTORY_HEADER = [
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
]
# warehouse 5 = fulfillable 3 + unsellable 1 + reserved 1; total 8 = 5 + inbound 1 + 1 + 1
STOCK = (5, 3, 1, 1, 8, 1, 1, 1)
EMPTY_WAREHOUSE = (0, 0, 0, 0, 1, 1, 0, 0)  # total 1 = warehouse 0 + inbound working 1
NOTHING = (0, 0, 0, 0, 0, 0, 0, 0)


def inventory_file() -> str:
    rows = []
    for n, name in enumerate(INVENTORY.names, start=1):
        stock = {"afn_warehouse_quantity": EMPTY_WAREHOUSE, "afn_total_quantity": NOTHING}.get(name, STOCK)
        row = {
            "sku": {"same_sku_a": "INV-A", "same_sku_b": "INV-B"}.get(name, f"INV-{n}"),
            "fnsku": f"X{n:09d}",
            "asin": f"B{n:09d}",
            "product-name": "Mug",
            "condition": "New",
            "your-price": "999999.99" if name == "your_price" else "12.50",
        }
        row.update(zip(INVENTORY_HEADER[6:], map(str, stock)))
        rows.append(row)
    return tsv(INVENTORY_HEADER, rows)


def inventory_setup(db: Db) -> None:
    # 2 copies of the 18 rows on each of the 7 days before: a mean of 36, within 3x of 18
    db.history("raw.amazon_inventory", INVENTORY, range(1, 3))
    db.run(
        "update raw.amazon_inventory set afn_fulfillable_quantity = -4, afn_warehouse_quantity = 99"
        f" where _partition_date = {days(-1)} and _row_number = 1002"
    )


def inventory_breaks(db: Db) -> None:
    # 2 more copies a day: a mean of 72 rows, over 3 x the window's 18 (19 rows of s1 but one
    # has no store)
    db.history("raw.amazon_inventory", INVENTORY, range(3, 5))
    db.copy("raw.amazon_inventory", INVENTORY.where("dup_source"), sku="'INV-DUP'")
    sets = {
        "null_store": "store_id = null",
        "null_snapshot_date": "snapshot_date = null",
        "null_sku": "sku = null",
        # with no fulfillable quantity the warehouse identity is unknown, not broken
        "null_fulfillable": "afn_fulfillable_quantity = null",
        # a negative warehouse cannot equal fulfillable + unsellable + reserved (all 0 here), so
        # the warehouse identity necessarily breaks too; total 1 = -1 + inbound working 2 holds
        "afn_warehouse_quantity": "afn_warehouse_quantity = -1, afn_inbound_working_quantity = 2",
        # the others move a unit elsewhere so that both identities still hold
        "afn_fulfillable_quantity": "afn_fulfillable_quantity = -1, afn_reserved_quantity = 5",
        "afn_unsellable_quantity": "afn_unsellable_quantity = -1, afn_fulfillable_quantity = 5",
        "afn_reserved_quantity": "afn_reserved_quantity = -1, afn_fulfillable_quantity = 5",
        # a negative total with warehouse and inbound all 0: the total identity necessarily breaks
        "afn_total_quantity": "afn_total_quantity = -1",
        "afn_inbound_working_quantity": "afn_inbound_working_quantity = -1, afn_inbound_shipped_quantity = 3",
        "afn_inbound_shipped_quantity": "afn_inbound_shipped_quantity = -1, afn_inbound_working_quantity = 3",
        "afn_inbound_receiving_quantity": "afn_inbound_receiving_quantity = -1, afn_inbound_working_quantity = 3",
        "your_price": "your_price = 1000000",
        "same_sku_b": "sku = 'INV-A'",
        "breaks_warehouse": "afn_warehouse_quantity = 6, afn_total_quantity = 9",  # 6 <> 3 + 1 + 1
        "breaks_total": "afn_total_quantity = 9",  # 9 <> 5 + 1 + 1 + 1
    }
    for name, assignment in sets.items():
        db.run(f"update raw.amazon_inventory set {assignment} where {INVENTORY.where(name)}")


QUANTITIES = (
    "afn_warehouse_quantity",
    "afn_fulfillable_quantity",
    "afn_unsellable_quantity",
    "afn_reserved_quantity",
    "afn_total_quantity",
    "afn_inbound_working_quantity",
    "afn_inbound_shipped_quantity",
    "afn_inbound_receiving_quantity",
)
INVENTORY_CASE = Case(
    "raw.amazon_inventory",
    passing_rows=18,
    failing_rows=19,
    setup=inventory_setup,
    breaks=inventory_breaks,
    failures={
        ROW_ID: Broken(2, INVENTORY.rows("dup_source")),
        not_null("store_id"): Broken(1, INVENTORY.rows("null_store")),
        not_null("snapshot_date"): Broken(1, INVENTORY.rows("null_snapshot_date")),
        not_null("sku"): Broken(1, INVENTORY.rows("null_sku")),
        not_null("afn_fulfillable_quantity"): Broken(1, INVENTORY.rows("null_fulfillable")),
        **{between(c): Broken(1, INVENTORY.rows(c)) for c in QUANTITIES},
        between("your_price"): Broken(1, INVENTORY.rows("your_price")),
        unique("_source_file", "sku"): Broken(2, INVENTORY.rows("same_sku_a", "same_sku_b")),
        rule("warehouse = fulfillable + unsellable + reserved"): Broken(
            2, INVENTORY.rows("breaks_warehouse", "afn_warehouse_quantity")
        ),
        rule("total = warehouse + inbound working + inbound shipped + inbound receiving"): Broken(
            2, INVENTORY.rows("breaks_total", "afn_total_quantity")
        ),
        DRIFT_BY_STORE: Broken(1),  # s1 on D: 18 rows against a mean of 72
    },
)

# ------------------------------------------------------------------------------ raw.amazon_returns

RETURNS = RawFile(
    f"amazon/s1/returns/{DS}.txt",
    [
        "dup_source",
        "null_store",
        "null_return_date",
        "null_order_id",
        "null_sku",
        "null_quantity",
        "zero_quantity",
        "negative_quantity",
        "return_too_late",
        "disposition_unknown",
        "reason_unknown",
    ],
)


def returns_file() -> str:
    rows = []
    for n, name in enumerate(RETURNS.names, start=1):
        rows.append(
            {
                "return-date": "2026-03-12T23:59:59+00:00"
                if name == "return_too_late"
                else f"{DS}T09:00:00+00:00",
                "order-id": f"112-{n:07d}",
                "sku": f"SKU-{n}",
                "asin": f"B{n:09d}",
                "fnsku": f"X{n:09d}",
                "product-name": "Mug",
                "quantity": "1",
                "fulfillment-center-id": "PHX7",
                "detailed-disposition": "CUSTOMER_DAMAGED" if name == "disposition_unknown" else "SELLABLE",
                "reason": "APPAREL_TOO_SMALL" if name == "reason_unknown" else "UNWANTED_ITEM",
                "status": "Unit returned to inventory",
                "license-plate-number": f"LPN{n:08d}",
            }
        )
    return tsv(RETURNS_HEADER, rows)


def returns_setup(db: Db) -> None:
    # 2 copies of the 11 rows on each of the 7 days before: a mean of 22, within 3x of 11
    db.history("raw.amazon_returns", RETURNS, range(1, 3))
    db.run(
        "update raw.amazon_returns set quantity = 0, reason = 'ALIENS'"
        f" where _partition_date = {days(-1)} and _row_number = 1002"
    )


def returns_breaks(db: Db) -> None:
    # 2 more copies a day: a mean of 44, over 3 x the window's 11 (12 rows, one without a store)
    db.history("raw.amazon_returns", RETURNS, range(3, 5))
    db.copy("raw.amazon_returns", RETURNS.where("dup_source"))
    sets = {
        "null_store": "store_id = null",
        "null_return_date": "return_date = null",
        "null_order_id": "order_id = null",
        "null_sku": "sku = null",
        "null_quantity": "quantity = null",
        "zero_quantity": "quantity = 0",
        "negative_quantity": "quantity = -3",
        "return_too_late": "return_date = '2026-03-13T00:00:00Z'",
        "disposition_unknown": "detailed_disposition = 'LOST_IN_SPACE'",
        "reason_unknown": "reason = 'ALIENS'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.amazon_returns set {assignment} where {RETURNS.where(name)}")


RETURNS_CASE = Case(
    "raw.amazon_returns",
    passing_rows=11,
    failing_rows=12,
    setup=returns_setup,
    breaks=returns_breaks,
    failures={
        ROW_ID: Broken(2, RETURNS.rows("dup_source")),
        not_null("store_id"): Broken(1, RETURNS.rows("null_store")),
        not_null("return_date"): Broken(1, RETURNS.rows("null_return_date")),
        not_null("order_id"): Broken(1, RETURNS.rows("null_order_id")),
        not_null("sku"): Broken(1, RETURNS.rows("null_sku")),
        not_null("quantity"): Broken(1, RETURNS.rows("null_quantity")),
        between("quantity"): Broken(2, RETURNS.rows("zero_quantity", "negative_quantity")),
        plausible("return_date"): Broken(1, RETURNS.rows("return_too_late")),
        in_set("detailed_disposition"): Broken(1, RETURNS.rows("disposition_unknown")),
        in_set("reason"): Broken(1, RETURNS.rows("reason_unknown")),
        DRIFT_BY_STORE: Broken(1),  # s1 on D: 11 rows against a mean of 44
    },
)

# ------------------------------------------------------------------------------------ raw.events

EVENTS = RawFile(
    f"events/{DS}.jsonl",
    [
        "dup_source",
        "null_message_id",
        "null_event_type",
        "null_timestamp",
        "type_unknown",
        "track_without_name",
        "track_empty_name",
        "no_user",
        "timestamp_too_early",
        "page",
        "identify",
    ],
    first_line=1,  # no header
)


def events_file() -> str:
    lines = []
    for n, name in enumerate(EVENTS.names, start=1):
        event: dict[str, Any] = {
            "type": "track",
            "event": "Product Viewed",
            "messageId": f"m-{n}",
            "anonymousId": f"a-{n}",
            "timestamp": f"{DS}T10:00:00Z",
            "context": {"page": {"path": "/p/mug"}},
            "properties": {"sku": "SKU-1"},
        }
        if name == "no_user":
            event["userId"] = "u-8"
        if name == "timestamp_too_early":
            event["timestamp"] = "1995-01-01T00:00:00Z"  # the first plausible instant
        if name in ("type_unknown", "page"):
            event = {**event, "type": "screen" if name == "type_unknown" else "page", "name": "Cart"}
            del event["event"]
        if name == "identify":
            event = {
                "type": "identify",
                "messageId": f"m-{n}",
                "userId": "u-11",
                "timestamp": f"{DS}T11:00:00Z",
            }
        lines.append(json.dumps(event))
    return "\n".join(lines) + "\n"


def events_setup(db: Db) -> None:
    # 2 copies of the 11 events on each of the 7 days before: a mean of 22, within 3x of 11
    db.history("raw.events", EVENTS, range(1, 3))
    db.run(
        "update raw.events set event_type = 'teleport', user_id = null, anonymous_id = null"
        f" where _partition_date = {days(-1)} and _row_number = 1001"
    )


def events_breaks(db: Db) -> None:
    db.copy("raw.events", EVENTS.where("dup_source"), message_id="'m-dup'")
    # 60 valid page views more on D: 72 events, over 3 x the trailing mean of 22
    db.copy(
        "raw.events",
        EVENTS.where("page"),
        "generate_series(1, 60) as g(g)",
        _row_number="100 + g",
        message_id="'bulk-' || g",
    )
    sets = {
        "null_message_id": "message_id = null",
        "null_event_type": "event_type = null",
        "null_timestamp": "event_timestamp = null",
        "type_unknown": "event_type = 'teleport'",
        "track_without_name": "event_name = null",
        "track_empty_name": "event_name = ''",
        "no_user": "user_id = null, anonymous_id = null",
        "timestamp_too_early": "event_timestamp = '1994-12-31T23:59:59Z'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.events set {assignment} where {EVENTS.where(name)}")


EVENTS_CASE = Case(
    "raw.events",
    passing_rows=11,
    failing_rows=72,
    setup=events_setup,
    breaks=events_breaks,
    failures={
        ROW_ID: Broken(2, EVENTS.rows("dup_source")),
        not_null("message_id"): Broken(1, EVENTS.rows("null_message_id")),
        not_null("event_type"): Broken(1, EVENTS.rows("null_event_type")),
        not_null("event_timestamp"): Broken(1, EVENTS.rows("null_timestamp")),
        in_set("event_type"): Broken(1, EVENTS.rows("type_unknown")),
        rule("a track event has an event name"): Broken(
            2, EVENTS.rows("track_without_name", "track_empty_name")
        ),
        rule("an event has a user_id or an anonymous_id"): Broken(1, EVENTS.rows("no_user")),
        plausible("event_timestamp"): Broken(1, EVENTS.rows("timestamp_too_early")),
        rule("each day's row count is within 3x of its trailing 28-day mean"): Broken(1),  # 72 > 3 x 22
    },
)

# --------------------------------------------------------------------------- raw.marketing_spend

MARKETING = RawFile(
    f"marketing/spend/{DS}.csv",
    [
        "dup_source",
        "null_spend_date",
        "null_channel",
        "null_spend",
        "negative_spend",
        "spend_too_high",
        "date_too_late",
        "same_campaign_a",
        "same_campaign_b",
        "campaign_missing",
    ],
)


def marketing_file() -> str:
    lines = ["date,channel,campaign,spend,currency"]
    for n, name in enumerate(MARKETING.names, start=1):
        day = "2026-03-12" if name == "date_too_late" else DS  # the last plausible day
        channel = "google" if name.startswith("same_campaign") else "meta"
        campaign = {"same_campaign_a": "brand", "same_campaign_b": "generic", "campaign_missing": ""}.get(
            name, f"camp-{n}"
        )
        spend = {"negative_spend": "0", "spend_too_high": "999999.99"}.get(name, "12.50")
        lines.append(f"{day},{channel},{campaign},{spend},USD")
    return "\n".join(lines) + "\n"


def marketing_breaks(db: Db) -> None:
    db.copy("raw.marketing_spend", MARKETING.where("dup_source"), campaign="'dup-copy'")
    sets = {
        "null_spend_date": "spend_date = null",
        "null_channel": "channel = null",
        "null_spend": "spend = null",
        "negative_spend": "spend = -5",
        "spend_too_high": "spend = 1000000",
        "date_too_late": f"spend_date = {days(3)}",
        "same_campaign_b": "campaign = 'brand'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.marketing_spend set {assignment} where {MARKETING.where(name)}")


MARKETING_CASE = Case(
    "raw.marketing_spend",
    passing_rows=10,
    failing_rows=11,
    setup=lambda db: copy_to_day_before(db, "raw.marketing_spend", MARKETING, spend="-5", channel="null"),
    breaks=marketing_breaks,
    failures={
        ROW_ID: Broken(2, MARKETING.rows("dup_source")),
        not_null("spend_date"): Broken(1, MARKETING.rows("null_spend_date")),
        not_null("channel"): Broken(1, MARKETING.rows("null_channel")),
        not_null("spend"): Broken(1, MARKETING.rows("null_spend")),
        between("spend"): Broken(2, MARKETING.rows("negative_spend", "spend_too_high")),
        plausible("spend_date"): Broken(1, MARKETING.rows("date_too_late")),
        unique("_source_file", "spend_date", "channel", "campaign"): Broken(
            2, MARKETING.rows("same_campaign_a", "same_campaign_b")
        ),
    },
)

# -------------------------------------------------------------------------------------- raw.stores

STORES = RawFile(
    "stores.yaml",
    [
        "s1",
        "dup-source",
        "null-store",
        "null-currency",
        "null-timezone",
        "same-id-a",
        "same-id-b",
        "currency-lower",
    ],
)
STORES_YAML = """\
stores:
  - {store_id: s1, name: Main, marketplace: ATVPDKIKX0DER, currency: USD, timezone: America/Los_Angeles}
  - {store_id: dup-source, currency: EUR, timezone: Europe/Berlin}
  - {store_id: null-store, currency: EUR, timezone: Europe/Berlin}
  - {store_id: null-currency, currency: GBP, timezone: Europe/London}
  - {store_id: null-timezone, currency: EUR, timezone: Europe/Paris}
  - {store_id: same-id-a, currency: USD, timezone: America/New_York}
  - {store_id: same-id-b, currency: CAD, timezone: America/Toronto}
  - {store_id: currency-lower, currency: EUR, timezone: Europe/Madrid}
"""


def stores_breaks(db: Db) -> None:
    db.copy("raw.stores", STORES.where("dup-source"), store_id="'dup-copy'")
    sets = {
        "null-store": "store_id = null",
        "null-currency": "currency = null",
        "null-timezone": "timezone = null",
        "same-id-b": "store_id = 'same-id-a'",
        "currency-lower": "currency = 'eur'",
    }
    for name, assignment in sets.items():
        db.run(f"update raw.stores set {assignment} where {STORES.where(name)}")


STORES_CASE = Case(
    "raw.stores",
    passing_rows=8,
    failing_rows=9,
    setup=lambda db: None,  # one file, not partitioned: every row is validated
    breaks=stores_breaks,
    failing_window=None,
    failures={
        ROW_ID: Broken(2, STORES.rows("dup-source")),
        not_null("store_id"): Broken(1, STORES.rows("null-store")),
        not_null("currency"): Broken(1, STORES.rows("null-currency")),
        not_null("timezone"): Broken(1, STORES.rows("null-timezone")),
        unique("store_id"): Broken(2, STORES.rows("same-id-a", "same-id-b")),
        regex("currency"): Broken(1, STORES.rows("currency-lower")),
    },
)

# ------------------------------------------------------------------------------------------ marts
# Rows on D, each named after what it breaks; the name is part of the key. Two broken rows lie
# outside the window (D - 1, D + 1) while the suite passes; they are deleted before the failing
# validation, which runs on every row, since a row without a date is in no window.


@dataclass
class Mart:
    table: str
    ddl: str  # the columns
    name_column: str  # the key column that holds the row's name
    base: dict[str, Any]  # every row's values but its name
    names: list[str]
    values: dict[str, dict[str, Any]]  # the passing values that differ from base, by name
    outside: dict[str, str]  # name -> SQL assignment of a broken row outside the window
    sets: dict[str, str]  # name -> SQL assignment that breaks the row

    def create(self, db: Db) -> None:
        db.run("create schema if not exists marts")
        db.run(f"create table marts.{self.table} ({self.ddl})")
        rows = [{**self.base, self.name_column: n, **self.values.get(n, {})} for n in self.names]
        rows += [{**self.base, self.name_column: n} for n in self.outside]
        columns = list(rows[0])
        with db.conn.cursor() as cursor:
            cursor.executemany(
                f"insert into marts.{self.table} ({', '.join(columns)})"
                f" values ({', '.join(['%s'] * len(columns))})",
                [tuple(r[c] for c in columns) for r in rows],
            )
        window_column = SUITES[f"marts.{self.table}"].window_column
        for offset, (name, assignment) in zip((-1, 1), self.outside.items()):
            db.run(
                f"update marts.{self.table} set {assignment}, {window_column} = {days(offset)}"
                f" where {self.name_column} = %s",
                (name,),
            )

    def breaks(self, db: Db) -> None:
        window_column = SUITES[f"marts.{self.table}"].window_column
        db.run(f"delete from marts.{self.table} where {window_column} <> {days(0)}")
        for name, assignment in self.sets.items():
            db.run(f"update marts.{self.table} set {assignment} where {self.name_column} = %s", (name,))


def keys(*rows: tuple[Any, ...]) -> frozenset[tuple[Any, ...]]:
    return frozenset(rows)


DAILY_SALES = Mart(
    "fct_daily_sales",
    "store_id text, sku text, order_date date, currency text, ordered_product_sales numeric(18,2),"
    " units_ordered integer, orders integer, order_items integer",
    "sku",
    {
        "store_id": "s1",
        "order_date": D,
        "currency": "USD",
        "ordered_product_sales": Decimal("10.00"),
        "units_ordered": 2,
        "orders": 1,
        "order_items": 2,
    },
    [
        "null_store",
        "null_sku",
        "null_date",
        "dup_a",
        "dup_b",
        "ordered_product_sales",
        "units_ordered",
        "orders",
        "order_items",
        "units_below_orders",
        "null_currency",
        "nothing_sold",
    ],
    {
        "ordered_product_sales": {"ordered_product_sales": Decimal("0.00")},
        "units_below_orders": {"units_ordered": 1},  # = orders
        "nothing_sold": {
            "ordered_product_sales": Decimal(0),
            "units_ordered": 0,
            "orders": 0,
            "order_items": 0,
        },
    },
    {"before": "units_ordered = -3, currency = null", "after": "orders = -1, store_id = null"},
    {
        "null_store": "store_id = null",
        "null_sku": "sku = null",
        "null_date": "order_date = null",
        "dup_b": "sku = 'dup_a'",
        "ordered_product_sales": "ordered_product_sales = -0.01",
        # fewer than 0 units are necessarily fewer than its 1 order: "units_ordered is at least
        # orders" fails on this row too
        "units_ordered": "units_ordered = -1",
        "orders": "orders = -1",
        "order_items": "order_items = -1",
        "units_below_orders": "orders = 2",
        "null_currency": "currency = null",
    },
)
DAILY_SALES_CASE = Case(
    "marts.fct_daily_sales",
    passing_rows=12,
    failing_rows=12,
    setup=DAILY_SALES.create,
    breaks=DAILY_SALES.breaks,
    failing_window=None,
    failures={
        not_null("store_id"): Broken(1, keys((None, "null_store", DS))),
        not_null("sku"): Broken(1, keys(("s1", None, DS))),
        not_null("order_date"): Broken(1, keys(("s1", "null_date", None))),
        unique("store_id", "sku", "order_date"): Broken(2, keys(("s1", "dup_a", DS))),
        **{
            between(c): Broken(1, keys(("s1", c, DS)))
            for c in ("ordered_product_sales", "units_ordered", "orders", "order_items")
        },
        rule("units_ordered is at least orders"): Broken(
            2, keys(("s1", "units_ordered", DS), ("s1", "units_below_orders", DS))
        ),
        not_null("currency"): Broken(1, keys(("s1", "null_currency", DS))),
    },
)

STORE_PERFORMANCE = Mart(
    "fct_daily_store_performance",
    "store_id text, date_day date, currency text, net_sales numeric(18,2),"
    " ordered_product_sales numeric(18,2), units_ordered integer, orders integer, sessions integer,"
    " unit_session_percentage numeric(9,4), refund_rate numeric(9,4), buy_box_percentage numeric(9,4)",
    "store_id",
    {
        "date_day": D,
        "currency": "USD",
        "net_sales": Decimal("90.00"),
        "ordered_product_sales": Decimal("100.00"),
        "units_ordered": 5,
        "orders": 4,
        "sessions": 50,
        "unit_session_percentage": Decimal("10.0"),
        "refund_rate": Decimal("2.5"),
        "buy_box_percentage": Decimal("95.0"),
    },
    [
        "null_store",
        "null_date",
        "dup_a",
        "dup_b",
        "ordered_product_sales",
        "units_ordered",
        "orders",
        "sessions",
        "unit_session_percentage",
        "refund_rate",
        "buy_box_percentage",
        "null_currency",
        "quiet_day",
    ],
    {
        "refund_rate": {"refund_rate": Decimal(100)},  # the highest allowed
        "buy_box_percentage": {"buy_box_percentage": Decimal(0)},  # the lowest allowed
        "quiet_day": {
            "net_sales": Decimal(0),
            "ordered_product_sales": Decimal(0),
            "units_ordered": 0,
            "orders": 0,
            "sessions": 0,
            "unit_session_percentage": Decimal(0),
        },
    },
    {"before": "sessions = -5", "after": "currency = null, refund_rate = 250"},
    {
        "null_store": "store_id = null",
        "null_date": "date_day = null",
        "dup_b": "store_id = 'dup_a'",
        "ordered_product_sales": "ordered_product_sales = -0.01",
        "units_ordered": "units_ordered = -1",
        "orders": "orders = -1",
        "sessions": "sessions = -1",
        "unit_session_percentage": "unit_session_percentage = -0.01",
        "refund_rate": "refund_rate = 100.01",
        "buy_box_percentage": "buy_box_percentage = -0.01",
        "null_currency": "currency = null",
    },
)
STORE_PERFORMANCE_CASE = Case(
    "marts.fct_daily_store_performance",
    passing_rows=13,
    failing_rows=13,
    setup=STORE_PERFORMANCE.create,
    breaks=STORE_PERFORMANCE.breaks,
    failing_window=None,
    failures={
        not_null("store_id"): Broken(1, keys((None, DS))),
        not_null("date_day"): Broken(1, keys(("null_date", None))),
        unique("store_id", "date_day"): Broken(2, keys(("dup_a", DS))),
        **{
            between(c): Broken(1, keys((c, DS)))
            for c in (
                "ordered_product_sales",
                "units_ordered",
                "orders",
                "sessions",
                "unit_session_percentage",
                "refund_rate",
                "buy_box_percentage",
            )
        },
        not_null("currency"): Broken(1, keys(("null_currency", DS))),
    },
)

INVENTORY_DAILY = Mart(
    "fct_inventory_daily",
    "store_id text, sku text, snapshot_date date, fulfillable_quantity integer, reserved_quantity integer,"
    " unsellable_quantity integer, total_quantity integer, breaks_warehouse_identity boolean",
    "sku",
    {
        "store_id": "s1",
        "snapshot_date": D,
        "fulfillable_quantity": 3,
        "reserved_quantity": 1,
        "unsellable_quantity": 1,
        "total_quantity": 8,
        "breaks_warehouse_identity": False,
    },
    [
        "null_store",
        "null_sku",
        "null_date",
        "dup_a",
        "dup_b",
        "fulfillable_quantity",
        "reserved_quantity",
        "unsellable_quantity",
        "total_quantity",
        "breaks_warehouse_identity",
        "sold_out",
    ],
    {
        "sold_out": {
            "fulfillable_quantity": 0,
            "reserved_quantity": 0,
            "unsellable_quantity": 0,
            "total_quantity": 0,
        },
    },
    {"before": "fulfillable_quantity = -1", "after": "breaks_warehouse_identity = true"},
    {
        "null_store": "store_id = null",
        "null_sku": "sku = null",
        "null_date": "snapshot_date = null",
        "dup_b": "sku = 'dup_a'",
        "fulfillable_quantity": "fulfillable_quantity = -1",
        "reserved_quantity": "reserved_quantity = -1",
        "unsellable_quantity": "unsellable_quantity = -1",
        "total_quantity": "total_quantity = -1",
        "breaks_warehouse_identity": "breaks_warehouse_identity = true",
    },
)
INVENTORY_DAILY_CASE = Case(
    "marts.fct_inventory_daily",
    passing_rows=11,
    failing_rows=11,
    setup=INVENTORY_DAILY.create,
    breaks=INVENTORY_DAILY.breaks,
    failing_window=None,
    failures={
        not_null("store_id"): Broken(1, keys((None, "null_store", DS))),
        not_null("sku"): Broken(1, keys(("s1", None, DS))),
        not_null("snapshot_date"): Broken(1, keys(("s1", "null_date", None))),
        unique("store_id", "sku", "snapshot_date"): Broken(2, keys(("s1", "dup_a", DS))),
        **{
            between(c): Broken(1, keys(("s1", c, DS)))
            for c in ("fulfillable_quantity", "reserved_quantity", "unsellable_quantity", "total_quantity")
        },
        in_set("breaks_warehouse_identity"): Broken(1, keys(("s1", "breaks_warehouse_identity", DS))),
    },
)

RETURNS_MART = Mart(
    "fct_returns",
    "return_id text, store_id text, return_date date, order_date date, quantity integer,"
    " refund_amount numeric(18,2), days_to_return integer, detailed_disposition text, reason text",
    "return_id",
    {
        "store_id": "s1",
        "return_date": D,
        "order_date": D - dt.timedelta(days=5),
        "quantity": 1,
        "refund_amount": Decimal("19.99"),
        "days_to_return": 5,
        "detailed_disposition": "SELLABLE",
        "reason": "UNWANTED_ITEM",
    },
    [
        "null_return_id",
        "null_store",
        "null_date",
        "dup_a",
        "dup_b",
        "quantity",
        "refund_amount",
        "days_to_return",
        "disposition_unknown",
        "reason_unknown",
        "order_unknown",
        "null_order_date",
    ],
    {
        "refund_amount": {"refund_amount": Decimal(0)},
        "days_to_return": {"days_to_return": 0, "order_date": D},
        "order_unknown": {"order_date": None},  # 1 of 12 (8%): within order_date's 10%
    },
    {"before": "quantity = 0", "after": "reason = 'ALIENS'"},
    {
        "null_return_id": "return_id = null",
        "null_store": "store_id = null",
        "null_date": "return_date = null",
        "dup_b": "return_id = 'dup_a'",
        "quantity": "quantity = 0",
        "refund_amount": "refund_amount = -1",
        "days_to_return": "days_to_return = -1",
        "disposition_unknown": "detailed_disposition = 'LOST_IN_SPACE'",
        "reason_unknown": "reason = 'ALIENS'",
        "null_order_date": "order_date = null",
    },
)
RETURNS_MART_CASE = Case(
    "marts.fct_returns",
    passing_rows=12,
    failing_rows=12,
    setup=RETURNS_MART.create,
    breaks=RETURNS_MART.breaks,
    failing_window=None,
    passing_counts={not_null("order_date"): Broken(1, keys(("order_unknown",)))},
    failures={
        not_null("return_id"): Broken(1, keys((None,))),
        not_null("store_id"): Broken(1, keys(("null_store",))),
        not_null("return_date"): Broken(1, keys(("null_date",))),
        unique("return_id"): Broken(2, keys(("dup_a",))),
        between("quantity"): Broken(1, keys(("quantity",))),
        between("refund_amount"): Broken(1, keys(("refund_amount",))),
        between("days_to_return"): Broken(1, keys(("days_to_return",))),
        in_set("detailed_disposition"): Broken(1, keys(("disposition_unknown",))),
        in_set("reason"): Broken(1, keys(("reason_unknown",))),
        # 2 of 12 (17%) over the 10% allowed
        not_null("order_date"): Broken(2, keys(("order_unknown",), ("null_order_date",))),
    },
)

SESSIONS = Mart(
    "fct_sessions",
    "session_id text, user_key text, session_date date, started_at timestamptz, ended_at timestamptz,"
    " duration_seconds integer, events integer, channel text",
    "session_id",
    {
        "user_key": "u-1",
        "session_date": D,
        "started_at": dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC),
        "ended_at": dt.datetime(2026, 3, 10, 10, 5, tzinfo=dt.UTC),
        "duration_seconds": 300,
        "events": 3,
        "channel": "organic",
    },
    [
        "null_session_id",
        "null_user_key",
        "null_session_date",
        "null_started_at",
        "dup_a",
        "dup_b",
        "duration_seconds",
        "events",
        "ends_before_start",
        "null_channel",
    ],
    {
        "duration_seconds": {
            "duration_seconds": 0,
            "ended_at": dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC),
        },
        "events": {"events": 1},
    },
    {"before": "events = 0", "after": "user_key = null, ended_at = started_at - interval '1 hour'"},
    {
        "null_session_id": "session_id = null",
        "null_user_key": "user_key = null",
        "null_session_date": "session_date = null",
        "null_started_at": "started_at = null",  # ended_at < null is unknown: not a row that ends early
        "dup_b": "session_id = 'dup_a'",
        "duration_seconds": "duration_seconds = -1",
        "events": "events = 0",
        "ends_before_start": "ended_at = started_at - interval '1 second'",
        "null_channel": "channel = null",
    },
)
SESSIONS_CASE = Case(
    "marts.fct_sessions",
    passing_rows=10,
    failing_rows=10,
    setup=SESSIONS.create,
    breaks=SESSIONS.breaks,
    failing_window=None,
    failures={
        not_null("session_id"): Broken(1, keys((None,))),
        not_null("user_key"): Broken(1, keys(("null_user_key",))),
        not_null("session_date"): Broken(1, keys(("null_session_date",))),
        not_null("started_at"): Broken(1, keys(("null_started_at",))),
        unique("session_id"): Broken(2, keys(("dup_a",))),
        between("duration_seconds"): Broken(1, keys(("duration_seconds",))),
        between("events"): Broken(1, keys(("events",))),
        rule("a session does not end before it starts"): Broken(1, keys(("ends_before_start",))),
        not_null("channel"): Broken(1, keys(("null_channel",))),
    },
)

ORDERS_WEB = Mart(
    "fct_orders_web",
    "order_id text, order_date date, ordered_at timestamptz, user_key text, revenue numeric(18,2),"
    " refunded_amount numeric(18,2), currency text",
    "order_id",
    {
        "order_date": D,
        "ordered_at": dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC),
        "user_key": "u-1",
        "revenue": Decimal("20.00"),
        "refunded_amount": Decimal(0),
        "currency": "USD",
    },
    [
        "null_order_id",
        "null_order_date",
        "null_user_key",
        "dup_a",
        "dup_b",
        "revenue_negative",
        "revenue_too_high",
        "refunded_more",
        "null_currency",
    ],
    {
        "revenue_negative": {"revenue": Decimal(0), "refunded_amount": None},  # nothing refunded
        "revenue_too_high": {"revenue": Decimal("999999.99")},
        "refunded_more": {"refunded_amount": Decimal("20.00")},  # all of it, not more
    },
    {"before": "revenue = -1", "after": "refunded_amount = 50"},
    {
        "null_order_id": "order_id = null",
        "null_order_date": "order_date = null",
        "null_user_key": "user_key = null",
        "dup_b": "order_id = 'dup_a'",
        "revenue_negative": "revenue = -1",  # no refund: not more refunded than paid
        "revenue_too_high": "revenue = 1000000",
        "refunded_more": "refunded_amount = 20.01",
        "null_currency": "currency = null",
    },
)
ORDERS_WEB_CASE = Case(
    "marts.fct_orders_web",
    passing_rows=9,
    failing_rows=9,
    setup=ORDERS_WEB.create,
    breaks=ORDERS_WEB.breaks,
    failing_window=None,
    failures={
        not_null("order_id"): Broken(1, keys((None,))),
        not_null("order_date"): Broken(1, keys(("null_order_date",))),
        not_null("user_key"): Broken(1, keys(("null_user_key",))),
        unique("order_id"): Broken(2, keys(("dup_a",))),
        between("revenue"): Broken(2, keys(("revenue_negative",), ("revenue_too_high",))),
        rule("no more is refunded than was paid"): Broken(1, keys(("refunded_more",))),
        not_null("currency"): Broken(1, keys(("null_currency",))),
    },
)

CASES = {
    case.suite: case
    for case in (
        ORDERS_CASE,
        BY_DATE_CASE,
        BY_ASIN_CASE,
        INVENTORY_CASE,
        RETURNS_CASE,
        EVENTS_CASE,
        MARKETING_CASE,
        STORES_CASE,
        DAILY_SALES_CASE,
        STORE_PERFORMANCE_CASE,
        INVENTORY_DAILY_CASE,
        RETURNS_MART_CASE,
        SESSIONS_CASE,
        ORDERS_WEB_CASE,
    )
}

# ---------------------------------------------------------------------------------- the database


def write_landing(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    write(landing, ORDERS.relative, orders_file())
    write(landing, SALES_TRAFFIC, sales_traffic_file())
    write(landing, INVENTORY.relative, inventory_file())
    write(landing, RETURNS.relative, returns_file())
    write(landing, EVENTS.relative, events_file())
    write(landing, MARKETING.relative, marketing_file())


@dataclass
class Validated:
    url: str
    home: Path
    outside: dict[str, int]  # rows outside the window while the suites pass
    passing: dict[str, SuiteOutcome]
    failing: dict[str, SuiteOutcome]


@pytest.fixture(scope="module")
def validated(server_url, tmp_path_factory) -> Iterator[Validated]:
    name = create_database(server_url, "nexus_quality")
    url = with_database(server_url, name)
    landing, home = tmp_path_factory.mktemp("landing"), tmp_path_factory.mktemp("home")
    try:
        write_landing(landing)
        load_landing(url, landing)
        with psycopg.connect(url, autocommit=True) as conn:
            db = Db(conn)
            db.run("create domain public.nexus_day as date")
            db.run("create domain public.nexus_instant as timestamptz")
            for case in CASES.values():
                case.setup(db)
            outside = {
                name: db.count(f"{name} where {c.spec.window_column} <> {days(0)}")
                for name, c in CASES.items()
                if c.spec.window_column
            }
        passing = {s: validate(url, c.spec, home, c.passing_window) for s, c in CASES.items()}
        with psycopg.connect(url, autocommit=True) as conn:
            db = Db(conn)
            for case in CASES.values():
                case.breaks(db)
                retype(db, case.spec)
        failing = {s: validate(url, c.spec, home, c.failing_window) for s, c in CASES.items()}
        yield Validated(url, home, outside, passing, failing)
    finally:
        drop_database(server_url, name)


# ----------------------------------------------------------------------------------- assertions

COVERED: dict[str, set[tuple[str, str]]] = {"passing": set(), "failing": set()}
COUNTED_KINDS = ("ExpectColumnValues", "ExpectCompoundColumns")  # those that report element_count


def labels_of(suite: Suite) -> set[str]:
    return {e.label for e in suite.expectations} | {of_type(c) for c in suite.column_types}


def sample_ids(suite: Suite, outcome: ExpectationOutcome) -> frozenset[tuple[Any, ...]]:
    return frozenset(tuple(row.get(c) for c in suite.row_id) for row in outcome.sample)


def samples_rows(label: str) -> bool:
    """GX returns the failing rows' ids for single-column expectations; validate.py reads the others."""
    return label.startswith("ExpectColumnValues")


def check(case: Case, state: str, outcome: SuiteOutcome) -> None:
    suite = case.spec
    results = {r.label: r for r in outcome.results}
    assert len(results) == len(outcome.results), "two expectations share a label"
    assert set(results) == labels_of(suite)
    missing = labels_of(suite) - set(case.failures) - {of_type(c) for c in suite.column_types}
    assert not missing, f"no failing case written for {sorted(missing)}"
    assert set(case.failures) <= labels_of(suite), "a failing case for an expectation the suite lacks"
    problems = []
    for label, result in sorted(results.items()):
        got: dict[str, Any] = {"success": result.success, "error": result.error}
        want: dict[str, Any] = {"success": state == "passing", "error": None}
        if label.startswith("ExpectColumnValuesToBeOfType("):
            declared = suite.column_types[label[len("ExpectColumnValuesToBeOfType(") : -1]]
            got["observed"] = str(result.observed)
            other = RETYPED.get(declared, (None, f"another type than {declared} (add it to RETYPED)"))
            want["observed"] = declared if state == "passing" else other[1]
        else:
            broken = (
                (case.passing_counts.get(label) or Broken(0)) if state == "passing" else case.failures[label]
            )
            got["unexpected"] = result.unexpected_count
            want["unexpected"] = broken.count
            rows = case.passing_rows if state == "passing" else case.failing_rows
            got["elements"] = result.element_count
            want["elements"] = rows if label.startswith(COUNTED_KINDS) else None
            if broken.count and samples_rows(label):
                got["sample"] = sample_ids(suite, result)
                want["sample"] = broken.rows
        if got == want:
            COVERED[state].add((case.suite, label))
        else:
            problems.append(f"{label}: got {got}, want {want}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_expectation_passes_on_the_landing_files(validated, suite):
    assert suite in CASES, f"no test data for the suite {suite}"
    outcome = validated.passing[suite]
    assert outcome.window == CASES[suite].passing_window
    check(CASES[suite], "passing", outcome)


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_expectation_fails_with_the_rows_broken_by_hand(validated, suite):
    assert suite in CASES, f"no test data for the suite {suite}"
    outcome = validated.failing[suite]
    assert outcome.window == CASES[suite].failing_window
    check(CASES[suite], "failing", outcome)


def test_rows_outside_the_window_are_not_validated(validated):
    """Broken rows lie outside the window of every windowed suite, yet its passing validation
    counts only the window's rows and fails on none of them."""
    for name, case in CASES.items():
        if case.passing_window is None:
            continue
        assert validated.outside[name] > 0, name
        outcome = validated.passing[name]
        assert {r.element_count for r in outcome.results} - {None} == {case.passing_rows}, name
        assert not outcome.failures("critical") and not outcome.failures("warning"), name


def test_a_broken_row_outside_the_window_fails_in_its_own_window(validated):
    """The day before's broken inventory row is seen when that day is the window."""
    day_before = (D - dt.timedelta(days=1), D - dt.timedelta(days=1))
    outcome = validate(validated.url, SUITES["raw.amazon_inventory"], validated.home, day_before)
    results = {r.label: r for r in outcome.results}
    fulfillable = results[between("afn_fulfillable_quantity")]
    # 4 copies of the 18 lines of D (2 made before the passing validation, 2 after)
    assert (fulfillable.success, fulfillable.unexpected_count, fulfillable.element_count) == (False, 1, 72)
    assert sample_ids(SUITES["raw.amazon_inventory"], fulfillable) == {
        (f"amazon/s1/inventory/{(D - dt.timedelta(days=1)).isoformat()}.txt", 1002)
    }
    assert results[between("afn_warehouse_quantity")].success  # 99 is a quantity, if a wrong one
    assert results[rule("warehouse = fulfillable + unsellable + reserved")].unexpected_count == 1


def test_rule_and_compound_key_samples_name_the_broken_rows(validated):
    problems = []
    for name, case in CASES.items():
        for result in validated.failing[name].results:
            broken = case.failures.get(result.label)
            if broken is None or samples_rows(result.label) or not broken.rows:
                continue
            if sample_ids(case.spec, result) != broken.rows:
                problems.append(f"{name} {result.label}: {result.sample}")
    assert not problems, "\n".join(problems)


def test_a_mart_row_without_its_date_fails_in_a_windowed_validation(validated):
    outcome = validate(validated.url, SUITES["marts.fct_daily_sales"], validated.home, WINDOW)
    (result,) = [r for r in outcome.results if r.label == not_null("order_date")]
    assert not result.success and result.unexpected_count == 1


def test_every_expectation_and_column_type_has_a_passing_and_a_failing_case(request):
    """Last in the module: the tests above recorded what they checked."""
    assert set(CASES) == set(SUITES)
    selected = {item.name for item in request.session.items}
    wanted = {(s.name, label) for s in SUITES.values() for label in labels_of(s)}
    for state, test in (
        ("passing", "test_every_expectation_passes_on_the_landing_files"),
        ("failing", "test_every_expectation_fails_with_the_rows_broken_by_hand"),
    ):
        if not all(f"{test}[{s}]" in selected for s in SUITES):
            pytest.skip("run with the whole module")
        missing = sorted(wanted - COVERED[state])
        assert not missing, f"no {state} assertion for: {missing}"
