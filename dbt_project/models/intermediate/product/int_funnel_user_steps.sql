-- Materialized as a table: the step matching is the costly part of the funnels, and both the
-- funnel mart and this model's data tests read it; a view would run it once per reader.
{{ config(materialized='table', indexes=[{'columns': ['funnel_name', 'user_key', 'step_number'], 'unique': true}]) }}
-- Grain: one row per funnel × stitched user × funnel step the user reached (var product_funnels).
--
-- Entry: a user enters a funnel the FIRST time they do step 1 (entered_at), once; the window
-- runs from entered_at to entered_at + window_days, both ends included (a step at window + 1
-- second is outside). Steps are interactive track events of the stitched user; events at the same
-- instant are ordered by message_id. Reaching step k, by mode:
--   ordered  steps 1..k happen in this order inside the window; other events may come between
--            (each step is matched to the earliest qualifying event after the previous step).
--   strict   as ordered, but steps 1..k are CONSECUTIVE track events of the user: no other
--            track event between them (page, identify and screen calls do not break the chain).
--            The chain may start at any step-1 event inside the window, not only the entry.
--   any      each of steps 1..k happens at least once inside the window, in any order (a step
--            before the entry is outside the window); reached_at is the latest of the k first
--            occurrences. A step listed twice is satisfied by the same event.
-- reached_at of step 1 is entered_at; seconds_to_convert counts from entered_at.
-- A step matches its event in any spelling (macros/event_names.sql): the step events of the
-- users read here take the step's name as product_funnel_definitions returns it (step_name).
--
-- The SQL is generated per funnel and step; loops render several steps on one line and their
-- indentation follows the loops, so line length and indentation are not checked in this model.
-- noqa: disable=LT02,LT05
{%- set funnels = product_funnel_definitions() %}
{%- set ns = namespace(any_strict=false, names=[]) %}
{%- for funnel in funnels %}
{%- if funnel.mode == 'strict' %}{% set ns.any_strict = true %}{% endif %}
{%- for step in funnel.steps %}{% if step not in ns.names %}{% do ns.names.append(step) %}{% endif %}{% endfor %}
{%- endfor %}

{%- if funnels | length == 0 %}
select
    null::text as funnel_name,
    null::text as funnel_mode,
    null::text as user_key,
    null::integer as step_number,
    null::text as step_name,
    null::timestamptz as entered_at,
    null::timestamptz as reached_at,
    null::numeric(18, 1) as seconds_to_convert
where false
{%- else %}

with tracks as (
    -- interactive track events of the stitched users, numbered in time order per user
    select
        user_key,
        case {{ nexus_event_key_sql('event_name') }}
            {%- for name in ns.names %}
            when {{ product_sql_string(nexus_event_key(name)) }} then {{ product_sql_string(name) }}
            {%- endfor %}
            else event_name
        end as event_name,
        event_timestamp,
        row_number() over (partition by user_key order by event_timestamp, message_id) as event_seq
    from {{ ref('int_events_stitched') }}
    where event_type = 'track'
        and is_interactive
        {%- if not ns.any_strict %}
        -- no strict funnel: only the step events matter
        and {{ nexus_event_name_in('event_name', ns.names) }}
        {%- endif %}
),
{%- for funnel in funnels %}
{%- set f = 'funnel_' ~ loop.index %}
{%- set steps = funnel.steps %}
{%- set n = steps | length %}

{{ f }}_entries as (
    -- {{ funnel.name }}: the first time each user did step 1
    select distinct on (user_key)
        user_key,
        event_seq as entry_seq,
        event_timestamp as entered_at,
        event_timestamp + interval '{{ funnel.window_days }} days' as window_ends_at
    from tracks
    where event_name = {{ product_sql_string(steps[0]) }}
    order by user_key, event_seq
),
{%- if funnel.mode == 'ordered' %}

{{ f }}_step_1 as (
    select user_key, entry_seq as step_seq, entered_at as reached_at
    from {{ f }}_entries
),
{%- for k in range(2, n + 1) %}

