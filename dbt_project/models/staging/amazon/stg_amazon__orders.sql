-- Grain: one row per store × amazon_order_id × sku, the newest version of the line.
-- An order appears again in later files when its status changes; the highest last_updated_date
-- wins (then the latest file, then the last line of it). DISTINCT ON rather than a row_number()
-- filter: the planner then estimates one row per order line instead of a tiny fraction of them,
-- which keeps joins to this view on hash joins.
with ranked as (
    select distinct on (o.store_id, o.amazon_order_id, o.sku)
        o.*
    from {{ source('raw', 'amazon_orders') }} as o
    order by
        o.store_id asc, o.amazon_order_id asc, o.sku asc,
        o.last_updated_date desc nulls last, o._partition_date desc, o._row_number desc
)

select
    {{ surrogate_key(['r.store_id', 'r.amazon_order_id', 'r.sku']) }} as order_line_id,
    r.store_id,
    r.amazon_order_id,
    r.merchant_order_id,
    r.purchase_date as purchased_at,
    (r.purchase_date at time zone coalesce(s.timezone, 'UTC'))::date as order_date,
    r.last_updated_date as last_updated_at,
    r.order_status,
    r.item_status,
    (lower(r.order_status) = 'cancelled' or lower(coalesce(r.item_status, '')) = 'cancelled') as is_cancelled,
    r.fulfillment_channel,
    r.sales_channel,
    r.sku,
    r.asin,
    r.product_name,
    r.quantity,
    coalesce(r.currency, s.currency) as currency,
    r.item_price,
    r.item_tax,
    r.shipping_price,
    coalesce(r.item_promotion_discount, 0) as item_promotion_discount,
    coalesce(r.ship_promotion_discount, 0) as ship_promotion_discount,
    r.item_price / nullif(r.quantity, 0) as unit_price,
    r.ship_country,
    r.is_business_order,
    r._source_file,
    r._partition_date as file_date
from ranked as r
left join {{ source('raw', 'stores') }} as s on s.store_id = r.store_id
