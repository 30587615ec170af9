-- The parameters of the latest clv_model fit (one row per model x parameter).
select
    fitted_at,
    model,
    parameter,
    value,
    log_likelihood,
    observation_end
from {clv_model_params}
where fitted_at = (select max(fitted_at) from {clv_model_params})
order by model, parameter
