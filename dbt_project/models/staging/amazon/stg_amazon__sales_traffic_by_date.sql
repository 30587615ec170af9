-- Grain: one row per store × report_date (the latest landed report for that day wins).
with ranked as (
    select
        t.*,
        row_number() over (
            partition by t.store_id, t.report_date order by t._partition_date desc, t._loaded_at desc
        ) as version_rank
    from {{ source('raw', 'amazon_sales_traffic_by_date') }} as t
)

select
    store_id,
    report_date,
    currency,
    ordered_product_sales,
    units_ordered,
    total_order_items,
    units_refunded,
    refund_rate,
    shipped_product_sales,
    units_shipped,
    orders_shipped,
    page_views,
    sessions,
    buy_box_percentage,
    unit_session_percentage,
    order_item_session_percentage
from ranked
where version_rank = 1
