-- Grain: one row per returned line as landed (file × line); a return belongs to its return date.
select
    {{ surrogate_key(['r._source_file', 'r._row_number']) }} as return_id,
    r.store_id,
    r.return_date as returned_at,
    (r.return_date at time zone coalesce(s.timezone, 'UTC'))::date as return_date,
    r.order_id as amazon_order_id,
    r.sku,
    r.asin,
    r.fnsku,
    r.product_name,
    r.quantity,
    r.fulfillment_center_id,
    coalesce(nullif(trim(r.detailed_disposition), ''), 'UNKNOWN') as detailed_disposition,
    coalesce(nullif(trim(r.reason), ''), 'UNKNOWN') as reason,
    r.status,
    r.license_plate_number,
    r.customer_comments,
    r._source_file
from {{ source('raw', 'amazon_returns') }} as r
left join {{ source('raw', 'stores') }} as s on s.store_id = r.store_id
