-- Cohort retention input: one row per stitched user and UTC day with at least one session.
-- fct_sessions has one row per session; this is its distinct (user, day) projection, already the
-- grain that weekly and monthly retention need.
select distinct
    user_key,
    session_date
from {fct_sessions}
