-- Sample-ratio-mismatch p-value and arm sizes per experiment (from the latest results).
select
    experiment_id,
    max(srm_p_value)::float8 as srm_p_value,
    string_agg(distinct variation_id || '=' || users, ', ') as users
from {experiment_results}
group by experiment_id
order by experiment_id
