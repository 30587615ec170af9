-- Engagement inputs: one row per stitched user with sessions.
-- The reference day is the last session day in the data; sessions_30d counts the sessions of the
-- :window_days days ending on it (reference_date - window_days < session_date <= reference_date).
with bounds as (
    select max(session_date) as reference_date
    from {fct_sessions}
)

select
    s.user_key,
    bool_or(s.is_identified) as is_identified,
    min(s.session_date) as first_session_date,
    max(s.session_date) as last_session_date,
    b.reference_date,
    count(*)::integer as sessions,
    (count(*) filter (where s.session_date > b.reference_date - %(window_days)s::integer))::integer as sessions_30d,
    (b.reference_date - max(s.session_date))::integer as days_since_last_session,
    avg(s.page_views)::float8 as avg_page_views
from {fct_sessions} as s
cross join bounds as b
group by s.user_key, b.reference_date
order by s.user_key
