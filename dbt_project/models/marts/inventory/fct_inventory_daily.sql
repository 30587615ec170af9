{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='snapshot_date',
        partition_domain='inventory',
        tags=['partitioned'],
        indexes=[{'columns': ['snapshot_date']}, {'columns': ['store_id', 'sku', 'snapshot_date'], 'unique': true}],
    )
}}
-- Grain: one row per store × SKU × snapshot_date (the FBA Manage Inventory report of that day)
-- with the snapshot quantities and the units of the SKU ordered that day.
with snapshots as (
    select *
    from {{ ref('stg_amazon__inventory_snapshots') }}
    where {{ partition_window_filter('snapshot_date', 'inventory') }}
),

units_sold as (
    select store_id, sku, order_date, units_ordered
    from {{ ref('fct_daily_sales') }}
    where {{ partition_window_filter('order_date', 'inventory') }}
)

select
    s.store_id,
    s.sku,
    s.snapshot_date,
    s.asin,
    s.fulfillable_quantity,
    s.reserved_quantity,
    s.unsellable_quantity,
    s.inbound_working_quantity,
    s.inbound_shipped_quantity,
    s.inbound_receiving_quantity,
    s.inbound_quantity,
    s.researching_quantity,
    s.warehouse_quantity,
    s.total_quantity,
    s.fulfillable_quantity + s.reserved_quantity as on_hand_quantity,
    s.fulfillable_quantity > 0 as is_in_stock,
    coalesce(u.units_ordered, 0) as units_sold,
    s.breaks_warehouse_identity
from snapshots as s
left join units_sold as u
    on u.store_id = s.store_id and u.sku = s.sku and u.order_date = s.snapshot_date
