-- Grain: one row per message_id of a track call (re-sends removed in stg_events__events).
-- The e-commerce and experiment properties the product marts use are typed here; everything
-- else stays in `properties`.
with tracks as (
    select *
    from {{ ref('stg_events__events') }}
    where event_type = 'track'
)

select
    message_id,
    event_name,
    event_name_raw,
    user_id,
    anonymous_id,
    event_timestamp,
    event_date,
    page_url,
    page_path,
    page_title,
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
    -- Order Completed / Order Refunded (Segment e-commerce spec)
    nullif(trim(properties ->> 'order_id'), '') as order_id,
    {{ product_json_numeric('properties', 'revenue') }} as revenue,
    {{ product_json_numeric('properties', 'total') }} as total,
    upper(nullif(trim(properties ->> 'currency'), '')) as currency,
    case when jsonb_typeof(properties -> 'products') = 'array' then properties -> 'products' end as products,
    case when jsonb_typeof(properties -> 'products') = 'array'
            then jsonb_array_length(properties -> 'products')
    end as product_count,
    -- Experiment Viewed
    nullif(trim(properties ->> 'experiment_id'), '') as experiment_id,
    nullif(trim(properties ->> 'variation_id'), '') as variation_id,
    properties,
    context
from tracks
