-- Grain: one row per store × sku × snapshot_date (the last line wins if a SKU repeats in a file).
with ranked as (
    select
        i.*,
        row_number() over (
            partition by i.store_id, i.sku, i.snapshot_date order by i._loaded_at desc, i._row_number desc
        ) as version_rank
    from {{ source('raw', 'amazon_inventory') }} as i
)

select
    store_id,
    snapshot_date,
    sku,
    fnsku,
    asin,
    product_name,
    condition,
    your_price,
    coalesce(afn_fulfillable_quantity, 0) as fulfillable_quantity,
    coalesce(afn_reserved_quantity, 0) as reserved_quantity,
    coalesce(afn_unsellable_quantity, 0) as unsellable_quantity,
    coalesce(afn_warehouse_quantity, 0) as warehouse_quantity,
    coalesce(afn_total_quantity, 0) as total_quantity,
    coalesce(afn_inbound_working_quantity, 0) as inbound_working_quantity,
    coalesce(afn_inbound_shipped_quantity, 0) as inbound_shipped_quantity,
    coalesce(afn_inbound_receiving_quantity, 0) as inbound_receiving_quantity,
    coalesce(afn_inbound_working_quantity, 0) + coalesce(afn_inbound_shipped_quantity, 0)
    + coalesce(afn_inbound_receiving_quantity, 0) as inbound_quantity,
    coalesce(afn_researching_quantity, 0) as researching_quantity,
    -- documented identities; a row that breaks them is kept and flagged
    coalesce(afn_warehouse_quantity, 0) <> coalesce(afn_fulfillable_quantity, 0)
    + coalesce(afn_unsellable_quantity, 0) + coalesce(afn_reserved_quantity, 0) as breaks_warehouse_identity
from ranked
where version_rank = 1
