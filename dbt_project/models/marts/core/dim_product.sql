{{ config(indexes=[{'columns': ['store_id', 'sku']}]) }}
-- Grain: one row per store × SKU seen in any Amazon source (int_products_unioned).
-- Attributes come from the newest source that has them: the latest inventory snapshot, else
-- the newest order line, else the newest return. latest_price is the newest observed price:
-- the unit price of the newest non-cancelled order line or the latest snapshot's your-price,
-- whichever is more recent (the order line on a tie).
with skus as (
    select store_id, sku from {{ ref('int_products_unioned') }}
),

newest_order_lines as (
    select distinct on (store_id, sku)
        store_id, sku, asin, product_name, order_date, unit_price, currency
    from {{ ref('stg_amazon__orders') }}
    where not is_cancelled and quantity > 0 and item_price > 0
    order by store_id asc, sku asc, purchased_at desc, last_updated_at desc nulls last
),

latest_snapshots as (
    select distinct on (store_id, sku)
        store_id, sku, asin, fnsku, product_name, your_price, snapshot_date
    from {{ ref('stg_amazon__inventory_snapshots') }}
    order by store_id asc, sku asc, snapshot_date desc
),

newest_returns as (
    select distinct on (store_id, sku)
        store_id, sku, asin, product_name
    from {{ ref('stg_amazon__returns') }}
    order by store_id asc, sku asc, returned_at desc
),

stores as (
    select store_id, currency from {{ ref('stg_amazon__stores') }}
),

price_choice as (
    select
        k.store_id,
        k.sku,
        case
            when o.unit_price is not null and (i.your_price is null or o.order_date >= i.snapshot_date)
                then 'order_line'
            when i.your_price is not null
                then 'inventory'
        end as latest_price_source
    from skus as k
    left join newest_order_lines as o on o.store_id = k.store_id and o.sku = k.sku
    left join latest_snapshots as i on i.store_id = k.store_id and i.sku = k.sku
)

select
    k.store_id,
    k.sku,
    coalesce(i.asin, o.asin, r.asin) as asin,
    i.fnsku,
    coalesce(i.product_name, o.product_name, r.product_name) as product_name,
    (case p.latest_price_source when 'order_line' then o.unit_price else i.your_price end)::numeric(18, 2)
        as latest_price,
    p.latest_price_source,
    case p.latest_price_source when 'order_line' then o.order_date else i.snapshot_date end as latest_price_date,
    o.unit_price::numeric(18, 2) as latest_order_unit_price,
    o.order_date as latest_order_date,
    i.your_price::numeric(18, 2) as your_price,
    i.snapshot_date as latest_snapshot_date,
    coalesce(o.currency, s.currency) as currency
from skus as k
inner join price_choice as p on p.store_id = k.store_id and p.sku = k.sku
left join newest_order_lines as o on o.store_id = k.store_id and o.sku = k.sku
left join latest_snapshots as i on i.store_id = k.store_id and i.sku = k.sku
left join newest_returns as r on r.store_id = k.store_id and r.sku = k.sku
left join stores as s on s.store_id = k.store_id
