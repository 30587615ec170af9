-- Grain: one row per returned batch (store × order × SKU × return time × license plate), joined to
-- its order line for the purchase date and unit price.
-- A batch repeated by an overlapping returns report counts once (the copy in the newest file wins).
-- refund_amount = returned units × the order line's unit price until a
-- settlement source exists; it is null when the order line is not in the orders data.
-- (DISTINCT ON, not a row_number() filter, so that the planner's row estimates stay realistic)
with returns_deduplicated as (
    select distinct on (
        r.store_id, r.amazon_order_id, r.sku, r.returned_at,
        coalesce(r.license_plate_number, r.return_id))
        r.*
    from {{ ref('stg_amazon__returns') }} as r
    order by
        r.store_id asc, r.amazon_order_id asc, r.sku asc, r.returned_at asc,
        coalesce(r.license_plate_number, r.return_id), r._source_file desc, r.return_id asc
),

order_lines as (
    select order_line_id, store_id, amazon_order_id, sku, order_date, unit_price, currency
    from {{ ref('stg_amazon__orders') }}
),

stores as (
    select store_id, currency from {{ ref('stg_amazon__stores') }}
)

select
    r.return_id,
    r.store_id,
    r.return_date,
    r.returned_at,
    r.amazon_order_id,
    r.sku,
    r.asin,
    r.fnsku,
    r.product_name,
    r.quantity,
    r.detailed_disposition,
    r.reason,
    r.status,
    r.fulfillment_center_id,
    r.license_plate_number,
    r.customer_comments,
    upper(r.detailed_disposition) = 'SELLABLE' as is_resellable,
    o.order_line_id,
    o.order_line_id is not null as has_order_line,
    o.order_date,
    o.unit_price,
    coalesce(o.currency, s.currency) as currency,
    r.quantity * o.unit_price as refund_amount,
    r.return_date - o.order_date as days_to_return
from returns_deduplicated as r
left join order_lines as o
    on o.store_id = r.store_id and o.amazon_order_id = r.amazon_order_id and o.sku = r.sku
left join stores as s on s.store_id = r.store_id
