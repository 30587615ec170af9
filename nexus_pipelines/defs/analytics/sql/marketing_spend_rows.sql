-- Marketing spend rows (day, spend-file channel name, amount) for the daily attribution table.
select spend_date, channel, spend
from {stg_marketing__spend}
