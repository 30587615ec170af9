-- Grain: one row per anonymous_id that has ever been seen together with a user_id.
--
-- An identify call links the device's anonymousId to the userId; so does any other event that
-- carries both (a track or page call after login). The FIRST link wins (earliest time, then the
-- smallest user_id on a tie): once an anonymous id belongs to a user it stays with that user, even
-- if another account later logs in on the same device (a shared computer), so sessions already
-- built by earlier partitioned runs keep their user when later events arrive. user_ids_linked > 1
-- flags such shared devices. Anonymous ids never linked are not listed: they stay users of their
-- own (int_events_stitched keys them by the anonymous id, with is_identified false).
with links as (
    select
        anonymous_id,
        user_id,
        first_linked_at,
        count(*) over (partition by anonymous_id) as user_ids_linked
    from {{ ref('stg_events__identity_links') }}
)

select distinct on (anonymous_id)
    anonymous_id,
    user_id,
    first_linked_at as linked_at,
    user_ids_linked::integer as user_ids_linked
from links
order by anonymous_id, first_linked_at, user_id
