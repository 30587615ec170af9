{{ config(indexes=[{'columns': ['store_id', 'period_grain', 'period_start']}]) }}
-- Grain: one row per store × metric_name × period_grain × period_start: every headline metric of
-- The headline business, returns and inventory metrics in one long table for BI tools and alerting.
--   business  'day' | 'week' | 'month'   from fct_period_comparison (same values)
--   returns   'month' (by return month; cohort return rate by order month)
--             'trailing_90_days'          from fct_sku_return_profile's window
--   inventory 'snapshot' (period = the store's latest snapshot date) summed from fct_inventory_health
-- Store-level ratios are recomputed from the summed parts, not averaged. Null values are left out.
{%- set business_metrics = business_headline_metrics() %}
with business as (
    select c.store_id, m.metric_name, m.metric_value, c.period_grain, c.period_start, c.period_end
    from {{ ref('fct_period_comparison') }} as c
    cross join lateral (
        values
        {%- for m in business_metrics %}
        ('{{ m.name }}', c.{{ m.name }}::numeric){{ "," if not loop.last }}
        {%- endfor %}
    ) as m (metric_name, metric_value)
),

store_return_rates as (
    select
        store_id,
        month_start,
        month_end,
        {{ safe_divide("sum(units_returned) filter (where view_type = 'cohort') * 100",
                       "sum(units_ordered) filter (where view_type = 'cohort')") }} as return_rate_cohort,
        {{ safe_divide("sum(units_returned) filter (where view_type = 'calendar') * 100",
                       "sum(units_ordered) filter (where view_type = 'calendar')") }} as return_rate_calendar
    from {{ ref('fct_return_rates') }}
    group by store_id, month_start, month_end
),

store_returns_by_month as (
    select
        store_id,
        date_trunc('month', return_date)::date as month_start,
        sum(quantity) as units_returned,
        sum(refund_amount) as refund_amount,
        {{ safe_divide('coalesce(sum(quantity) filter (where is_resellable), 0) * 100', 'sum(quantity)') }} as resellable_share
    from {{ ref('fct_returns') }}
    group by store_id, date_trunc('month', return_date)::date
),

return_timing_by_month as (
    -- one row per returned unit, so that the percentiles weigh batches by their size
    select
        r.store_id,
        date_trunc('month', r.return_date)::date as month_start,
        percentile_cont(0.5) within group (order by r.days_to_return) as days_to_return_median,
        percentile_cont(0.9) within group (order by r.days_to_return) as days_to_return_p90
    from {{ ref('fct_returns') }} as r
    cross join lateral generate_series(1, greatest(r.quantity, 1)) as unit (n)
    group by r.store_id, date_trunc('month', r.return_date)::date
),

returns_monthly as (
    select
        coalesce(r.store_id, m.store_id) as store_id,
        x.metric_name,
        x.metric_value,
        'month' as period_grain,
        coalesce(r.month_start, m.month_start) as period_start,
        (coalesce(r.month_start, m.month_start) + interval '1 month' - interval '1 day')::date as period_end
    from store_return_rates as r
    full outer join store_returns_by_month as m
        on m.store_id = r.store_id and m.month_start = r.month_start
    left join return_timing_by_month as t
        on t.store_id = m.store_id and t.month_start = m.month_start
    cross join lateral (
        values
        ('return_rate_cohort', r.return_rate_cohort::numeric(9, 2)::numeric),
        ('return_rate_calendar', r.return_rate_calendar::numeric(9, 2)::numeric),
        ('units_returned', coalesce(m.units_returned, 0)::numeric),
        ('refund_amount', m.refund_amount::numeric(18, 2)::numeric),
        ('resellable_share', m.resellable_share::numeric(9, 2)::numeric),
        ('days_to_return_median', t.days_to_return_median::numeric(9, 2)::numeric),
        ('days_to_return_p90', t.days_to_return_p90::numeric(9, 2)::numeric)
    ) as x (metric_name, metric_value)
),

returns_trailing as (
    select
        p.store_id,
        x.metric_name,
        x.metric_value,
        'trailing_90_days' as period_grain,
        p.window_start as period_start,
        p.window_end as period_end
    from (
        select
            store_id,
            window_start,
            window_end,
            max(store_return_rate_90d) as store_return_rate_90d,
            count(*) filter (where is_high_return) as high_return_skus
        from {{ ref('fct_sku_return_profile') }}
        where window_start is not null
        group by store_id, window_start, window_end
    ) as p
    cross join lateral (
        values
        ('return_rate_90d', p.store_return_rate_90d::numeric),
        ('high_return_skus', p.high_return_skus::numeric)
    ) as x (metric_name, metric_value)
),

store_inventory as (
    select
        store_id,
        max(snapshot_date) as as_of_date,
        sum(fulfillable_quantity) as fulfillable_units,
        sum(reserved_quantity) as reserved_units,
        sum(unsellable_quantity) as unsellable_units,
        sum(inbound_quantity) as inbound_units,
        sum(researching_quantity) as researching_units,
        sum(on_hand_quantity) as on_hand_units,
        sum(units_sold_t7) as units_sold_t7,
        sum(units_sold_t30) as units_sold_t30,
        sum(units_sold_t90) as units_sold_t90,
        sum(average_on_hand_90d) as average_on_hand_90d,
        sum(stockout_days_30d) as stockout_days_30d,
        sum(in_stock_days_30d) as in_stock_days_30d,
        sum(observed_days_30d) as observed_days_30d,
        sum(excess_units) as excess_units,
        sum(aged_0_90_units) as aged_0_90_units,
        sum(aged_91_180_units) as aged_91_180_units,
        sum(aged_181_270_units) as aged_181_270_units,
        sum(aged_271_365_units) as aged_271_365_units,
        sum(aged_365_plus_units) as aged_365_plus_units,
        count(*) filter (where stockout_risk) as stockout_risk_skus,
        sum(suggested_reorder_qty) as suggested_reorder_units
    from {{ ref('fct_inventory_health') }}
    group by store_id
),

inventory as (
    select
        i.store_id,
        x.metric_name,
        x.metric_value,
        'snapshot' as period_grain,
        i.as_of_date as period_start,
        i.as_of_date as period_end
    from store_inventory as i
    cross join lateral (
        values
        ('fulfillable_units', i.fulfillable_units::numeric),
        ('reserved_units', i.reserved_units::numeric),
        ('unsellable_units', i.unsellable_units::numeric),
        ('inbound_units', i.inbound_units::numeric),
        ('researching_units', i.researching_units::numeric),
        ('on_hand_units', i.on_hand_units::numeric),
        ('units_sold_t7', i.units_sold_t7::numeric),
        ('units_sold_t30', i.units_sold_t30::numeric),
        ('units_sold_t90', i.units_sold_t90::numeric),
        ('days_of_supply', ({{ safe_divide('i.fulfillable_units * 30', 'i.units_sold_t30') }})::numeric(18, 2)::numeric),
        ('weeks_of_cover_t30', ({{ safe_divide('i.on_hand_units * 30', 'i.units_sold_t30 * 7') }})::numeric(18, 2)::numeric),
        ('weeks_of_cover_t90', ({{ safe_divide('i.on_hand_units * 90', 'i.units_sold_t90 * 7') }})::numeric(18, 2)::numeric),
        ('sell_through_rate_90d', ({{ safe_divide('i.units_sold_t90', 'i.average_on_hand_90d') }})::numeric(18, 4)::numeric),
        ('stockout_days_30d', i.stockout_days_30d::numeric),
        ('in_stock_rate_30d', ({{ safe_divide('i.in_stock_days_30d * 100', 'i.observed_days_30d') }})::numeric(9, 2)::numeric),
        ('excess_units', i.excess_units::numeric),
        ('aged_0_90_units', i.aged_0_90_units::numeric),
        ('aged_91_180_units', i.aged_91_180_units::numeric),
        ('aged_181_270_units', i.aged_181_270_units::numeric),
        ('aged_271_365_units', i.aged_271_365_units::numeric),
        ('aged_365_plus_units', i.aged_365_plus_units::numeric),
        ('stockout_risk_skus', i.stockout_risk_skus::numeric),
        ('suggested_reorder_units', i.suggested_reorder_units::numeric)
    ) as x (metric_name, metric_value)
),

all_metrics as (
    select * from business
    union all
    select * from returns_monthly
    union all
    select * from returns_trailing
    union all
    select * from inventory
)

select
    store_id,
    metric_name,
    metric_value::numeric(18, 4) as metric_value,
    period_grain,
    period_start,
    period_end,
    now() as calculated_at
from all_metrics
where metric_value is not null
