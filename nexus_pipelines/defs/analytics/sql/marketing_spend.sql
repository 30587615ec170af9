-- Marketing spend per day and spend-file channel name (summed over campaigns and currencies).
-- The channel names are mapped to the session channel groups in Python (SPEND_CHANNEL_GROUPS).
select
    spend_date as day,
    channel as spend_channel,
    string_agg(distinct currency, ',' order by currency) as currencies,
    sum(spend)::float8 as spend
from {stg_marketing__spend}
group by spend_date, channel
order by spend_date, channel
