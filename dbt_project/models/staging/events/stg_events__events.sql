-- Grain: one row per message_id (re-sends of the same message are loaded once: the first received).
-- The loader sets aside (quarantine.events) every copy whose content differs from the first copy's,
-- so the copies left here differ at most in receivedAt / sentAt.
--
-- A re-send is the same message sent again: same timestamp, type and event name. Choosing among the
-- copies within (event_date, event_type, event_name, message_id) is therefore the same as choosing
-- within message_id, and it lets filters on those columns reach the raw scan instead of
-- de-duplicating every event first: the partitioned product facts read a few days
-- (event_date), the order and funnel marts read a few event names. The unique test on
-- message_id guards the assumption.
--
-- Besides the raw fields, the context fields every product model needs are extracted here:
-- page (context.page, for page calls falling back to the page properties), referrer and its
-- host, UTM tags (context.campaign) and the device type derived from context.userAgent.
--
-- event_name is canonical (macros/event_names.sql, docs/events.md): "order_completed",
-- "ORDER COMPLETED" or an alias of var event_name_aliases read as the spec's "Order Completed";
-- event_name_raw is the name as sent. Copies of a message have the same raw name, hence the same
-- canonical one. The mapping is applied here, when the events are read, so that a changed
-- mapping applies to every event already loaded.
with events as (
    select
        e.message_id,
        e.event_type,
        {{ nexus_canonical_event_name_sql('e.event_name') }} as event_name,
        e.event_name as event_name_raw,
        e.page_name,
        e.user_id,
        e.anonymous_id,
        e.event_timestamp,
        (e.event_timestamp at time zone 'UTC')::date as event_date,
        e.timestamp_source,
        e.received_at,
        e.context,
        e.properties,
        e.traits,
        e._partition_date,
        e._source_file,
        e._row_number
    from {{ source('raw', 'events') }} as e
),

deduplicated as (
    -- DISTINCT ON keeps the first row of each message in the ORDER BY: the first received copy.
    -- The extracted fields are computed here, below the de-duplication, so that each is evaluated
    -- once per event and only when a query uses it.
    select distinct on (event_date, event_type, event_name, message_id)
        events.*,
        nullif(trim(coalesce(
            context -> 'page' ->> 'url',
            case when event_type = 'page' then properties ->> 'url' end
        )), '') as page_url,
        nullif(trim(coalesce(
            context -> 'page' ->> 'path',
            case when event_type = 'page' then properties ->> 'path' end
        )), '') as page_path,
        nullif(trim(coalesce(
            context -> 'page' ->> 'title',
            case when event_type = 'page' then properties ->> 'title' end
        )), '') as page_title,
        nullif(trim(coalesce(
            context -> 'page' ->> 'referrer',
            case when event_type = 'page' then properties ->> 'referrer' end
        )), '') as referrer,
        nullif(trim(context -> 'campaign' ->> 'source'), '') as utm_source,
        nullif(trim(context -> 'campaign' ->> 'medium'), '') as utm_medium,
        nullif(trim(context -> 'campaign' ->> 'name'), '') as utm_campaign,
        nullif(trim(context -> 'campaign' ->> 'term'), '') as utm_term,
        nullif(trim(context -> 'campaign' ->> 'content'), '') as utm_content,
        nullif(trim(context ->> 'userAgent'), '') as user_agent,
        lower(nullif(trim(context ->> 'userAgent'), '')) as lowercase_user_agent
    from events
    order by event_date, event_type, event_name, message_id, received_at nulls last, _partition_date, _source_file, _row_number
),

with_hosts as (
    select
        deduplicated.*,
        {{ product_url_host('page_url') }} as page_host,
        {{ product_url_host('referrer') }} as referrer_host
    from deduplicated
)

select
    message_id,
    event_type,
    event_name,
    event_name_raw,
    page_name,
    user_id,
    anonymous_id,
    event_timestamp,
    event_date,
    timestamp_source,
    received_at,
    context,
    properties,
    traits,
    page_url,
    page_path,
    page_title,
    page_host,
    referrer,
    referrer_host,
    -- the site linking to itself (a page after the first one, or a return from a checkout on a
    -- subdomain): not an external referrer, so it never makes a channel
    coalesce(
        regexp_replace(referrer_host, '^www\.', '') = regexp_replace(page_host, '^www\.', ''),
        false
    ) as is_self_referral,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    user_agent,
    {{ product_device_type('lowercase_user_agent') }} as device_type
from with_hosts
