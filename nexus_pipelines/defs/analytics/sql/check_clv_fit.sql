-- Is the latest CLV fit current? Its observation end against the last order day of identified
-- customers in fct_orders_web (the day a fit run now would use).
select
    (select max(fitted_at) from {clv_model_params}) as fitted_at,
    (
        select max(observation_end)
        from {clv_model_params}
        where fitted_at = (select max(fitted_at) from {clv_model_params})
    ) as fitted_through,
    (
        select max(order_date)
        from {fct_orders_web}
        where revenue > 0
          and user_id is not null
    ) as data_through
