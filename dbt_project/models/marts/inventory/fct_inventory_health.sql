{{ config(indexes=[{'columns': ['store_id', 'sku']}]) }}
-- Grain: one row per store × SKU, as of the SKU's latest inventory snapshot (snapshot_date).
-- Trailing windows are the N days ending on snapshot_date (t7 = snapshot_date - 6 .. snapshot_date).
-- On-hand = fulfillable + reserved. Units sold = non-cancelled units ordered (fct_daily_sales).
-- Planning: lead time and service level from vars lead_time_days / service_level, per store
-- from var store_overrides; z = inverse standard normal of the service level (macro
-- inventory_normal_quantile), σ = sample standard deviation of the 30 daily unit sales.
with latest_snapshots as (
    select distinct on (store_id, sku) *
    from {{ ref('fct_inventory_daily') }}
    order by store_id asc, sku asc, snapshot_date desc
),

daily_units_sold as (
    select store_id, sku, order_date, units_ordered
    from {{ ref('fct_daily_sales') }}
),

trailing_sales as (
    select
        l.store_id,
        l.sku,
        coalesce(sum(d.units_ordered) filter (where d.order_date > l.snapshot_date - 7), 0) as units_sold_t7,
        coalesce(sum(d.units_ordered) filter (where d.order_date > l.snapshot_date - 30), 0) as units_sold_t30,
        coalesce(sum(d.units_ordered), 0) as units_sold_t90
    from latest_snapshots as l
    left join daily_units_sold as d
        on d.store_id = l.store_id
            and d.sku = l.sku
            and d.order_date between l.snapshot_date - 89 and l.snapshot_date
    group by l.store_id, l.sku
),

demand_last_30_days as (
    -- every one of the 30 days, 0 when nothing sold, for the variability of daily demand
    select l.store_id, l.sku, coalesce(d.units_ordered, 0) as units_sold
    from latest_snapshots as l
    cross join lateral generate_series(l.snapshot_date - 29, l.snapshot_date, interval '1 day') as calendar_day (date_day)
    left join daily_units_sold as d
        on d.store_id = l.store_id and d.sku = l.sku and d.order_date = calendar_day.date_day::date
),

demand_variability as (
    select store_id, sku, stddev_samp(units_sold) as stddev_daily_units_t30
    from demand_last_30_days
    group by store_id, sku
),

snapshot_history as (
    select
        l.store_id,
        l.sku,
        avg(h.on_hand_quantity) as average_on_hand_90d,
        count(*) filter (where h.snapshot_date > l.snapshot_date - 30) as observed_days_30d,
        count(*) filter (where h.snapshot_date > l.snapshot_date - 30 and h.fulfillable_quantity > 0)
            as in_stock_days_30d
    from latest_snapshots as l
    inner join {{ ref('fct_inventory_daily') }} as h
        on h.store_id = l.store_id
            and h.sku = l.sku
            and h.snapshot_date between l.snapshot_date - 89 and l.snapshot_date
    group by l.store_id, l.sku
),

stockout_days as (
    -- a snapshot day with nothing fulfillable counts when the SKU sold in the 30 days before it
    select l.store_id, l.sku, count(*) as stockout_days_30d
    from latest_snapshots as l
    inner join {{ ref('fct_inventory_daily') }} as h
        on h.store_id = l.store_id
            and h.sku = l.sku
            and h.snapshot_date between l.snapshot_date - 29 and l.snapshot_date
            and h.fulfillable_quantity = 0
    where exists (
            select 1
            from daily_units_sold as d
            where d.store_id = h.store_id
                and d.sku = h.sku
                and d.order_date between h.snapshot_date - 30 and h.snapshot_date - 1
                and d.units_ordered > 0
        )
    group by l.store_id, l.sku
),

aged_stock as (
    select
        store_id,
        sku,
        sum(units_on_hand) filter (where age_days <= 90) as aged_0_90_units,
        sum(units_on_hand) filter (where age_days between 91 and 180) as aged_91_180_units,
        sum(units_on_hand) filter (where age_days between 181 and 270) as aged_181_270_units,
        sum(units_on_hand) filter (where age_days between 271 and 365) as aged_271_365_units,
        sum(units_on_hand) filter (where age_days > 365) as aged_365_plus_units,
        bool_or(is_estimated) as aged_buckets_estimated
    from {{ ref('int_inventory_stock_aged') }}
    group by store_id, sku
),

planning_overrides as (
    {{ inventory_store_planning_overrides() }}
),

