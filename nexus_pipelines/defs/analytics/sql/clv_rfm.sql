-- RFM summary per identified customer, the BG/NBD and Gamma-Gamma input; time unit = days.
--
-- Customers: users with a user_id and at least one web order with revenue > 0. Purchases are
-- counted per UTC order day (several orders on one day are one purchase of their summed revenue).
-- With d_1 < ... < d_n a customer's order days and E the observation end:
--   frequency = n - 1, recency = d_n - d_1, T = E - d_1 (days),
--   monetary_value = mean revenue of the repeat days d_2..d_n (0 without a repeat day).
-- E is :observation_end, or the last order day in the data when that is null; orders after E
-- are ignored.
with bounds as (
    select coalesce(%(observation_end)s::date, max(order_date)) as observation_end
    from {fct_orders_web}
    where revenue > 0
      and user_id is not null
),

customer_days as (
    select
        o.user_id,
        o.order_date,
        sum(o.revenue)::float8 as revenue,
        count(*)::integer as orders
    from {fct_orders_web} as o
    cross join bounds as b
    where o.revenue > 0
      and o.user_id is not null
      and o.order_date <= b.observation_end
    group by o.user_id, o.order_date
),

numbered as (
    select
        customer_days.*,
        row_number() over (partition by user_id order by order_date) as day_number
    from customer_days
)

select
    n.user_id,
    (count(*) - 1)::integer as frequency,
    (max(n.order_date) - min(n.order_date))::float8 as recency,
    (b.observation_end - min(n.order_date))::float8 as "T",
    coalesce(avg(n.revenue) filter (where n.day_number > 1), 0)::float8 as monetary_value,
    sum(n.orders)::integer as orders,
    sum(n.revenue)::float8 as total_revenue,
    min(n.order_date) as first_order_date,
    max(n.order_date) as last_order_date,
    b.observation_end
from numbered as n
cross join bounds as b
group by n.user_id, b.observation_end
order by n.user_id
