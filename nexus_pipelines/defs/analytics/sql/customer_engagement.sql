-- Engagement score of the identified users (user_key = user_id for them).
select
    user_key as user_id,
    engagement_score,
    engagement_tier
from {user_engagement}
where is_identified
