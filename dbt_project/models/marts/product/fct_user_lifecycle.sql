{{ config(indexes=[{'columns': ['week_start']}]) }}
-- Grain: one row per ISO week (week_start, a Monday), from the first to the last week with activity.
--
-- PostHog's lifecycle, per week, of stitched users active in the week (a session covering one
-- of its days, see fct_active_users):
--   new           active this week, and this is the first week they were ever active;
--   returning     active this week and the week before;
--   resurrecting  active this week, not the week before, but in some earlier week;
--   dormant       active the week before but not this week (PostHog plots them as a negative bar;
--                 here a positive count).
-- new + returning + resurrecting = active_users. The first and last weeks of the data may be
-- partial (is_complete_week false).
-- depends_on: {{ ref('fct_sessions') }}
with user_days as (
    {{ product_user_active_days() }}
),

user_weeks as (
    select distinct
        user_key,
        date_trunc('week', activity_date)::date as week_start
    from user_days
),

first_weeks as (
    select user_key, min(week_start) as first_week_start
    from user_weeks
    group by user_key
),

active_statuses as (
    select
        w.week_start,
        case
            when w.week_start = f.first_week_start then 'new'
            when previous_week.user_key is not null then 'returning'
            else 'resurrecting'
        end as status
    from user_weeks as w
    inner join first_weeks as f
        on f.user_key = w.user_key
    left join user_weeks as previous_week
        on previous_week.user_key = w.user_key
            and previous_week.week_start = w.week_start - 7
),

dormant as (
    select
        w.week_start + 7 as week_start,
        count(*) as dormant_users
    from user_weeks as w
    left join user_weeks as next_week
        on next_week.user_key = w.user_key
            and next_week.week_start = w.week_start + 7
    where next_week.user_key is null
    group by w.week_start + 7
),

status_counts as (
    select
        week_start,
        count(*) filter (where status = 'new') as new_users,
        count(*) filter (where status = 'returning') as returning_users,
        count(*) filter (where status = 'resurrecting') as resurrecting_users
    from active_statuses
    group by week_start
),

observed as (
    select min(activity_date) as first_day, max(activity_date) as last_day
    from user_days
),

weeks as (
    select week_start::date as week_start
    from observed
    cross join lateral generate_series(
        date_trunc('week', observed.first_day), date_trunc('week', observed.last_day), interval '7 days'
    ) as week_start
)

select
    w.week_start,
    extract(isoyear from w.week_start)::integer as iso_year,
    extract(week from w.week_start)::integer as iso_week,
    coalesce(s.new_users, 0)::integer as new_users,
    coalesce(s.returning_users, 0)::integer as returning_users,
    coalesce(s.resurrecting_users, 0)::integer as resurrecting_users,
    coalesce(d.dormant_users, 0)::integer as dormant_users,
    (coalesce(s.new_users, 0) + coalesce(s.returning_users, 0) + coalesce(s.resurrecting_users, 0))::integer as active_users,
    (w.week_start >= o.first_day and w.week_start + 6 <= o.last_day) as is_complete_week
from weeks as w
cross join observed as o
left join status_counts as s
    on s.week_start = w.week_start
left join dormant as d
    on d.week_start = w.week_start
