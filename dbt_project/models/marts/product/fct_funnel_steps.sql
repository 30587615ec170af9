-- Grain: one row per funnel × step × breakdown_type × breakdown_value.
--
-- Funnels, steps, windows and modes come from var product_funnels; which users reach which step
-- is decided in int_funnel_user_steps (modes documented there and in the model YAML). A user's
-- breakdown values are fixed at the funnel entry: the channel and device of the session in which
-- the user first did step 1 ('(no session)' when none is found). breakdown_type 'all' has the
-- single value 'All'. Every step of a funnel appears for every breakdown value that has entries,
-- with zero users where nobody got that far.
{%- set funnels = product_funnel_definitions() %}

with user_steps as (
    select
        funnel_name,
        user_key,
        step_number,
        seconds_to_convert,
        entered_at
    from {{ ref('int_funnel_user_steps') }}
),

funnel_entries as (
    select funnel_name, user_key, entered_at
    from user_steps
    where step_number = 1
),

entry_sessions as (
    -- the session the user was in when entering the funnel: the latest one started by then
    select
        e.funnel_name,
        e.user_key,
        s.channel,
        s.device_type
    from funnel_entries as e
    left join lateral (
        select channel, device_type
        from {{ ref('fct_sessions') }} as fs
        where fs.user_key = e.user_key
            and fs.started_at <= e.entered_at
        order by fs.started_at desc
        limit 1
    ) as s on true
),

user_breakdowns as (
    select funnel_name, user_key, 'all' as breakdown_type, 'All' as breakdown_value
    from entry_sessions
    union all
    select funnel_name, user_key, 'channel', coalesce(channel, '(no session)')
    from entry_sessions
    union all
    select funnel_name, user_key, 'device', coalesce(device_type, '(unknown)')
    from entry_sessions
),

funnel_definitions as (
    {%- if funnels | length == 0 %}
    select
        null::text as funnel_name, null::text as funnel_mode, null::numeric as window_days,
        null::integer as step_number, null::text as step_name
    where false
    {%- else %}
    -- the rows of the values list render on one line: line length is not checked here
    -- noqa: disable=LT05
    select *
    from (
        values
        {%- for funnel in funnels %}
        {%- set outer = loop %}
        {%- for step in funnel.steps %}
        ({{ product_sql_string(funnel.name) }}, {{ product_sql_string(funnel.mode) }}, {{ funnel.window_days }}::numeric, {{ loop.index }}, {{ product_sql_string(step) }}){{ "," if not (loop.last and outer.last) }}
        {%- endfor %}
        {%- endfor %}
    ) as definitions (funnel_name, funnel_mode, window_days, step_number, step_name)
    -- noqa: enable=LT05
    {%- endif %}
),

breakdown_values as (
    select distinct funnel_name, breakdown_type, breakdown_value
    from user_breakdowns
),

step_counts as (
    select
        s.funnel_name,
        b.breakdown_type,
        b.breakdown_value,
        s.step_number,
        count(*) as users_converted,
        percentile_cont(0.5) within group (order by s.seconds_to_convert) as median_seconds_to_convert
    from user_steps as s
    inner join user_breakdowns as b
        on b.funnel_name = s.funnel_name
            and b.user_key = s.user_key
    group by s.funnel_name, b.breakdown_type, b.breakdown_value, s.step_number
),

steps as (
    select
        d.funnel_name,
        d.funnel_mode,
        d.window_days,
        d.step_number,
        d.step_name,
        v.breakdown_type,
        v.breakdown_value,
        coalesce(c.users_converted, 0) as users_converted,
        c.median_seconds_to_convert
    from funnel_definitions as d
    inner join breakdown_values as v
        on v.funnel_name = d.funnel_name
    left join step_counts as c
        on c.funnel_name = d.funnel_name
            and c.breakdown_type = v.breakdown_type
            and c.breakdown_value = v.breakdown_value
            and c.step_number = d.step_number
),

with_previous as (
    select
        steps.*,
        first_value(users_converted) over breakdown_steps as users_entered_funnel,
        coalesce(lag(users_converted) over breakdown_steps, users_converted) as users_entering_step
    from steps
    window breakdown_steps as (
        partition by funnel_name, breakdown_type, breakdown_value order by step_number
    )
)

select
    funnel_name,
    funnel_mode,
    window_days::numeric(9, 2) as window_days,
    step_number::integer as step_number,
    step_name,
    breakdown_type,
    breakdown_value,
    users_entered_funnel::integer as users_entered_funnel,
    users_entering_step::integer as users_entering_step,
    users_converted::integer as users_converted,
    (users_entering_step - users_converted)::integer as users_dropped_off,
    ({{ safe_divide('users_converted', 'users_entered_funnel') }})::numeric(9, 4) as conversion_rate_from_start,
    ({{ safe_divide('users_converted', 'users_entering_step') }})::numeric(9, 4) as conversion_rate_from_previous,
    median_seconds_to_convert::numeric(18, 1) as median_seconds_to_convert
from with_previous
