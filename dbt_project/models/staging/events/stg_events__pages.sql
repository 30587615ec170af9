-- Grain: one row per message_id of a page call (re-sends removed in stg_events__events).
select
    message_id,
    page_name,
    user_id,
    anonymous_id,
    event_timestamp,
    event_date,
    page_url,
    page_path,
    page_title,
    nullif(trim(coalesce(context -> 'page' ->> 'search', properties ->> 'search')), '') as page_search,
    referrer,
    referrer_host,
    is_self_referral,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    user_agent,
    device_type,
    properties,
    context
from {{ ref('stg_events__events') }}
where event_type = 'page'
