-- Grain: one row per message_id (every event, re-sends removed), with the stitched user.
--
-- user_key is the person an event belongs to: the event's own userId; else the userId its
-- anonymousId was first linked to (int_identity_map) - this moves events made before login to
-- the user, on every device the user ever logged in on; else the anonymousId itself (a visitor
-- who never logged in is a user of their own, is_identified false).
--
-- is_interactive marks what a person did on the site or app: page, screen, track and identify
-- calls, except the track events listed in var product_non_interactive_events (server-side
-- events such as Order Refunded). Only interactive events make sessions and active users. The
-- listed names match in any spelling (macros/event_names.sql: nexus_event_name_in).
{%- set non_interactive = var('product_non_interactive_events', []) %}

select
    e.message_id,
    e.event_type,
    e.event_name,
    e.page_name,
    coalesce(e.user_id, m.user_id, e.anonymous_id) as user_key,
    coalesce(e.user_id, m.user_id) as user_id,
    e.anonymous_id,
    coalesce(e.user_id, m.user_id) is not null as is_identified,
    e.event_timestamp,
    e.event_date,
    e.page_url,
    e.page_path,
    e.page_title,
    e.referrer,
    e.referrer_host,
    e.is_self_referral,
    e.utm_source,
    e.utm_medium,
    e.utm_campaign,
    e.utm_term,
    e.utm_content,
    e.user_agent,
    e.device_type,
    (
        e.event_type in ('page', 'screen', 'track', 'identify')
        {%- if non_interactive %}
        and not coalesce({{ nexus_event_name_in('e.event_name', non_interactive) }}, false)
        {%- endif %}
    ) as is_interactive,
    e.properties
from {{ ref('stg_events__events') }} as e
left join {{ ref('int_identity_map') }} as m
    on m.anonymous_id = e.anonymous_id
