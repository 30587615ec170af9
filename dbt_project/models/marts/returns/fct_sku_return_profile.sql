{{ config(indexes=[{'columns': ['store_id', 'sku']}]) }}
-- Grain: one row per store × SKU that sold or was returned.
-- 90-day window: orders placed in the 90 days ending on the store's latest order date; units
-- returned are the returns of those orders (any return date). A SKU is high-return when its
-- 90-day return rate > the store's 90-day rate × var high_return_factor and it sold at least
-- var high_return_min_units units in the window. Rates are percent 0–100.
-- days_to_return (return date − purchase date) median and p90 are over all returned units of
-- the SKU (a batch of 3 units counts 3 times), linear interpolation between ranks.
with store_windows as (
    select store_id, max(order_date) - 89 as window_start, max(order_date) as window_end
    from {{ ref('fct_daily_sales') }}
    group by store_id
),

sold_in_window as (
    select s.store_id, s.sku, sum(s.units_ordered) as units_sold_90d
    from {{ ref('fct_daily_sales') }} as s
    inner join store_windows as w
        on w.store_id = s.store_id and s.order_date between w.window_start and w.window_end
    group by s.store_id, s.sku
),

returned_from_window as (
    select r.store_id, r.sku, sum(r.quantity) as units_returned_90d
    from {{ ref('fct_returns') }} as r
    inner join store_windows as w
        on w.store_id = r.store_id and r.order_date between w.window_start and w.window_end
    group by r.store_id, r.sku
),

returned_units as (
    -- one row per returned unit, so that percentiles weigh batches by their size
    select r.store_id, r.sku, r.days_to_return, r.is_resellable
    from {{ ref('fct_returns') }} as r
    cross join lateral generate_series(1, greatest(r.quantity, 1)) as unit (n)
),

return_timing as (
    select
        store_id,
        sku,
        count(*) as units_returned_total,
        count(*) filter (where is_resellable) as units_resellable_total,
        percentile_cont(0.5) within group (order by days_to_return) as days_to_return_median,
        percentile_cont(0.9) within group (order by days_to_return) as days_to_return_p90
    from returned_units
    group by store_id, sku
),

skus as (
    select store_id, sku from sold_in_window
    union
    select store_id, sku from returned_from_window
    union
    select store_id, sku from return_timing
),

sku_rates as (
    select
        k.store_id,
        k.sku,
        coalesce(s.units_sold_90d, 0) as units_sold_90d,
        coalesce(r.units_returned_90d, 0) as units_returned_90d
    from skus as k
    left join sold_in_window as s on s.store_id = k.store_id and s.sku = k.sku
    left join returned_from_window as r on r.store_id = k.store_id and r.sku = k.sku
),

store_rates as (
    select
        store_id,
        {{ safe_divide('sum(units_returned_90d) * 100', 'sum(units_sold_90d)') }} as store_return_rate_90d
    from sku_rates
    group by store_id
),

measures as (
    select
        k.*,
        w.window_start,
        w.window_end,
        {{ safe_divide('k.units_returned_90d * 100', 'k.units_sold_90d') }} as return_rate_90d,
        sr.store_return_rate_90d,
        sr.store_return_rate_90d * {{ var('high_return_factor') }} as high_return_threshold,
        coalesce(t.units_returned_total, 0) as units_returned_total,
        {{ safe_divide('t.units_resellable_total * 100', 't.units_returned_total') }} as resellable_share,
        t.days_to_return_median,
        t.days_to_return_p90
    from sku_rates as k
    left join store_windows as w on w.store_id = k.store_id
    left join store_rates as sr on sr.store_id = k.store_id
    left join return_timing as t on t.store_id = k.store_id and t.sku = k.sku
)

select
    store_id,
    sku,
    window_start,
    window_end,
    units_sold_90d,
    units_returned_90d,
    return_rate_90d::numeric(9, 2) as return_rate_90d,
    store_return_rate_90d::numeric(9, 2) as store_return_rate_90d,
    high_return_threshold::numeric(9, 2) as high_return_threshold,
    coalesce(
        units_sold_90d >= {{ var('high_return_min_units') }} and return_rate_90d > high_return_threshold,
        false
    ) as is_high_return,
    units_returned_total,
    resellable_share::numeric(9, 2) as resellable_share,
    days_to_return_median::numeric(9, 2) as days_to_return_median,
    days_to_return_p90::numeric(9, 2) as days_to_return_p90
from measures
