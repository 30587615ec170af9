{{ config(indexes=[{'columns': ['store_id', 'period_grain', 'period_start']}]) }}
-- Grain: one row per store × period_grain ('day', 'week' = ISO week from Monday, 'month') ×
-- period_start. Every headline metric of the period beside the previous period (day − 1 day,
-- week − 7 days, month − 1 month) and the same period last year (day − 1 year, week − 52 weeks so
-- weekdays line up, month − 1 year), with the absolute and percent change.
-- Periods cover each store's span from its first to its last day with data; a day without any
-- activity inside the span counts as zero sales. Ratios are recomputed from the period's sums.
{%- set metrics = business_headline_metrics() %}
with daily as (
    select * from {{ ref('fct_daily_store_performance') }}
),

store_spans as (
    select store_id, min(date_day) as first_day, max(date_day) as last_day
    from daily
    group by store_id
),

store_days as (
    select s.store_id, c.date_day, c.week_start, c.month_start
    from store_spans as s
    inner join {{ ref('dim_date') }} as c on c.date_day between s.first_day and s.last_day
),

days_filled as (
    select
        sd.store_id,
        sd.date_day,
        sd.week_start,
        sd.month_start,
        coalesce(d.ordered_product_sales, 0) as ordered_product_sales,
        coalesce(d.units_ordered, 0) as units_ordered,
        coalesce(d.orders, 0) as orders,
        coalesce(d.order_items, 0) as order_items,
        coalesce(d.item_promotion_discount, 0) as item_promotion_discount,
        coalesce(d.units_refunded, 0) as units_refunded,
        coalesce(d.refunds_amount, 0) as refunds_amount,
        coalesce(d.net_sales, 0) as net_sales,
        d.sessions,
        d.page_views,
        d.buy_box_percentage,
        -- conversion only counts days that have traffic, so a missing report does not inflate it
        case when d.sessions is not null then d.units_ordered end as traffic_units_ordered,
        case when d.sessions is not null then d.order_items end as traffic_order_items,
        d.buy_box_percentage * d.page_views as buy_box_page_views
    from store_days as sd
    left join daily as d on d.store_id = sd.store_id and d.date_day = sd.date_day
),

days_by_period as (
    select f.*, g.period_grain, g.period_start
    from days_filled as f
    cross join lateral (
        values ('day', f.date_day), ('week', f.week_start), ('month', f.month_start)
    ) as g (period_grain, period_start)
),

period_sums as (
    select
        store_id,
        period_grain,
        period_start,
        count(*) as days_covered,
        sum(ordered_product_sales) as ordered_product_sales,
        sum(units_ordered) as units_ordered,
        sum(orders) as orders,
        sum(order_items) as order_items,
        sum(sessions) as sessions,
        sum(page_views) as page_views,
        sum(traffic_units_ordered) as traffic_units_ordered,
        sum(traffic_order_items) as traffic_order_items,
        sum(buy_box_page_views) as buy_box_page_views,
        avg(buy_box_percentage) as average_buy_box_percentage,
        sum(units_refunded) as units_refunded,
        sum(refunds_amount) as refunds_amount,
        sum(item_promotion_discount) as item_promotion_discount,
        sum(net_sales) as net_sales
    from days_by_period
    group by store_id, period_grain, period_start
),

period_metrics as (
    select
        store_id,
        period_grain,
        period_start,
        case period_grain
            when 'day' then period_start
            when 'week' then period_start + 6
            else (period_start + interval '1 month' - interval '1 day')::date
        end as period_end,
        case period_grain
            when 'day' then period_start - 1
            when 'week' then period_start - 7
            else (period_start - interval '1 month')::date
        end as previous_period_start,
        case period_grain
            when 'week' then period_start - 364
            else (period_start - interval '1 year')::date
        end as last_year_period_start,
        days_covered,
        ordered_product_sales::numeric(18, 2) as ordered_product_sales,
        units_ordered::bigint as units_ordered,
        orders::bigint as orders,
        order_items::bigint as order_items,
        ({{ safe_divide('ordered_product_sales', 'orders') }})::numeric(18, 2) as average_order_value,
        ({{ safe_divide('ordered_product_sales', 'units_ordered') }})::numeric(18, 2) as average_selling_price,
        sessions::bigint as sessions,
        page_views::bigint as page_views,
        ({{ safe_divide('traffic_units_ordered * 100', 'sessions') }})::numeric(9, 2) as unit_session_percentage,
        ({{ safe_divide('traffic_order_items * 100', 'sessions') }})::numeric(9, 2) as order_item_session_percentage,
        -- share of page views that showed the featured offer: page-view-weighted over the days
        coalesce({{ safe_divide('buy_box_page_views', 'page_views') }}, average_buy_box_percentage)::numeric(9, 2)
            as buy_box_percentage,
        units_refunded::bigint as units_refunded,
        ({{ safe_divide('units_refunded * 100', 'units_ordered') }})::numeric(9, 2) as refund_rate,
        refunds_amount::numeric(18, 2) as refunds_amount,
        item_promotion_discount::numeric(18, 2) as item_promotion_discount,
        net_sales::numeric(18, 2) as net_sales
    from period_sums
)

select
    cur.store_id,
    cur.period_grain,
    cur.period_start,
    cur.period_end,
    cur.period_end - cur.period_start + 1 as days_in_period,
    cur.days_covered,
    cur.days_covered = cur.period_end - cur.period_start + 1 as is_complete,
    cur.previous_period_start,
    cur.last_year_period_start,
{%- for m in metrics %}
cur.{{ m.name }},
prev.{{ m.name }} as {{ m.name }}_previous,
(cur.{{ m.name }} - prev.{{ m.name }})::{{ m.type }} as {{ m.name }}_change,
{{ business_percent_change('cur.' ~ m.name, 'prev.' ~ m.name) }} as {{ m.name }}_change_pct,
last_year.{{ m.name }} as {{ m.name }}_last_year,
(cur.{{ m.name }} - last_year.{{ m.name }})::{{ m.type }} as {{ m.name }}_yoy_change,
{{ business_percent_change('cur.' ~ m.name, 'last_year.' ~ m.name) }} as {{ m.name }}_yoy_change_pct
{{- "," if not loop.last }}
{%- endfor %}
from period_metrics as cur
left join period_metrics as prev
    on prev.store_id = cur.store_id
        and prev.period_grain = cur.period_grain
        and prev.period_start = cur.previous_period_start
left join period_metrics as last_year
    on last_year.store_id = cur.store_id
        and last_year.period_grain = cur.period_grain
        and last_year.period_start = cur.last_year_period_start
