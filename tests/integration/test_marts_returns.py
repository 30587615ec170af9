"""Returns marts on a real PostgreSQL: FBA customer returns joined back to their orders.

``us-main`` (Los Angeles) returns arrive in two overlapping reports (one batch appears in both),
with an order the orders files do not have, an unknown disposition and a blank reason.
``eu-de`` (Berlin) has one return. Every expected number is worked out by hand below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing, query, run_dbt
from .seller_files import ORDERS_HEADER, PARTITIONED, RETURNS_HEADER, SELLER_MARTS, STORES_YAML, tsv, write

D = Decimal

OFFSET = {"us-main": "-08:00", "eu-de": "+01:00"}

# store -> file day -> (order id, sku, units, line total); bought at noon of the store's day
ORDERS = {
    "us-main": {
        "2026-01-05": [("R01", "SKU-X", 10, "100.00")],  # 10.00 each
        "2026-01-20": [("R02", "SKU-X", 10, "100.00"), ("R02", "SKU-Y", 5, "40.00")],  # Y: 8.00 each
        "2026-02-10": [("R03", "SKU-X", 5, "50.00"), ("R04", "SKU-Y", 20, "160.00")],
        "2026-03-01": [("R05", "SKU-Z", 30, "150.00")],  # 5.00 each
    },
    "eu-de": {"2026-02-01": [("E01", "SKU-E", 4, "40.00")]},
}
# store -> file day -> (return day, order id, sku, units, disposition, reason, license plate)
RETURNS = {
    "us-main": {
        "2026-02-03": [
            ("2026-01-12", "R01", "SKU-X", 2, "SELLABLE", "UNWANTED_ITEM", "LPN1"),
            ("2026-02-03", "R02", "SKU-X", 3, "DEFECTIVE", "DEFECTIVE", "LPN2"),
        ],
        # a later report overlapping the first: LPN2 again (counted once)
        "2026-03-07": [
            ("2026-02-03", "R02", "SKU-X", 3, "DEFECTIVE", "DEFECTIVE", "LPN2"),
            ("2026-02-15", "R02", "SKU-Y", 1, "CUSTOMER_DAMAGED", "NOT_AS_DESCRIBED", "LPN3"),
            ("2026-02-20", "R03", "SKU-X", 1, "CUSTOMER_DAMAGED", "UNWANTED_ITEM", "LPN4"),
            ("2026-03-05", "R01", "SKU-X", 1, "CARRIER_DAMAGED", "MISSED_ESTIMATED_DELIVERY", "LPN5"),
            ("2026-03-06", "ZZZ", "SKU-Y", 1, "SELLABLE", "UNWANTED_ITEM", "LPN6"),  # order not in the data
            ("2026-03-07", "R05", "SKU-Z", 2, "WEIRD_NEW_DISPOSITION", "", "LPN7"),
        ],
    },
    "eu-de": {"2026-02-05": [("2026-02-05", "E01", "SKU-E", 1, "SELLABLE", "UNWANTED_ITEM", "LPNE1")]},
}


def order_id(short: str) -> str:
    return f"111-0000000-0000{short}"


def write_returns(landing: Path, store: str, file_day: str, lines: list[tuple]) -> None:
    rows = [
        {
            "return-date": f"{day}T10:00:00{OFFSET[store]}",
            "order-id": order_id(short),
            "sku": sku,
            "asin": f"B0{sku}",
            "fnsku": f"X0{sku}",
            "product-name": f"Product {sku}",
            "quantity": str(units),
            "fulfillment-center-id": "PHX7",
            "detailed-disposition": disposition,
            "reason": reason,
            "status": "Unit returned to inventory",
            "license-plate-number": plate,
            "customer-comments": "",
        }
        for day, short, sku, units, disposition, reason, plate in lines
    ]
    write(landing, f"amazon/{store}/returns/{file_day}.txt", tsv(RETURNS_HEADER, rows))


def write_landing(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    for store, files in ORDERS.items():
        for day, lines in files.items():
            rows = [
                {
                    "amazon-order-id": order_id(short),
                    "purchase-date": f"{day}T12:00:00{OFFSET[store]}",
                    "last-updated-date": f"{day}T12:00:00{OFFSET[store]}",
                    "order-status": "Shipped",
                    "fulfillment-channel": "Amazon",
                    "product-name": f"Product {sku}",
                    "sku": sku,
                    "asin": f"B0{sku}",
                    "item-status": "Shipped",
                    "quantity": str(units),
                    "currency": "USD" if store == "us-main" else "EUR",
                    "item-price": total,
                    "item-promotion-discount": "0.00",
                    "is-business-order": "false",
                }
                for short, sku, units, total in lines
            ]
            write(landing, f"amazon/{store}/orders/{day}.txt", tsv(ORDERS_HEADER, rows))
    for store, files in RETURNS.items():
        for file_day, lines in files.items():
            write_returns(landing, store, file_day, lines)


@pytest.fixture(scope="module")
def built(server_url, tmp_path_factory):
    name = create_database(server_url)
    url = with_database(server_url, name)
    root = tmp_path_factory.mktemp("returns")
    write_landing(root / "landing")
    load_landing(url, root / "landing")
    run_dbt(url, "build", "--select", SELLER_MARTS, target_dir=root / "dbt")
    yield url, root / "landing", root / "dbt"
    drop_database(server_url, name)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


FCT_RETURNS = """
    select store_id, return_date, amazon_order_id, sku, quantity, detailed_disposition, reason,
           is_resellable, has_order_line, order_date, currency, unit_price, refund_amount, days_to_return
    from marts.fct_returns order by store_id desc, return_date"""


def test_each_return_joins_its_order_line_once(built):
    url, _, _ = built
    assert query(url, FCT_RETURNS) == [
        # 2 x 10.00 = 20.00, 2026-01-05 -> 01-12 = 7 days
        (
            "us-main",
            day("2026-01-12"),
            order_id("R01"),
            "SKU-X",
            2,
            "SELLABLE",
            "UNWANTED_ITEM",
            True,
            True,
            day("2026-01-05"),
            "USD",
            D("10.00"),
            D("20.00"),
            7,
        ),
        # in both reports, kept once: 3 x 10.00 = 30.00, 01-20 -> 02-03 = 14 days
        (
            "us-main",
            day("2026-02-03"),
            order_id("R02"),
            "SKU-X",
            3,
            "DEFECTIVE",
            "DEFECTIVE",
            False,
            True,
            day("2026-01-20"),
            "USD",
            D("10.00"),
            D("30.00"),
            14,
        ),
        # SKU-Y of order R02: 40.00 / 5 = 8.00 each, 26 days
        (
            "us-main",
            day("2026-02-15"),
            order_id("R02"),
            "SKU-Y",
            1,
            "CUSTOMER_DAMAGED",
            "NOT_AS_DESCRIBED",
            False,
            True,
            day("2026-01-20"),
            "USD",
            D("8.00"),
            D("8.00"),
            26,
        ),
        (
            "us-main",
            day("2026-02-20"),
            order_id("R03"),
            "SKU-X",
            1,
            "CUSTOMER_DAMAGED",
            "UNWANTED_ITEM",
            False,
            True,
            day("2026-02-10"),
            "USD",
            D("10.00"),
            D("10.00"),
            10,
        ),
        # January order returned in March: 01-05 -> 03-05 = 26 + 28 + 5 = 59 days
        (
            "us-main",
            day("2026-03-05"),
            order_id("R01"),
            "SKU-X",
            1,
            "CARRIER_DAMAGED",
            "MISSED_ESTIMATED_DELIVERY",
            False,
            True,
            day("2026-01-05"),
            "USD",
            D("10.00"),
            D("10.00"),
            59,
        ),
        # the order is unknown: no date, price or refund amount; the store's currency
        (
            "us-main",
            day("2026-03-06"),
            order_id("ZZZ"),
            "SKU-Y",
            1,
            "SELLABLE",
            "UNWANTED_ITEM",
            True,
            False,
            None,
            "USD",
            None,
            None,
            None,
        ),
        # unknown disposition kept, blank reason -> UNKNOWN; 2 x 5.00
        (
            "us-main",
            day("2026-03-07"),
            order_id("R05"),
            "SKU-Z",
            2,
            "WEIRD_NEW_DISPOSITION",
            "UNKNOWN",
            False,
            True,
            day("2026-03-01"),
            "USD",
            D("5.00"),
            D("10.00"),
            6,
        ),
        (
            "eu-de",
            day("2026-02-05"),
            order_id("E01"),
            "SKU-E",
            1,
            "SELLABLE",
            "UNWANTED_ITEM",
            True,
            True,
            day("2026-02-01"),
            "EUR",
            D("10.00"),
            D("10.00"),
            4,
        ),
    ]


def test_return_rates_cohort_and_calendar_views(built):
    url, _, _ = built
    rows = query(
        url,
        """select store_id, sku, month_start, month_end, view_type, units_ordered, units_returned,
                                return_rate
                         from marts.fct_return_rates order by store_id desc, view_type desc, sku, month_start""",
    )
    jan, feb, mar = (
        (day("2026-01-01"), day("2026-01-31")),
        (day("2026-02-01"), day("2026-02-28")),
        (day("2026-03-01"), day("2026-03-31")),
    )
    assert rows == [
        # cohort: the month's orders and their returns, whenever they came back
        ("us-main", "SKU-X", *jan, "cohort", 20, 6, D("30.00")),  # 2 + 3 + 1 of R01/R02 -> 6 / 20
        ("us-main", "SKU-X", *feb, "cohort", 5, 1, D("20.00")),  # R03: 1 / 5
        ("us-main", "SKU-Y", *jan, "cohort", 5, 1, D("20.00")),  # R02: 1 / 5 (ZZZ has no order month)
        ("us-main", "SKU-Y", *feb, "cohort", 20, 0, D("0.00")),
        ("us-main", "SKU-Z", *mar, "cohort", 30, 2, D("6.67")),  # 2 / 30
        # calendar: returns of the month over orders of the month
        ("us-main", "SKU-X", *jan, "calendar", 20, 2, D("10.00")),
        ("us-main", "SKU-X", *feb, "calendar", 5, 4, D("80.00")),  # 3 + 1
        ("us-main", "SKU-X", *mar, "calendar", 0, 1, None),  # nothing ordered in March
        ("us-main", "SKU-Y", *jan, "calendar", 5, 0, D("0.00")),
        ("us-main", "SKU-Y", *feb, "calendar", 20, 1, D("5.00")),
        ("us-main", "SKU-Y", *mar, "calendar", 0, 1, None),  # the unknown order's return
        ("us-main", "SKU-Z", *mar, "calendar", 30, 2, D("6.67")),
        ("eu-de", "SKU-E", *feb, "cohort", 4, 1, D("25.00")),
        ("eu-de", "SKU-E", *feb, "calendar", 4, 1, D("25.00")),
    ]


def test_returns_by_reason_and_disposition(built):
    url, _, _ = built
    rows = query(
        url,
        """select store_id, reason, detailed_disposition, return_lines, units_returned,
                                share_of_store_returns, share_of_reason_returns, reason_units_returned,
                                reason_resellable_share
                         from marts.fct_returns_by_reason order by store_id desc, units_returned desc, reason,
                                                                   detailed_disposition""",
    )
    # us-main returned 2 + 3 + 1 + 1 + 1 + 1 + 2 = 11 units; UNWANTED_ITEM: 3 SELLABLE + 1 damaged
    assert rows == [
        ("us-main", "DEFECTIVE", "DEFECTIVE", 1, 3, D("27.27"), D("100.00"), 3, D("0.00")),
        ("us-main", "UNWANTED_ITEM", "SELLABLE", 2, 3, D("27.27"), D("75.00"), 4, D("75.00")),
        ("us-main", "UNKNOWN", "WEIRD_NEW_DISPOSITION", 1, 2, D("18.18"), D("100.00"), 2, D("0.00")),
        (
            "us-main",
            "MISSED_ESTIMATED_DELIVERY",
            "CARRIER_DAMAGED",
            1,
            1,
            D("9.09"),
            D("100.00"),
            1,
            D("0.00"),
        ),
        ("us-main", "NOT_AS_DESCRIBED", "CUSTOMER_DAMAGED", 1, 1, D("9.09"), D("100.00"), 1, D("0.00")),
        ("us-main", "UNWANTED_ITEM", "CUSTOMER_DAMAGED", 1, 1, D("9.09"), D("25.00"), 4, D("75.00")),
        ("eu-de", "UNWANTED_ITEM", "SELLABLE", 1, 1, D("100.00"), D("100.00"), 1, D("100.00")),
    ]


SKU_PROFILE = """
    select store_id, sku, window_start, window_end, units_sold_90d, units_returned_90d, return_rate_90d,
           store_return_rate_90d, high_return_threshold, is_high_return, units_returned_total,
           resellable_share, days_to_return_median, days_to_return_p90
    from marts.fct_sku_return_profile order by store_id desc, sku"""


def test_sku_return_profile_flags_high_return_skus(built):
    url, _, _ = built
    # us-main window: 90 days ending on its last order day 2026-03-01 -> from 2025-12-02; all
    # orders fall in it. Store: (7 + 1 + 2) returned / (25 + 25 + 30) sold = 12.50 %, threshold
    # x 2.0 = 25.00 %. SKU-X: 7 / 25 = 28.00 % > 25.00 % with 25 >= 20 units sold -> high-return.
    # Days to return over units: SKU-X 7, 7, 14, 14, 14, 10, 59 -> sorted 7 7 10 14 14 14 59,
    # median 14, p90 at rank 5.4: 14 + 0.4 x (59 - 14) = 32.00; SELLABLE 2 of 7 = 28.57 %.
    # SKU-Y: the unknown order's return has no days: 26 only; SELLABLE 1 of 2.
    window = (day("2025-12-02"), day("2026-03-01"))
    assert query(url, SKU_PROFILE) == [
        (
            "us-main",
            "SKU-X",
            *window,
            25,
            7,
            D("28.00"),
            D("12.50"),
            D("25.00"),
            True,
            7,
            D("28.57"),
            D("14.00"),
            D("32.00"),
        ),
        (
            "us-main",
            "SKU-Y",
            *window,
            25,
            1,
            D("4.00"),
            D("12.50"),
            D("25.00"),
            False,
            2,
            D("50.00"),
            D("26.00"),
            D("26.00"),
        ),
        (
            "us-main",
            "SKU-Z",
            *window,
            30,
            2,
            D("6.67"),
            D("12.50"),
            D("25.00"),
            False,
            2,
            D("0.00"),
            D("6.00"),
            D("6.00"),
        ),
        # eu-de: 1 / 4 = 25.00 % is its own store rate; threshold 50.00 %
        (
            "eu-de",
            "SKU-E",
            day("2025-11-04"),
            day("2026-02-01"),
            4,
            1,
            D("25.00"),
            D("25.00"),
            D("50.00"),
            False,
            1,
            D("100.00"),
            D("4.00"),
            D("4.00"),
        ),
    ]


def test_analytics_metrics_carry_the_store_return_metrics(built):
    url, _, _ = built
    rows = query(
        url,
        """select metric_name, period_start, metric_value from marts.analytics_metrics
                         where store_id = 'us-main' and period_grain = 'month'
                           and metric_name in ('return_rate_cohort', 'return_rate_calendar', 'units_returned',
                                               'refund_amount', 'resellable_share', 'days_to_return_median',
                                               'days_to_return_p90')""",
    )
    metrics = {(name, start.isoformat()): value for name, start, value in rows}
    assert metrics == {
        # January: cohort (6 + 1) / (20 + 5) = 28.00 %, calendar 2 / 25 = 8.00 %; 2 units back
        # for 20.00, both SELLABLE, 7 days
        ("return_rate_cohort", "2026-01-01"): D("28.00"),
        ("return_rate_calendar", "2026-01-01"): D("8.00"),
        ("units_returned", "2026-01-01"): 2,
        ("refund_amount", "2026-01-01"): D("20.00"),
        ("resellable_share", "2026-01-01"): D("100.00"),
        ("days_to_return_median", "2026-01-01"): 7,
        ("days_to_return_p90", "2026-01-01"): 7,
        # February: cohort 1 / 25 = 4.00 %, calendar (4 + 1) / 25 = 20.00 %; 3 + 1 + 1 units for
        # 30 + 8 + 10 = 48.00, none SELLABLE; days 14 14 14 10 26 -> median 14,
        # p90 at rank 3.6: 14 + 0.6 x 12 = 21.20
        ("return_rate_cohort", "2026-02-01"): D("4.00"),
        ("return_rate_calendar", "2026-02-01"): D("20.00"),
        ("units_returned", "2026-02-01"): 5,
        ("refund_amount", "2026-02-01"): D("48.00"),
        ("resellable_share", "2026-02-01"): D("0.00"),
        ("days_to_return_median", "2026-02-01"): 14,
        ("days_to_return_p90", "2026-02-01"): D("21.20"),
        # March: cohort 2 / 30 = 6.67 %, calendar (1 + 1 + 2) / 30 = 13.33 %; 4 units, refunds
        # 10 + 10 = 20.00 (the unknown order has none), 1 of 4 SELLABLE; days 59 6 6 -> median 6,
        # p90 at rank 1.8: 6 + 0.8 x 53 = 48.40
        ("return_rate_cohort", "2026-03-01"): D("6.67"),
        ("return_rate_calendar", "2026-03-01"): D("13.33"),
        ("units_returned", "2026-03-01"): 4,
        ("refund_amount", "2026-03-01"): D("20.00"),
        ("resellable_share", "2026-03-01"): D("25.00"),
        ("days_to_return_median", "2026-03-01"): 6,
        ("days_to_return_p90", "2026-03-01"): D("48.40"),
    }
    # the same as the wide tables and the business mart's refunds by return month
    assert query(
        url,
        """select sum(units_returned) filter (where view_type = 'calendar')
                         from marts.fct_return_rates where store_id = 'us-main' and month_start = '2026-02-01'""",
    ) == [(5,)]
    assert query(
        url,
        """select units_refunded, refunds_amount from marts.fct_period_comparison
                         where store_id = 'us-main' and period_grain = 'month' and period_start = '2026-02-01'""",
    ) == [(5, D("48.00"))]
    trailing = query(
        url,
        """select metric_name, period_start, period_end, metric_value from marts.analytics_metrics
                             where store_id = 'us-main' and period_grain = 'trailing_90_days' order by 1""",
    )
    assert trailing == [
        ("high_return_skus", day("2025-12-02"), day("2026-03-01"), 1),
        ("return_rate_90d", day("2025-12-02"), day("2026-03-01"), D("12.50")),
    ]


def test_high_return_factor_and_minimum_units_are_vars(built):
    url, _, target = built
    # factor 0.5 -> threshold 6.25 %: SKU-X (28.00 %) and SKU-Z (6.67 %) exceed it, but with at
    # least 30 units sold only SKU-Z (30 units) qualifies; SKU-X sold 25
    run_dbt(
        url,
        "build",
        "--select",
        "fct_sku_return_profile",
        variables={"high_return_factor": 0.5, "high_return_min_units": 30},
        target_dir=target,
    )
    assert query(
        url,
        """select sku, high_return_threshold, is_high_return from marts.fct_sku_return_profile
                         where store_id = 'us-main' order by sku""",
    ) == [("SKU-X", D("6.25"), False), ("SKU-Y", D("6.25"), False), ("SKU-Z", D("6.25"), True)]


def test_a_return_weeks_after_the_order_lands_in_its_return_day_and_order_cohort(built):
    """Adds a file and re-runs a partition window, so it runs last in this module."""
    url, landing, target = built
    before = query(url, FCT_RETURNS)
    # order R03 (bought 2026-02-10) sends 2 more units back on 2026-03-20, 38 days later
    write_returns(
        landing,
        "us-main",
        "2026-03-20",
        [("2026-03-20", "R03", "SKU-X", 2, "SELLABLE", "UNWANTED_ITEM", "LPN8")],
    )
    load_landing(url, landing)
    run_dbt(
        url,
        "build",
        "--select",
        PARTITIONED,
        variables={"min_date": "2026-03-20", "max_date": "2026-03-20"},
        target_dir=target,
    )
    after = query(url, FCT_RETURNS)
    assert [r for r in after if r[1] != day("2026-03-20")] == before
    assert [r for r in after if r[1] == day("2026-03-20")] == [
        (
            "us-main",
            day("2026-03-20"),
            order_id("R03"),
            "SKU-X",
            2,
            "SELLABLE",
            "UNWANTED_ITEM",
            True,
            True,
            day("2026-02-10"),
            "USD",
            D("10.00"),
            D("20.00"),
            38,
        )
    ]
    # the business mart counts it on its return day: no sales, 2 units refunded, net -20.00
    assert query(
        url,
        """select ordered_product_sales, units_refunded, refunds_amount, net_sales, refund_rate
                         from marts.fct_daily_store_performance where store_id = 'us-main' and date_day = '2026-03-20'""",
    ) == [(D("0.00"), 2, D("20.00"), D("-20.00"), None)]

    run_dbt(url, "build", "--select", "fct_return_rates", target_dir=target)
    # February cohort of SKU-X: 1 + 2 of 5 units = 60.00 %; March calendar: 1 + 2 = 3 returned
    assert query(
        url,
        """select view_type, month_start, units_ordered, units_returned, return_rate
                         from marts.fct_return_rates where store_id = 'us-main' and sku = 'SKU-X'
                           and (view_type, month_start) in (('cohort', '2026-02-01'::date), ('calendar', '2026-03-01'::date))
                         order by 1""",
    ) == [("calendar", day("2026-03-01"), 0, 3, None), ("cohort", day("2026-02-01"), 5, 3, D("60.00"))]
