"""Business marts on a real PostgreSQL: hand-written seller reports in, Seller Central numbers out.

Two stores: ``us-main`` (USD, America/Los_Angeles) sends the current All Orders layout (with
``cpf``), Sales and Traffic reports and a returns report; ``eu-de`` (EUR, Europe/Berlin) sends the
older layout (``url``, no ``cpf``) with extra columns the loader does not know. Every expected
number below is worked out by hand from the lines written here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing, query, run_dbt
from .dbt_runner import query_dicts as rows_as_dicts
from .seller_files import ORDERS_HEADER as CURRENT_ORDERS_HEADER
from .seller_files import PARTITIONED, RETURNS_HEADER, SELLER_MARTS, STORES_YAML

D = Decimal
MARTS = SELLER_MARTS

# older files: `url` after order-channel, no `cpf`, and columns the raw table does not know
OLDER_ORDERS_HEADER = [
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "url",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
    "is-sold-by-ab",
    "number-of-items",
]

TIMEZONES = {"us-main": ZoneInfo("America/Los_Angeles"), "eu-de": ZoneInfo("Europe/Berlin")}
CURRENCIES = {"us-main": "USD", "eu-de": "EUR"}
ASINS = {
    "SKU-A": "B00000000A",
    "SKU-B": "B00000000B",
    "SKU-C": "B00000000C",
    "SKU-E1": "B0000000E1",
    "SKU-E2": "B0000000E2",
}


def order(order_id, purchased, status, sku, quantity, price, promo="0.00", updated=None):
    """One All Orders line; the rest of the columns get plausible values."""
    return {
        "amazon-order-id": order_id,
        "purchase-date": purchased,
        "last-updated-date": updated or purchased,
        "order-status": status,
        "sku": sku,
        "asin": ASINS[sku],
        "product-name": f"Product {sku}",
        "quantity": str(quantity),
        "item-price": price,
        "item-promotion-discount": promo,
    }


# --- us-main (Los Angeles, UTC-8 in winter) --------------------------------------------------
US_ORDERS = {
    "2025-03-03": [order("113-0000000-0000001", "2025-03-03T18:00:00+00:00", "Shipped", "SKU-A", 2, "40.00")],
    "2026-02-27": [order("113-0000000-0000010", "2026-02-27T20:00:00+00:00", "Shipped", "SKU-A", 1, "20.00")],
    "2026-03-02": [
        order("113-0000000-0000020", "2026-03-02T17:00:00+00:00", "Shipped", "SKU-A", 2, "40.00", "4.00"),
        order("113-0000000-0000020", "2026-03-02T17:00:00+00:00", "Shipped", "SKU-B", 1, "15.50"),
        # 07:30 UTC is 23:30 on March 1 in Los Angeles: a March 1 order
        order("113-0000000-0000030", "2026-03-02T07:30:00+00:00", "Shipped", "SKU-B", 3, "46.50"),
        # cancelled lines carry no price in the report and are not sales
        order("113-0000000-0000040", "2026-03-02T19:00:00+00:00", "Cancelled", "SKU-A", 1, ""),
        order("113-0000000-0000050", "2026-03-02T21:00:00+00:00", "Pending", "SKU-C", 1, "9.99"),
    ],
    "2026-03-03": [
        order("113-0000000-0000060", "2026-03-03T16:00:00+00:00", "Shipped", "SKU-A", 3, "60.00", "6.00"),
        order("113-0000000-0000070", "2026-03-03T18:00:00+00:00", "Shipped", "SKU-C", 2, "19.98"),
    ],
}
# --- eu-de (Berlin, UTC+1) --------------------------------------------------------------------
EU_ORDERS = {
    "2026-03-02": [
        order("302-0000000-0000001", "2026-03-02T10:00:00+01:00", "Shipped", "SKU-E1", 1, "25.00"),
        # 23:30 UTC on March 1 is 00:30 on March 2 in Berlin
        order("302-0000000-0000002", "2026-03-01T23:30:00+00:00", "Shipped", "SKU-E1", 2, "50.00", "5.00"),
        order("302-0000000-0000002", "2026-03-01T23:30:00+00:00", "Shipped", "SKU-E2", 1, "12.00"),
    ],
    "2026-03-03": [
        order("302-0000000-0000004", "2026-03-03T09:00:00+01:00", "Shipped", "SKU-E2", 4, "48.00")
    ],
}
US_RETURNS = {
    "2026-03-03": [
        # 20:00 UTC = 12:00 in Los Angeles on March 3; order 20 bought SKU-A at 40.00 / 2 = 20.00
        {
            "return-date": "2026-03-03T20:00:00+00:00",
            "order-id": "113-0000000-0000020",
            "sku": "SKU-A",
            "quantity": "1",
            "detailed-disposition": "SELLABLE",
            "reason": "UNWANTED_ITEM",
            "license-plate-number": "LPNA1",
        },
        # an order the orders files do not have: counted in units, not in the refund amount
        {
            "return-date": "2026-03-03T21:00:00+00:00",
            "order-id": "113-9999999-9999999",
            "sku": "SKU-B",
            "quantity": "1",
            "detailed-disposition": "CUSTOMER_DAMAGED",
            "reason": "DEFECTIVE",
            "license-plate-number": "LPNB1",
        },
    ],
}
# Sales and Traffic by date: (sales, units, order items, sessions, page views, buy box %)
US_TRAFFIC = {
    "2026-03-02": ("55.50", 3, 2, 200, 300, 95.5),  # Amazon left the Pending order out
    "2026-03-03": ("79.98", 5, 2, 250, 400, 90.25),
}


def tsv(header: list[str], rows: list[dict], defaults: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE)
    writer.writerow(header)
    for row in rows:
        values = {**defaults, **row}
        writer.writerow([values.get(column, "") for column in header])
    return out.getvalue()


def order_defaults(store: str) -> dict:
    return {
        "fulfillment-channel": "Amazon",
        "sales-channel": "Amazon.com",
        "order-channel": "",
        "url": "",
        "ship-service-level": "Standard",
        "item-status": "Shipped",
        "currency": CURRENCIES[store],
        "item-tax": "0.00",
        "shipping-price": "0.00",
        "shipping-tax": "0.00",
        "gift-wrap-price": "",
        "gift-wrap-tax": "",
        "ship-promotion-discount": "0.00",
        "ship-city": "Springfield",
        "ship-country": "US",
        "is-business-order": "false",
        "is-sold-by-ab": "false",
        "number-of-items": "1",
    }


def write(landing: Path, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_orders(landing: Path, store: str, day: str, lines: list[dict]) -> None:
    header = CURRENT_ORDERS_HEADER if store == "us-main" else OLDER_ORDERS_HEADER
    write(landing, f"amazon/{store}/orders/{day}.txt", tsv(header, lines, order_defaults(store)))


def write_returns(landing: Path, store: str, day: str, lines: list[dict]) -> None:
    defaults = {
        "asin": "",
        "fnsku": "X000000000",
        "product-name": "A product",
        "fulfillment-center-id": "PHX7",
        "status": "Unit returned to inventory",
        "customer-comments": "",
    }
    rows = [{**line, "asin": ASINS[line["sku"]]} for line in lines]
    write(landing, f"amazon/{store}/returns/{day}.txt", tsv(RETURNS_HEADER, rows, defaults))


def money(amount, currency="USD") -> dict:
    return {"amount": amount, "currencyCode": currency}


def sales_traffic_report(
    day: str, sales: str, units: int, items: int, sessions: int, page_views: int, buy_box: float
) -> dict:
    """A one-day GET_SALES_AND_TRAFFIC_REPORT document with every field the schema requires."""
    amount = float(sales)
    return {
        "reportSpecification": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
            "dataStartTime": day,
            "dataEndTime": day,
            "marketplaceIds": ["ATVPDKIKX0DER"],
        },
        "salesAndTrafficByDate": [
            {
                "date": day,
                "salesByDate": {
                    "orderedProductSales": money(amount),
                    "unitsOrdered": units,
                    "totalOrderItems": items,
                    "averageSalesPerOrderItem": money(round(amount / items, 2)),
                    "averageUnitsPerOrderItem": round(units / items, 2),
                    "averageSellingPrice": money(round(amount / units, 2)),
                    "unitsRefunded": 0,
                    "refundRate": 0.0,
                    "claimsGranted": 0,
                    "claimsAmount": money(0.0),
                    "shippedProductSales": money(amount),
                    "unitsShipped": units,
                    "ordersShipped": items,
                },
                "trafficByDate": {
                    "browserPageViews": page_views - 50,
                    "mobileAppPageViews": 50,
                    "pageViews": page_views,
                    "browserSessions": sessions - 20,
                    "mobileAppSessions": 20,
                    "sessions": sessions,
                    "buyBoxPercentage": buy_box,
                    "orderItemSessionPercentage": round(items / sessions * 100, 2),
                    "unitSessionPercentage": round(units / sessions * 100, 2),
                    "averageOfferCount": 3,
                    "averageParentItems": 3,
                    "feedbackReceived": 0,
                    "negativeFeedbackReceived": 0,
                    "receivedNegativeFeedbackRate": 0.0,
                },
            }
        ],
        "salesAndTrafficByAsin": [
            {
                "parentAsin": ASINS["SKU-A"],
                "childAsin": ASINS["SKU-A"],
                "sku": "SKU-A",
                "salesByAsin": {
                    "unitsOrdered": units,
                    "orderedProductSales": money(amount),
                    "totalOrderItems": items,
                },
                "trafficByAsin": {
                    "browserSessions": sessions - 20,
                    "mobileAppSessions": 20,
                    "sessions": sessions,
                    "browserSessionPercentage": 1.0,
                    "mobileAppSessionPercentage": 1.0,
                    "sessionPercentage": 1.0,
                    "browserPageViews": page_views - 50,
                    "mobileAppPageViews": 50,
                    "pageViews": page_views,
                    "browserPageViewsPercentage": 1.0,
                    "mobileAppPageViewsPercentage": 1.0,
                    "pageViewsPercentage": 1.0,
                    "buyBoxPercentage": buy_box,
                    "unitSessionPercentage": round(units / sessions * 100, 2),
                },
            }
        ],
    }


def write_landing(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    for day, lines in US_ORDERS.items():
        write_orders(landing, "us-main", day, lines)
    for day, lines in EU_ORDERS.items():
        write_orders(landing, "eu-de", day, lines)
    for day, lines in US_RETURNS.items():
        write_returns(landing, "us-main", day, lines)
    for day, figures in US_TRAFFIC.items():
        report = sales_traffic_report(day, *figures)
        write(landing, f"amazon/us-main/sales_traffic/{day}.json", json.dumps(report, indent=2))


@pytest.fixture(scope="module")
def built(server_url, tmp_path_factory):
    """One database with both stores' files loaded and the business marts built once."""
    name = create_database(server_url)
    url = with_database(server_url, name)
    root = tmp_path_factory.mktemp("business")
    write_landing(root / "landing")
    load_landing(url, root / "landing")
    run_dbt(url, "build", "--select", MARTS, target_dir=root / "dbt")
    yield url
    drop_database(server_url, name)


