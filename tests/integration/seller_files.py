"""Shared fixtures of the seller-mart tests: the stores and the current report headers, dbt selections."""

import csv
import io
from pathlib import Path

STORES_YAML = """\
stores:
  - {store_id: us-main, name: US main, marketplace: ATVPDKIKX0DER, currency: USD, timezone: America/Los_Angeles}
  - {store_id: eu-de, name: Germany, marketplace: A1PA6795UKMFR9, currency: EUR, timezone: Europe/Berlin}
"""
ORDERS_HEADER = [
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
SELLER_MARTS = (
    "+path:models/marts/business +path:models/marts/inventory +path:models/marts/returns"
    " +dim_product dim_store"
)
# the partitioned facts of the seller marts (Dagster runs every tag:partitioned model together;
# the product area's facts are left out here so that these tests only depend on seller data)
PARTITIONED = " ".join(
    f"tag:partitioned,path:models/marts/{area}" for area in ("business", "inventory", "returns")
)


def tsv(header: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue()


def write(landing: Path, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
