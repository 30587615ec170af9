{{ config(indexes=[{'columns': ['user_key'], 'unique': true}, {'columns': ['user_id']}]) }}
-- Grain: one row per stitched user (user_key): a userId, or the anonymousId of a visitor who never
-- logged in (is_identified false). Activity comes from fct_sessions (interactive events), orders
-- and revenue from fct_orders_web (in the orders' currencies, summed as they are).
with sessions as (
    select
        user_key,
        is_identified,
        started_at,
        ended_at,
        session_id,
        channel,
        device_type,
        landing_page_path
    from {{ ref('fct_sessions') }}
),

session_users as (
    select
        user_key,
        bool_or(is_identified) as is_identified,
        min(started_at) as first_seen_at,
        max(ended_at) as last_seen_at,
        count(*) as sessions,
        (array_agg(channel order by started_at, session_id))[1] as first_channel,
        (array_agg(landing_page_path order by started_at, session_id))[1] as first_landing_page_path,
        (array_agg(device_type order by started_at, session_id) filter (where device_type is not null))[1] as first_device_type
    from sessions
    group by user_key
),

order_users as (
    select
        user_key,
        bool_or(is_identified) as is_identified,
        count(*) as lifetime_orders,
        sum(revenue) as lifetime_revenue,
        sum(refunded_amount) as lifetime_refunded_amount,
        sum(net_revenue) as lifetime_net_revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from {{ ref('fct_orders_web') }}
    group by user_key
),

linked_devices as (
    select
        user_id,
        count(*) as anonymous_ids
    from {{ ref('int_identity_map') }}
    group by user_id
),

users as (
    select user_key from session_users
    union
    select user_key from order_users
)

select
    u.user_key,
    case when coalesce(s.is_identified, o.is_identified) then u.user_key end as user_id,
    coalesce(s.is_identified, o.is_identified, false) as is_identified,
    case
        when coalesce(s.is_identified, o.is_identified) then coalesce(d.anonymous_ids, 0)
        else 1
    end::integer as anonymous_ids,
    least(s.first_seen_at, o.first_order_at) as first_seen_at,
    greatest(s.last_seen_at, o.last_order_at) as last_seen_at,
    (least(s.first_seen_at, o.first_order_at) at time zone 'UTC')::date as first_seen_date,
    s.first_channel,
    s.first_landing_page_path,
    s.first_device_type,
    coalesce(s.sessions, 0)::integer as sessions,
    coalesce(o.lifetime_orders, 0)::integer as lifetime_orders,
    coalesce(o.lifetime_revenue, 0)::numeric(18, 2) as lifetime_revenue,
    coalesce(o.lifetime_refunded_amount, 0)::numeric(18, 2) as lifetime_refunded_amount,
    coalesce(o.lifetime_net_revenue, 0)::numeric(18, 2) as lifetime_net_revenue,
    o.first_order_at,
    o.last_order_at
from users as u
left join session_users as s
    on s.user_key = u.user_key
left join order_users as o
    on o.user_key = u.user_key
left join linked_devices as d
    on d.user_id = u.user_key