@pytest.fixture
def partitioned(server_url, tmp_path):
    """A database with the partitioned facts built from the same files (for window re-runs)."""
    name = create_database(server_url)
    url = with_database(server_url, name)
    landing = tmp_path / "landing"
    write_landing(landing)
    load_landing(url, landing)
    # as in Dagster, the views (here the ones the facts read or test against) exist first
    upstream = "+fct_daily_sales +fct_daily_store_performance +fct_inventory_daily +fct_returns +int_products_unioned"
    run_dbt(url, "build", "--select", upstream, target_dir=tmp_path / "dbt")
    yield url, landing, tmp_path / "dbt"
    drop_database(server_url, name)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ------------------------------------------------------------------------------------------
# fct_daily_sales
# ------------------------------------------------------------------------------------------


def test_daily_sales_per_sku_and_local_purchase_day(built):
    rows = query(
        built,
        """
        select store_id, sku, order_date, asin, currency, ordered_product_sales, units_ordered,
               orders, order_items, item_promotion_discount
        from marts.fct_daily_sales order by store_id desc, order_date, sku""",
    )
    assert rows == [
        ("us-main", "SKU-A", day("2025-03-03"), "B00000000A", "USD", D("40.00"), 2, 1, 1, D("0.00")),
        ("us-main", "SKU-A", day("2026-02-27"), "B00000000A", "USD", D("20.00"), 1, 1, 1, D("0.00")),
        # order 30 was placed 23:30 on March 1 Los Angeles time
        ("us-main", "SKU-B", day("2026-03-01"), "B00000000B", "USD", D("46.50"), 3, 1, 1, D("0.00")),
        # order 40 (Cancelled) is not a sale; order 50 (Pending) is
        ("us-main", "SKU-A", day("2026-03-02"), "B00000000A", "USD", D("40.00"), 2, 1, 1, D("4.00")),
        ("us-main", "SKU-B", day("2026-03-02"), "B00000000B", "USD", D("15.50"), 1, 1, 1, D("0.00")),
        ("us-main", "SKU-C", day("2026-03-02"), "B00000000C", "USD", D("9.99"), 1, 1, 1, D("0.00")),
        ("us-main", "SKU-A", day("2026-03-03"), "B00000000A", "USD", D("60.00"), 3, 1, 1, D("6.00")),
        ("us-main", "SKU-C", day("2026-03-03"), "B00000000C", "USD", D("19.98"), 2, 1, 1, D("0.00")),
        # eu-de: 25.00 + 50.00 for SKU-E1 (order 2 bought at 00:30 Berlin time on March 2)
        ("eu-de", "SKU-E1", day("2026-03-02"), "B0000000E1", "EUR", D("75.00"), 3, 2, 2, D("5.00")),
        ("eu-de", "SKU-E2", day("2026-03-02"), "B0000000E2", "EUR", D("12.00"), 1, 1, 1, D("0.00")),
        ("eu-de", "SKU-E2", day("2026-03-03"), "B0000000E2", "EUR", D("48.00"), 4, 1, 1, D("0.00")),
    ]