{{ f }}_step_{{ k }} as (
    -- the earliest "{{ steps[k - 1] }}" after the event that reached step {{ k - 1 }}, inside the window
    select
        previous_step.user_key,
        min(t.event_seq) as step_seq,
        min(t.event_timestamp) as reached_at
    from {{ f }}_step_{{ k - 1 }} as previous_step
    inner join {{ f }}_entries as e
        on e.user_key = previous_step.user_key
    inner join tracks as t
        on t.user_key = previous_step.user_key
            and t.event_name = {{ product_sql_string(steps[k - 1]) }}
            and t.event_seq > previous_step.step_seq
            and t.event_timestamp <= e.window_ends_at
    group by previous_step.user_key
),
{%- endfor %}

{{ f }}_reached as (
    {%- for k in range(1, n + 1) %}
    select user_key, {{ k }} as step_number, reached_at from {{ f }}_step_{{ k }}
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
),
{%- elif funnel.mode == 'strict' %}

{{ f }}_window_tracks as (
    -- every track event of an entered user from the entry to the end of the window, with the
    -- names and times of the track events that follow it
    select
        t.event_name,
        t.user_key,
        t.event_timestamp
        {%- for j in range(1, n) %},
        lead(t.event_name, {{ j }}) over following_events as next_name_{{ j }},
        lead(t.event_timestamp, {{ j }}) over following_events as next_at_{{ j }}
    {%- endfor %}
    from {{ f }}_entries as e
    inner join tracks as t
        on t.user_key = e.user_key
            and t.event_seq >= e.entry_seq
            and t.event_timestamp <= e.window_ends_at
    window following_events as (partition by t.user_key order by t.event_seq)
),

{{ f }}_chains as (
    -- at each step-1 event: how many funnel steps follow it as consecutive track events
    select
        user_key,
        event_timestamp as next_at_0
        {%- for j in range(1, n) %},
        next_at_{{ j }}
        {%- endfor %},
        case
            {%- for length in range(n, 1, -1) %}
            when {% for j in range(1, length) %}next_name_{{ j }} = {{ product_sql_string(steps[j]) }}{{ " and " if not loop.last }}{% endfor %} then {{ length }}
            {%- endfor %}
            else 1
        end as steps_in_a_row
    from {{ f }}_window_tracks
    where event_name = {{ product_sql_string(steps[0]) }}
),

{{ f }}_reached as (
    {%- for k in range(1, n + 1) %}
    select user_key, {{ k }} as step_number, min(next_at_{{ k - 1 }}) as reached_at
    from {{ f }}_chains
    where steps_in_a_row >= {{ k }}
    group by user_key
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
),
{%- else %}

{{ f }}_first_occurrences as (
    -- the first time each step happened inside the user's window (step 1: the entry)
    select
        e.user_key
        {%- for k in range(1, n + 1) %},
        min(t.event_timestamp) filter (where t.event_name = {{ product_sql_string(steps[k - 1]) }}) as step_{{ k }}_at
        {%- endfor %}
    from {{ f }}_entries as e
    inner join tracks as t
        on t.user_key = e.user_key
        and t.event_timestamp between e.entered_at and e.window_ends_at
        and t.event_name in ({% for step in steps %}{{ product_sql_string(step) }}{{ ", " if not loop.last }}{% endfor %})
    group by e.user_key
),

{{ f }}_reached as (
    {%- for k in range(1, n + 1) %}
    select user_key, {{ k }} as step_number, greatest({% for j in range(1, k + 1) %}step_{{ j }}_at{{ ", " if not loop.last }}{% endfor %}) as reached_at
    from {{ f }}_first_occurrences
    where {% for j in range(1, k + 1) %}step_{{ j }}_at is not null{{ " and " if not loop.last }}{% endfor %}
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
),
{%- endif %}
{%- endfor %}

user_steps as (
    {%- for funnel in funnels %}
    {%- set f = 'funnel_' ~ loop.index %}
    select
        {{ product_sql_string(funnel.name) }} as funnel_name,
        {{ product_sql_string(funnel.mode) }} as funnel_mode,
        r.user_key,
        r.step_number,
        case r.step_number
            {%- for step in funnel.steps %}
            when {{ loop.index }} then {{ product_sql_string(step) }}
            {%- endfor %}
        end as step_name,
        e.entered_at,
        r.reached_at
    from {{ f }}_reached as r
    inner join {{ f }}_entries as e
        on e.user_key = r.user_key
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
)

select
    funnel_name,
    funnel_mode,
    user_key,
    step_number,
    step_name,
    entered_at,
    reached_at,
    extract(epoch from reached_at - entered_at)::numeric(18, 1) as seconds_to_convert
from user_steps
{%- endif %}
