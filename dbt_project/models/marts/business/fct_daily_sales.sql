{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='order_date',
        partition_domain='orders',
        tags=['partitioned'],
        indexes=[{'columns': ['order_date']}, {'columns': ['store_id', 'sku', 'order_date'], 'unique': true}],
    )
}}
-- Grain: one row per store × SKU × order_date (purchase date in the store's time zone).
-- Only non-cancelled lines count as sales.
select
    store_id,
    sku,
    order_date,
    max(asin) as asin,
    max(currency) as currency,
    sum(coalesce(item_price, 0))::numeric(18, 2) as ordered_product_sales,
    sum(quantity) as units_ordered,
    count(distinct amazon_order_id) as orders,
    count(*) as order_items,
    sum(item_promotion_discount)::numeric(18, 2) as item_promotion_discount
from {{ ref('stg_amazon__orders') }}
where not is_cancelled
    and {{ partition_window_filter('order_date', 'orders') }}
group by store_id, sku, order_date