def independent_daily_totals(orders_by_store: dict[str, dict[str, list[dict]]]) -> dict:
    """(store, local purchase day) -> [sales, units, order ids, lines], straight from the lines
    written above: newest version of each store × order × SKU, cancelled lines left out."""
    newest: dict[tuple, dict] = {}
    for store, files in orders_by_store.items():
        for file_day in sorted(files):
            for line in files[file_day]:
                key = (store, line["amazon-order-id"], line["sku"])
                updated = dt.datetime.fromisoformat(line["last-updated-date"])
                if key not in newest or updated >= newest[key][0]:
                    newest[key] = (updated, line)
    totals: dict[tuple, list] = {}
    for (store, order_id, _), (_, line) in newest.items():
        if line["order-status"] == "Cancelled":
            continue
        local_day = dt.datetime.fromisoformat(line["purchase-date"]).astimezone(TIMEZONES[store]).date()
        entry = totals.setdefault((store, local_day), [D("0"), 0, set(), 0])
        entry[0] += D(line["item-price"])
        entry[1] += int(line["quantity"])
        entry[2].add(order_id)
        entry[3] += 1
    return totals


@pytest.mark.parametrize("first, last", [("2026-03-01", "2026-03-31"), ("2025-01-01", "2026-12-31")])
def test_daily_sales_summed_over_a_period_equal_the_raw_order_lines(built, first, last):
    expected: dict[str, list] = {}
    for (store, local_day), (sales, units, _orders, lines) in independent_daily_totals(
        {"us-main": US_ORDERS, "eu-de": EU_ORDERS}
    ).items():
        if day(first) <= local_day <= day(last):
            total = expected.setdefault(store, [D("0"), 0, 0])
            total[0] += sales
            total[1] += units
            total[2] += lines
    by_sku = query(
        built,
        """
        select store_id, sum(ordered_product_sales), sum(units_ordered)::int, sum(order_items)::int
        from marts.fct_daily_sales where order_date between %s and %s group by store_id""",
        (day(first), day(last)),
    )
    by_store = query(
        built,
        """
        select store_id, sum(ordered_product_sales), sum(units_ordered)::int, sum(order_items)::int
        from marts.fct_daily_store_performance where date_day between %s and %s group by store_id""",
        (day(first), day(last)),
    )
    assert {r[0]: list(r[1:]) for r in by_sku} == expected
    assert {r[0]: list(r[1:]) for r in by_store} == expected


