{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='return_date',
        partition_domain='returns',
        tags=['partitioned'],
        indexes=[{'columns': ['return_date']}, {'columns': ['return_id'], 'unique': true},
                 {'columns': ['store_id', 'sku', 'order_date']}],
    )
}}
-- Grain: one row per returned line (batch), in the partition of its return date (store time zone),
-- joined to the order line it returns: order date, unit price, refund amount, days to return.
select
    return_id,
    store_id,
    return_date,
    returned_at,
    amazon_order_id,
    sku,
    asin,
    quantity,
    detailed_disposition,
    reason,
    status,
    fulfillment_center_id,
    license_plate_number,
    customer_comments,
    is_resellable,
    has_order_line,
    order_date,
    currency,
    unit_price::numeric(18, 2) as unit_price,
    refund_amount::numeric(18, 2) as refund_amount,
    days_to_return
from {{ ref('int_returns_priced') }}
where {{ partition_window_filter('return_date', 'returns') }}
