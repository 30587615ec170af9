-- Grain: one row per spend_date × channel × campaign (summed if a file repeats a pair).
select
    spend_date,
    channel,
    coalesce(campaign, '(none)') as campaign,
    currency,
    sum(spend) as spend
from {{ source('raw', 'marketing_spend') }}
group by 1, 2, 3, 4