# ------------------------------------------------------------------------------------------
# fct_daily_store_performance
# ------------------------------------------------------------------------------------------

PERFORMANCE_COLUMNS = [
    "currency",
    "ordered_product_sales",
    "units_ordered",
    "orders",
    "order_items",
    "average_order_value",
    "average_selling_price",
    "sessions",
    "page_views",
    "unit_session_percentage",
    "order_item_session_percentage",
    "buy_box_percentage",
    "units_refunded",
    "refund_rate",
    "refunds_amount",
    "units_refunded_unpriced",
    "item_promotion_discount",
    "net_sales",
    "has_traffic_report",
    "report_ordered_product_sales",
    "report_units_ordered",
    "report_order_items",
    "ordered_product_sales_difference",
    "units_ordered_difference",
    "order_items_difference",
]
NO_TRAFFIC = [None, None, None, None, None, 0]  # sessions .. buy box, then units_refunded
NO_REPORT = [False, None, None, None, None, None, None]


def perf(values: list) -> dict:
    return dict(zip(PERFORMANCE_COLUMNS, values, strict=True))


EXPECTED_PERFORMANCE = {
    ("us-main", "2025-03-03"): perf(
        [
            "USD",
            D("40.00"),
            2,
            1,
            1,
            D("40.00"),
            D("20.00"),
            *NO_TRAFFIC,
            D("0.00"),
            D("0.00"),
            0,
            D("0.00"),
            D("40.00"),
            *NO_REPORT,
        ]
    ),
    ("us-main", "2026-02-27"): perf(
        [
            "USD",
            D("20.00"),
            1,
            1,
            1,
            D("20.00"),
            D("20.00"),
            *NO_TRAFFIC,
            D("0.00"),
            D("0.00"),
            0,
            D("0.00"),
            D("20.00"),
            *NO_REPORT,
        ]
    ),
    # 46.50 / 3 units = 15.50
    ("us-main", "2026-03-01"): perf(
        [
            "USD",
            D("46.50"),
            3,
            1,
            1,
            D("46.50"),
            D("15.50"),
            *NO_TRAFFIC,
            D("0.00"),
            D("0.00"),
            0,
            D("0.00"),
            D("46.50"),
            *NO_REPORT,
        ]
    ),
    # sales 40.00 + 15.50 + 9.99 = 65.49; units 2 + 1 + 1 = 4; orders 20 and 50; 3 lines;
    # AOV 65.49 / 2 = 32.745 -> 32.75; ASP 65.49 / 4 = 16.3725 -> 16.37;
    # unit session % 4 / 200 x 100 = 2.00; order item session % 3 / 200 x 100 = 1.50;
    # no returns: refund rate 0 / 4 = 0.00; net 65.49 - 4.00 promotion = 61.49;
    # the report has 55.50 / 3 units / 2 items (no Pending order): differences 9.99, 1, 1
    ("us-main", "2026-03-02"): perf(
        [
            "USD",
            D("65.49"),
            4,
            2,
            3,
            D("32.75"),
            D("16.37"),
            200,
            300,
            D("2.00"),
            D("1.50"),
            D("95.50"),
            0,
            D("0.00"),
            D("0.00"),
            0,
            D("4.00"),
            D("61.49"),
            True,
            D("55.50"),
            3,
            2,
            D("9.99"),
            1,
            1,
        ]
    ),
    # sales 60.00 + 19.98 = 79.98, 5 units, 2 orders, 2 lines; AOV 39.99; ASP 15.996 -> 16.00;
    # unit session % 5 / 250 x 100 = 2.00; order item session % 2 / 250 x 100 = 0.80;
    # 2 units returned (1 priced at 20.00, 1 without an order): refund rate 2 / 5 x 100 = 40.00;
    # net 79.98 - 6.00 - 20.00 = 53.98; the report matches: differences 0
    ("us-main", "2026-03-03"): perf(
        [
            "USD",
            D("79.98"),
            5,
            2,
            2,
            D("39.99"),
            D("16.00"),
            250,
            400,
            D("2.00"),
            D("0.80"),
            D("90.25"),
            2,
            D("40.00"),
            D("20.00"),
            1,
            D("6.00"),
            D("53.98"),
            True,
            D("79.98"),
            5,
            2,
            D("0.00"),
            0,
            0,
        ]
    ),
    # 25.00 + 50.00 + 12.00 = 87.00, 4 units, 2 orders, 3 lines; AOV 43.50; ASP 21.75; net 82.00
    ("eu-de", "2026-03-02"): perf(
        [
            "EUR",
            D("87.00"),
            4,
            2,
            3,
            D("43.50"),
            D("21.75"),
            *NO_TRAFFIC,
            D("0.00"),
            D("0.00"),
            0,
            D("5.00"),
            D("82.00"),
            *NO_REPORT,
        ]
    ),
    ("eu-de", "2026-03-03"): perf(
        [
            "EUR",
            D("48.00"),
            4,
            1,
            1,
            D("48.00"),
            D("12.00"),
            *NO_TRAFFIC,
            D("0.00"),
            D("0.00"),
            0,
            D("0.00"),
            D("48.00"),
            *NO_REPORT,
        ]
    ),
}


