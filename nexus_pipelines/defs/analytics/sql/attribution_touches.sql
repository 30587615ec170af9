-- Attribution touch rows: one row per conversion x touch.
--
-- A conversion is a web order (fct_orders_web) with revenue > 0. Its touches are the sessions of
-- the same stitched user (user_key) that started in the lookback window before the order:
-- ordered_at - :lookback_days days < started_at <= ordered_at (the order's own session is the
-- last touch). touch_index numbers them from 1 in time order (session_id breaks ties).
-- A conversion with no session in the window gets one touch, channel 'Direct' at the order time,
-- so every conversion (and all its revenue) is attributed.
with conversions as (
    select
        order_id as conversion_id,
        user_key,
        ordered_at as conversion_time,
        order_date as conversion_date,
        revenue::float8 as revenue
    from {fct_orders_web}
    where revenue > 0
),

touches as (
    select
        c.conversion_id,
        s.session_id,
        s.channel,
        s.started_at
    from conversions as c
    inner join {fct_sessions} as s
        on s.user_key = c.user_key
        and s.started_at <= c.conversion_time
        and s.started_at > c.conversion_time - make_interval(days => %(lookback_days)s::integer)
)

select
    c.conversion_id,
    c.user_key,
    c.conversion_date,
    c.conversion_time,
    c.revenue,
    row_number() over (
        partition by c.conversion_id order by t.started_at, t.session_id
    )::integer as touch_index,
    coalesce(t.channel, 'Direct') as channel,
    coalesce(t.started_at, c.conversion_time) as touch_time,
    t.session_id
from conversions as c
left join touches as t
    on t.conversion_id = c.conversion_id
order by c.conversion_id, touch_index
