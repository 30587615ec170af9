{{ config(indexes=[{'columns': ['activity_date']}]) }}
-- Grain: one row per day (activity_date, UTC) from the first to the last day with activity.
--
-- A user (stitched, user_key) is active on a day when they have an interactive event that day,
-- i.e. a session covering that day: a session runs without a 30-minute gap, so it has events on
-- every day from its start to its end. DAU counts the day's active users, WAU the distinct users
-- active in the 7 days ending that day, MAU in the 30 days ending that day; stickiness = DAU / MAU.
-- The first 6 (WAU) and 29 (MAU) days of the data have shorter look-backs than their name says.
--
-- WAU and MAU without a join per day and user: from each active day a a user stays counted for
-- N days or until their next active day, whichever comes first. Those stretches never overlap,
-- so the trailing count of a day is a running sum of +1 at every stretch start and -1 at its end.
-- depends_on: {{ ref('fct_sessions') }}
with user_days as (
    {{ product_user_active_days() }}
),

user_days_with_next as (
    select
        user_key,
        activity_date,
        lead(activity_date) over (partition by user_key order by activity_date) as next_activity_date
    from user_days
),

window_changes as (
    select activity_date as change_date, 1 as dau_change, 1 as wau_change, 1 as mau_change
    from user_days_with_next
    union all
    select activity_date + 1, -1, 0, 0
    from user_days_with_next
    union all
    select least(activity_date + 7, coalesce(next_activity_date, activity_date + 7)), 0, -1, 0
    from user_days_with_next
    union all
    select least(activity_date + 30, coalesce(next_activity_date, activity_date + 30)), 0, 0, -1
    from user_days_with_next
),

daily_changes as (
    select
        change_date,
        sum(dau_change) as dau_change,
        sum(wau_change) as wau_change,
        sum(mau_change) as mau_change
    from window_changes
    group by change_date
),

calendar as (
    {{ day_spine('(select min(activity_date) from user_days)', '(select max(activity_date) from user_days)') }}
),

counts as (
    select
        c.date_day as activity_date,
        sum(coalesce(d.dau_change, 0)) over running as dau,
        sum(coalesce(d.wau_change, 0)) over running as wau,
        sum(coalesce(d.mau_change, 0)) over running as mau
    from calendar as c
    left join daily_changes as d
        on d.change_date = c.date_day
    window running as (order by c.date_day rows unbounded preceding)
)

select
    activity_date,
    dau::integer as dau,
    wau::integer as wau,
    mau::integer as mau,
    ({{ safe_divide('dau', 'mau') }})::numeric(9, 4) as stickiness
from counts
