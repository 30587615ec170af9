-- Per attribution model: conversions whose credits do not sum to 1, or whose credited revenue
-- does not sum to the conversion's revenue (1e-6 relative tolerance).
with per_conversion as (
    select
        model,
        conversion_id,
        sum(credit) as credit_sum,
        sum(credited_revenue) as credited_revenue,
        max(revenue) as revenue
    from {attribution_touch_credits}
    group by model, conversion_id
)

select
    model,
    count(*)::bigint as conversions,
    (count(*) filter (
        where abs(credit_sum - 1) > 1e-6
           or abs(credited_revenue - revenue) > 1e-6 * greatest(abs(revenue), 1)
    ))::bigint as unbalanced_conversions,
    sum(revenue)::float8 as revenue,
    sum(credited_revenue)::float8 as credited_revenue
from per_conversion
group by model
order by model
