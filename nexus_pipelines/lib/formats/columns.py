"""Typed columns of every raw table, in COPY order (lineage columns are added by the loader).

Amazon flat-file columns are the report's hyphenated header names in snake_case. Columns a file
does not carry load as NULL; header names the table does not know are kept, per row, in
``extra_columns`` (jsonb) so that nothing a seller sent is lost.
"""

from __future__ import annotations

from .base import Column

MONEY = "numeric(18,4)"


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for line in spec.strip().splitlines():
        name, pg_type = line.split()
        out.append(Column(name, pg_type.replace("MONEY", MONEY)))
    return tuple(out)


AMAZON_ORDERS = _cols(
    """
    store_id text
    amazon_order_id text
    merchant_order_id text
    purchase_date timestamptz
    last_updated_date timestamptz
    order_status text
    fulfillment_channel text
    sales_channel text
    order_channel text
    url text
    ship_service_level text
    product_name text
    sku text
    asin text
    item_status text
    quantity integer
    currency text
    item_price MONEY
    item_tax MONEY
    shipping_price MONEY
    shipping_tax MONEY
    gift_wrap_price MONEY
    gift_wrap_tax MONEY
    item_promotion_discount MONEY
    ship_promotion_discount MONEY
    ship_city text
    ship_state text
    ship_postal_code text
    ship_country text
    promotion_ids text
    cpf text
    is_business_order boolean
    purchase_order_number text
    price_designation text
    extra_columns jsonb
    """
)
# header names (hyphenated) that must be present and parse for a row to load
AMAZON_ORDERS_REQUIRED = ("amazon-order-id", "purchase-date", "order-status", "sku", "quantity")

AMAZON_INVENTORY = _cols(
    """
    store_id text
    snapshot_date date
    sku text
    fnsku text
    asin text
    product_name text
    condition text
    your_price MONEY
    mfn_listing_exists boolean
    mfn_fulfillable_quantity integer
    afn_listing_exists boolean
    afn_warehouse_quantity integer
    afn_fulfillable_quantity integer
    afn_unsellable_quantity integer
    afn_reserved_quantity integer
    afn_total_quantity integer
    per_unit_volume numeric(18,6)
    afn_inbound_working_quantity integer
    afn_inbound_shipped_quantity integer
    afn_inbound_receiving_quantity integer
    afn_researching_quantity integer
    afn_reserved_future_supply integer
    afn_future_supply_buyable integer
    afn_fulfillable_quantity_local integer
    afn_fulfillable_quantity_remote integer
    afn_fc_transfer_quantity integer
    afn_onhand_buyable_quantity integer
    store text
    extra_columns jsonb
    """
)
AMAZON_INVENTORY_REQUIRED = ("sku", "afn-fulfillable-quantity")

AMAZON_RETURNS = _cols(
    """
    store_id text
    return_date timestamptz
    order_id text
    sku text
    asin text
    fnsku text
    product_name text
    quantity integer
    fulfillment_center_id text
    detailed_disposition text
    reason text
    status text
    license_plate_number text
    customer_comments text
    extra_columns jsonb
    """
)
AMAZON_RETURNS_REQUIRED = ("return-date", "order-id", "sku", "quantity")

# Sales and Traffic report (JSON): one row per salesAndTrafficByDate[] entry
SALES_TRAFFIC_BY_DATE = _cols(
    """
    store_id text
    report_date date
    currency text
    ordered_product_sales MONEY
    ordered_product_sales_b2b MONEY
    units_ordered integer
    units_ordered_b2b integer
    total_order_items integer
    total_order_items_b2b integer
    units_refunded integer
    refund_rate numeric(9,4)
    shipped_product_sales MONEY
    units_shipped integer
    orders_shipped integer
    page_views integer
    page_views_b2b integer
    sessions integer
    sessions_b2b integer
    buy_box_percentage numeric(9,4)
    unit_session_percentage numeric(9,4)
    order_item_session_percentage numeric(9,4)
    payload jsonb
    """
)
# one row per salesAndTrafficByAsin[] entry, dated by the report's dataStartTime (file date)
SALES_TRAFFIC_BY_ASIN = _cols(
    """
    store_id text
    report_date date
    parent_asin text
    child_asin text
    sku text
    currency text
    ordered_product_sales MONEY
    units_ordered integer
    total_order_items integer
    page_views integer
    sessions integer
    buy_box_percentage numeric(9,4)
    unit_session_percentage numeric(9,4)
    payload jsonb
    """
)

# Segment-spec events: common fields typed, the rest as jsonb
EVENTS = _cols(
    """
    message_id text
    event_type text
    event_name text
    page_name text
    user_id text
    anonymous_id text
    event_timestamp timestamptz
    received_at timestamptz
    sent_at timestamptz
    context jsonb
    properties jsonb
    traits jsonb
    extra_fields jsonb
    timestamp_source text
    """
)
# timestamp_source: which field event_timestamp comes from (formats/events.py, docs/events.md)

MARKETING_SPEND = _cols(
    """
    spend_date date
    channel text
    campaign text
    spend MONEY
    currency text
    """
)

STORES = _cols(
    """
    store_id text
    name text
    marketplace text
    currency text
    timezone text
    """
)
