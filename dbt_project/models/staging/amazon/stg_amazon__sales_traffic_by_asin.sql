-- Grain: one row per store × report_date × child_asin × sku (latest landed report wins).
with ranked as (
    select
        t.*,
        row_number() over (
            partition by t.store_id, t.report_date, t.child_asin, t.sku
            order by t._partition_date desc, t._loaded_at desc, t._row_number desc
        ) as version_rank
    from {{ source('raw', 'amazon_sales_traffic_by_asin') }} as t
)

select
    store_id,
    report_date,
    parent_asin,
    child_asin,
    sku,
    currency,
    ordered_product_sales,
    units_ordered,
    total_order_items,
    page_views,
    sessions,
    buy_box_percentage,
    unit_session_percentage
from ranked
where version_rank = 1
