{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='date_day',
        partition_domain='store_days',
        tags=['partitioned'],
        indexes=[{'columns': ['date_day']}, {'columns': ['store_id', 'date_day'], 'unique': true}],
    )
}}
-- Grain: one row per store × date_day (store time zone) with orders, returns or a Sales and
-- Traffic report that day. Sales by purchase date, refunds by return date, traffic by report date.
-- Percentages are 0–100 like Amazon's; the Sales and Traffic report's own sales figures sit
-- beside ours with the difference (ours − report) so that gaps are visible.
with sales as (
    select
        store_id,
        order_date as date_day,
        sum(coalesce(item_price, 0)) as ordered_product_sales,
        sum(quantity) as units_ordered,
        count(distinct amazon_order_id) as orders,
        count(*) as order_items,
        sum(item_promotion_discount) as item_promotion_discount
    from {{ ref('stg_amazon__orders') }}
    where not is_cancelled
        and {{ partition_window_filter('order_date', 'store_days') }}
    group by store_id, order_date
),

refunds as (
    select
        store_id,
        return_date as date_day,
        sum(quantity) as units_refunded,
        sum(coalesce(refund_amount, 0)) as refunds_amount,
        sum(case when has_order_line then 0 else quantity end) as units_refunded_unpriced
    from {{ ref('fct_returns') }}
    where {{ partition_window_filter('return_date', 'store_days') }}
    group by store_id, return_date
),

traffic as (
    select
        store_id,
        report_date as date_day,
        sessions,
        page_views,
        buy_box_percentage,
        ordered_product_sales as report_ordered_product_sales,
        units_ordered as report_units_ordered,
        total_order_items as report_order_items
    from {{ ref('stg_amazon__sales_traffic_by_date') }}
    where {{ partition_window_filter('report_date', 'store_days') }}
),

store_days as (
    select store_id, date_day from sales
    union
    select store_id, date_day from refunds
    union
    select store_id, date_day from traffic
),

stores as (
    select store_id, currency from {{ ref('stg_amazon__stores') }}
),

measures as (
    select
        d.store_id,
        d.date_day,
        st.currency,
        coalesce(s.ordered_product_sales, 0) as ordered_product_sales,
        coalesce(s.units_ordered, 0) as units_ordered,
        coalesce(s.orders, 0) as orders,
        coalesce(s.order_items, 0) as order_items,
        coalesce(s.item_promotion_discount, 0) as item_promotion_discount,
        coalesce(r.units_refunded, 0) as units_refunded,
        coalesce(r.refunds_amount, 0) as refunds_amount,
        coalesce(r.units_refunded_unpriced, 0) as units_refunded_unpriced,
        t.date_day is not null as has_traffic_report,
        t.sessions,
        t.page_views,
        t.buy_box_percentage,
        t.report_ordered_product_sales,
        t.report_units_ordered,
        t.report_order_items
    from store_days as d
    left join sales as s on s.store_id = d.store_id and s.date_day = d.date_day
    left join refunds as r on r.store_id = d.store_id and r.date_day = d.date_day
    left join traffic as t on t.store_id = d.store_id and t.date_day = d.date_day
    left join stores as st on st.store_id = d.store_id
)

select
    store_id,
    date_day,
    date_trunc('week', date_day)::date as week_start,
    date_trunc('month', date_day)::date as month_start,
    currency,
    ordered_product_sales::numeric(18, 2) as ordered_product_sales,
    units_ordered,
    orders,
    order_items,
    ({{ safe_divide('ordered_product_sales', 'orders') }})::numeric(18, 2) as average_order_value,
    ({{ safe_divide('ordered_product_sales', 'units_ordered') }})::numeric(18, 2) as average_selling_price,
    sessions,
    page_views,
    ({{ safe_divide('units_ordered * 100', 'sessions') }})::numeric(9, 2) as unit_session_percentage,
    ({{ safe_divide('order_items * 100', 'sessions') }})::numeric(9, 2) as order_item_session_percentage,
    buy_box_percentage::numeric(9, 2) as buy_box_percentage,
    units_refunded,
    ({{ safe_divide('units_refunded * 100', 'units_ordered') }})::numeric(9, 2) as refund_rate,
    refunds_amount::numeric(18, 2) as refunds_amount,
    units_refunded_unpriced,
    item_promotion_discount::numeric(18, 2) as item_promotion_discount,
    (ordered_product_sales - item_promotion_discount - refunds_amount)::numeric(18, 2) as net_sales,
    has_traffic_report,
    report_ordered_product_sales::numeric(18, 2) as report_ordered_product_sales,
    report_units_ordered,
    report_order_items,
    (ordered_product_sales - report_ordered_product_sales)::numeric(18, 2) as ordered_product_sales_difference,
    units_ordered - report_units_ordered as units_ordered_difference,
    order_items - report_order_items as order_items_difference
from measures
