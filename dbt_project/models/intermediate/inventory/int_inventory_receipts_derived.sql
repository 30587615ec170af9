-- Grain: one row per store × SKU × snapshot_date: the units that arrived on the shelf since the
-- SKU's previous snapshot, derived from the snapshot history (no receipts report exists).
--
-- On-hand = fulfillable + reserved (sellable units in Amazon's warehouses). A snapshot is the
-- stock at the start of its day (the report is pulled in the morning), so the units that left
-- between two snapshots are those sold on the days previous_snapshot_date .. snapshot_date - 1:
--     received_units = greatest(0, on_hand - previous on_hand + units sold in between)
-- (inbound shipments received and sellable customer returns put back). The first snapshot of a
-- SKU is its opening stock: it is counted as received that day, but its true receipt dates are
-- unknown (is_opening_stock), so ages derived from it are estimates (lower bounds).
with snapshots as (
    select
        store_id,
        sku,
        snapshot_date,
        fulfillable_quantity + reserved_quantity as on_hand_quantity,
        lag(snapshot_date) over by_sku as previous_snapshot_date,
        lag(fulfillable_quantity + reserved_quantity) over by_sku as previous_on_hand_quantity
    from {{ ref('stg_amazon__inventory_snapshots') }}
    window by_sku as (partition by store_id, sku order by snapshot_date)
),

daily_units_sold as (
    select store_id, sku, order_date, sum(quantity) as units_sold
    from {{ ref('stg_amazon__orders') }}
    where not is_cancelled
    group by store_id, sku, order_date
),

units_sold_between_snapshots as (
    select
        s.store_id,
        s.sku,
        s.snapshot_date,
        coalesce(sum(d.units_sold), 0) as units_sold
    from snapshots as s
    left join daily_units_sold as d
        on d.store_id = s.store_id
            and d.sku = s.sku
            and d.order_date >= s.previous_snapshot_date
            and d.order_date < s.snapshot_date
    group by s.store_id, s.sku, s.snapshot_date
)

select
    s.store_id,
    s.sku,
    s.snapshot_date,
    s.on_hand_quantity,
    s.previous_snapshot_date,
    s.previous_on_hand_quantity,
    u.units_sold as units_sold_since_previous,
    s.previous_snapshot_date is null as is_opening_stock,
    case
        when s.previous_snapshot_date is null then s.on_hand_quantity
        else greatest(0, s.on_hand_quantity - s.previous_on_hand_quantity + u.units_sold)
    end as received_units
from snapshots as s
inner join units_sold_between_snapshots as u
    on u.store_id = s.store_id and u.sku = s.sku and u.snapshot_date = s.snapshot_date
