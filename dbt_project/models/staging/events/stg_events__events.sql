-- Grain: one row per message_id (re-sends of the same message are loaded once: the first received).
with ranked as (
    select
        e.*,
        row_number() over (
            partition by e.message_id order by e.received_at nulls last, e._partition_date, e._row_number
        ) as copy_rank
    from {{ source('raw', 'events') }} as e
)
select
    message_id,
    event_type,
    event_name,
    page_name,
    user_id,
    anonymous_id,
    event_timestamp,
    (event_timestamp at time zone 'UTC')::date as event_date,
    received_at,
    context,
    properties,
    traits
from ranked
where copy_rank = 1