planning_settings as (
    select
        s.store_id,
        coalesce(o.lead_time_days, {{ inventory_default_lead_time_days() }}) as lead_time_days,
        coalesce(o.service_level, {{ inventory_default_service_level() }}) as service_level
    from (select distinct store_id from latest_snapshots) as s
    left join planning_overrides as o on o.store_id = s.store_id
),

planning_z as (
    select *, ({{ inventory_normal_quantile('service_level') }})::numeric as z_score
    from planning_settings
),

measures as (
    select
        l.*,
        t.units_sold_t7,
        t.units_sold_t30,
        t.units_sold_t90,
        t.units_sold_t30 / 30.0 as average_daily_units_t30,
        coalesce(v.stddev_daily_units_t30, 0) as stddev_daily_units_t30,
        h.average_on_hand_90d,
        h.observed_days_30d,
        h.in_stock_days_30d,
        coalesce(so.stockout_days_30d, 0) as stockout_days_30d,
        a.aged_0_90_units,
        a.aged_91_180_units,
        a.aged_181_270_units,
        a.aged_271_365_units,
        a.aged_365_plus_units,
        a.aged_buckets_estimated,
        p.lead_time_days,
        p.service_level,
        p.z_score
    from latest_snapshots as l
    inner join trailing_sales as t on t.store_id = l.store_id and t.sku = l.sku
    left join demand_variability as v on v.store_id = l.store_id and v.sku = l.sku
    left join snapshot_history as h on h.store_id = l.store_id and h.sku = l.sku
    left join stockout_days as so on so.store_id = l.store_id and so.sku = l.sku
    left join aged_stock as a on a.store_id = l.store_id and a.sku = l.sku
    inner join planning_z as p on p.store_id = l.store_id
),

planning as (
    select
        *,
        fulfillable_quantity * 30.0 / nullif(units_sold_t30, 0) as days_of_supply,
        average_daily_units_t30 * lead_time_days as lead_time_demand,
        z_score * stddev_daily_units_t30 * sqrt(lead_time_days::numeric) as safety_stock
    from measures
)

select
    store_id,
    sku,
    snapshot_date,
    asin,
    fulfillable_quantity,
    reserved_quantity,
    unsellable_quantity,
    inbound_quantity,
    researching_quantity,
    on_hand_quantity,
    units_sold_t7,
    units_sold_t30,
    units_sold_t90,
    days_of_supply::numeric(18, 2) as days_of_supply,
    (on_hand_quantity * 30.0 / nullif(units_sold_t30 * 7, 0))::numeric(18, 2) as weeks_of_cover_t30,
    (on_hand_quantity * 90.0 / nullif(units_sold_t90 * 7, 0))::numeric(18, 2) as weeks_of_cover_t90,
    (units_sold_t90 / nullif(average_on_hand_90d, 0))::numeric(18, 4) as sell_through_rate_90d,
    average_on_hand_90d::numeric(18, 2) as average_on_hand_90d,
    stockout_days_30d,
    in_stock_days_30d,
    observed_days_30d,
    (in_stock_days_30d * 100.0 / nullif(observed_days_30d, 0))::numeric(9, 2) as in_stock_rate_30d,
    greatest(0, on_hand_quantity - 3 * units_sold_t30) as excess_units,
    coalesce(aged_0_90_units, 0) as aged_0_90_units,
    coalesce(aged_91_180_units, 0) as aged_91_180_units,
    coalesce(aged_181_270_units, 0) as aged_181_270_units,
    coalesce(aged_271_365_units, 0) as aged_271_365_units,
    coalesce(aged_365_plus_units, 0) as aged_365_plus_units,
    coalesce(aged_buckets_estimated, false) as aged_buckets_estimated,
    lead_time_days,
    service_level::numeric(9, 4) as service_level,
    z_score::numeric(9, 4) as z_score,
    average_daily_units_t30::numeric(18, 4) as average_daily_units_t30,
    stddev_daily_units_t30::numeric(18, 4) as stddev_daily_units_t30,
    lead_time_demand::numeric(18, 2) as lead_time_demand,
    safety_stock::numeric(18, 2) as safety_stock,
    ceil(lead_time_demand + safety_stock)::integer as reorder_point,
    greatest(0, ceil(lead_time_demand + safety_stock)::integer - on_hand_quantity - inbound_quantity)
        as suggested_reorder_qty,
    coalesce(days_of_supply < lead_time_days, false) as stockout_risk
from planning
