"""Inventory marts on a real PostgreSQL: FBA snapshots + orders in, health and replenishment out.

``us-main`` (Los Angeles) sends the older 18-column Manage Inventory report, ``eu-de`` (Berlin)
the newer one with researching, local/remote and ``store`` columns plus one the loader does not
know. Snapshots are the stock at the start of their day. Expected numbers are worked out by
hand in the comments; the reorder points are checked against Python's statistics module.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist, stdev

import psycopg
import pytest

from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing, query, run_dbt
from .seller_files import ORDERS_HEADER, SELLER_MARTS, STORES_YAML, tsv, write

D = Decimal
AS_OF = dt.date(2026, 3, 10)

INVENTORY_18 = [
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
]
INVENTORY_NEWER = INVENTORY_18 + [
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
    "afn-fulfillable-quantity-local",
    "afn-fulfillable-quantity-remote",
    "afn-fc-transfer-quantity",
    "afn-onhand-buyable-quantity",
    "store",
    "afn-new-metric-nobody-knows",
]
ASINS = {"SKU-A": "B00000000A", "SKU-B": "B00000000B", "SKU-C": "B00000000C", "SKU-E": "B00000000E"}
PRICES = {"SKU-A": "11.00", "SKU-B": "5.50", "SKU-C": "20.00", "SKU-E": "9.00"}

# (fulfillable, reserved, unsellable, inbound working, shipped, receiving, researching)
US_SNAPSHOTS = {
    "2025-03-01": {"SKU-B": (40, 0, 0, 0, 0, 0, 0), "SKU-C": (12, 0, 0, 0, 0, 0, 0)},
    "2025-04-10": {"SKU-C": (20, 0, 0, 0, 0, 0, 0)},
    "2025-06-15": {"SKU-C": (25, 0, 0, 0, 0, 0, 0)},
    "2025-11-01": {"SKU-A": (50, 0, 0, 0, 0, 0, 0)},
    "2026-01-10": {"SKU-A": (30, 0, 0, 0, 0, 0, 0)},
    "2026-02-01": {"SKU-A": (60, 5, 0, 0, 0, 0, 0)},
    "2026-02-20": {"SKU-A": (62, 3, 0, 0, 0, 0, 0), "SKU-B": (10, 0, 0, 0, 0, 0, 0)},
    "2026-03-01": {"SKU-A": (57, 2, 0, 0, 0, 0, 0), "SKU-B": (0, 0, 0, 0, 0, 0, 0)},
    "2026-03-05": {"SKU-A": (57, 2, 0, 0, 0, 0, 0), "SKU-B": (0, 0, 0, 0, 0, 0, 0)},
    "2026-03-10": {
        "SKU-A": (70, 3, 2, 10, 5, 0, 0),
        "SKU-B": (0, 0, 0, 0, 24, 6, 0),
        "SKU-C": (25, 0, 0, 0, 0, 0, 0),
    },
}
EU_SNAPSHOTS = {
    "2026-03-09": {"SKU-E": (8, 0, 0, 0, 0, 0, 0)},
    "2026-03-10": {"SKU-E": (5, 1, 1, 3, 0, 2, 2)},
}
# units ordered per day (one order each, purchased in the afternoon of the store's day)
US_SALES = {
    "SKU-A": {"2025-12-01": 20, "2026-01-15": 10, "2026-02-20": 6, "2026-03-05": 4, "2026-03-08": 2},
    "SKU-B": {"2026-02-15": 30, "2026-02-25": 10},
}
EU_SALES = {"SKU-E": {"2026-03-09": 4}}


def snapshot_row(sku: str, quantities: tuple, *, warehouse_error: int = 0) -> dict:
    fulfillable, reserved, unsellable, working, shipped, receiving, researching = quantities
    warehouse = fulfillable + unsellable + reserved
    return {
        "sku": sku,
        "fnsku": f"X00{sku}",
        "asin": ASINS[sku],
        "product-name": f"Product {sku}",
        "condition": "New",
        "your-price": PRICES[sku],
        "mfn-listing-exists": "No",
        "mfn-fulfillable-quantity": "",
        "afn-listing-exists": "Yes",
        "afn-warehouse-quantity": str(warehouse + warehouse_error),
        "afn-fulfillable-quantity": str(fulfillable),
        "afn-unsellable-quantity": str(unsellable),
        "afn-reserved-quantity": str(reserved),
        "afn-total-quantity": str(warehouse + working + shipped + receiving),
        "per-unit-volume": "0.12",
        "afn-inbound-working-quantity": str(working),
        "afn-inbound-shipped-quantity": str(shipped),
        "afn-inbound-receiving-quantity": str(receiving),
        "afn-researching-quantity": str(researching),
        "afn-reserved-future-supply": "0",
        "afn-future-supply-buyable": "0",
        "afn-fulfillable-quantity-local": str(fulfillable),
        "afn-fulfillable-quantity-remote": "0",
        "afn-fc-transfer-quantity": "0",
        "afn-onhand-buyable-quantity": str(fulfillable),
        "store": "",
        "afn-new-metric-nobody-knows": "7",
    }


def order_line(store: str, sku: str, day: str, units: int, number: int) -> dict:
    purchased = f"{day}T13:00:00-08:00" if store == "us-main" else f"{day}T13:00:00+01:00"
    return {
        "amazon-order-id": f"{number:03d}-0000000-{number:07d}",
        "purchase-date": purchased,
        "last-updated-date": purchased,
        "order-status": "Shipped",
        "fulfillment-channel": "Amazon",
        "sales-channel": "Amazon.com",
        "product-name": f"Product {sku}",
        "sku": sku,
        "asin": ASINS[sku],
        "item-status": "Shipped",
        "quantity": str(units),
        "currency": "USD" if store == "us-main" else "EUR",
        "item-price": f"{units * 10:.2f}",
        "item-promotion-discount": "0.00",
        "is-business-order": "false",
    }


def write_landing(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    for day, rows in US_SNAPSHOTS.items():
        lines = [snapshot_row(sku, quantities) for sku, quantities in rows.items()]
        write(landing, f"amazon/us-main/inventory/{day}.txt", tsv(INVENTORY_18, lines))
    for day, rows in EU_SNAPSHOTS.items():
        # the March 10 row reports a warehouse quantity 2 above fulfillable + unsellable + reserved
        lines = [
            snapshot_row(sku, q, warehouse_error=2 if day == "2026-03-10" else 0) for sku, q in rows.items()
        ]
        write(landing, f"amazon/eu-de/inventory/{day}.txt", tsv(INVENTORY_NEWER, lines))
    number = 100
    for store, sales in (("us-main", US_SALES), ("eu-de", EU_SALES)):
        by_day: dict[str, list[dict]] = {}
        for sku, days in sales.items():
            for day, units in days.items():
                number += 1
                by_day.setdefault(day, []).append(order_line(store, sku, day, units, number))
        for day, lines in by_day.items():
            write(landing, f"amazon/{store}/orders/{day}.txt", tsv(ORDERS_HEADER, lines))


@pytest.fixture(scope="module")
def built(server_url, tmp_path_factory):
    name = create_database(server_url)
    url = with_database(server_url, name)
    root = tmp_path_factory.mktemp("inventory")
    write_landing(root / "landing")
    load_landing(url, root / "landing")
    run_dbt(url, "build", "--select", SELLER_MARTS, target_dir=root / "dbt")
    yield url, root / "dbt"
    drop_database(server_url, name)


def health(url: str) -> dict[tuple[str, str], dict]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute("select * from marts.fct_inventory_health")
        names = [c.name for c in cursor.description]
        return {(r[0], r[1]): dict(zip(names, r)) for r in cursor.fetchall()}


def daily_units(sales: dict[str, int]) -> list[int]:
    """Units sold on each of the 30 days ending on AS_OF (0 when nothing sold)."""
    days = [AS_OF - dt.timedelta(days=n) for n in range(30)]
    return [sales.get(d.isoformat(), 0) for d in days]


def reorder_point(sales: dict[str, int], lead_time: int, service_level: float) -> int:
    """Independent reference: mean daily demand x lead time + z x sample sigma x sqrt(lead time)."""
    units = daily_units(sales)
    z = NormalDist().inv_cdf(service_level)
    return math.ceil(sum(units) / 30 * lead_time + z * stdev(units) * math.sqrt(lead_time))


HEALTH_COLUMNS = [
    "snapshot_date",
    "fulfillable_quantity",
    "reserved_quantity",
    "unsellable_quantity",
    "inbound_quantity",
    "researching_quantity",
    "on_hand_quantity",
    "units_sold_t7",
    "units_sold_t30",
    "units_sold_t90",
    "days_of_supply",
    "weeks_of_cover_t30",
    "weeks_of_cover_t90",
    "sell_through_rate_90d",
    "average_on_hand_90d",
    "stockout_days_30d",
    "in_stock_days_30d",
    "observed_days_30d",
    "in_stock_rate_30d",
    "excess_units",
    "aged_0_90_units",
    "aged_91_180_units",
    "aged_181_270_units",
    "aged_271_365_units",
    "aged_365_plus_units",
    "aged_buckets_estimated",
    "stockout_risk",
]

EXPECTED_HEALTH = {
    # SKU-A at 2026-03-10: fulfillable 70, reserved 3, unsellable 2, inbound 10 + 5 = 15, on-hand 73.
    # Sold: t7 (03-04..03-10) 4 + 2 = 6; t30 (02-09..) 6 + 4 + 2 = 12; t90 (2025-12-11..) 10 + 12 = 22.
    # days of supply 70 / (12 / 30) = 175.00; cover t30 73 / (12 / 30 x 7) = 26.07,
    # t90 73 / (22 / 90 x 7) = 42.66. On-hand at the 90-day snapshots 30, 65, 65, 59, 59, 73:
    # average 58.50, sell-through 22 / 58.5 = 0.3761. 30-day snapshots 02-20, 03-01, 03-05,
    # 03-10 all in stock: 100.00 %, no stockout day. Excess 73 - 90 x 12 / 30 = 37.
    # Receipts from the snapshots (on-hand change + units sold in between): 11-01 opening 50,
    # 01-10: 30 - 50 + 20 = 0, 02-01: 65 - 30 + 10 = 45, 02-20: 0, 03-01: 59 - 65 + 6 = 0,
    # 03-05: 0, 03-10: 73 - 59 + 6 = 20. FIFO of 73: 20 (age 0) + 45 (age 37) + 8 of the
    # opening stock (age 129, estimated) -> 0-90: 65, 91-180: 8.
    ("us-main", "SKU-A"): [
        AS_OF,
        70,
        3,
        2,
        15,
        0,
        73,
        6,
        12,
        22,
        D("175.00"),
        D("26.07"),
        D("42.66"),
        D("0.3761"),
        D("58.50"),
        0,
        4,
        4,
        D("100.00"),
        37,
        65,
        8,
        0,
        0,
        0,
        True,
        False,
    ],
    # SKU-B: sold out. 30 units on 02-15, 10 on 02-25: t7 0, t30 = t90 = 40. days of supply 0 -> at
    # risk (0 < 14). On-hand at the 90-day snapshots 10, 0, 0, 0: average 2.5, sell-through 16.
    # Snapshots 03-01, 03-05, 03-10 show 0 fulfillable after sales: 3 stockout days; 1 of 4 in
    # stock: 25.00 %. Nothing on hand: no aged units.
    ("us-main", "SKU-B"): [
        AS_OF,
        0,
        0,
        0,
        30,
        0,
        0,
        0,
        40,
        40,
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("16.0000"),
        D("2.50"),
        3,
        1,
        4,
        D("25.00"),
        0,
        0,
        0,
        0,
        0,
        0,
        False,
        True,
    ],
    # SKU-C: never sold -> days of supply and cover null, sell-through 0 / 25, excess = on-hand 25.
    # Receipts 2025-03-01 opening 12, 04-10 +8, 06-15 +5; on 2026-03-10 their ages are 374, 334 and
    # 268 days -> 365+: 12 (estimated), 271-365: 8, 181-270: 5.
    ("us-main", "SKU-C"): [
        AS_OF,
        25,
        0,
        0,
        0,
        0,
        25,
        0,
        0,
        0,
        None,
        None,
        None,
        D("0.0000"),
        D("25.00"),
        0,
        1,
        1,
        D("100.00"),
        25,
        0,
        0,
        5,
        8,
        12,
        True,
        False,
    ],
    # SKU-E (newer report, researching 2): 8 on hand on 03-09, 4 sold that day, 6 on hand on 03-10
    # -> 2 received. days of supply 5 / (4 / 30) = 37.50; cover 6 / (4 / 30 x 7) = 6.43 and
    # 6 / (4 / 90 x 7) = 19.29; sell-through 4 / ((8 + 6) / 2) = 0.5714; excess max(0, 6 - 12) = 0;
    # FIFO 2 received 03-10 + 4 of the opening stock -> 0-90: 6, estimated.
    ("eu-de", "SKU-E"): [
        AS_OF,
        5,
        1,
        1,
        5,
        2,
        6,
        4,
        4,
        4,
        D("37.50"),
        D("6.43"),
        D("19.29"),
        D("0.5714"),
        D("7.00"),
        0,
        2,
        2,
        D("100.00"),
        0,
        6,
        0,
        0,
        0,
        0,
        True,
        False,
    ],
}
SALES_OF = {
    ("us-main", "SKU-A"): US_SALES["SKU-A"],
    ("us-main", "SKU-B"): US_SALES["SKU-B"],
    ("us-main", "SKU-C"): {},
    ("eu-de", "SKU-E"): EU_SALES["SKU-E"],
}


def test_inventory_health_every_metric(built):
    url, _ = built
    rows = health(url)
    assert set(rows) == set(EXPECTED_HEALTH)
    for key, expected in EXPECTED_HEALTH.items():
        assert {c: rows[key][c] for c in HEALTH_COLUMNS} == dict(
            zip(HEALTH_COLUMNS, expected, strict=True)
        ), key


def test_reorder_points_with_default_lead_time_and_service_level(built):
    url, _ = built
    rows = health(url)
    # defaults: 14 days, 95 % -> z = 1.6449
    # SKU-A: 12 / 30 = 0.4 a day, sigma of (6, 4, 2, 27 x 0) = 1.3287:
    #   5.6 + 1.6449 x 1.3287 x sqrt(14) = 13.78 -> 14; on-hand 73 + inbound 15 cover it -> 0
    # SKU-B: 40 / 30 a day, sigma of (30, 10, 28 x 0) = 5.7135: 18.67 + 35.16 = 53.83 -> 54;
    #   54 - 0 on hand - 30 inbound = 24 to send
    # SKU-E: 4 / 30 a day, sigma 0.7303: 1.87 + 4.49 = 6.36 -> 7; 6 + 5 >= 7 -> 0
    expected = {
        ("us-main", "SKU-A"): (14, 0),
        ("us-main", "SKU-B"): (54, 24),
        ("us-main", "SKU-C"): (0, 0),
        ("eu-de", "SKU-E"): (7, 0),
    }
    for key, (point, quantity) in expected.items():
        row = rows[key]
        assert (row["lead_time_days"], row["service_level"], row["z_score"]) == (14, D("0.9500"), D("1.6449"))
        assert (row["reorder_point"], row["suggested_reorder_qty"]) == (point, quantity), key
        if SALES_OF[key]:
            assert point == reorder_point(SALES_OF[key], 14, 0.95)
            units = daily_units(SALES_OF[key])
            assert row["stddev_daily_units_t30"] == D(str(round(stdev(units), 4)))
            assert row["average_daily_units_t30"] == D(str(round(sum(units) / 30, 4)))
    assert rows[("us-main", "SKU-B")]["safety_stock"] == D("35.16")
    assert rows[("us-main", "SKU-B")]["lead_time_demand"] == D("18.67")


def test_inventory_daily_keeps_each_snapshot_with_that_days_sales(built):
    url, _ = built
    rows = query(
        url,
        """
        select store_id, sku, snapshot_date, fulfillable_quantity, reserved_quantity, unsellable_quantity,
               inbound_quantity, researching_quantity, on_hand_quantity, is_in_stock, units_sold,
               breaks_warehouse_identity
        from marts.fct_inventory_daily
        where (store_id, sku, snapshot_date) in (('us-main', 'SKU-A', '2026-03-05'), ('us-main', 'SKU-B', '2026-02-20'),
                                                 ('us-main', 'SKU-B', '2026-03-10'), ('eu-de', 'SKU-E', '2026-03-09'),
                                                 ('eu-de', 'SKU-E', '2026-03-10'))
        order by store_id desc, sku, snapshot_date""",
    )
    assert rows == [
        # 4 units of SKU-A were ordered on March 5
        ("us-main", "SKU-A", dt.date(2026, 3, 5), 57, 2, 0, 0, 0, 59, True, 4, False),
        # SKU-B sold on 02-15 and 02-25, not on the snapshot day
        ("us-main", "SKU-B", dt.date(2026, 2, 20), 10, 0, 0, 0, 0, 10, True, 0, False),
        ("us-main", "SKU-B", dt.date(2026, 3, 10), 0, 0, 0, 30, 0, 0, False, 0, False),
        ("eu-de", "SKU-E", dt.date(2026, 3, 9), 8, 0, 0, 0, 0, 8, True, 4, False),
        # warehouse 9 reported vs 5 + 1 + 1 = 7: kept and flagged
        ("eu-de", "SKU-E", dt.date(2026, 3, 10), 5, 1, 1, 5, 2, 6, True, 0, True),
    ]
    # one row per SKU and snapshot file: 7 + 5 + 4 in us-main, 2 in eu-de
    assert query(url, "select count(*) from marts.fct_inventory_daily") == [(18,)]


def test_analytics_metrics_hold_the_store_inventory_totals(built):
    url, _ = built
    rows = query(
        url,
        """select metric_name, metric_value, period_start, period_end from marts.analytics_metrics
                         where store_id = 'us-main' and period_grain = 'snapshot'""",
    )
    metrics = {name: value for name, value, start, end in rows}
    assert {(start, end) for _, _, start, end in rows} == {(AS_OF, AS_OF)}
    expected = {
        "fulfillable_units": 95,
        "reserved_units": 3,
        "unsellable_units": 2,
        "inbound_units": 45,
        "researching_units": 0,
        "on_hand_units": 98,
        "units_sold_t7": 6,
        "units_sold_t30": 52,
        "units_sold_t90": 62,
        "days_of_supply": D("54.81"),  # 95 x 30 / 52
        "weeks_of_cover_t30": D("8.08"),  # 98 x 30 / (52 x 7)
        "weeks_of_cover_t90": D("20.32"),  # 98 x 90 / (62 x 7)
        "sell_through_rate_90d": D("0.7209"),  # 62 / (58.5 + 2.5 + 25)
        "stockout_days_30d": 3,
        "in_stock_rate_30d": D("66.67"),  # (4 + 1 + 1) / (4 + 4 + 1)
        "excess_units": 62,
        "aged_0_90_units": 65,
        "aged_91_180_units": 8,
        "aged_181_270_units": 5,
        "aged_271_365_units": 8,
        "aged_365_plus_units": 12,
        "stockout_risk_skus": 1,
        "suggested_reorder_units": 24,
    }
    assert metrics == expected
    # and the same sums as the wide table
    sums = query(
        url,
        """select sum(fulfillable_quantity), sum(excess_units), sum(aged_365_plus_units),
                                sum(units_sold_t90), count(*) filter (where stockout_risk)
                         from marts.fct_inventory_health where store_id = 'us-main'""",
    )
    assert sums == [
        (
            metrics["fulfillable_units"],
            metrics["excess_units"],
            metrics["aged_365_plus_units"],
            metrics["units_sold_t90"],
            metrics["stockout_risk_skus"],
        )
    ]


def test_dim_product_takes_the_newest_price_of_orders_and_snapshots(built):
    url, _ = built
    assert query(
        url,
        """select store_id, sku, fnsku, latest_price, latest_price_source, latest_price_date,
                                latest_order_unit_price, your_price
                         from marts.dim_product order by store_id desc, sku""",
    ) == [
        # last order 03-08 at 10.00, but the 03-10 snapshot's your-price (11.00) is newer
        ("us-main", "SKU-A", "X00SKU-A", D("11.00"), "inventory", AS_OF, D("10.00"), D("11.00")),
        ("us-main", "SKU-B", "X00SKU-B", D("5.50"), "inventory", AS_OF, D("10.00"), D("5.50")),
        ("us-main", "SKU-C", "X00SKU-C", D("20.00"), "inventory", AS_OF, None, D("20.00")),
        ("eu-de", "SKU-E", "X00SKU-E", D("9.00"), "inventory", AS_OF, D("10.00"), D("9.00")),
    ]


def test_store_overrides_change_lead_time_and_service_level_per_store(built):
    """Rebuilds fct_inventory_health with overrides, so it runs last in this module."""
    url, target = built
    overrides = {
        "us-main": {"lead_time_days": 30, "service_level": 0.99},
        "eu-de": {"lead_time_days": 45, "service_level": 0.999},
    }
    run_dbt(
        url,
        "build",
        "--select",
        "fct_inventory_health",
        variables={"store_overrides": overrides},
        target_dir=target,
    )
    rows = health(url)
    settings = {key: (r["lead_time_days"], r["service_level"], r["z_score"]) for key, r in rows.items()}
    assert settings == {
        ("us-main", "SKU-A"): (30, D("0.9900"), D("2.3263")),
        ("us-main", "SKU-B"): (30, D("0.9900"), D("2.3263")),
        ("us-main", "SKU-C"): (30, D("0.9900"), D("2.3263")),
        ("eu-de", "SKU-E"): (45, D("0.9990"), D("3.0902")),
    }
    # SKU-A: 0.4 x 30 + 2.3263 x 1.3287 x sqrt(30) = 28.93 -> 29, covered; SKU-B: 40 + 72.80 = 112.80
    # -> 113, 113 - 30 inbound = 83; SKU-E: 4 / 30 x 45 + 3.0902 x 0.7303 x sqrt(45) = 6 + 15.14 =
    # 21.14 -> 22, 22 - 6 on hand - 5 inbound = 11, and its 37.5 days of supply are now below the
    # 45-day lead time
    assert {
        k: (r["reorder_point"], r["suggested_reorder_qty"], r["stockout_risk"]) for k, r in rows.items()
    } == {
        ("us-main", "SKU-A"): (29, 0, False),
        ("us-main", "SKU-B"): (113, 83, True),
        ("us-main", "SKU-C"): (0, 0, False),
        ("eu-de", "SKU-E"): (22, 11, True),
    }
    assert rows[("us-main", "SKU-B")]["reorder_point"] == reorder_point(US_SALES["SKU-B"], 30, 0.99)
    assert rows[("eu-de", "SKU-E")]["reorder_point"] == reorder_point(EU_SALES["SKU-E"], 45, 0.999)
