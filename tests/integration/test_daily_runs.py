"""Daily runs that stay right, through real Dagster runs on a real PostgreSQL.

Hand-written files for two stores, us-main (America/Los_Angeles, UTC-8 in early March) and
eu-de (Europe/Berlin, UTC+1), whose order lines cross local midnight; then a later file that
re-states an older order as Cancelled and a corrected file re-delivered for an old date. Each
step is one run over just one day; after each, every mart table must equal a from-scratch full
rebuild of the same landing folder, and the headline figures are checked by hand.

A second landing folder holds what goes wrong in real folders: a re-sent Segment event, a
messageId reused for other content (Segment's own spec examples do that), an orders file named
2026-13-45.txt and a store folder that stores.yaml does not list.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import DagsterInstance

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, query
from .partial_runs import differences, full_rebuild, mart_tables
from .seller_files import ORDERS_HEADER, RETURNS_HEADER, STORES_YAML, tsv, write

D = Decimal
D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)


@contextmanager
def dagster_env(url: str, landing: Path, home: Path):
    patch = pytest.MonkeyPatch()
    patch.setenv("NEXUS_DATABASE_URL", url)
    patch.setenv("NEXUS_LANDING_DIR", str(landing))
    patch.setenv("NEXUS_HOME", str(home))
    try:
        yield
    finally:
        patch.undo()


def dagster_run(url: str, landing: Path, home: Path, start=None, end=None):
    """One real in-process Dagster run of refresh_all over [start, end] (all landing dates when unset)."""
    from nexus_pipelines.defs.runner import run_window

    with dagster_env(url, landing, home), DagsterInstance.ephemeral() as instance:
        return run_window(start, end, instance=instance, settings=load_settings())


def line(
    order: str,
    purchased: str,
    sku: str,
    quantity: int,
    price: str,
    currency: str,
    *,
    status: str = "Shipped",
    updated: str | None = None,
) -> dict:
    return {
        "amazon-order-id": order,
        "purchase-date": purchased,
        "last-updated-date": updated or purchased,
        "order-status": status,
        "fulfillment-channel": "Amazon",
        "sales-channel": "Amazon.com",
        "product-name": f"Product {sku}",
        "sku": sku,
        "asin": f"B000000{sku[-3:]}",
        "item-status": "Cancelled" if status == "Cancelled" else "Shipped",
        "quantity": str(quantity),
        "currency": currency,
        "item-price": price,
        "item-promotion-discount": "0.00",
        "is-business-order": "false",
    }


def page(message_id: str, at: str, anon: str, path: str = "/") -> dict:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": anon,
        "timestamp": at,
        "receivedAt": at,
        "name": "Home",
        "properties": {"path": path, "url": f"https://shop.example.com{path}"},
        "context": {
            "page": {"path": path, "url": f"https://shop.example.com{path}"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
    }


def write_events(landing: Path, day: dt.date, events: list[dict]) -> None:
    write(landing, f"events/{day}.jsonl", "".join(json.dumps(e) + "\n" for e in events))


def write_initial(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    # us-main: the file of D2 holds only lines purchased on D1 local time (22:30 and 23:59 PST)
    write(
        landing,
        f"amazon/us-main/orders/{D1}.txt",
        tsv(
            ORDERS_HEADER,
            [
                line("111-0000001-0000003", "2026-03-02T20:00:00+00:00", "SKU-001", 1, "10.00", "USD"),
            ],
        ),
    )
    write(
        landing,
        f"amazon/us-main/orders/{D2}.txt",
        tsv(
            ORDERS_HEADER,
            [
                line("111-0000001-0000001", "2026-03-03T06:30:00+00:00", "SKU-001", 1, "10.00", "USD"),
                line("111-0000001-0000002", "2026-03-03T07:59:00+00:00", "SKU-002", 2, "30.00", "USD"),
            ],
        ),
    )
    # eu-de: the file of D1 holds a line purchased at 00:30 CET on D2
    write(
        landing,
        f"amazon/eu-de/orders/{D1}.txt",
        tsv(
            ORDERS_HEADER,
            [
                line("302-0000001-0000004", "2026-03-02T23:30:00+00:00", "SKU-003", 1, "15.00", "EUR"),
                line("302-0000001-0000005", "2026-03-02T10:00:00+00:00", "SKU-003", 3, "45.00", "EUR"),
            ],
        ),
    )
    # one unit of 111-...-0002 comes back at 23:30 PST on D1, in the returns file of D2
    write(
        landing,
        f"amazon/us-main/returns/{D2}.txt",
        tsv(
            RETURNS_HEADER,
            [
                {
                    "return-date": "2026-03-03T07:30:00+00:00",
                    "order-id": "111-0000001-0000002",
                    "sku": "SKU-002",
                    "asin": "B000000002",
                    "fnsku": "X0002",
                    "product-name": "Product SKU-002",
                    "quantity": "1",
                    "fulfillment-center-id": "ONT8",
                    "detailed-disposition": "SELLABLE",
                    "reason": "NOT_AS_DESCRIBED",
                    "status": "Unit returned to inventory",
                    "license-plate-number": "LPN0001",
                }
            ],
        ),
    )
    # a visit crossing UTC midnight, in the events files of D1 and D2
    write_events(landing, D1, [page("m-1", "2026-03-02T23:50:00Z", "anon-1")])
    write_events(landing, D2, [page("m-2", "2026-03-03T00:10:00Z", "anon-1", "/p")])


def sales(url: str) -> dict[tuple[str, dt.date], tuple]:
    return {
        (s, d): (v, u)
        for s, d, v, u in query(
            url,
            """
        select store_id, order_date, sum(ordered_product_sales), sum(units_ordered)
        from marts.fct_daily_sales group by 1, 2""",
        )
    }


def performance(url: str) -> dict[tuple[str, dt.date], tuple]:
    return {
        (s, d): (v, u, r)
        for s, d, v, u, r in query(
            url,
            """
        select store_id, date_day, ordered_product_sales, units_ordered, units_refunded
        from marts.fct_daily_store_performance""",
        )
    }


def assert_equals_full_rebuild(server_url: str, url: str, landing: Path, home: Path) -> None:
    name = create_database(server_url, "nexus_full")
    full = with_database(server_url, name)
    try:
        full_rebuild(full, landing, home / "full-target")
        want, got = mart_tables(full), mart_tables(url)
        assert len(want) >= 20
        assert differences(got, want) == []
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def seller(server_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daily")
    name = create_database(server_url, "nexus_daily")
    url = with_database(server_url, name)
    landing = tmp / "landing"
    write_initial(landing)
    yield {"url": url, "landing": landing, "home": tmp / "home", "tmp": tmp}
    drop_database(server_url, name)


def test_one_day_runs_across_local_midnight_give_the_full_rebuild(seller, server_url):
    url, landing, home = seller["url"], seller["landing"], seller["home"]
    first = dagster_run(url, landing, home, D1, D1)
    assert first.success, first.errors
    # the run of D1 alone already puts eu-de's 00:30 CET order on D2
    assert sales(url)[("eu-de", D2)] == (D("15.00"), 1)
    second = dagster_run(url, landing, home, D2, D2)
    assert second.success, second.errors
    # by hand: us-main D1 = 10.00 (file D1) + 10.00 + 30.00 (file D2, purchased 22:30 and 23:59 PST)
    assert sales(url) == {
        ("us-main", D1): (D("50.00"), 4),
        ("eu-de", D1): (D("45.00"), 3),
        ("eu-de", D2): (D("15.00"), 1),
    }
    # the return at 23:30 PST counts on D1 too
    assert performance(url)[("us-main", D1)] == (D("50.00"), 4, 1)
    assert query(url, "select count(*) from marts.fct_sessions") == [(1,)]
    assert_equals_full_rebuild(server_url, url, landing, home)


def test_restated_and_redelivered_orders_rebuild_their_purchase_dates(seller, server_url):
    url, landing, home = seller["url"], seller["landing"], seller["home"]
    if not query(url, "select to_regclass('marts.fct_daily_sales')")[0][0]:
        pytest.skip("needs the runs of the previous test")
    # D3's file re-states D1's order 111-...-0003 as Cancelled (newer last-updated-date) and adds one order
    write(
        landing,
        f"amazon/us-main/orders/{D3}.txt",
        tsv(
            ORDERS_HEADER,
            [
                line(
                    "111-0000001-0000003",
                    "2026-03-02T20:00:00+00:00",
                    "SKU-001",
                    1,
                    "10.00",
                    "USD",
                    status="Cancelled",
                    updated="2026-03-04T10:00:00+00:00",
                ),
                line("111-0000001-0000006", "2026-03-04T18:00:00+00:00", "SKU-001", 1, "12.00", "USD"),
            ],
        ),
    )
    outcome = dagster_run(url, landing, home, D3, D3)
    assert outcome.success, outcome.errors
    assert sales(url)[("us-main", D1)] == (D("40.00"), 3)
    assert sales(url)[("us-main", D3)] == (D("12.00"), 1)
    # eu-de's file of D1 re-delivered corrected: the 00:30 CET line's quantity 1 -> 3
    write(
        landing,
        f"amazon/eu-de/orders/{D1}.txt",
        tsv(
            ORDERS_HEADER,
            [
                line("302-0000001-0000004", "2026-03-02T23:30:00+00:00", "SKU-003", 3, "45.00", "EUR"),
                line("302-0000001-0000005", "2026-03-02T10:00:00+00:00", "SKU-003", 3, "45.00", "EUR"),
            ],
        ),
    )
    outcome = dagster_run(url, landing, home, D1, D1)
    assert outcome.success, outcome.errors
    assert sales(url)[("eu-de", D2)] == (D("45.00"), 3)
    assert performance(url)[("eu-de", D2)] == (D("45.00"), 3, 0)
    assert query(url, "select count(*) from ops.pending_changes") == [(0,)]
    assert_equals_full_rebuild(server_url, url, landing, home)


# --- one bad input fails only what depends on it ---------------------------------------------------


@pytest.fixture(scope="module")
def messy(server_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messy")
    name = create_database(server_url, "nexus_messy")
    url = with_database(server_url, name)
    landing = tmp / "landing"
    write(landing, "stores.yaml", STORES_YAML)
    orders = tsv(
        ORDERS_HEADER,
        [line("111-0000002-0000001", "2026-03-02T20:00:00+00:00", "SKU-001", 2, "20.00", "USD")],
    )
    write(landing, f"amazon/us-main/orders/{D1}.txt", orders)
    write(landing, "amazon/us-main/orders/2026-13-45.txt", orders)  # no such date
    write(
        landing,
        f"amazon/ghost/orders/{D1}.txt",  # a store stores.yaml does not list
        tsv(
            ORDERS_HEADER,
            [line("111-0000002-0000002", "2026-03-02T20:00:00+00:00", "SKU-009", 1, "7.00", "USD")],
        ),
    )
    first = page("m-10", "2026-03-02T10:00:00Z", "anon-9")
    write_events(landing, D1, [first, page("m-11", "2026-03-02T10:05:00Z", "anon-9", "/shoes")])
    # D2 re-sends m-10 unchanged (received later) and reuses m-11 for an identify, as Segment's spec examples do
    resent = {**first, "receivedAt": "2026-03-03T00:00:05Z"}
    reused = {
        "type": "identify",
        "messageId": "m-11",
        "anonymousId": "anon-9",
        "userId": "u-9",
        "traits": {"email": "a@example.com"},
        "timestamp": "2026-03-03T09:00:00Z",
        "receivedAt": "2026-03-03T09:00:01Z",
    }
    write_events(landing, D2, [resent, reused, page("m-12", "2026-03-03T09:01:00Z", "anon-9", "/cart")])
    outcome = dagster_run(url, landing, tmp / "home")
    yield {"url": url, "outcome": outcome, "landing": landing}
    drop_database(server_url, name)


def test_a_reused_message_id_is_loaded_once_or_quarantined_and_every_mart_is_built(messy):
    url, outcome = messy["url"], messy["outcome"]
    assert outcome.success, outcome.errors
    # raw keeps both copies of the re-send, staging one; the identify reusing m-11 is set aside
    assert query(url, "select message_id, count(*) from raw.events group by 1 order by 1") == [
        ("m-10", 2),
        ("m-11", 1),
        ("m-12", 1),
    ]
    assert query(url, "select message_id, event_type from staging.stg_events__events order by 1") == [
        ("m-10", "page"),
        ("m-11", "page"),
        ("m-12", "page"),
    ]
    quarantined = query(url, "select _source_file, _row_number, reason from quarantine.events")
    assert len(quarantined) == 1
    file, line_number, reason = quarantined[0]
    assert (file, line_number) == (f"events/{D2}.jsonl", 2)
    assert "m-11" in reason and f"events/{D1}.jsonl line 2" in reason
    manifest = dict(
        query(
            url,
            """select file_path, rows_quarantined from ops.load_manifest
                                  where source = 'events' and status = 'loaded'""",
        )
    )
    assert manifest == {f"events/{D1}.jsonl": 0, f"events/{D2}.jsonl": 1}
    # the product marts are built: three page views of anon-9, two visits (10:00-10:05, next day 09:01)
    assert query(url, "select count(*), sum(page_views) from marts.fct_sessions") == [(2, 3)]


def test_a_misnamed_file_and_an_unknown_store_do_not_stop_the_marts(messy):
    url, outcome = messy["url"], messy["outcome"]
    assert outcome.success, outcome.errors
    failed = query(
        url, "select file_path, partition_date, error from ops.load_manifest where status = 'failed'"
    )
    assert len(failed) == 1
    path, partition, error = failed[0]
    assert path == "amazon/us-main/orders/2026-13-45.txt" and partition is None
    assert "bad date in file name" in error and "2026-13-45" in error
    # the other files loaded and the marts were built, the unknown store's sales included
    assert sales(url) == {("us-main", D1): (D("20.00"), 2), ("ghost", D1): (D("7.00"), 1)}
    assert query(url, "select store_id, is_configured, timezone from marts.dim_store order by 1") == [
        ("eu-de", True, "Europe/Berlin"),
        ("ghost", False, "UTC"),
        ("us-main", True, "America/Los_Angeles"),
    ]
    assert "raw/amazon_orders:quarantine_share (WARN)" in outcome.failed_checks
    assert any("dim_store" in check and "is_configured" in check for check in outcome.failed_checks)