def test_daily_store_performance_every_metric(built):
    rows = rows_as_dicts(built, "select * from marts.fct_daily_store_performance")
    actual = {(r["store_id"], r["date_day"].isoformat()): r for r in rows}
    assert set(actual) == set(EXPECTED_PERFORMANCE)
    for key, expected in EXPECTED_PERFORMANCE.items():
        assert {c: actual[key][c] for c in PERFORMANCE_COLUMNS} == expected, key
    assert actual[("us-main", "2026-03-03")]["week_start"] == day("2026-03-02")
    assert actual[("us-main", "2026-03-03")]["month_start"] == day("2026-03-01")


# ------------------------------------------------------------------------------------------
# fct_period_comparison
# ------------------------------------------------------------------------------------------

METRICS = [
    "ordered_product_sales",
    "units_ordered",
    "orders",
    "order_items",
    "average_order_value",
    "average_selling_price",
    "sessions",
    "page_views",
    "unit_session_percentage",
    "order_item_session_percentage",
    "buy_box_percentage",
    "units_refunded",
    "refund_rate",
    "refunds_amount",
    "item_promotion_discount",
    "net_sales",
]
NO_SESSIONS = [None] * 5


def metrics(values: list) -> dict:
    return dict(zip(METRICS, values, strict=True))


# us-main, by hand from the daily figures above
DAY_0303 = metrics(
    [
        D("79.98"),
        5,
        2,
        2,
        D("39.99"),
        D("16.00"),
        250,
        400,
        D("2.00"),
        D("0.80"),
        D("90.25"),
        2,
        D("40.00"),
        D("20.00"),
        D("6.00"),
        D("53.98"),
    ]
)
DAY_0302 = metrics(
    [
        D("65.49"),
        4,
        2,
        3,
        D("32.75"),
        D("16.37"),
        200,
        300,
        D("2.00"),
        D("1.50"),
        D("95.50"),
        0,
        D("0.00"),
        D("0.00"),
        D("4.00"),
        D("61.49"),
    ]
)
ONLY_20250303 = metrics(
    [
        D("40.00"),
        2,
        1,
        1,
        D("40.00"),
        D("20.00"),
        *NO_SESSIONS,
        0,
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("40.00"),
    ]
)
# week of Monday 2026-03-02 (data ends Tuesday 03-03): 65.49 + 79.98 = 145.47, 9 units, 4 orders,
# 5 lines; AOV 145.47 / 4 = 36.3675 -> 36.37; ASP 145.47 / 9 = 16.163 -> 16.16; 450 sessions,
# 700 page views; unit session % 9 / 450 = 2.00; order item session % 5 / 450 = 1.11;
# buy box (95.5 x 300 + 90.25 x 400) / 700 = 92.50; refund rate 2 / 9 = 22.22;
# promotions 10.00, refunds 20.00, net 145.47 - 10.00 - 20.00 = 115.47
WEEK_0302 = metrics(
    [
        D("145.47"),
        9,
        4,
        5,
        D("36.37"),
        D("16.16"),
        450,
        700,
        D("2.00"),
        D("1.11"),
        D("92.50"),
        2,
        D("22.22"),
        D("20.00"),
        D("10.00"),
        D("115.47"),
    ]
)
# week of 2026-02-23: Feb 27 (20.00, 1 unit) + Mar 1 (46.50, 3 units): 66.50, 4 units, 2 orders;
# AOV 33.25, ASP 16.625 -> 16.63, no traffic
WEEK_0223 = metrics(
    [
        D("66.50"),
        4,
        2,
        2,
        D("33.25"),
        D("16.63"),
        *NO_SESSIONS,
        0,
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("66.50"),
    ]
)
# March 2026 (1st to 3rd): 46.50 + 65.49 + 79.98 = 191.97, 12 units, 5 orders, 6 lines;
# AOV 38.394 -> 38.39; ASP 15.9975 -> 16.00; conversion over the days with traffic only:
# 9 / 450 = 2.00, 5 / 450 = 1.11; refund rate 2 / 12 = 16.67; net 191.97 - 10.00 - 20.00 = 161.97
MONTH_0301 = metrics(
    [
        D("191.97"),
        12,
        5,
        6,
        D("38.39"),
        D("16.00"),
        450,
        700,
        D("2.00"),
        D("1.11"),
        D("92.50"),
        2,
        D("16.67"),
        D("20.00"),
        D("10.00"),
        D("161.97"),
    ]
)
MONTH_0201 = metrics(
    [
        D("20.00"),
        1,
        1,
        1,
        D("20.00"),
        D("20.00"),
        *NO_SESSIONS,
        0,
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("20.00"),
    ]
)

