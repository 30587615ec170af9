-- Grain: one row per store × SKU × received_date for the units still on hand at the SKU's latest
-- snapshot, by first-in-first-out: units sell oldest first, so what is on hand now are the
-- newest receipts. Walking receipts newest first, a receipt keeps
--     least(received_units, greatest(0, on_hand - units received after it))
-- units. age_days = as_of_date - received_date. Units taken from the opening stock (received
-- before the snapshot history starts) are flagged is_estimated: their age is at least age_days.
with receipts as (
    select * from {{ ref('int_inventory_receipts_derived') }}
),

latest_snapshots as (
    select distinct on (store_id, sku)
        store_id, sku, snapshot_date as as_of_date, on_hand_quantity
    from receipts
    order by store_id asc, sku asc, snapshot_date desc
),

receipts_newest_first as (
    select
        r.store_id,
        r.sku,
        l.as_of_date,
        l.on_hand_quantity,
        r.snapshot_date as received_date,
        r.received_units,
        r.is_opening_stock,
        coalesce(sum(r.received_units) over (
            partition by r.store_id, r.sku
            order by r.snapshot_date desc
            rows between unbounded preceding and 1 preceding
        ), 0) as units_received_after
    from receipts as r
    inner join latest_snapshots as l on l.store_id = r.store_id and l.sku = r.sku
    where r.received_units > 0
),

allocated as (
    select
        store_id,
        sku,
        as_of_date,
        received_date,
        least(received_units, greatest(0, on_hand_quantity - units_received_after)) as units_on_hand,
        as_of_date - received_date as age_days,
        is_opening_stock as is_estimated
    from receipts_newest_first
)

select *
from allocated
where units_on_hand > 0
