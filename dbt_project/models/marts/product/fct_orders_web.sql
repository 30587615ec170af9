{{
    config(
        indexes=[
            {'columns': ['order_id'], 'unique': true},
            {'columns': ['order_date']},
            {'columns': ['user_key']},
        ],
    )
}}
-- Grain: one row per web order (order_id of an Order Completed event), with its refunds.
--
-- An order tracked twice (two Order Completed events with the same order_id) counts once: the
-- first. The user is stitched like every product event (int_events_stitched: the event's userId,
-- else the user its anonymousId was linked to, else the anonymousId). The order's session is the
-- latest session of that user started at or before the order; its channel and device are the
-- order's. Refunds (Order Refunded, usually server-side and days later) are matched by order_id:
-- the amount of a refund is its `total`, else its `revenue`, else the whole order revenue (a
-- refund without an amount is a full refund). Refunds of orders never tracked are not shown.
-- Rebuilt whole at each run (a refund changes an old order), which is cheap: the filter on the
-- two event names reaches the raw scan.
with completed as (
    -- the same stitching rule as int_events_stitched
    select
        t.message_id,
        t.order_id,
        coalesce(t.user_id, m.user_id, t.anonymous_id) as user_key,
        coalesce(t.user_id, m.user_id) as user_id,
        t.event_timestamp as ordered_at,
        t.event_date as order_date,
        coalesce(t.revenue, t.total) as revenue,
        t.currency,
        t.product_count,
        t.products,
        row_number() over (partition by t.order_id order by t.event_timestamp, t.message_id) as order_rank
    from {{ ref('stg_events__tracks') }} as t
    left join {{ ref('int_identity_map') }} as m
        on m.anonymous_id = t.anonymous_id
    where t.event_name = 'Order Completed'
        and t.order_id is not null
),

orders as (
    select *
    from completed
    where order_rank = 1
),

refunds as (
    select
        order_id,
        count(*) as refund_count,
        count(*) filter (where coalesce(total, revenue) is null) as refunds_without_amount,
        coalesce(sum(coalesce(total, revenue)), 0) as refunded_amount_reported,
        min(event_timestamp) as first_refunded_at
    from {{ ref('stg_events__tracks') }}
    where event_name = 'Order Refunded'
        and order_id is not null
    group by order_id
),

order_details as (
    select
        o.*,
        u.units,
        s.session_id,
        s.channel,
        s.device_type,
        r.refund_count,
        r.first_refunded_at,
        -- a refund without an amount refunds the whole order
        r.refunded_amount_reported + r.refunds_without_amount * o.revenue as refunded_amount
    from orders as o
    left join lateral (
        select sum({{ product_json_numeric('p.product', 'quantity') }}) as units
        from jsonb_array_elements(o.products) as p (product)
    ) as u on true
    left join lateral (
        -- the session the order was placed in: the user's latest session started by then
        select fs.session_id, fs.channel, fs.device_type
        from {{ ref('fct_sessions') }} as fs
        where fs.user_key = o.user_key
            and fs.started_at <= o.ordered_at
        order by fs.started_at desc
        limit 1
    ) as s on true
    left join refunds as r
        on r.order_id = o.order_id
)

select
    order_id,
    user_key,
    user_id,
    user_id is not null as is_identified,
    ordered_at,
    order_date,
    revenue::numeric(18, 2) as revenue,
    currency,
    product_count::integer as product_count,
    units::numeric(18, 2) as units,
    session_id,
    channel,
    device_type,
    coalesce(refund_count, 0)::integer as refund_count,
    refund_count is not null as is_refunded,
    coalesce(refunded_amount >= revenue, false) as is_fully_refunded,
    first_refunded_at,
    coalesce(refunded_amount, 0)::numeric(18, 2) as refunded_amount,
    (revenue - coalesce(refunded_amount, 0))::numeric(18, 2) as net_revenue,
    message_id
from order_details
