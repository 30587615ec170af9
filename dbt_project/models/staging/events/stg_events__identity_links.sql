-- Grain: one row per anonymous_id × user_id pair ever seen on the same event.
--
-- Identify calls link a device's anonymousId to the userId, and so does any other event carrying
-- both. Re-sent copies repeat the same pair at the same time, so this view reads the raw table
-- without removing them: the pairs and their first and last times are the same, and the
-- identity map built from it stays cheap enough to be recomputed by every partitioned run.
select
    anonymous_id,
    user_id,
    min(event_timestamp) as first_linked_at,
    max(event_timestamp) as last_linked_at
from {{ source('raw', 'events') }}
where anonymous_id is not null
    and user_id is not null
group by anonymous_id, user_id
