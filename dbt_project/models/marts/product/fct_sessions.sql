{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        partition_column='session_date',
        partition_domain='sessions',
        tags=['partitioned'],
        indexes=[
            {'columns': ['session_id'], 'unique': true},
            {'columns': ['session_date']},
            {'columns': ['user_key', 'started_at']},
        ],
    )
}}
-- Grain: one row per session of a stitched user (session_id), dated by its start (session_date, UTC).
--
-- A user's interactive events, in time order, start a new session
--   * at the user's first event,
--   * after a gap of session_timeout_minutes or more since the user's previous event
--     (29:59 of silence continues the session, exactly 30:00 starts a new one), and
--   * when session_split_on_campaign is true, at an event whose UTM tags (source, medium,
--     campaign) are set and differ from the session's (those of its latest event with UTM tags);
--     events without UTM tags never split. A change at the same instant as the previous event
--     does not split, so that two sessions of a user never start at the same time.
--
-- Partitioned runs read the events of the session dates they rebuild (domain sessions) widened by
-- session_lookback_days, sessionize them and keep the sessions that START on those dates: a
-- session crossing midnight is built whole by the run of its first day, and the run of the next
-- day sees that it started the day before and leaves it alone.
{%- set timeout_minutes = var('session_timeout_minutes', 30) | int %}
{%- set split_on_campaign = var('session_split_on_campaign', true) %}

with events as (
    select
        message_id,
        user_key,
        user_id,
        anonymous_id,
        is_identified,
        event_type,
        event_timestamp,
        page_path,
        page_url,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        case
            when coalesce(utm_source, utm_medium, utm_campaign) is not null
                then lower(coalesce(utm_source, '') || '|' || coalesce(utm_medium, '') || '|' || coalesce(utm_campaign, ''))
        end as campaign_key,
        user_agent
    from {{ ref('int_events_stitched') }}
    where is_interactive
        and {{ product_lookback_window_filter('event_date', 'sessions') }}
),

with_previous_event as (
    select
        events.*,
        lag(event_timestamp) over (
            partition by user_key order by event_timestamp, message_id
        ) as previous_event_at
    from events
),

inactivity_starts as (
    select
        with_previous_event.*,
        (
            previous_event_at is null
            or event_timestamp - previous_event_at >= interval '{{ timeout_minutes }} minutes'
        ) as starts_after_inactivity
    from with_previous_event
),

inactivity_sessions as (
    -- sessions cut by inactivity only, numbered per user
    select
        inactivity_starts.*,
        sum(case when starts_after_inactivity then 1 else 0 end) over (
            partition by user_key order by event_timestamp, message_id rows unbounded preceding
        ) as inactivity_session_number
    from inactivity_starts
),

with_previous_campaign as (
    -- the campaign of the latest earlier event WITH UTM tags in the same inactivity session
    select
        inactivity_sessions.*,
        lag(campaign_key) over (
            partition by user_key, inactivity_session_number, campaign_key is null
            order by event_timestamp, message_id
        ) as previous_campaign_key
    from inactivity_sessions
),

session_starts as (
    select
        with_previous_campaign.*,
        (
            starts_after_inactivity
            {%- if split_on_campaign %}
            or (
                campaign_key is not null
                and campaign_key is distinct from previous_campaign_key
                and event_timestamp > previous_event_at
            )
            {%- endif %}
        ) as is_session_start
    from with_previous_campaign
),

numbered as (
    select
        session_starts.*,
        sum(case when is_session_start then 1 else 0 end) over (
            partition by user_key order by event_timestamp, message_id rows unbounded preceding
        ) as session_number
    from session_starts
),

sessions_aggregated as (
    -- one pass over each session's events in time order; the first event's fields are those of
    -- the row flagged is_session_start. Expressions are computed here, once per session.
    select
        user_key,
        session_number,
        min(event_timestamp) as started_at,
        max(event_timestamp) as ended_at,
        count(*) as events,
        count(*) filter (where event_type = 'page') as page_views,
        bool_or(is_identified) as is_identified,
        (array_agg(user_id order by event_timestamp, message_id) filter (where user_id is not null))[1] as user_id,
        (array_agg(anonymous_id order by event_timestamp, message_id) filter (where anonymous_id is not null))[1] as anonymous_id,
        lower(
            (array_agg(user_agent order by event_timestamp, message_id) filter (where user_agent is not null))[1]
        ) as lowercase_user_agent,
        array_agg(page_path order by event_timestamp, message_id) filter (where event_type = 'page') as page_view_paths,
        (array_agg(page_url order by event_timestamp, message_id) filter (where event_type = 'page'))[1] as landing_page_url,
        max(page_path) filter (where is_session_start) as first_event_page_path,
        max(page_url) filter (where is_session_start) as first_event_page_url,
        max(referrer) filter (where is_session_start) as referrer,
        -- the first event's referrer host, unless it is the site's own host (www. ignored)
        case
            when regexp_replace({{ product_url_host('max(referrer) filter (where is_session_start)') }}, '^www\.', '')
                = regexp_replace({{ product_url_host('max(page_url) filter (where is_session_start)') }}, '^www\.', '')
                then null
            else {{ product_url_host('max(referrer) filter (where is_session_start)') }}
        end as referrer_host,
        max(utm_source) filter (where is_session_start) as utm_source,
        max(utm_medium) filter (where is_session_start) as utm_medium,
        max(utm_campaign) filter (where is_session_start) as utm_campaign,
        max(utm_term) filter (where is_session_start) as utm_term,
        max(utm_content) filter (where is_session_start) as utm_content
    from numbered
    group by user_key, session_number
),

sessions as (
    select
        -- the epoch keeps the key independent of the connection's TimeZone and DateStyle
        {{ surrogate_key(['user_key', 'extract(epoch from started_at)']) }} as session_id,
        user_key,
        user_id,
        anonymous_id,
        is_identified,
        (started_at at time zone 'UTC')::date as session_date,
        started_at,
        ended_at,
        extract(epoch from ended_at - started_at)::integer as duration_seconds,
        events::integer as events,
        page_views::integer as page_views,
        page_views = 1 as is_bounce,
        coalesce(page_view_paths[1], first_event_page_path) as landing_page_path,
        coalesce(landing_page_url, first_event_page_url) as landing_page_url,
        page_view_paths[cardinality(page_view_paths)] as exit_page_path,
        referrer,
        referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        {{ channel_group('utm_source', 'utm_medium', 'referrer_host') }} as channel,
        {{ product_device_type('lowercase_user_agent') }} as device_type
    from sessions_aggregated
)

select
    session_id,
    user_key,
    user_id,
    anonymous_id,
    is_identified,
    session_date,
    started_at,
    ended_at,
    duration_seconds,
    events,
    page_views,
    is_bounce,
    landing_page_path,
    landing_page_url,
    exit_page_path,
    referrer,
    referrer_host,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    channel,
    device_type
from sessions
where {{ partition_window_filter('session_date', 'sessions') }}
-- in date order: a 30-day BI rollup reads the pages of those days, not of the whole table
order by session_date, started_at