COMPARISONS = [
    # grain, start, end, days covered, complete, current, previous, same period last year
    ("day", "2026-03-03", "2026-03-03", 1, True, DAY_0303, DAY_0302, ONLY_20250303),
    # last year's week: 2026-03-02 - 364 days = Monday 2025-03-03
    ("week", "2026-03-02", "2026-03-08", 2, False, WEEK_0302, WEEK_0223, ONLY_20250303),
    ("month", "2026-03-01", "2026-03-31", 3, False, MONTH_0301, MONTH_0201, ONLY_20250303),
]


def change(current, previous):
    return None if current is None or previous is None else current - previous


def change_pct(current, previous):
    if current is None or previous is None or previous == 0:
        return None
    return (D(current - previous) * 100 / abs(D(previous))).quantize(D("0.01"), ROUND_HALF_UP)


def test_period_comparison_day_week_month_with_previous_and_last_year(built):
    for grain, start, end, covered, complete, current, previous, last_year in COMPARISONS:
        [row] = rows_as_dicts(
            built,
            """select * from marts.fct_period_comparison
            where store_id = 'us-main' and period_grain = %s and period_start = %s""",
            (grain, day(start)),
        )
        assert (row["period_end"], row["days_covered"], row["is_complete"]) == (day(end), covered, complete)
        for name in METRICS:
            cur, prev, ly = current[name], previous[name], last_year[name]
            assert row[name] == cur, (grain, name)
            assert row[f"{name}_previous"] == prev, (grain, name)
            assert row[f"{name}_change"] == change(cur, prev), (grain, name)
            assert row[f"{name}_change_pct"] == change_pct(cur, prev), (grain, name)
            assert row[f"{name}_last_year"] == ly, (grain, name)
            assert row[f"{name}_yoy_change"] == change(cur, ly), (grain, name)
            assert row[f"{name}_yoy_change_pct"] == change_pct(cur, ly), (grain, name)
    # a few changes written out: day sales 79.98 - 65.49 = 14.49, 14.49 / 65.49 = 22.13 %;
    # week vs last year 145.47 - 40.00 = 105.47, 263.675 -> 263.68 %; month net vs February
    # 161.97 - 20.00 = 141.97, 709.85 %; week net vs the week before 115.47 - 66.50 = 48.97, 73.64 %
    picked = query(
        built,
        """
        select period_grain, ordered_product_sales_change_pct, ordered_product_sales_yoy_change_pct,
               net_sales_change, net_sales_change_pct
        from marts.fct_period_comparison
        where store_id = 'us-main' and (period_grain, period_start) in
              (('day', '2026-03-03'::date), ('week', '2026-03-02'::date), ('month', '2026-03-01'::date))
        order by period_grain""",
    )
    assert picked == [
        ("day", D("22.13"), D("99.95"), D("-7.51"), D("-12.21")),
        ("month", D("859.85"), D("379.93"), D("141.97"), D("709.85")),
        ("week", D("118.75"), D("263.68"), D("48.97"), D("73.64")),
    ]


