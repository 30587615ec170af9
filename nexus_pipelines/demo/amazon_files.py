"""Rows of the Amazon flat files, in the column order of the current report documentation."""

from __future__ import annotations

from .amazon_orders import CANCELLED, PENDING, SHIPPED, AmazonOrder
from .amazon_returns import CustomerReturn
from .catalog import Product, Store
from .inventory import Snapshot
from .writers import Clock, money

ORDERS_COLUMNS = (
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
)
INVENTORY_COLUMNS = (
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
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
)
RETURNS_COLUMNS = (
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
)

ITEM_STATUS = {SHIPPED: "Shipped", PENDING: "Unshipped", CANCELLED: "Cancelled"}
EXPEDITED_SHIPPING_CENTS = 399


def order_rows(
    order: AmazonOrder,
    status: str,
    updated_at: int,
    store: Store,
    products: tuple[Product, ...],
    clock: Clock,
) -> list[list[str]]:
    """The lines of ``order`` as they read in a file where it has ``status``."""
    rows = []
    for n, line in enumerate(order.lines):
        product = products[line.sku]
        shipping = EXPEDITED_SHIPPING_CENTS if order.ship_service_level != "Standard" and n == 0 else 0
        rows.append(
            [
                order.order_id,
                "",
                clock.timestamp(order.purchased_at),
                clock.timestamp(updated_at),
                status,
                "Amazon",
                store.sales_channel,
                "",
                order.ship_service_level,
                product.name,
                product.sku,
                product.asin,
                ITEM_STATUS[status],
                str(line.quantity),
                store.currency,
                money(line.item_price_cents),
                money(round(line.item_price_cents * store.tax_ratio)),
                money(shipping),
                money(round(shipping * store.tax_ratio)),
                "0.00",
                "0.00",
                money(line.discount_cents),
                "0.00",
                order.address[0],
                order.address[1],
                order.address[2],
                store.ship_country,
                line.promotion_id,
                "",
                "true" if order.business else "false",
                f"PO-{order.order_id[-7:]}" if order.business else "",
                "BusinessPrice" if order.business else "",
            ]
        )
    return rows


def inventory_rows(snapshot: Snapshot, store: Store, products: tuple[Product, ...]) -> list[list[str]]:
    s = snapshot
    warehouse, total = s.warehouse, s.total
    return [
        [
            p.sku,
            p.fnsku,
            p.asin,
            p.name,
            "New",
            money(p.local_price_cents(store)),
            "No",
            "",
            "Yes",
            str(warehouse[k]),
            str(s.fulfillable[k]),
            str(s.unsellable[k]),
            str(s.reserved[k]),
            str(total[k]),
            f"{p.unit_volume:.4f}",
            str(s.inbound_working[k]),
            str(s.inbound_shipped[k]),
            str(s.inbound_receiving[k]),
            str(s.researching[k]),
            "0",
            "0",
        ]
        for k, p in enumerate(products)
    ]


def return_rows(
    returns: list[CustomerReturn], products: tuple[Product, ...], clock: Clock
) -> list[list[str]]:
    rows = []
    for r in sorted(returns, key=lambda r: (r.returned_at, r.order_id, r.sku)):
        p = products[r.sku]
        rows.append(
            [
                clock.timestamp(r.returned_at),
                r.order_id,
                p.sku,
                p.asin,
                p.fnsku,
                p.name,
                str(r.quantity),
                r.fulfillment_center,
                r.disposition,
                r.reason,
                r.status,
                r.license_plate,
                r.comment,
            ]
        )
    return rows
