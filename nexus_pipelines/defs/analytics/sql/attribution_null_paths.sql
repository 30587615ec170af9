-- Non-converting journeys for the Markov model, aggregated to one row per distinct path.
--
-- A user's non-converting journey is made of their sessions that started after their last
-- converting order (all their sessions if they never ordered), restricted to the lookback window
-- ending at the last of those sessions: started_at > last_started_at - :lookback_days days.
-- Its path is the channels of those sessions in time order, joined with ' > '.
-- Only the data before the fit's first excluded day counts (orders and sessions dated before
-- :fit_before), so that the fit of a period does not move as later days arrive.
with last_orders as (
    select
        user_key,
        max(ordered_at) as last_ordered_at
    from {fct_orders_web}
    where revenue > 0 and order_date < %(fit_before)s::date
    group by user_key
),

after_last_order as (
    select
        s.user_key,
        s.session_id,
        s.channel,
        s.started_at,
        max(s.started_at) over (partition by s.user_key) as last_started_at
    from {fct_sessions} as s
    left join last_orders as o
        on o.user_key = s.user_key
    where s.session_date < %(fit_before)s::date
      and (o.last_ordered_at is null or s.started_at > o.last_ordered_at)
),

journeys as (
    select
        user_key,
        string_agg(channel, ' > ' order by started_at, session_id) as path
    from after_last_order
    where started_at > last_started_at - make_interval(days => %(lookback_days)s::integer)
    group by user_key
)

select
    path,
    count(*)::bigint as nulls
from journeys
group by path
order by path collate "C"
