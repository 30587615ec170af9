-- Transactions for the calibration/holdout check: one row per identified customer and UTC order
-- day with revenue > 0 (the same purchases clv_rfm.sql counts).
select
    user_id,
    order_date,
    sum(revenue)::float8 as revenue
from {fct_orders_web}
where revenue > 0
  and user_id is not null
group by user_id, order_date
order by user_id, order_date
