"""Amazon flat files (orders, inventory, returns): header mapping, encodings, types, rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from nexus_pipelines.lib.formats import (
    SOURCES,
    ParseContext,
    ParsedRow,
    Rejected,
    UnreadableFile,
    partition_date_from_name,
)

UTC = dt.UTC
PDT = dt.timezone(dt.timedelta(hours=-7))

# the All Orders columns of the current documentation, in its order
ORDERS_CURRENT = [
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
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
    "cpf",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
]
# older files: `url` after order-channel, no `cpf`
ORDERS_OLD = [c for c in ORDERS_CURRENT if c != "cpf"]
ORDERS_OLD.insert(ORDERS_OLD.index("order-channel") + 1, "url")

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
INVENTORY_25 = INVENTORY_18 + [
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
    "afn-fulfillable-quantity-local",
    "afn-fulfillable-quantity-remote",
    "afn-fc-transfer-quantity",
    "afn-onhand-buyable-quantity",
]

RETURNS_HEADER = [
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
]


def order_line(header: list[str], **values: str) -> str:
    """A data line for ``header``: a valid shipped order item, overridden by ``values``."""
    base = {
        "amazon-order-id": "114-1234567-1234567",
        "purchase-date": "2026-11-01T13:45:10+00:00",
        "last-updated-date": "2026-11-02T08:00:00-07:00",
        "order-status": "Shipped",
        "fulfillment-channel": "Amazon",
        "sales-channel": "Amazon.com",
        "ship-service-level": "Expedited",
        "product-name": "Café Mug",
        "sku": "MUG-01",
        "asin": "B0TEST0001",
        "item-status": "Shipped",
        "quantity": "2",
        "currency": "USD",
        "item-price": "19.99",
        "item-tax": "1.60",
        "shipping-price": "4.99",
        "item-promotion-discount": "-2.00",
        "ship-city": "SEATTLE",
        "ship-country": "US",
        "is-business-order": "false",
        "url": "https://www.amazon.com/dp/B0TEST0001",
        "is-sold-by-ab": "true",
    }
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return "\t".join(base.get(name, "") for name in header)


def landed(tmp_path: Path, relative: str, content: bytes) -> ParseContext:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return ParseContext(
        path=path,
        relative_path=relative,
        partition_date=partition_date_from_name(relative),  # as the loader dates a file
        store_id="us-main",
        default_currency="EUR",
    )


def parse(source: str, ctx: ParseContext) -> list:
    return list(SOURCES[source].parser(ctx))


def as_dict(source: str, row: ParsedRow) -> dict:
    names = SOURCES[source].column_names
    assert len(row.values) == len(names)
    return dict(zip(names, row.values))


# ---------------------------------------------------------------- orders


def test_orders_current_layout_utf8_bom_crlf_with_extra_column(tmp_path):
    header = ORDERS_CURRENT + ["is-sold-by-ab"]
    lines = [
        "\t".join(header),
        order_line(header),  # line 2: good
        order_line(header, quantity="abc"),  # line 3: bad integer
        "",  # line 4: blank, skipped
        order_line(header, currency="", amazon_order_id="114-0000000-0000002"),  # line 5
        order_line(header, item_price="12,50", is_business_order="maybe"),  # line 6: two bad
        order_line(header, purchase_date="01/11/2026"),  # line 7: bad timestamp
        order_line(header, order_status=""),  # line 8: empty required value
    ]
    content = b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n"
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", content)

    results = parse("amazon_orders", ctx)

    assert len(results) == 6  # 7 data lines minus the blank one
    rows = [r for r in results if isinstance(r, ParsedRow)]
    rejects = {r.line: r for r in results if isinstance(r, Rejected)}
    assert [r.line for r in rows] == [2, 5]
    assert sorted(rejects) == [3, 6, 7, 8]

    first = as_dict("amazon_orders", rows[0])
    assert first["store_id"] == "us-main"
    assert first["amazon_order_id"] == "114-1234567-1234567"
    assert first["merchant_order_id"] is None
    assert first["purchase_date"] == dt.datetime(2026, 11, 1, 13, 45, 10, tzinfo=UTC)
    assert first["last_updated_date"] == dt.datetime(2026, 11, 2, 15, 0, 0, tzinfo=UTC)
    assert first["last_updated_date"].utcoffset() == dt.timedelta(hours=-7)
    assert first["product_name"] == "Café Mug"
    assert first["quantity"] == 2
    assert first["currency"] == "USD"
    assert first["item_price"] == Decimal("19.99")
    assert first["item_tax"] == Decimal("1.60")
    assert first["shipping_tax"] is None  # empty money
    assert first["item_promotion_discount"] == Decimal("-2.00")
    assert first["is_business_order"] is False
    assert first["url"] is None  # a current-layout file has no url column
    assert first["cpf"] is None
    assert first["ship_city"] == "SEATTLE"  # CRLF stripped from the last field too
    assert first["price_designation"] is None
    assert first["extra_columns"] == {"is-sold-by-ab": "true"}

    second = as_dict("amazon_orders", rows[1])
    assert second["currency"] == "EUR"  # empty currency -> the store's currency

    assert rejects[3].reason == "quantity: 'abc' is not an integer"
    assert rejects[3].raw == lines[2]  # without the \r
    assert "item-price: '12,50' is not a decimal number" in rejects[6].reason
    assert "is-business-order: 'maybe' is not a boolean" in rejects[6].reason
    assert rejects[7].reason == "purchase-date: '01/11/2026' is not an ISO-8601 timestamp"
    assert rejects[8].reason == "order-status: required value is empty"


def test_orders_old_layout_latin1_with_url_and_no_cpf(tmp_path):
    lines = [
        "\t".join(ORDERS_OLD),
        order_line(ORDERS_OLD, product_name="Caf\xe9 Mug", is_business_order="No"),
        order_line(ORDERS_OLD, purchase_date="2026-11-01", is_business_order="Y"),
    ]
    content = ("\n".join(lines) + "\n").encode("latin-1")
    assert b"Caf\xe9 Mug" in content  # é as the single byte 0xE9: not valid UTF-8
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", content)

    rows = parse("amazon_orders", ctx)

    assert all(isinstance(r, ParsedRow) for r in rows) and len(rows) == 2
    first, second = (as_dict("amazon_orders", r) for r in rows)
    assert first["product_name"] == "Café Mug"
    assert first["url"] == "https://www.amazon.com/dp/B0TEST0001"
    assert first["cpf"] is None
    assert first["is_business_order"] is False
    assert first["extra_columns"] is None  # no unknown header in this file
    assert second["purchase_date"] == dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert second["is_business_order"] is True


def test_orders_cp1252_bytes_decode_as_windows_text(tmp_path):
    header = ORDERS_CURRENT
    line = order_line(header, product_name="Mug \u20ac5 \u2013 blue")  # € and en dash
    ctx = landed(
        tmp_path,
        "amazon/us-main/orders/2026-11-01.txt",
        ("\t".join(header) + "\n" + line + "\n").encode("cp1252"),
    )

    (row,) = parse("amazon_orders", ctx)

    assert as_dict("amazon_orders", row)["product_name"] == "Mug €5 – blue"


def test_orders_header_matching_ignores_case_and_whitespace(tmp_path):
    header = [f" {name.upper()} " if name in ("sku", "quantity") else name for name in ORDERS_CURRENT]
    line = order_line(ORDERS_CURRENT, sku="  MUG-02 ", quantity=" 3 ")
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", ("\t".join(header) + "\n" + line).encode())

    (row,) = parse("amazon_orders", ctx)

    values = as_dict("amazon_orders", row)
    assert (values["sku"], values["quantity"]) == ("MUG-02", 3)
    assert values["extra_columns"] is None


def test_orders_missing_required_header_makes_file_unreadable(tmp_path):
    header = [c for c in ORDERS_CURRENT if c not in ("sku", "order-status")]
    ctx = landed(
        tmp_path,
        "amazon/us-main/orders/2026-11-01.txt",
        ("\t".join(header) + "\n" + order_line(header)).encode(),
    )

    with pytest.raises(UnreadableFile) as info:
        parse("amazon_orders", ctx)

    assert info.value.line == 1
    assert info.value.problem == "missing required column(s): order-status, sku"
    assert str(ctx.path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_flat_file_is_unreadable(tmp_path, content):
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", content)

    with pytest.raises(UnreadableFile, match="no header row") as info:
        parse("amazon_orders", ctx)
    assert info.value.line == 1


def test_duplicate_header_column_is_unreadable(tmp_path):
    header = ORDERS_CURRENT + ["sku"]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", "\t".join(header).encode())

    with pytest.raises(UnreadableFile, match="duplicate column"):
        parse("amazon_orders", ctx)


def test_orders_field_count_rules(tmp_path):
    header = ORDERS_CURRENT
    required_only = ["amazon-order-id", "purchase-date", "order-status", "sku", "quantity"]
    short_header = required_only + ["currency", "item-price"]
    good = order_line(short_header)
    lines = [
        "\t".join(short_header) + "\t",  # line 1: a trailing tab after the header
        good + "\t\t",  # line 2: trailing empty fields: fine
        good + "\tsurprise",  # line 3: a non-empty field beyond the header: rejected
        "\t".join(good.split("\t")[:5]),  # line 4: optional currency/item-price missing: fine
        "\t".join(good.split("\t")[:3]),  # line 5: required sku/quantity missing: rejected
        "\t\t\t",  # line 6: only tabs = blank
    ]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", "\n".join(lines).encode())
    assert len(header) > len(short_header)

    results = parse("amazon_orders", ctx)

    assert [(type(r).__name__, r.line) for r in results] == [
        ("ParsedRow", 2),
        ("Rejected", 3),
        ("ParsedRow", 4),
        ("Rejected", 5),
    ]
    assert results[1].reason == "8 fields but the header has 7 columns (a value may contain a tab)"
    short = as_dict("amazon_orders", results[2])
    assert (short["sku"], short["quantity"], short["item_price"]) == ("MUG-01", 2, None)
    assert short["currency"] == "EUR"
    assert results[3].reason == (
        "sku: required value is missing (the row has 3 of 7 fields); "
        "quantity: required value is missing (the row has 3 of 7 fields)"
    )


def test_orders_values_postgres_cannot_store_reject_the_row(tmp_path):
    header = ORDERS_CURRENT
    lines = [
        "\t".join(header),
        order_line(header, quantity="3000000000"),
        order_line(header, item_price="123456789012345.00"),
        order_line(header, item_price="NaN"),
        order_line(header, currency="US Dollar"),
        order_line(header, product_name="bad\x00byte"),
    ]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", "\n".join(lines).encode())

    reasons = [r.reason for r in parse("amazon_orders", ctx)]

    assert reasons == [
        "quantity: 3000000000 is out of range for an integer column",
        "item-price: 123456789012345.00 is too large for numeric(18,4)",
        "item-price: 'NaN' is not a decimal number",
        "currency: 'US Dollar' is not a three-letter currency code",
        "line contains a NUL character, which PostgreSQL cannot store",
    ]


def test_orders_timestamp_forms(tmp_path):
    header = ORDERS_CURRENT
    stamps = ["2026-11-01T13:45:10Z", "2026-11-01T06:45:10-07:00", "2026-11-01", "2026-11-01T13:45:10"]
    lines = ["\t".join(header)] + [order_line(header, purchase_date=s) for s in stamps]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-11-01.txt", "\n".join(lines).encode())

    values = [as_dict("amazon_orders", r)["purchase_date"] for r in parse("amazon_orders", ctx)]

    assert values[0] == values[1] == dt.datetime(2026, 11, 1, 13, 45, 10, tzinfo=UTC)
    assert values[1].tzinfo == PDT
    assert values[2] == dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert values[3] == dt.datetime(2026, 11, 1, 13, 45, 10, tzinfo=UTC)  # no offset: UTC


# ---------------------------------------------------------------- inventory


def inventory_line(header: list[str], **values: str) -> str:
    base = dict(
        zip(
            INVENTORY_25,
            [
                "MUG-01",
                "X00TEST001",
                "B0TEST0001",
                "Café Mug",
                "New",
                "19.99",
                "No",
                "0",
                "Yes",
                "12",
                "10",
                "1",
                "1",
                "20",
                "0.125000",
                "3",
                "4",
                "1",
                "0",
                "0",
                "0",
                "6",
                "4",
                "0",
                "10",
            ],
        )
    )
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return "\t".join(base.get(name, "") for name in header)


def test_inventory_18_column_file(tmp_path):
    lines = ["\t".join(INVENTORY_18), inventory_line(INVENTORY_18)]
    ctx = landed(tmp_path, "amazon/us-main/inventory/2026-11-01.txt", "\n".join(lines).encode())

    (row,) = parse("amazon_inventory", ctx)

    values = as_dict("amazon_inventory", row)
    assert row.line == 2
    assert values["store_id"] == "us-main"
    assert values["snapshot_date"] == dt.date(2026, 11, 1)
    assert values["your_price"] == Decimal("19.99")
    assert values["mfn_listing_exists"] is False and values["afn_listing_exists"] is True
    assert values["afn_warehouse_quantity"] == 12
    assert values["afn_total_quantity"] == 20
    assert values["per_unit_volume"] == Decimal("0.125000")
    assert values["afn_inbound_receiving_quantity"] == 1
    for newer in (
        "afn_researching_quantity",
        "afn_future_supply_buyable",
        "afn_fulfillable_quantity_local",
        "afn_onhand_buyable_quantity",
        "store",
    ):
        assert values[newer] is None
    assert values["extra_columns"] is None


def test_inventory_25_column_file_and_bad_row(tmp_path):
    lines = [
        "\t".join(INVENTORY_25),
        inventory_line(INVENTORY_25),
        inventory_line(INVENTORY_25, afn_fc_transfer_quantity="many", mfn_listing_exists="Nope"),
        inventory_line(INVENTORY_25, sku=""),
    ]
    ctx = landed(tmp_path, "amazon/us-main/inventory/2026-11-01.txt", "\n".join(lines).encode())

    good, bad, no_sku = parse("amazon_inventory", ctx)

    values = as_dict("amazon_inventory", good)
    assert values["afn_researching_quantity"] == 0
    assert values["afn_future_supply_buyable"] == 0
    assert values["afn_fulfillable_quantity_local"] == 6
    assert values["afn_fulfillable_quantity_remote"] == 4
    assert values["afn_fc_transfer_quantity"] == 0
    assert values["afn_onhand_buyable_quantity"] == 10
    assert values["store"] is None
    assert isinstance(bad, Rejected) and bad.line == 3
    assert bad.reason.startswith("mfn-listing-exists: 'Nope' is not a boolean")
    assert bad.reason.endswith("afn-fc-transfer-quantity: 'many' is not an integer")
    assert isinstance(no_sku, Rejected) and no_sku.reason == "sku: required value is empty"


def test_inventory_store_column_and_unknown_column(tmp_path):
    header = INVENTORY_25 + ["store", "afn-new-metric"]
    lines = ["\t".join(header), inventory_line(INVENTORY_25) + "\tUS\t7"]
    ctx = landed(tmp_path, "amazon/us-main/inventory/2026-11-01.txt", "\n".join(lines).encode())

    (row,) = parse("amazon_inventory", ctx)

    values = as_dict("amazon_inventory", row)
    assert values["store"] == "US"
    assert values["extra_columns"] == {"afn-new-metric": "7"}


# ---------------------------------------------------------------- returns


def test_returns_quantity_must_be_positive_and_unknown_values_kept(tmp_path):
    row = {
        "return-date": "2026-11-20T10:00:00+00:00",
        "order-id": "114-1234567-1234567",
        "sku": "MUG-01",
        "asin": "B0TEST0001",
        "fnsku": "X00TEST001",
        "product-name": "Café Mug",
        "quantity": "1",
        "fulfillment-center-id": "SEA8",
        "detailed-disposition": "SOMETHING_NEW",
        "reason": "SWITCHEROO",
        "status": "Unit returned to inventory",
        "license-plate-number": "LPNRR123456789",
        "customer-comments": "",
    }
    lines = [
        "\t".join(RETURNS_HEADER),
        "\t".join(row.values()),
        "\t".join({**row, "quantity": "0"}.values()),
        "\t".join({**row, "quantity": "-1"}.values()),
    ]
    ctx = landed(tmp_path, "amazon/us-main/returns/2026-11-21.txt", "\n".join(lines).encode())

    good, zero, negative = parse("amazon_returns", ctx)

    values = as_dict("amazon_returns", good)
    assert values["return_date"] == dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert values["quantity"] == 1
    assert values["detailed_disposition"] == "SOMETHING_NEW"
    assert values["reason"] == "SWITCHEROO"
    assert values["customer_comments"] is None
    assert values["store_id"] == "us-main"
    assert (zero.line, zero.reason) == (3, "quantity: must be greater than 0, got 0")
    assert negative.reason == "quantity: must be greater than 0, got -1"


def test_returns_missing_required_header(tmp_path):
    header = [c for c in RETURNS_HEADER if c != "return-date"]
    ctx = landed(tmp_path, "amazon/us-main/returns/2026-11-21.txt", "\t".join(header).encode())

    with pytest.raises(UnreadableFile, match=r"line 1: missing required column\(s\): return-date"):
        parse("amazon_returns", ctx)
