-- Grain: one row per message_id of an identify call (re-sends removed in stg_events__events).
-- An identify links the device's anonymousId to the userId and carries the user's traits.
select
    message_id,
    user_id,
    anonymous_id,
    event_timestamp,
    event_date,
    nullif(trim(traits ->> 'email'), '') as email,
    traits,
    page_url,
    page_path,
    user_agent,
    device_type,
    context
from {{ ref('stg_events__events') }}
where event_type = 'identify'
