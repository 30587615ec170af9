{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='activity_date',
        partition_domain='activity',
        tags=['partitioned'],
        indexes=[
            {'columns': ['activity_date']},
            {'columns': ['goal_name', 'channel', 'activity_date'], 'unique': true},
        ],
    )
}}
-- Grain: one row per day (activity_date, UTC) × goal × channel, for every goal of var
-- product_goals and every channel with active users that day, plus channel 'All' (all users of
-- the day, counted once).
--
-- A completion is an event matching the goal (event name or page path, and every property
-- condition); it counts on the day it happened, in the channel of the user's session it belongs
-- to (the latest session of the user started at or before it). Active users of a day and channel:
-- stitched users with a session of that channel covering the day. conversion_rate = completing
-- users / active users. Goal definitions apply to the days a run rebuilds: after changing them,
-- rebuild everything (a dbt build without the rebuild vars).
{%- set goals = product_goal_definitions() %}

with session_days as (
    -- the days each session covers, with its channel (a session crossing midnight counts on both days)
    select
        s.user_key,
        s.channel,
        covered_day::date as activity_date
    from {{ ref('fct_sessions') }} as s
    cross join
        lateral generate_series(
            s.session_date, (s.ended_at at time zone 'UTC')::date, interval '1 day'
        ) as covered_day
    where {{ product_lookback_window_filter('s.session_date', 'activity') }}
),

active_users as (
    select distinct activity_date, channel, user_key
    from session_days
    where {{ partition_window_filter('activity_date', 'activity') }}
),

goal_events as (
    {%- if goals | length == 0 %}
    select
        null::text as goal_name, null::text as user_key, null::timestamptz as event_timestamp,
        null::date as activity_date
    where false
    {%- else %}
    select
        goal.goal_name,
        e.user_key,
        e.event_timestamp,
        e.event_date as activity_date
    from {{ ref('int_events_stitched') }} as e
    cross join
        lateral unnest(array[
            {%- for g in goals %}
            case when {{ product_goal_condition(g) | indent(12) }} then {{ product_sql_string(g.name) }} end
            {{- "," if not loop.last }}
            {%- endfor %}
        ]) as goal (goal_name)
    where goal.goal_name is not null
        and {{ partition_window_filter('e.event_date', 'activity') }}
    {%- endif %}
),

completions as (
    select
        g.goal_name,
        g.user_key,
        g.activity_date,
        coalesce(s.channel, '(no session)') as channel
    from goal_events as g
    left join lateral (
        select channel
        from {{ ref('fct_sessions') }} as fs
        where fs.user_key = g.user_key
            and fs.started_at <= g.event_timestamp
        order by fs.started_at desc
        limit 1
    ) as s on true
),

goals as (
    {%- if goals | length == 0 %}
    select null::text as goal_name
    where false
    {%- else %}
    select goal_name
    from (
        values
        {%- for g in goals %}
        ({{ product_sql_string(g.name) }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as definitions (goal_name)
    {%- endif %}
),

channel_days as (
    select activity_date, channel, count(*) as active_users
    from active_users
    group by activity_date, channel
    union all
    select activity_date, 'All', count(distinct user_key)
    from active_users
    group by activity_date
),

completion_counts as (
    select
        activity_date,
        goal_name,
        channel,
        count(*) as completions,
        count(distinct user_key) as completing_users
    from completions
    group by activity_date, goal_name, channel
    union all
    select
        activity_date,
        goal_name,
        'All',
        count(*),
        count(distinct user_key)
    from completions
    group by activity_date, goal_name
),

scaffold as (
    -- every goal on every day and channel with active users, and wherever a completion happened
    select c.activity_date, g.goal_name, c.channel
    from channel_days as c
    cross join goals as g
    union
    select activity_date, goal_name, channel
    from completion_counts
)

select
    s.activity_date,
    s.goal_name,
    s.channel,
    coalesce(cc.completions, 0)::integer as completions,
    coalesce(cc.completing_users, 0)::integer as completing_users,
    coalesce(cd.active_users, 0)::integer as active_users,
    ({{ safe_divide('coalesce(cc.completing_users, 0)', 'cd.active_users') }})::numeric(9, 4) as conversion_rate
from scaffold as s
left join channel_days as cd
    on cd.activity_date = s.activity_date
        and cd.channel = s.channel
left join completion_counts as cc
    on cc.activity_date = s.activity_date
        and cc.goal_name = s.goal_name
        and cc.channel = s.channel