def test_period_comparison_spans_each_store_and_leaves_missing_periods_null(built):
    spans = query(
        built,
        """
        select store_id, period_grain, min(period_start), max(period_start), count(*)
        from marts.fct_period_comparison group by 1, 2 order by 1, 2""",
    )
    assert spans == [
        ("eu-de", "day", day("2026-03-02"), day("2026-03-03"), 2),
        ("eu-de", "month", day("2026-03-01"), day("2026-03-01"), 1),
        ("eu-de", "week", day("2026-03-02"), day("2026-03-02"), 1),
        # 2025-03-03 .. 2026-03-03 is 366 days, 53 Mondays from 2025-03-03 to 2026-03-02
        ("us-main", "day", day("2025-03-03"), day("2026-03-03"), 366),
        ("us-main", "month", day("2025-03-01"), day("2026-03-01"), 13),
        ("us-main", "week", day("2025-03-03"), day("2026-03-02"), 53),
    ]
    [first_eu_day] = rows_as_dicts(
        built,
        """select * from marts.fct_period_comparison
        where store_id = 'eu-de' and period_grain = 'day' and period_start = '2026-03-02'""",
    )
    assert first_eu_day["ordered_product_sales"] == D("87.00")
    assert all(
        first_eu_day[f"{m}_previous"] is None and first_eu_day[f"{m}_last_year"] is None for m in METRICS
    )
    # a day inside the span without any activity is a zero-sales day
    [quiet] = rows_as_dicts(
        built,
        """select * from marts.fct_period_comparison
        where store_id = 'us-main' and period_grain = 'day' and period_start = '2026-02-28'""",
    )
    assert (
        quiet["ordered_product_sales"],
        quiet["orders"],
        quiet["average_order_value"],
        quiet["sessions"],
    ) == (D("0.00"), 0, None, None)
    assert (quiet["ordered_product_sales_previous"], quiet["ordered_product_sales_change_pct"]) == (
        D("20.00"),
        D("-100.00"),
    )


# ------------------------------------------------------------------------------------------
# analytics_metrics
# ------------------------------------------------------------------------------------------


def test_analytics_metrics_agree_with_the_wide_tables(built):
    long_rows = rows_as_dicts(
        built,
        """select * from marts.analytics_metrics
        where period_grain in ('day', 'week', 'month') and metric_name = any(%s)""",
        (METRICS,),
    )
    long = {(r["store_id"], r["metric_name"], r["period_grain"], r["period_start"]): r for r in long_rows}
    wide = rows_as_dicts(built, "select * from marts.fct_period_comparison")
    expected = {}
    for row in wide:
        for name in METRICS:
            if row[name] is not None:
                expected[(row["store_id"], name, row["period_grain"], row["period_start"])] = (
                    row[name],
                    row["period_end"],
                )
    assert {k: (v["metric_value"], v["period_end"]) for k, v in long.items()} == expected
    # the same figures by hand: week net sales 115.47 (Mar 2-8), March sales 191.97, day AOV 39.99
    assert long[("us-main", "net_sales", "week", day("2026-03-02"))]["metric_value"] == D("115.47")
    assert long[("us-main", "net_sales", "week", day("2026-03-02"))]["period_end"] == day("2026-03-08")
    assert long[("us-main", "ordered_product_sales", "month", day("2026-03-01"))]["metric_value"] == D(
        "191.97"
    )
    assert long[("us-main", "average_order_value", "day", day("2026-03-03"))]["metric_value"] == D("39.99")
    # days without a traffic report have no sessions row
    assert ("us-main", "sessions", "day", day("2026-03-01")) not in long
    calculated = query(
        built,
        "select count(distinct calculated_at), bool_and(calculated_at is not null) from marts.analytics_metrics",
    )
    assert calculated == [(1, True)]
    # returns metrics sit beside the business ones: units returned in March = units refunded
    returned = query(
        built,
        """select metric_value from marts.analytics_metrics where store_id = 'us-main'
        and metric_name = 'units_returned' and period_grain = 'month' and period_start = '2026-03-01'""",
    )
    assert returned == [(D("2.0000"),)]


# ------------------------------------------------------------------------------------------
# dim_product
# ------------------------------------------------------------------------------------------


def test_dim_product_one_row_per_store_sku_with_latest_price(built):
    rows = query(
        built,
        """
        select store_id, sku, asin, product_name, latest_price, latest_price_source, latest_price_date, currency
        from marts.dim_product order by store_id desc, sku""",
    )
    assert rows == [
        # SKU-A: newest line is order 60 (60.00 / 3 = 20.00); cancelled order 40 is ignored
        (
            "us-main",
            "SKU-A",
            "B00000000A",
            "Product SKU-A",
            D("20.00"),
            "order_line",
            day("2026-03-03"),
            "USD",
        ),
        # SKU-B: order 20 (15.50) is newer than order 30 (46.50 / 3); the return adds no price
        (
            "us-main",
            "SKU-B",
            "B00000000B",
            "Product SKU-B",
            D("15.50"),
            "order_line",
            day("2026-03-02"),
            "USD",
        ),
        # SKU-C: order 70, 19.98 / 2 = 9.99
        (
            "us-main",
            "SKU-C",
            "B00000000C",
            "Product SKU-C",
            D("9.99"),
            "order_line",
            day("2026-03-03"),
            "USD",
        ),
        (
            "eu-de",
            "SKU-E1",
            "B0000000E1",
            "Product SKU-E1",
            D("25.00"),
            "order_line",
            day("2026-03-02"),
            "EUR",
        ),
        (
            "eu-de",
            "SKU-E2",
            "B0000000E2",
            "Product SKU-E2",
            D("12.00"),
            "order_line",
            day("2026-03-03"),
            "EUR",
        ),
    ]


