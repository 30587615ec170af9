{{ config(indexes=[{'columns': ['store_id', 'month_start']}]) }}
-- Grain: one row per store × SKU × month_start × view_type.
--   view_type 'cohort':   units ordered in the month, and the units of those orders returned at any
--                         time later (joined on order id and SKU) — the true return rate of the
--                         month's orders; recent months rise as their returns arrive.
--   view_type 'calendar': units returned in the month (by return date) over units ordered in the
--                         month — what a monthly P&L sees.
-- return_rate = units_returned / units_ordered × 100 (percent 0–100), null without orders.
-- Returns whose order line is unknown have no order month: they count in the calendar view only.
with units_ordered as (
    select store_id, sku, date_trunc('month', order_date)::date as month_start, sum(units_ordered) as units_ordered
    from {{ ref('fct_daily_sales') }}
    group by 1, 2, 3
),

returned_by_order_month as (
    select store_id, sku, date_trunc('month', order_date)::date as month_start, sum(quantity) as units_returned
    from {{ ref('fct_returns') }}
    where order_date is not null
    group by 1, 2, 3
),

returned_by_return_month as (
    select store_id, sku, date_trunc('month', return_date)::date as month_start, sum(quantity) as units_returned
    from {{ ref('fct_returns') }}
    group by 1, 2, 3
),

both_views as (
    select
        coalesce(o.store_id, r.store_id) as store_id,
        coalesce(o.sku, r.sku) as sku,
        coalesce(o.month_start, r.month_start) as month_start,
        'cohort' as view_type,
        coalesce(o.units_ordered, 0) as units_ordered,
        coalesce(r.units_returned, 0) as units_returned
    from units_ordered as o
    full outer join returned_by_order_month as r
        on r.store_id = o.store_id and r.sku = o.sku and r.month_start = o.month_start
    union all
    select
        coalesce(o.store_id, r.store_id),
        coalesce(o.sku, r.sku),
        coalesce(o.month_start, r.month_start),
        'calendar',
        coalesce(o.units_ordered, 0),
        coalesce(r.units_returned, 0)
    from units_ordered as o
    full outer join returned_by_return_month as r
        on r.store_id = o.store_id and r.sku = o.sku and r.month_start = o.month_start
)

select
    store_id,
    sku,
    month_start,
    (month_start + interval '1 month' - interval '1 day')::date as month_end,
    view_type,
    units_ordered,
    units_returned,
    ({{ safe_divide('units_returned * 100', 'units_ordered') }})::numeric(9, 2) as return_rate
from both_views
