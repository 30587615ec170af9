-- Experiment sufficient statistics: one row per experiment x variation.
--
-- Exposure: an "Experiment Viewed" track with experiment_id and variation_id, stitched to its
-- user like every product event (user_id, else the user its anonymous id was linked to, else the
-- anonymous id). A user's exposure time is their first Experiment Viewed of the experiment. Users
-- seen in more than one variation of an experiment are excluded from it and counted in
-- multi_variation_users.
-- Per exposed user, from fct_orders_web: orders and revenue at or after the exposure time (the
-- metrics) and before it (the CUPED covariates). Per variation the sums the statistics need:
--   conversion:        users, converted (>= 1 order after exposure), converted_before,
--                      converted_both (the 0/1 products);
--   revenue per user:  revenue_sum, revenue_sum_squares, pre_revenue_sum,
--                      pre_revenue_sum_squares, revenue_sum_of_products.
with exposures as (
    select
        t.experiment_id,
        t.variation_id,
        coalesce(t.user_id, m.user_id, t.anonymous_id) as user_key,
        t.event_timestamp,
        t.message_id
    from {stg_events__tracks} as t
    left join {int_identity_map} as m
        on m.anonymous_id = t.anonymous_id
    where t.event_name = 'Experiment Viewed'
      and t.experiment_id is not null
      and t.variation_id is not null
),

exposed_users as (
    select
        experiment_id,
        user_key,
        min(event_timestamp) as exposed_at,
        count(distinct variation_id) as variations,
        (array_agg(variation_id order by event_timestamp, message_id))[1] as variation_id
    from exposures
    where user_key is not null
    group by experiment_id, user_key
),

multi_variation as (
    select
        experiment_id,
        count(*)::bigint as multi_variation_users
    from exposed_users
    where variations > 1
    group by experiment_id
),

user_metrics as (
    select
        u.experiment_id,
        u.variation_id,
        u.user_key,
        u.exposed_at,
        count(o.order_id) filter (where o.ordered_at >= u.exposed_at) as orders_after,
        coalesce(sum(coalesce(o.revenue, 0)) filter (where o.ordered_at >= u.exposed_at), 0)::float8 as revenue_after,
        count(o.order_id) filter (where o.ordered_at < u.exposed_at) as orders_before,
        coalesce(sum(coalesce(o.revenue, 0)) filter (where o.ordered_at < u.exposed_at), 0)::float8 as revenue_before
    from exposed_users as u
    left join {fct_orders_web} as o
        on o.user_key = u.user_key
    where u.variations = 1
    group by u.experiment_id, u.variation_id, u.user_key, u.exposed_at
)

select
    m.experiment_id,
    m.variation_id,
    count(*)::bigint as users,
    (count(*) filter (where m.orders_after > 0))::bigint as converted,
    (count(*) filter (where m.orders_before > 0))::bigint as converted_before,
    (count(*) filter (where m.orders_after > 0 and m.orders_before > 0))::bigint as converted_both,
    sum(m.revenue_after) as revenue_sum,
    sum(m.revenue_after * m.revenue_after) as revenue_sum_squares,
    sum(m.revenue_before) as pre_revenue_sum,
    sum(m.revenue_before * m.revenue_before) as pre_revenue_sum_squares,
    sum(m.revenue_before * m.revenue_after) as revenue_sum_of_products,
    coalesce(max(mv.multi_variation_users), 0)::bigint as multi_variation_users,
    min(m.exposed_at) as first_exposed_at,
    max(m.exposed_at) as last_exposed_at
from user_metrics as m
left join multi_variation as mv
    on mv.experiment_id = m.experiment_id
group by m.experiment_id, m.variation_id
order by m.experiment_id, m.variation_id