# ------------------------------------------------------------------------------------------
# partition windows: late data and idempotence
# ------------------------------------------------------------------------------------------

PARTITIONED_TABLES = {
    "fct_daily_sales": "order_date",
    "fct_daily_store_performance": "date_day",
    "fct_returns": "return_date",
}


def table_by_day(url: str) -> dict[str, dict[dt.date, list[tuple]]]:
    """Every partitioned table's rows grouped by its partition column."""
    out = {}
    for table, column in PARTITIONED_TABLES.items():
        rows = rows_as_dicts(url, f"select * from marts.{table} order by 1, 2, 3")
        grouped: dict[dt.date, list[tuple]] = {}
        for row in rows:
            grouped.setdefault(row[column], []).append(tuple(row.values()))
        out[table] = grouped
    return out


def run_window(url: str, target: Path, first: str, last: str) -> None:
    run_dbt(
        url,
        "build",
        "--select",
        PARTITIONED,
        variables={"min_date": first, "max_date": last},
        target_dir=target,
    )


def test_partition_windows_replace_only_their_days_and_pick_up_late_updates(partitioned):
    url, landing, target = partitioned
    before = table_by_day(url)

    # 1. March 3 file changes: order 70 now has 3 units for 29.97. The March 2 file changes too
    #    (order 50: 5 units for 49.95), but only the March 3 window is re-run.
    changed_0303 = [dict(line) for line in US_ORDERS["2026-03-03"]]
    changed_0303[1].update({"quantity": "3", "item-price": "29.97"})
    changed_0302 = [dict(line) for line in US_ORDERS["2026-03-02"]]
    changed_0302[4].update({"quantity": "5", "item-price": "49.95"})
    write_orders(landing, "us-main", "2026-03-03", changed_0303)
    write_orders(landing, "us-main", "2026-03-02", changed_0302)
    load_landing(url, landing)
    run_window(url, target, "2026-03-03", "2026-03-03")
    after = table_by_day(url)
    for table in PARTITIONED_TABLES:
        untouched = {d: rows for d, rows in after[table].items() if d != day("2026-03-03")}
        assert untouched == {d: rows for d, rows in before[table].items() if d != day("2026-03-03")}, table
    assert query(
        url,
        """select sku, ordered_product_sales, units_ordered from marts.fct_daily_sales
        where store_id = 'us-main' and order_date = '2026-03-03' order by sku""",
    ) == [("SKU-A", D("60.00"), 3), ("SKU-C", D("29.97"), 3)]
    # March 3: 60.00 + 29.97 = 89.97, 6 units; net 89.97 - 6.00 - 20.00 = 63.97; refund rate 2 / 6
    assert query(
        url,
        """select ordered_product_sales, units_ordered, net_sales, refund_rate
        from marts.fct_daily_store_performance where store_id = 'us-main' and date_day = '2026-03-03'""",
    ) == [(D("89.97"), 6, D("63.97"), D("33.33"))]

    # 2. the same window again leaves every table exactly as it was
    run_window(url, target, "2026-03-03", "2026-03-03")
    assert table_by_day(url) == after

    # 3. order 20 (bought March 2) comes back in the March 4 file, cancelled, updated later
    late = [
        order(
            "113-0000000-0000020",
            "2026-03-02T17:00:00+00:00",
            "Cancelled",
            sku,
            quantity,
            "",
            updated="2026-03-04T09:00:00+00:00",
        )
        for sku, quantity in (("SKU-A", 2), ("SKU-B", 1))
    ]
    write_orders(landing, "us-main", "2026-03-04", late)
    load_landing(url, landing)

    def march_2() -> list[tuple]:
        return query(
            url,
            """select ordered_product_sales, units_ordered, orders, order_items,
                                    item_promotion_discount, net_sales
            from marts.fct_daily_store_performance where store_id = 'us-main' and date_day = '2026-03-02'""",
        )

    run_window(url, target, "2026-03-04", "2026-03-04")  # the new file's own partition
    assert march_2() == [(D("65.49"), 4, 2, 3, D("4.00"), D("61.49"))]
    run_window(url, target, "2026-03-02", "2026-03-02")  # the purchase day's partition
    # order 20 is gone and order 50 has its step-1 figures: 49.95, 5 units, 1 order, 1 line
    assert march_2() == [(D("49.95"), 5, 1, 1, D("0.00"), D("49.95"))]
    assert query(
        url,
        """select sku, units_ordered from marts.fct_daily_sales
        where store_id = 'us-main' and order_date = '2026-03-02' order by sku""",
    ) == [("SKU-C", 5)]
